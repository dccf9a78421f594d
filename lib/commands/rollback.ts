/**
 * `tako rollback`: point `latest` back at the image it pointed to before,
 * restart the units by fetch's rules with the same health check, and reject
 * the version rolled back from, so that fetch never installs it again.
 * `--clear <version>` undoes a rejection instead. Offline; under the lock.
 *
 * @module
 */
import { resolve } from "node:path";
import type { Config } from "../core/config.ts";
import { asTakoError, printable, TakoError } from "../core/errors.ts";
import type { Log } from "../core/log.ts";
import type { Entry } from "../core/manifest.ts";
import { verifyManifest } from "../core/manifest_signature.ts";
import {
  clearRejection,
  reject,
  rollbackTarget,
  rolloutOf,
  withPending,
  withRollout,
} from "../core/rollout.ts";
import type { PendingSwitch } from "../core/rollout_state.ts";
import type { State } from "../core/state.ts";
import { inContext, loadConfig } from "../shell/config_file.ts";
import { acquireLock, DESTINATION_LOCK_WAIT_MS } from "../shell/lock.ts";
import { readState, saveState } from "../shell/state_file.ts";
import { listStore, readLatest, readStoredManifest, requireDestination } from "../shell/store.ts";
import { journalHint, rollBack } from "../shell/switch.ts";
import type { ServiceManager } from "../shell/systemd.ts";

/** What `tako rollback` gets from its caller. */
export interface RollbackContext {
  readonly log: Log;
  readonly services: ServiceManager;
  /** How long to wait for another run's lock on the destination; default 10 minutes. */
  readonly lockWaitMs?: number;
  readonly now: () => Date;
  /** `--clear <version>`: clear this rejection instead of rolling back. */
  readonly clear: string | undefined;
}

/** Runs `tako rollback` for each config in turn; returns the failures (already logged). */
export async function rollbackAll(
  configPaths: readonly string[],
  ctx: RollbackContext,
): Promise<TakoError[]> {
  const failures: TakoError[] = [];
  for (const path of configPaths) {
    try {
      await rollbackOne(path, ctx);
    } catch (e) {
      const error = inContext(path, asTakoError(e));
      ctx.log.error(error.message);
      failures.push(error);
    }
  }
  return failures;
}

async function rollbackOne(configPath: string, ctx: RollbackContext): Promise<void> {
  const config = await loadConfig(configPath);
  const dest = resolve(config.destination);
  await requireDestination(dest, configPath);
  using _lock = await acquireLock(
    dest,
    ctx.lockWaitMs ?? DESTINATION_LOCK_WAIT_MS,
    (message) => ctx.log.info(`${printable(config.file, 300)}: ${message}`),
  );
  const state = await readState(dest);
  if (ctx.clear !== undefined) await clear(config, dest, state, ctx.clear, ctx);
  else await rollback(config, dest, state, ctx);
}

async function clear(
  config: Config,
  dest: string,
  state: State,
  version: string,
  ctx: RollbackContext,
): Promise<void> {
  const shown = printable(version);
  const cleared = clearRejection(rolloutOf(state), version);
  if (cleared === undefined) {
    const listed = rolloutOf(state).rejected.map((r) => printable(r.version));
    throw new TakoError(
      "runtime",
      `${shown} is not rejected (${
        listed.length === 0 ? "no version is" : `rejected: ${listed.join(", ")}`
      }); nothing to clear.`,
    );
  }
  await saveState(dest, withRollout(state, cleared));
  ctx.log.info(`${printable(config.file, 300)}: ${shown} is no longer rejected.`);
}

async function rollback(
  config: Config,
  dest: string,
  state: State,
  ctx: RollbackContext,
): Promise<void> {
  const where = printable(config.file, 300);
  const latest = await readLatest(dest);
  if (typeof latest !== "string") {
    throw new TakoError(
      "runtime",
      `${printable(dest, 300)}/latest is ${
        latest === undefined ? "missing" : latest.detail
      }; there is nothing to roll back from.`,
    );
  }
  const present = new Set((await listStore(dest)).map((image) => image.sha256));
  const versionOf = await versionNamer(config, dest);
  // A rollback an earlier run was stopped in is finished first: it is where this one would go.
  const unfinished = rolloutOf(state).pending;
  let pending: PendingSwitch;
  let next = state;
  if (unfinished?.phase === "rollback") {
    pending = unfinished;
  } else {
    const target = rollbackTarget(state, latest, (sha256) => present.has(sha256));
    if (target === undefined) throw noTarget(state, latest, present, versionOf);
    pending = {
      phase: "rollback",
      to: latest,
      toVersion: versionOf(latest),
      from: target,
      fromVersion: versionOf(target),
      since: ctx.now().toISOString(),
    };
    const rejected = reject(rolloutOf(state), {
      version: pending.toVersion,
      sha256: latest,
      at: pending.since,
      reason: "rolled back with tako rollback",
    });
    next = withRollout(state, withPending(rejected, pending));
    // Recorded before latest moves: a run killed from here on is finished by the next.
    await saveState(dest, next);
  }
  const outcome = await rollBack(dest, config, next, pending, ctx);
  const from = printable(pending.toVersion);
  if (outcome.problem !== undefined) {
    throw new TakoError(
      "runtime",
      `rolled back from ${from} to ${printable(outcome.target ?? "")}, but ${outcome.problem}; ${
        journalHint(config)
      }.`,
    );
  }
  ctx.log.info(
    `${where}: rolled back from ${from} to ${
      printable(outcome.target ?? "")
    }; ${from} is rejected (tako rollback --clear ${from} undoes that).`,
  );
}

/** Names images by their version in the stored manifest, or by digest when it lists none. */
async function versionNamer(config: Config, dest: string): Promise<(sha256: string) => string> {
  let entries: Entry[] = [];
  try {
    const stored = await readStoredManifest(dest);
    if (stored !== undefined) {
      entries = verifyManifest(stored.bytes, config.publicKeys, stored.path);
    }
  } catch {
    // Versions are only for messages; digests name the images just as well.
  }
  return (sha256) => entries.findLast((e) => e.sha256 === sha256)?.version ?? sha256;
}

function noTarget(
  state: State,
  latest: string,
  present: Set<string>,
  versionOf: (sha256: string) => string,
): TakoError {
  const previous = state.previous;
  const current = printable(versionOf(latest));
  const why = previous === undefined || previous === latest
    ? "no earlier image is recorded"
    : !present.has(previous)
    ? `the previous image, ${printable(versionOf(previous))}, is no longer in the store`
    : `the previous image, ${printable(versionOf(previous))}, is rejected`;
  return new TakoError(
    "runtime",
    `there is no previous image to roll back to from ${current}: ${why}; nothing was changed.`,
  );
}
