/**
 * Which images pruning removes (SPEC §4 `KeepImages=`, `MaxStoreSize=`; §6
 * "Pruning"). Pure: the store's images, the manifest's order and the limits in,
 * a plan out. The I/O shell (`shell/store_prune.ts`) lists the store and carries
 * the plan out.
 *
 * Rules: the oldest images go first, by the manifest's version order, and
 * images the manifest does not list count as older than any listed one; the
 * image `latest` points to and the previous one are never removed, even when
 * that leaves a limit exceeded; without limits nothing is removed.
 *
 * @module
 */
import type { Config } from "./config.ts";
import type { Entry } from "./manifest.ts";

/** An image in `store/` as the planner sees it. */
export interface PruneCandidate {
  /** 64 lowercase hex digits: the file's name in `store/`. */
  readonly sha256: string;
  /** The file's size on disk, in bytes. */
  readonly size: bigint;
  /**
   * Position in the manifest's ascending version order (0 = oldest) of the
   * newest entry with this digest; undefined when the manifest does not list it.
   */
  readonly order: number | undefined;
  /** That entry's version, for messages; undefined when unlisted. */
  readonly version: string | undefined;
}

/** The limits of a config; undefined = no limit. */
export interface PruneLimits {
  /** `KeepImages=`: at most this many images in `store/`. */
  readonly keepImages: number | undefined;
  /** `MaxStoreSize=`: at most this many bytes in `store/`. */
  readonly maxStoreSize: bigint | undefined;
}

/** The images that are always kept. */
export interface PruneKeep {
  /** The digest `latest` points to. */
  readonly latest: string | undefined;
  /** The digest `latest` pointed to before its last change (`.state`). */
  readonly previous: string | undefined;
}

/** A limit by the name of its config key. */
export type LimitName = "KeepImages" | "MaxStoreSize";

/** What to remove, and what remains. */
export interface PrunePlan {
  /** The images to remove, oldest first. */
  readonly remove: readonly PruneCandidate[];
  /** How many images remain after the removal. */
  readonly keptCount: number;
  /** How many bytes remain after the removal. */
  readonly keptSize: bigint;
  /** Limits still exceeded after the removal: only the kept images are left. */
  readonly unmet: readonly LimitName[];
}

/**
 * Turns the store's images and the (verified) manifest's entries into
 * candidates ordered oldest first: unlisted images before listed ones (by
 * digest among themselves, so the plan is deterministic), listed ones by
 * manifest position. The entries must be in the manifest's ascending order.
 *
 * @example
 * ```ts
 * import type { Entry } from "./manifest.ts";
 * declare const stored: { sha256: string; size: number }[], entries: Entry[];
 * const candidates = candidatesFrom(stored, entries);
 * ```
 */
export function candidatesFrom(
  stored: readonly { readonly sha256: string; readonly size: number | bigint }[],
  entries: readonly Entry[],
): PruneCandidate[] {
  // Later entries overwrite earlier ones: an image published under several
  // versions is as new as the newest of them.
  const newest = new Map<string, { order: number; version: string }>();
  entries.forEach((entry, order) => newest.set(entry.sha256, { order, version: entry.version }));
  const candidates = stored.map((image) => {
    const listed = newest.get(image.sha256);
    return {
      sha256: image.sha256,
      size: BigInt(image.size),
      order: listed?.order,
      version: listed?.version,
    };
  });
  return candidates.sort(oldestFirst);
}

/** Unlisted images first (by digest), then by manifest position. */
function oldestFirst(a: PruneCandidate, b: PruneCandidate): number {
  if (a.order === undefined || b.order === undefined) {
    if (a.order !== b.order) return a.order === undefined ? -1 : 1;
    return a.sha256 < b.sha256 ? -1 : a.sha256 > b.sha256 ? 1 : 0;
  }
  return a.order - b.order;
}

/**
 * A config's limits (`KeepImages=`, `MaxStoreSize=`).
 *
 * @example
 * ```ts
 * import { parseConfig } from "./config.ts";
 * const config = await parseConfig(
 *   "Origin=https://images.example.com/app\nPublicKey=RWQ=\nDestination=/var/lib/app\n",
 *   "/etc/tako/app",
 * );
 * hasLimits(limitsOf(config)); // false
 * ```
 */
export function limitsOf(config: Config): PruneLimits {
  return { keepImages: config.keepImages, maxStoreSize: config.maxStoreSize };
}

/** "1 image", "2 images". */
export function imageCount(n: number): string {
  return n === 1 ? "1 image" : `${n} images`;
}

/** Whether any limit is set: without one, pruning has nothing to do. */
export function hasLimits(limits: PruneLimits): boolean {
  return limits.keepImages !== undefined || limits.maxStoreSize !== undefined;
}

/**
 * Plans a prune: removes the oldest removable images until the store holds at
 * most `keepImages` images and at most `maxStoreSize` bytes. `latest` and
 * `previous` are never removed; when the limits cannot be met without them,
 * every other image is removed and the limits left exceeded are named in
 * `unmet`. The candidates may come in any order; duplicates count once.
 *
 * @example
 * ```ts
 * declare const candidates: PruneCandidate[], latest: string, previous: string | undefined;
 * const plan = planPrune(candidates, { latest, previous }, { keepImages: 3, maxStoreSize: undefined });
 * for (const image of plan.remove) console.log(`remove store/${image.sha256}`);
 * ```
 */
export function planPrune(
  candidates: readonly PruneCandidate[],
  keep: PruneKeep,
  limits: PruneLimits,
): PrunePlan {
  const images = unique(candidates).sort(oldestFirst);
  let keptCount = images.length;
  let keptSize = images.reduce((sum, image) => sum + image.size, 0n);
  const exceeded = (): LimitName[] => {
    const over: LimitName[] = [];
    if (limits.keepImages !== undefined && keptCount > limits.keepImages) over.push("KeepImages");
    if (limits.maxStoreSize !== undefined && keptSize > limits.maxStoreSize) {
      over.push("MaxStoreSize");
    }
    return over;
  };
  const remove: PruneCandidate[] = [];
  for (const image of images) {
    if (exceeded().length === 0) break;
    if (image.sha256 === keep.latest || image.sha256 === keep.previous) continue;
    remove.push(image);
    keptCount--;
    keptSize -= image.size;
  }
  return { remove, keptCount, keptSize, unmet: exceeded() };
}

/** The first candidate of each digest. */
function unique(candidates: readonly PruneCandidate[]): PruneCandidate[] {
  const seen = new Set<string>();
  return candidates.filter((c) => !seen.has(c.sha256) && seen.add(c.sha256));
}
