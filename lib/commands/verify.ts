/**
 * `tako verify`: check a destination without trusting any cache. Every image
 * in store/ is hashed again (the stat stamp in `.state`, which lets fetch skip
 * that, is never consulted: whoever can write the destination can forge it),
 * the stored manifest is verified under the config's keys and `latest` must
 * point to a present, listed image. Never touches the network.
 *
 * The one write: when a damaged image is the one whose stamp `.state` holds,
 * the stamp is dropped (under the lock), so that the next fetch hashes the
 * image, finds the damage and downloads it again.
 *
 * @module
 */
import { join, resolve } from "node:path";
import type { Config } from "../core/config.ts";
import { printable, TakoError } from "../core/errors.ts";
import { formatBytes, type Log } from "../core/log.ts";
import type { Entry } from "../core/manifest.ts";
import { verifyManifest } from "../core/manifest_signature.ts";
import { inContext, loadConfig, shownPath } from "../shell/config_file.ts";
import { hashFile } from "../shell/fs.ts";
import { acquireLock, BRIEF_LOCK_WAIT_MS } from "../shell/lock.ts";
import { readState, saveState } from "../shell/state_file.ts";
import { listStore, readLatest, readStoredManifest, requireDestination } from "../shell/store.ts";

/** What `tako verify` gets from its caller. */
export interface VerifyContext {
  readonly log: Log;
  /** How long to wait for the lock when a stamp must be dropped; default 1 minute. */
  readonly lockWaitMs?: number;
}

/**
 * Verifies every config in turn; one that fails does not stop the others.
 * Returns every failure (one per damaged image), already logged.
 */
export async function verifyAll(
  configPaths: readonly string[],
  ctx: VerifyContext,
): Promise<TakoError[]> {
  const failures: TakoError[] = [];
  for (const path of configPaths) {
    let problems: TakoError[];
    try {
      problems = await verifyOne(path, await loadConfig(path), ctx);
    } catch (e) {
      if (!(e instanceof TakoError)) throw e;
      problems = [e];
    }
    for (const problem of problems) {
      const error = inContext(path, problem);
      ctx.log.error(error.message);
      failures.push(error);
    }
  }
  return failures;
}

function shown(path: string): string {
  return printable(path, 300);
}

/** The problems found in one config's destination; throws only when it cannot be read. */
async function verifyOne(
  configPath: string,
  config: Config,
  ctx: VerifyContext,
): Promise<TakoError[]> {
  const dest = resolve(config.destination);
  await requireDestination(dest, configPath);
  const problems: TakoError[] = [];
  const entries = await verifiedEntries(dest, config).catch((e) => {
    if (!(e instanceof TakoError)) throw e;
    problems.push(e);
    return undefined;
  });

  const images = await listStore(dest);
  const damaged: string[] = [];
  let bytes = 0;
  for (const image of images) {
    const path = join(dest, "store", image.sha256);
    // An image that cannot be read is reported, and the others are still checked.
    const actual = await hashFile(path).catch((e) => {
      if (!(e instanceof TakoError)) throw e;
      problems.push(e);
      return undefined;
    });
    if (actual === undefined) continue;
    bytes += actual.size;
    const listed = entries?.filter((e) => e.sha256 === image.sha256) ?? [];
    const versions = listed.length === 0
      ? ""
      : ` (version ${listed.map((e) => printable(e.version)).join(", ")})`;
    if (actual.sha256 !== image.sha256) {
      damaged.push(image.sha256);
      problems.push(
        new TakoError(
          "integrity",
          `${shown(path)}${versions} is damaged: its bytes hash to ${actual.sha256}; ` +
            `the next fetch downloads it again.`,
        ),
      );
    }
  }

  const latest = await latestProblem(dest, entries, images.map((i) => i.sha256), damaged);
  if (latest !== undefined) problems.push(latest);
  if (damaged.length > 0) await forgetStamps(dest, damaged, ctx);
  if (problems.length === 0) {
    ctx.log.info(
      `${shownPath(configPath)}: ${images.length} image(s) in ${shown(dest)} re-hashed (${
        formatBytes(bytes)
      }), ` +
        `${
          entries === undefined
            ? "no manifest yet"
            : `manifest verified (${entries.length} versions)`
        }, ` +
        `latest in order.`,
    );
  }
  return problems;
}

/** The stored manifest's entries, verified; undefined when there is none yet. */
async function verifiedEntries(dest: string, config: Config): Promise<Entry[] | undefined> {
  const stored = await readStoredManifest(dest);
  return stored === undefined
    ? undefined
    : verifyManifest(stored.bytes, config.publicKeys, shown(stored.path));
}

/** What is wrong with `latest`, if anything (a damaged target is reported with the image). */
async function latestProblem(
  dest: string,
  entries: Entry[] | undefined,
  present: string[],
  damaged: string[],
): Promise<TakoError | undefined> {
  const latest = await readLatest(dest);
  const path = shown(join(dest, "latest"));
  if (latest === undefined) {
    return entries === undefined || entries.length === 0
      ? undefined
      : new TakoError("runtime", `${path} does not exist; run 'tako fetch'.`);
  }
  if (typeof latest !== "string") {
    return new TakoError("integrity", `${path} is ${latest.detail}, not a link into store/.`);
  }
  if (!present.includes(latest)) {
    return new TakoError("runtime", `${path} points to store/${latest}, which is missing.`);
  }
  if (
    entries !== undefined && !damaged.includes(latest) && !entries.some((e) => e.sha256 === latest)
  ) {
    return new TakoError(
      "integrity",
      `${path} points to store/${latest}, which the stored manifest does not list.`,
    );
  }
  return undefined;
}

/** Drops a `.state` stamp that vouches for a damaged image, so that fetch hashes it again. */
async function forgetStamps(dest: string, damaged: string[], ctx: VerifyContext): Promise<void> {
  using _lock = await acquireLock(
    dest,
    ctx.lockWaitMs ?? BRIEF_LOCK_WAIT_MS,
    (message) => ctx.log.info(message),
  );
  const state = await readState(dest);
  if (state.verified !== undefined && damaged.includes(state.verified.sha256)) {
    await saveState(dest, { ...state, verified: undefined });
  }
}
