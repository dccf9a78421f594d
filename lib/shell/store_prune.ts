/**
 * Pruning a destination (SPEC §4 `KeepImages=`, `MaxStoreSize=`; §6
 * "Pruning"): reads the store, the stored manifest, `latest` and `.state`,
 * asks the pure planner (core/prune_plan.ts) what goes, and removes it. Run by
 * `tako prune` and by `tako fetch` after each success.
 *
 * Only images are ever removed: regular files in `store/` named by exactly 64
 * lowercase hex digits. Temporaries, `.lock`, `.state`, `manifest`, `latest`
 * and anything else are never touched.
 *
 * @module
 */
import { join } from "../core/path.ts";
import type { Config } from "../core/config.ts";
import { printable, TakoError } from "../core/errors.ts";
import { formatBytes, type Log } from "../core/log.ts";
import { type Entry } from "../core/manifest.ts";
import {
  candidatesFrom,
  hasLimits,
  imageCount,
  type LimitName,
  limitsOf,
  planPrune,
  type PruneCandidate,
  type PruneLimits,
} from "../core/prune_plan.ts";
import type { State } from "../core/state.ts";
import { sha256Hex, storedManifestEntries } from "./manifest_read.ts";
import { listStore, readLatest, readStoredManifest, removeImage } from "./store.ts";

/** What one prune removed. */
export interface PruneResult {
  /** Digests of the removed images, oldest first. */
  readonly removed: string[];
  /** Bytes freed. */
  readonly freed: number;
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
 * A caller that has just stored and verified the manifest (fetch) passes its
 * `entries`, which are then not read and parsed again.
 *
 * @example
 * ```ts
 * import type { Config } from "../core/config.ts";
 * import type { Log } from "../core/log.ts";
 * import { readState } from "./state_file.ts";
 * declare const config: Config, log: Log;
 * const dest = "/var/lib/tako/app";
 * const { removed } = await pruneDestination(dest, config, await readState(dest), log);
 * ```
 */
export async function pruneDestination(
  dest: string,
  config: Config,
  state: State,
  log: Log,
  entries?: readonly Entry[],
): Promise<PruneResult> {
  const limits = limitsOf(config);
  if (!hasLimits(limits)) return { removed: [], freed: 0 };
  const latest = await readLatest(dest);
  if (typeof latest === "object") {
    throw new TakoError(
      "runtime",
      `${printable(join(dest, "latest"), 300)} is ${latest.detail}, not a link into store/; ` +
        `nothing is pruned while the image in use is unknown.`,
    );
  }
  const listed = entries ?? await readStoredEntries(dest, config, state);
  const candidates = candidatesFrom(await listStore(dest), listed);
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
        `previous one are always kept (${imageCount(plan.keptCount)}, ${
          formatBytes(Number(plan.keptSize))
        } remain).`,
    );
  }
  return { removed, freed };
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

/**
 * The stored manifest's entries; none when there is no manifest yet. Not
 * verified again when `state` records these very bytes as verified.
 */
async function readStoredEntries(dest: string, config: Config, state: State): Promise<Entry[]> {
  const stored = await readStoredManifest(dest);
  if (stored === undefined) return [];
  const source = printable(stored.path, 300);
  try {
    const sha256 = await sha256Hex(stored.bytes);
    return await storedManifestEntries(stored.bytes, sha256, config.publicKeys, state, source);
  } catch (e) {
    if (!(e instanceof TakoError)) throw e;
    throw new TakoError(
      "integrity",
      `${e.message} Nothing is pruned: without a verified manifest the age of the images is unknown.`,
      { cause: e },
    );
  }
}
