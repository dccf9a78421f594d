/**
 * Streams local images through a {@link BlockMatcher}: each image is read
 * once, front to back, through one reused buffer (no per-block allocation,
 * memory flat whatever the image size). Reads errors of an image make it
 * count as not there: a local image is only ever a source of hints, the
 * signed digest of the result decides.
 *
 * @module
 */
import type { BlockMatcher } from "../core/block_match.ts";
import type { ChunkIndex } from "../core/chunk_index.ts";
import { unusedStretches, worthScanning } from "../core/delta_plan.ts";

/** 8 MiB: large reads, and the 4 KiB carried over between buffers is negligible. */
const BUFFER_SIZE = 8 * 1024 * 1024;

/** A local image to scan; `id` is the caller's number for it in the matches. */
export interface LocalImage {
  readonly id: number;
  readonly path: string;
  /** Its own chunk index, when one is cached beside it: joined first, without reading it. */
  readonly index?: ChunkIndex | undefined;
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
  for (const image of images) {
    if (image.index === undefined || matcher.missing === 0) continue;
    matcher.join(image.id, image.index);
    joined++;
  }
  let scanned = 0;
  let bytesRead = 0;
  let unreadable = 0;
  if (matcher.missing === 0) return { scanned, bytesRead, unreadable, joined, work: matcher.work };
  const whole = worthScanning(matcher.missing, matcher.image.length);
  const buffer = new Uint8Array(BUFFER_SIZE);
  for (const image of images) {
    if (matcher.missing === 0) break;
    if (!whole && image.index === undefined) continue;
    try {
      const stretches = whole || image.index === undefined
        ? [[0, Infinity] as [number, number]]
        : unusedStretches(matcher, image.id, image.index);
      bytesRead += await scanOne(matcher, image, buffer, stretches);
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
  buffer: Uint8Array,
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
    read += await scanStretch(matcher, file, info.size, buffer, start, end);
  }
  return read;
}

/** Scans bytes [start, end) of a local image of `size` bytes, the matcher begun on it. */
async function scanStretch(
  matcher: BlockMatcher,
  file: Deno.FsFile,
  size: number,
  buffer: Uint8Array,
  start: number,
  end: number,
): Promise<number> {
  const stop = Math.min(end, size);
  await file.seek(start, Deno.SeekMode.Start);
  let base = start; // image offset of buffer[0]
  let filled = 0;
  let from = start;
  let read = 0;
  let eof = false;
  for (;;) {
    while (filled < buffer.length && base + filled < stop) {
      const n = await file.read(buffer.subarray(filled, Math.min(buffer.length, stop - base)));
      if (n === null) {
        eof = true; // it shrank since the stat: what was read is all there is
        break;
      }
      filled += n;
      read += n;
    }
    from = matcher.scan(buffer.subarray(0, filled), base, from);
    if (eof || base + filled >= stop || matcher.missing === 0) return read;
    const keep = matcher.keepFrom(from);
    if (keep >= base + filled) {
      // The scan jumped past this buffer (blocks known from a join): read on from there.
      if (keep >= stop) return read;
      await file.seek(keep, Deno.SeekMode.Start);
      filled = 0;
    } else {
      buffer.copyWithin(0, keep - base, filled);
      filled -= keep - base;
    }
    base = keep;
  }
}
