/**
 * Streams local images through a {@link BlockMatcher}: each image is read
 * once, front to back, through two reused buffers, the next read while the
 * one before is scanned (no per-block allocation, memory flat whatever the
 * image size). Read errors of an image make it count as not there: a local
 * image is only ever a source of hints, the signed digest of the result
 * decides.
 *
 * @module
 */
import type { BlockMatcher } from "../core/block_match.ts";
import type { ChunkIndex } from "../core/chunk_index.ts";
import { unusedStretches, worthScanning } from "../core/delta_plan.ts";

/** 4 MiB per read, two buffers: large reads, and the blocks carried over between them negligible. */
const BUFFER_SIZE = 4 * 1024 * 1024;
/** Room before a buffer's bytes for what a scan carries over from the buffer before (2 blocks). */
const CARRY = 64 * 1024;

/** A local image to scan; `id` is the caller's number for it in the matches. */
export interface LocalImage {
  readonly id: number;
  readonly path: string;
  /**
   * Reads its own chunk index, cached beside it (undefined when there is none
   * or it is damaged): joined first, without reading the image. Read when
   * joined and dropped after, so that one local index at a time is held.
   */
  readonly readIndex?: (() => Promise<ChunkIndex | undefined>) | undefined;
}

/** What a scan did. */
export interface ScanReport {
  /** Images scanned to the end (or until nothing was missing). */
  readonly scanned: number;
  /** Bytes read. */
  readonly bytesRead: number;
  /** Images that could not be read (skipped). */
  readonly unreadable: number;
  /** Images matched by their cached index. */
  readonly joined: number;
  /** Bytes rolled through and 4 KiB strong checksums computed (BlockMatcher.work). */
  readonly work: { readonly rolledBytes: number; readonly strongChecks: number };
}

/**
 * Matches `images` in order until the matcher misses nothing: first by the
 * cached indexes of those that have one (no I/O), then, when that leaves
 * enough missing (core `worthScanning`), by reading them all; else by
 * reading, of each image joined, the stretches no block found in it comes
 * from (core `unusedStretches`). The matcher
 * then knows, for each block of the new image, a local image and offset
 * holding it.
 *
 * @example
 * ```ts
 * import type { BlockMatcher } from "../core/block_match.ts";
 * declare const matcher: BlockMatcher, latest: string;
 * await scanLocalImages(matcher, [{ id: 0, path: `/var/lib/tako/app/store/${latest}` }]);
 * ```
 */
export async function scanLocalImages(
  matcher: BlockMatcher,
  images: readonly LocalImage[],
): Promise<ScanReport> {
  let joined = 0;
  /** Per image joined, its unused stretches (what a scan of it reads unless all is scanned). */
  const unused = new Map<number, [number, number][]>();
  for (const image of images) {
    if (matcher.missing === 0) break;
    const index = await image.readIndex?.();
    if (index === undefined) continue;
    matcher.join(image.id, index);
    // Only its own matches count, which later joins of other images leave as they are.
    unused.set(image.id, unusedStretches(matcher, image.id, index));
    joined++;
  }
  let scanned = 0;
  let bytesRead = 0;
  let unreadable = 0;
  if (matcher.missing === 0) return { scanned, bytesRead, unreadable, joined, work: matcher.work };
  const whole = worthScanning(matcher.missing, matcher.image.length);
  const buffers: Buffers = [
    new Uint8Array(CARRY + BUFFER_SIZE),
    new Uint8Array(CARRY + BUFFER_SIZE),
  ];
  for (const image of images) {
    if (matcher.missing === 0) break;
    const stretches = whole ? [[0, Infinity] as [number, number]] : unused.get(image.id);
    if (stretches === undefined) continue;
    try {
      bytesRead += await scanOne(matcher, image, buffers, stretches);
      scanned++;
    } catch {
      unreadable++;
    }
  }
  return { scanned, bytesRead, unreadable, joined, work: matcher.work };
}

/** Scans the byte ranges `stretches` of one local image, in order; answers the bytes read. */
async function scanOne(
  matcher: BlockMatcher,
  image: LocalImage,
  buffers: Buffers,
  stretches: readonly (readonly [number, number])[],
): Promise<number> {
  using file = await Deno.open(image.path, { read: true });
  const info = await file.stat();
  if (!info.isFile) return 0;
  let read = 0;
  for (const [i, [start, end]] of stretches.entries()) {
    if (matcher.missing === 0 || start >= info.size) break;
    // The pair table is built once per image, not once per stretch (hundreds of them).
    matcher.begin(image.id, info.size, i > 0);
    read += await scanStretch(matcher, file, info.size, buffers, start, end);
  }
  return read;
}

/** Two buffers of CARRY + BUFFER_SIZE bytes: one scanned while the next is read into. */
type Buffers = [Uint8Array, Uint8Array];

/**
 * Scans bytes [start, end) of a local image of `size` bytes, the matcher
 * begun on it. While a buffer is scanned (on this thread), the next piece is
 * read into the other (on Deno's I/O threads); what the scan carries over
 * goes in front of it. A scan that jumped past the piece read ahead (blocks
 * known from a join) reads on from where it landed instead.
 */
async function scanStretch(
  matcher: BlockMatcher,
  file: Deno.FsFile,
  size: number,
  buffers: Buffers,
  start: number,
  end: number,
): Promise<number> {
  const stop = Math.min(end, size);
  let [current, next] = buffers;
  let base = start; // image offset of the piece being scanned
  let at = CARRY; // where it starts in `current`
  let filled = 0;
  let read = 0;
  let from = start;
  /** Where to seek and read a fresh piece from: the start, or past the piece read ahead. */
  let refill: number | undefined = start;
  for (;;) {
    if (refill !== undefined) {
      await file.seek(refill, Deno.SeekMode.Start);
      base = refill;
      at = CARRY;
      filled = await readFull(
        file,
        current.subarray(CARRY, CARRY + Math.min(BUFFER_SIZE, stop - refill)),
      );
      read += filled;
      refill = undefined;
      if (filled === 0) return read; // it shrank since the stat
    }
    const ahead = Math.min(BUFFER_SIZE, stop - base - filled);
    // Started before the scan, finished during it; awaited before anything else touches the file.
    const pending = ahead > 0 ? readFull(file, next.subarray(CARRY, CARRY + ahead)) : undefined;
    from = matcher.scan(current.subarray(at, at + filled), base, from);
    const got = pending === undefined ? 0 : await pending;
    read += got;
    // The stretch's end, nothing missing, or the image shrank since the stat: done.
    if (pending === undefined || got === 0 || matcher.missing === 0) return read;
    const keep = matcher.keepFrom(from);
    const carry = base + filled - keep;
    if (carry < 0 && keep >= base + filled + got) {
      // Jumped past the piece read ahead (blocks known from a join): read on from there.
      if (keep >= stop) return read;
      refill = keep;
      continue;
    }
    if (carry > CARRY) {
      // More left behind than fits in front of the next piece (never seen): read it again.
      refill = keep;
      continue;
    }
    // Jumped into the piece read ahead (carry < 0), or carry the rest of this one in front of it.
    if (carry > 0) next.set(current.subarray(at + filled - carry, at + filled), CARRY - carry);
    [current, next] = [next, current];
    base = keep;
    at = CARRY - carry;
    filled = carry + got;
  }
}

/** Reads into all of `view` unless the file ends first: the count read. */
async function readFull(file: Deno.FsFile, view: Uint8Array): Promise<number> {
  let filled = 0;
  while (filled < view.length) {
    const n = await file.read(view.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return filled;
}
