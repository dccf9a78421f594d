/**
 * `tako status`: what each config's destination holds, read-only. Never
 * touches the network and never takes the lock (a fetch in progress must not
 * block it; every file it reads is replaced atomically, so it sees either the
 * old or the new one). The stored manifest is verified with the config's
 * keys; one that does not verify is reported as such and not trusted.
 *
 * Gathering is here; the report is built in `core/status_report.ts` and shown
 * as JSON or as text (`core/status_text.ts`).
 *
 * @module
 */
import { join, resolve } from "../core/path.ts";
import type { Config } from "../core/config.ts";
import { asTakoError, printable, TakoError } from "../core/errors.ts";
import type { Log } from "../core/log.ts";
import { verifyManifest } from "../core/manifest_signature.ts";
import { formatMetrics, metricsOf } from "../core/metrics.ts";
import {
  buildReport,
  formatStatusJson,
  type LatestFacts,
  type ManifestFacts,
  type StatusFacts,
} from "../core/status_report.ts";
import { formatStatusText } from "../core/status_text.ts";
import { inContext, loadConfig } from "../shell/config_file.ts";
import { listPartials } from "../shell/partial_files.ts";
import { readState } from "../shell/state_file.ts";
import { hostPlace } from "../shell/systemd.ts";
import { listStore, readLatest, readStoredManifest, requireDestination } from "../shell/store.ts";

/** What `tako status` gets from its caller. */
export interface StatusContext {
  readonly log: Log;
  /** Text for people, JSON (schema 1) or the Prometheus text format. */
  readonly format: "text" | "json" | "prometheus";
  /** The clock for "3 h ago"; defaults to the system clock. */
  readonly now?: () => Date;
}

/** The output for stdout and the failures that decide the exit code. */
export interface StatusResult {
  readonly output: string;
  readonly failures: TakoError[];
}

/**
 * Reports every config in turn; a config that fails still gets its entry
 * (with `error`) and does not stop the others. The failures are logged on
 * stderr and returned for the exit code.
 *
 * @example
 * ```ts
 * import type { Log } from "../core/log.ts";
 * declare const log: Log;
 * const { output, failures } = await statusAll(["/etc/tako/app"], { log, format: "json" });
 * console.log(output, failures.length);
 * ```
 */
export async function statusAll(
  configPaths: readonly string[],
  ctx: StatusContext,
): Promise<StatusResult> {
  const reports = [];
  const failures: TakoError[] = [];
  for (const path of configPaths) {
    const facts = await gatherFacts(path);
    for (const error of facts.errors) {
      ctx.log.error(error.message);
      failures.push(error);
    }
    reports.push(buildReport(facts));
  }
  const output = ctx.format === "json"
    ? formatStatusJson(reports)
    : ctx.format === "prometheus"
    ? formatMetrics(reports.map(metricsOf))
    : formatStatusText(reports, (ctx.now ?? (() => new Date()))());
  return { output, failures };
}

/**
 * Everything status can find out about one config, read-only. Errors are
 * collected, each prefixed with the config path, never thrown.
 */
async function gatherFacts(configPath: string): Promise<StatusFacts> {
  const errors: TakoError[] = [];
  const attempt = async <T>(step: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await step();
    } catch (e) {
      errors.push(inContext(configPath, asTakoError(e)));
      return undefined;
    }
  };
  const unknown = {
    configPath,
    config: undefined,
    destination: undefined,
    manifest: undefined,
    store: undefined,
    partials: undefined,
    latest: undefined,
    state: undefined,
  };
  const config = await attempt(() => loadConfig(configPath));
  if (config === undefined) return { ...unknown, errors };
  const destination = resolve(Deno.cwd(), config.destination);
  const known = { ...unknown, config, destination };
  if (
    await attempt(() => requireDestination(destination, configPath).then(() => true)) === undefined
  ) {
    return { ...known, errors };
  }
  const store = await attempt(() => listStore(destination));
  const partials = await attempt(() => listPartials(join(destination, "store")));
  const latest = await attempt(() => readLatestFacts(destination));
  const state = await readState(destination);
  const manifest = await attempt(() => readManifest(destination, config));
  if (manifest?.problem !== undefined) errors.push(inContext(configPath, manifest.problem));
  // Only for when a waiting version will be installed; fetch reports a missing machine id.
  const place = config.rolloutSpreadMs > 0 ? await hostPlace().catch(() => undefined) : undefined;
  return { ...known, store, partials, latest, state, manifest: manifest?.facts, place, errors };
}

async function readLatestFacts(dest: string): Promise<LatestFacts> {
  const latest = await readLatest(dest);
  if (latest === undefined) return { kind: "absent" };
  if (typeof latest === "string") return { kind: "image", sha256: latest };
  return { kind: "foreign", detail: latest.detail };
}

/**
 * The stored manifest, verified with the config's keys. One that does not
 * verify is "unverifiable", with the integrity error as its problem: the
 * report still shows the rest of the destination.
 */
async function readManifest(
  dest: string,
  config: Config,
): Promise<{ facts: ManifestFacts; problem?: TakoError }> {
  const stored = await readStoredManifest(dest);
  if (stored === undefined) return { facts: { status: "absent" } };
  try {
    const entries = verifyManifest(stored.bytes, config.publicKeys, printable(stored.path, 300));
    return { facts: { status: "verified", entries } };
  } catch (e) {
    if (!(e instanceof TakoError)) throw e;
    return { facts: { status: "unverifiable" }, problem: e };
  }
}
