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
import { worthScanning } from "../core/delta_plan.ts";

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
}

/**
 * Matches `images` in order until the matcher misses nothing: first by the
 * cached indexes of those that have one (no I/O), then, when that leaves
 * enough missing (core `worthScanning`), by reading them all. The matcher
 * then knows, for each block of the new image, a local image and offset
 * holding it.
 *
 * @example
 * ```ts
 * import type { BlockMatcher } from "../core/block_match.ts";
import type { ChunkIndex } from "../core/chunk_index.ts";
import { worthScanning } from "../core/delta_plan.ts";
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
  if (!worthScanning(matcher.missing, matcher.image.length)) {
    return { scanned, bytesRead, unreadable, joined };
  }
  const buffer = new Uint8Array(BUFFER_SIZE);
  for (const image of images) {
    if (matcher.missing === 0) break;
    try {
      bytesRead += await scanOne(matcher, image, buffer);
      scanned++;
    } catch {
      unreadable++;
    }
  }
  return { scanned, bytesRead, unreadable, joined };
}

async function scanOne(
  matcher: BlockMatcher,
  image: LocalImage,
  buffer: Uint8Array,
): Promise<number> {
  using file = await Deno.open(image.path, { read: true });
  const info = await file.stat();
  if (!info.isFile) return 0;
  const size = info.size;
  matcher.begin(image.id, size);
  let base = 0; // image offset of buffer[0]
  let filled = 0;
  let from = 0;
  let read = 0;
  let eof = false;
  for (;;) {
    while (filled < buffer.length && base + filled < size) {
      const n = await file.read(buffer.subarray(filled));
      if (n === null) {
        eof = true; // it shrank since the stat: what was read is all there is
        break;
      }
      filled += n;
      read += n;
    }
    from = matcher.scan(buffer.subarray(0, filled), base, from);
    if (eof || base + filled >= size || matcher.missing === 0) return read;
    const keep = matcher.keepFrom(from);
    buffer.copyWithin(0, keep - base, filled);
    filled -= keep - base;
    base = keep;
  }
}
