/**
 * The plan of a delta update: which byte ranges of the new image are copied
 * from local images and which are fetched from the origin, in image order,
 * so that the assembly writes (and hashes) the new image front to back in one
 * pass. Pure.
 *
 * Neighbouring fetched blocks become one range; a short stretch of local
 * blocks between two fetched ranges can be fetched too ({@link PlanLimits.bridgeBytes},
 * none by default: a gap is at least a block, more than a request's headers
 * cost), and when more than {@link PlanLimits.maxRequests} ranges remain
 * the shortest stretches are bridged as long as the extra bytes stay within
 * {@link PlanLimits.maxBridgedFraction} of the image. The fetched bytes never
 * exceed the image's size: the segments partition it.
 *
 * @module
 */
import { type ChunkIndex, strongSum, weakKey, weakSum } from "./chunk_index.ts";
import { formatBytes } from "./log.ts";

/** Where each block of the new image can be copied from (block_match.ts finds it). */
export interface Matches {
  /** Per block: the caller's number of the local image holding it (at most 127), or -1. */
  readonly image: Int8Array;
  /** Per block: its byte offset in that local image. */
  offsetOf(j: number): number;
}

/** One stretch of the new image, `[at, at + length)`. */
export type Segment =
  /**
   * Copied from local image number `image`: its bytes `[from, from + span)`,
   * written over and over until `length` is filled. `span` is `length` for a
   * plain copy and one block for a run of identical blocks (zero fill), which
   * would otherwise be one segment per block.
   */
  | {
    readonly kind: "local";
    readonly at: number;
    readonly length: number;
    readonly image: number;
    readonly from: number;
    readonly span: number;
  }
  /** Fetched from the origin with one Range request. */
  | { readonly kind: "remote"; readonly at: number; readonly length: number };

/** A plan: segments in image order, covering it exactly, and its totals. */
export interface DeltaPlan {
  readonly size: number;
  readonly segments: readonly Segment[];
  /** Bytes copied from local images. */
  readonly localBytes: number;
  /** Bytes fetched (the sum of the remote segments). */
  readonly remoteBytes: number;
  /** Range requests: one per remote segment. */
  readonly requests: number;
}

/** How the plan trades bytes for requests. */
export interface PlanLimits {
  /** A stretch of local bytes this short between two fetched ranges is fetched too. */
  readonly bridgeBytes: number;
  /** More ranges than this are merged, shortest stretches first, within the byte budget below. */
  readonly maxRequests: number;
  /** The most bytes bridging beyond `bridgeBytes` may add, as a fraction of the image. */
  readonly maxBridgedFraction: number;
}

/**
 * The defaults, chosen on the delta benchmark's real images (docs/delta.md):
 * a gap between two missing stretches is at least a block (4 KiB), and a
 * request costs about 250 bytes of answer headers, so bridging a gap never
 * saves bytes; requests go in flight a few at a time on reused connections,
 * so they are not bridged either, up to 2,048. Beyond that (a large image
 * with scattered changes), the shortest gaps are bridged within 0.5 % of the
 * image, to bound the requests of one update.
 */
export const DEFAULT_LIMITS: PlanLimits = Object.freeze({
  bridgeBytes: 0,
  maxRequests: 2048,
  maxBridgedFraction: 0.005,
});

/**
 * The plan for an image of `size` bytes in blocks of `blockSize`, given where
 * the blocks were found.
 *
 * @example
 * ```ts
 * import type { BlockMatcher } from "./block_match.ts";
 * import { type ChunkIndex, strongSum, weakKey, weakSum } from "./chunk_index.ts";
 * declare const index: ChunkIndex, matcher: BlockMatcher;
 * const plan = planDelta(index.size, index.blockSize, matcher);
 * plan.remoteBytes <= index.size; // true
 * ```
 */
export function planDelta(
  size: number,
  blockSize: number,
  matches: Matches,
  limits: PlanLimits = DEFAULT_LIMITS,
): DeltaPlan {
  const raw = rawSegments(size, blockSize, matches);
  const bridged = bridge(raw, size, limits);
  let localBytes = 0;
  let remoteBytes = 0;
  let requests = 0;
  for (const s of bridged) {
    if (s.kind === "local") localBytes += s.length;
    else {
      remoteBytes += s.length;
      requests++;
    }
  }
  return { size, segments: bridged, localBytes, remoteBytes, requests };
}

/**
 * Per block, then merged: remote runs; local blocks of one image at
 * consecutive offsets; and runs of blocks found at one and the same offset
 * (identical blocks) as one repeated block.
 */
function rawSegments(size: number, blockSize: number, matches: Matches): Segment[] {
  const segments: Segment[] = [];
  const count = Math.ceil(size / blockSize);
  for (let j = 0; j < count; j++) {
    const at = j * blockSize;
    const length = Math.min(blockSize, size - at);
    const image = matches.image[j]!;
    const last = segments[segments.length - 1];
    if (image < 0) {
      if (last?.kind === "remote") {
        segments[segments.length - 1] = { ...last, length: last.length + length };
      } else segments.push({ kind: "remote", at, length });
      continue;
    }
    const from = matches.offsetOf(j);
    if (last?.kind === "local" && last.image === image) {
      if (last.span === last.length && last.from + last.length === from) {
        segments[segments.length - 1] = {
          ...last,
          length: last.length + length,
          span: last.span + length,
        };
        continue;
      }
      if (last.span === blockSize && length === blockSize && last.from === from) {
        segments[segments.length - 1] = { ...last, length: last.length + length };
        continue;
      }
    }
    segments.push({ kind: "local", at, length, image, from, span: length });
  }
  return segments;
}

/** A maximal stretch of local segments between two remote ones: `[first, last]` indices. */
interface Gap {
  readonly first: number;
  readonly last: number;
  readonly bytes: number;
}

function bridge(segments: Segment[], size: number, limits: PlanLimits): Segment[] {
  const gaps: Gap[] = [];
  let remoteRuns = 0;
  for (let i = 0; i < segments.length; i++) {
    if (segments[i]!.kind === "remote") {
      remoteRuns++;
      continue;
    }
    let j = i;
    let bytes = 0;
    while (j < segments.length && segments[j]!.kind === "local") bytes += segments[j++]!.length;
    // Only a stretch with fetched ranges on both sides is a gap worth bridging.
    if (i > 0 && j < segments.length) gaps.push({ first: i, last: j - 1, bytes });
    i = j - 1;
  }
  const bridged = new Set<Gap>();
  for (const gap of gaps) if (gap.bytes <= limits.bridgeBytes) bridged.add(gap);
  let runs = remoteRuns - bridged.size;
  let budget = limits.maxBridgedFraction * size;
  if (runs > limits.maxRequests) {
    const rest = gaps.filter((g) => !bridged.has(g)).sort((x, y) => x.bytes - y.bytes);
    for (const gap of rest) {
      if (runs <= limits.maxRequests || gap.bytes > budget) break;
      bridged.add(gap);
      budget -= gap.bytes;
      runs--;
    }
  }
  const fetched = new Uint8Array(segments.length);
  for (const gap of bridged) fetched.fill(1, gap.first, gap.last + 1);
  const out: Segment[] = [];
  for (const [i, s] of segments.entries()) {
    const remote = s.kind === "remote" || fetched[i] === 1;
    const last = out[out.length - 1];
    if (remote && last?.kind === "remote") {
      out[out.length - 1] = { ...last, length: last.length + s.length };
    } else out.push(remote ? { kind: "remote", at: s.at, length: s.length } : s);
  }
  return out;
}

/**
 * The plan that mends an assembly whose digest did not match: every stretch
 * that was copied from a local image is fetched, every stretch that was
 * fetched is copied from the first assembly (local image number `first`).
 * Only origin bytes then make up the image, and the two passes together fetch
 * the image's size once.
 *
 * @example
 * ```ts
 * declare const plan: DeltaPlan;
 * const again = repairPlan(plan, 0); // image 0: the first attempt's temporary file
 * ```
 */
export function repairPlan(plan: DeltaPlan, first: number): DeltaPlan {
  const segments: Segment[] = [];
  for (const s of plan.segments) {
    const last = segments[segments.length - 1];
    if (s.kind === "remote") {
      segments.push({
        kind: "local",
        at: s.at,
        length: s.length,
        image: first,
        from: s.at,
        span: s.length,
      });
    } else if (last?.kind === "remote") {
      // Neighbouring local stretches (of two images, say) are one range to fetch.
      segments[segments.length - 1] = { ...last, length: last.length + s.length };
    } else segments.push({ kind: "remote", at: s.at, length: s.length });
  }
  return {
    size: plan.size,
    segments,
    localBytes: plan.remoteBytes,
    remoteBytes: plan.localBytes,
    requests: segments.filter((s) => s.kind === "remote").length,
  };
}

/** At most this many local images are scanned for one update (the matcher numbers them in 8 bits). */
export const MAX_LOCAL_IMAGES = 4;

/**
 * The local images worth scanning for the image `target`, in order: the one
 * `latest` points to, the previous one, then the other stored images, newest
 * first (by the caller's order of `stored`); never the target itself, at most
 * {@link MAX_LOCAL_IMAGES}.
 *
 * @example
 * ```ts
 * localCandidates("new", "cur", "old", ["x", "cur", "old", "new"]); // ["cur", "old", "x"]
 * ```
 */
export function localCandidates(
  target: string,
  latest: string | undefined,
  previous: string | undefined,
  stored: readonly string[],
): string[] {
  const present = new Set(stored);
  const order = [latest, previous, ...stored].filter((d): d is string =>
    d !== undefined && d !== target && present.has(d)
  );
  return [...new Set(order)].slice(0, MAX_LOCAL_IMAGES);
}

/** What a delta update cost, for the log and `status`. */
export interface DeltaStats {
  readonly size: number;
  /** Bytes copied from local images. */
  readonly reused: number;
  /** Bytes fetched, the index included. */
  readonly downloaded: number;
  /** Requests made, the index's included. */
  readonly requests: number;
}

/**
 * The log line of a delta update.
 *
 * @example
 * ```ts
 * deltaSummary("1.2.0", { size: 2048, reused: 1024, downloaded: 1088, requests: 2 });
 * // "1.2.0: reused 1.0 KiB from local images, downloaded 1.1 KiB (53.1 %) in 2 requests"
 * ```
 */
export function deltaSummary(version: string, stats: DeltaStats): string {
  const bytes = formatBytes;
  const percent = stats.size === 0 ? 0 : (100 * stats.downloaded) / stats.size;
  return `${version}: reused ${bytes(stats.reused)} from local images, downloaded ${
    bytes(stats.downloaded)
  } (${percent.toFixed(1)} %) in ${stats.requests} request${stats.requests === 1 ? "" : "s"}`;
}

/**
 * Above this share of the new image's blocks still missing after the cached
 * indexes of the local images were joined, the local images are scanned
 * byte by byte too. Block filesystems (ext4, erofs) keep their blocks
 * aligned, and the join finds nearly all a scan would; packed formats
 * (squashfs, tar) shift after a change and leave most blocks missing.
 * Below it, only {@link unusedStretches} are scanned.
 */
export const SCAN_ABOVE = 0.1;

/**
 * Whether a byte-by-byte scan of the local images is worth its time, with
 * `missing` of `count` blocks not found yet.
 *
 * @example
 * ```ts
 * worthScanning(3, 100); // false: the aligned blocks were found
 * worthScanning(94, 100); // true: a packed format, shifted
 * ```
 */
export function worthScanning(missing: number, count: number): boolean {
  return missing > 0 && missing > SCAN_ABOVE * count;
}

/** Unused stretches closer than this many blocks are scanned as one. */
const STRETCH_GAP = 64;

/**
 * After a join: the byte ranges of local image `id` (`size` bytes) that no
 * block found in it comes from, each widened by a block on both sides, and
 * joined when fewer than {@link STRETCH_GAP} blocks apart; once a zero
 * block is used, every zero block (by its sums in `local`, the image's
 * index) is. What a join
 * cannot find (a block moved by less than a block, one not in a pair) is
 * where the old content was replaced: scanning these finds it without
 * reading the whole image.
 *
 * @example
 * ```ts
 * import { type ChunkIndex, strongSum, weakKey, weakSum } from "./chunk_index.ts";
 * declare const local: ChunkIndex; // 4 blocks of 4 KiB, all different
 * const offsets = [0, 0, 8192];
 * const matches = { image: new Int8Array([0, -1, 0]), offsetOf: (j: number) => offsets[j]! };
 * unusedStretches(matches, 0, local); // [[0, 16384]]: block 1, widened, then block 3
 * ```
 */
export function unusedStretches(
  matches: Matches,
  id: number,
  local: ChunkIndex,
): [number, number][] {
  const { size, blockSize, weak, strong } = local;
  const blocks = Math.ceil(size / blockSize);
  const used = new Uint8Array(blocks);
  for (let j = 0; j < matches.image.length; j++) {
    if (matches.image[j] !== id) continue;
    // A scan's offset need not be aligned: both blocks it touches count as used.
    const at = matches.offsetOf(j);
    used[Math.floor(at / blockSize)] = 1;
    if (at % blockSize !== 0 && at / blockSize + 1 < blocks) {
      used[Math.floor(at / blockSize) + 1] = 1;
    }
  }
  // Zero blocks, once one is used, hold nothing new (a block filesystem's free space). Only
  // zeros: other blocks equal to a used one may still hold a block that straddles two of them.
  const zero = new Uint8Array(blockSize);
  const zeroWeak = weakKey(weakSum(zero, 0, blockSize));
  const zeroStrong = strongSum(zero, 0, blockSize);
  const isZero = (k: number) => weak[k] === zeroWeak && strong[k] === zeroStrong;
  let zeroUsed = false;
  for (let k = 0; k < blocks && !zeroUsed; k++) zeroUsed = used[k] === 1 && isZero(k);
  for (let k = 0; k < blocks && zeroUsed; k++) if (!used[k] && isZero(k)) used[k] = 1;
  const stretches: [number, number][] = [];
  for (let k = 0; k < blocks;) {
    if (used[k]) {
      k++;
      continue;
    }
    let end = k;
    while (end < blocks && used[end] === 0) end++;
    const from = Math.max(0, (k - 1) * blockSize);
    const to = Math.min(size, (end + 1) * blockSize);
    const last = stretches.at(-1);
    if (last !== undefined && from - last[1] < STRETCH_GAP * blockSize) last[1] = to;
    else stretches.push([from, to]);
    k = end;
  }
  return stretches;
}
