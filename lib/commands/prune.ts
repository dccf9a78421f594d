/**
 * `tako prune`, and the pruning step that `tako fetch` runs after each
 * successful fetch (SPEC §4 `KeepImages=`, `MaxStoreSize=`; §6 "Pruning").
 * The plan comes from the pure `prune_plan.ts`; this module lists the store,
 * reads the stored manifest, `latest` and `.state`, and removes files.
 *
 * Only images are ever removed: regular files in `store/` named by exactly 64
 * lowercase hex digits. Temporaries, `.lock`, `.state`, `manifest`, `latest`
 * and anything else are never touched.
 *
 * @module
 */
import { join, resolve } from "node:path";
import type { Config } from "../core/config.ts";
import { acquireLock, listStore, readFileCapped, readLatest, removeImage } from "../shell/destination.ts";
import { printable, TakoError } from "../core/errors.ts";
import { inContext, loadConfig } from "../shell/config_file.ts";
import { formatBytes, type Log } from "../core/log.ts";
import { type Entry, MAX_MANIFEST_BYTES, verifyManifest } from "../core/manifest.ts";
import {
  candidatesFrom,
  hasLimits,
  type LimitName,
  planPrune,
  type PruneCandidate,
  type PruneLimits,
} from "../core/prune_plan.ts";
import type { State } from "../core/state.ts";
import { readState, requireDestination } from "../shell/state_file.ts";

/** What `tako prune` gets from its caller. */
export interface PruneContext {
  readonly log: Log;
  /** How long to wait for another run's lock on the same destination; default 10 minutes. */
  readonly lockWaitMs?: number;
}

/** What one prune removed. */
export interface PruneResult {
  /** Digests of the removed images, oldest first. */
  readonly removed: string[];
  /** Bytes freed. */
  readonly freed: number;
}

/** Same wait as `tako fetch`: a prune from a timer must not fail because a fetch runs. */
const DEFAULT_LOCK_WAIT_MS = 10 * 60_000;

/**
 * Runs `tako prune` for each config in turn, each under its destination's
 * lock; one failing does not stop the next. Returns the failures (already
 * logged).
 *
 * @example
 * ```ts
 * const failures = await pruneAll(["/etc/tako/app"], { log });
 * Deno.exit(combinedExitCode(failures));
 * ```
 */
export async function pruneAll(
  configPaths: readonly string[],
  ctx: PruneContext,
): Promise<TakoError[]> {
  const failures: TakoError[] = [];
  for (const path of configPaths) {
    try {
      await pruneOne(path, ctx);
    } catch (e) {
      if (!(e instanceof TakoError)) throw e;
      const error = inContext(path, e);
      ctx.log.error(error.message);
      failures.push(error);
    }
  }
  return failures;
}

async function pruneOne(configPath: string, ctx: PruneContext): Promise<void> {
  const config = await loadConfig(configPath);
  const name = printable(config.file, 300);
  if (!hasLimits(limitsOf(config))) {
    ctx.log.info(`${name}: neither KeepImages= nor MaxStoreSize= is set; nothing to prune.`);
    return;
  }
  const dest = resolve(config.destination);
  await requireDestination(dest);
  const lock = await acquireLock(dest, ctx.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS);
  try {
    const state = await readState(dest);
    const { removed, freed } = await pruneDestination(dest, config, state, ctx.log);
    ctx.log.info(
      removed.length === 0
        ? `${name}: nothing to remove.`
        : `${name}: removed ${count(removed.length)}, freed ${formatBytes(freed)}.`,
    );
  } finally {
    lock.release();
  }
}

/**
 * Applies the config's `KeepImages=` and `MaxStoreSize=` to a destination:
 * removes the oldest images (by the stored manifest's version order; images it
 * does not list first) until the store is within the limits, never the image
 * `latest` points to nor `state.previous`, never a file that is not an image.
 * Logs each removal, and a warning when a limit cannot be met. Does nothing
 * without limits. The caller holds the destination's lock.
 *
 * Refuses (and removes nothing) when the stored manifest does not verify
 * under the config's keys (integrity) or `latest` is not a link into
 * `store/` (runtime): either would make the order or the kept image a guess.
 *
 * @example
 * ```ts
 * // in tako fetch, under the lock, after the new state is saved:
 * await pruneDestination(dest, config, state, log);
 * ```
 */
export async function pruneDestination(
  dest: string,
  config: Config,
  state: State,
  log: Log,
): Promise<PruneResult> {
  const limits = limitsOf(config);
  if (!hasLimits(limits)) return { removed: [], freed: 0 };
  const latest = await readLatest(dest);
  if (typeof latest === "object") {
    throw new TakoError(
      "runtime",
      `${shown(join(dest, "latest"))} is ${latest.detail}, not a link into store/; ` +
        `nothing is pruned while the image in use is unknown.`,
    );
  }
  const entries = await readStoredEntries(dest, config);
  const candidates = candidatesFrom(await listStore(dest), entries);
  const plan = planPrune(candidates, { latest, previous: state.previous }, limits);
  const name = printable(config.file, 300);
  const removed: string[] = [];
  let freed = 0;
  for (const image of plan.remove) {
    await removeImage(dest, image.sha256);
    removed.push(image.sha256);
    freed += Number(image.size);
    log.info(`${name}: removed ${describe(image)}.`);
  }
  for (const limit of plan.unmet) {
    log.warn(
      `${name}: ${limitText(limit, limits)} cannot be met: the image latest points to and the ` +
        `previous one are always kept (${count(plan.keptCount)}, ${
          formatBytes(Number(plan.keptSize))
        } remain).`,
    );
  }
  return { removed, freed };
}

function limitsOf(config: Config): PruneLimits {
  return { keepImages: config.keepImages, maxStoreSize: config.maxStoreSize };
}

function limitText(limit: LimitName, limits: PruneLimits): string {
  return limit === "KeepImages"
    ? `KeepImages=${limits.keepImages}`
    : `MaxStoreSize=${limits.maxStoreSize} (${formatBytes(Number(limits.maxStoreSize))})`;
}

/** "1.0.0 (10 B, store/<sha256>)", or the same for an image the manifest does not list. */
function describe(image: PruneCandidate): string {
  const where = `${formatBytes(Number(image.size))}, store/${image.sha256}`;
  return image.version === undefined
    ? `an image the manifest does not list (${where})`
    : `${printable(image.version)} (${where})`;
}

function count(n: number): string {
  return n === 1 ? "1 image" : `${n} images`;
}

function shown(path: string): string {
  return printable(path, 300);
}

/** The stored manifest's entries; none when there is no manifest yet. */
async function readStoredEntries(dest: string, config: Config): Promise<Entry[]> {
  const path = join(dest, "manifest");
  const bytes = await readFileCapped(path, MAX_MANIFEST_BYTES);
  if (bytes === undefined) return [];
  try {
    return verifyManifest(bytes, config.publicKeys, shown(path));
  } catch (e) {
    if (!(e instanceof TakoError)) throw e;
    throw new TakoError(
      "integrity",
      `${e.message} Nothing is pruned: without a verified manifest the age of the images is unknown.`,
      { cause: e },
    );
  }
}
