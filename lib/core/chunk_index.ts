/**
 * The chunk index, `Tako Index 2`: a sidecar file beside each image on the
 * origin (`store/<sha256>.index`) that lets a client build the image from the
 * bytes it already holds plus Range requests for the rest. It lists, for each
 * 4 KiB block of the image, a 16-bit rolling checksum (the `b` half of
 * rsync's) and a 32-bit strong checksum (XXH32): 6 bytes per 4 KiB, 0.15 % of
 * the image. Blocks are looked up in pairs of neighbours (block_match.ts), so
 * the rolling filter is 32 bits wide although each block carries 16. Version 1
 * (8 bytes per block, the whole 32-bit rolling checksum) is still read: its
 * checksum is cut to the same 16 bits, so both feed one matcher. The index is
 * not signed: it names the image's size and SHA-256 so that a client can tell
 * it belongs, and the signed SHA-256 of the assembled result decides whether
 * it was right (byte layout in docs/formats.md).
 *
 * @module
 */
import {
  BLOCK_SIZE,
  blockSums,
  LITTLE_ENDIAN,
  strongSum,
  weakKey,
  weakSum,
  WORDS_PER_BLOCK,
} from "./block_sums.ts";
import { SHA256_HEX } from "./digest.ts";

export { BLOCK_SIZE, strongSum, weakKey, weakSum };

/** The first 8 bytes of every index: ASCII `TAKOINDX`. */
export const INDEX_MAGIC = "TAKOINDX";

/** The format version this client writes; it reads this one and {@link INDEX_VERSION_1}. */
export const INDEX_VERSION = 2;

/** The previous format (8 bytes per block), written by earlier releases: read, never written. */
export const INDEX_VERSION_1 = 1;

/** Bytes of the header before the first block entry. */
export const INDEX_HEADER_BYTES = 56;

/** Bytes of one block entry of version 2: the 16-bit rolling checksum and the 32-bit strong one. */
export const ENTRY_BYTES = 6;

/** Bytes of one block entry of version 1: the 32-bit rolling checksum and the 32-bit strong one. */
export const ENTRY_BYTES_1 = 8;

/**
 * The largest index read: 64 MiB, the version-2 index of an image of about
 * 42 GiB. A larger image is always downloaded in full.
 */
export const MAX_INDEX_BYTES = 64 * 1024 * 1024;

/** Bytes of the rolling checksum per entry: version 2, version 1. */
export const WEAK_BYTES = 2;
export const WEAK_BYTES_1 = 4;
/** Bytes of the strong checksum per entry (both versions). */
export const STRONG_BYTES = 4;
/** {@link INDEX_MAGIC} as the file's first 8 bytes. */
export const INDEX_MAGIC_BYTES = new TextEncoder().encode(INDEX_MAGIC);

/** The suffix of an index's name: `store/<sha256>.index` on the origin, beside the image. */
export const INDEX_SUFFIX = ".index";

/**
 * The origin path of the index of image `sha256`.
 *
 * @example
 * ```ts
 * indexPath("ab".repeat(32)); // "store/abab…ab.index"
 * ```
 */
export function indexPath(sha256: string): string {
  return `store/${sha256}${INDEX_SUFFIX}`;
}

/** A parsed index: the image it describes and one (weak, strong) pair per block. */
export interface ChunkIndex {
  readonly size: number;
  readonly sha256: string;
  readonly blockSize: number;
  /** The format version it was read from (1 or 2); the fields below are the same for both. */
  readonly version: number;
  /** Number of blocks: ceil(size / blockSize); the last one may be shorter. */
  readonly count: number;
  /** Per block: the 16-bit weak checksum ({@link weakKey}). */
  readonly weak: Uint16Array;
  readonly strong: Uint32Array;
}

/**
 * Blocks of an image of `size` bytes. The last block holds the remainder.
 *
 * @example
 * ```ts
 * blockCount(4097); // 2
 * ```
 */
export function blockCount(size: number, blockSize = BLOCK_SIZE): number {
  return Math.ceil(size / blockSize);
}

/**
 * The exact length of the index (version 2, as written) of an image of `size` bytes.
 *
 * @example
 * ```ts
 * indexLength(1024 * 1024); // 56 + 256 * 6 = 1592
 * ```
 */
export function indexLength(size: number): number {
  return INDEX_HEADER_BYTES + ENTRY_BYTES * blockCount(size);
}

/**
 * The most bytes a client reads as the index of an image of `size` bytes:
 * the length of its longest valid index (a version-1 one, as older origins
 * and caches hold), but never more than {@link MAX_INDEX_BYTES}.
 *
 * @example
 * ```ts
 * indexReadLimit(1024 * 1024); // 56 + 256 * 8 = 2104
 * ```
 */
export function indexReadLimit(size: number): number {
  return Math.min(MAX_INDEX_BYTES, INDEX_HEADER_BYTES + ENTRY_BYTES_1 * blockCount(size));
}

/**
 * Whether an image of `size` bytes may have an index this client reads
 * (its version-2 index fits {@link MAX_INDEX_BYTES}).
 */
export function indexable(size: number): boolean {
  return Number.isSafeInteger(size) && size >= 0 && indexLength(size) <= MAX_INDEX_BYTES;
}

/**
 * Builds the index of an image fed in pieces of any length, in order. Full
 * blocks are summed by {@link blockSums} on a word view of the piece when it
 * is 4-byte aligned, else after a copy into an aligned buffer; the last,
 * short block (and every block on a big-endian machine) by the byte loops.
 *
 * @example
 * ```ts
 * declare const pieces: Uint8Array[], sha256: string;
 * const builder = new IndexBuilder();
 * for (const piece of pieces) builder.push(piece);
 * const index = builder.finish(sha256); // the file's bytes
 * ```
 */
export class IndexBuilder {
  readonly #pending = new Uint8Array(BLOCK_SIZE);
  readonly #pendingWords = new Uint32Array(this.#pending.buffer);
  #pendingLength = 0;
  #size = 0;
  /** The entries so far, (weak, strong) u32 pairs, in a buffer that doubles as it fills. */
  #entries = new Uint32Array(1024);
  #count = 0;

  /** Adds the next bytes of the image. */
  push(bytes: Uint8Array): void {
    let at = 0;
    this.#size += bytes.length;
    if (this.#pendingLength > 0) {
      const take = Math.min(BLOCK_SIZE - this.#pendingLength, bytes.length);
      this.#pending.set(bytes.subarray(0, take), this.#pendingLength);
      this.#pendingLength += take;
      at = take;
      if (this.#pendingLength < BLOCK_SIZE) return;
      this.#addPending();
    }
    const blocks = Math.floor((bytes.length - at) / BLOCK_SIZE);
    this.#reserve(blocks);
    const start = bytes.byteOffset + at;
    if (LITTLE_ENDIAN && start % 4 === 0) {
      const words = new Uint32Array(bytes.buffer, start, blocks * WORDS_PER_BLOCK);
      for (let k = 0; k < blocks; k++) {
        blockSums(words, k * WORDS_PER_BLOCK, this.#entries, 2 * this.#count++);
      }
      at += blocks * BLOCK_SIZE;
    } else {
      for (let k = 0; k < blocks; k++, at += BLOCK_SIZE) {
        this.#pending.set(bytes.subarray(at, at + BLOCK_SIZE));
        this.#addPending();
      }
    }
    this.#pending.set(bytes.subarray(at), 0);
    this.#pendingLength = bytes.length - at;
  }

  /** The index file of the image pushed, whose SHA-256 is `sha256` (lowercase hex). */
  finish(sha256: string): Uint8Array {
    if (this.#pendingLength > 0) {
      const last = this.#pending.subarray(0, this.#pendingLength);
      this.#reserve(1);
      this.#entries[2 * this.#count] = weakSum(last, 0, last.length);
      this.#entries[2 * this.#count + 1] = strongSum(last, 0, last.length);
      this.#count++;
    }
    this.#pendingLength = 0;
    if (this.#count !== blockCount(this.#size)) {
      throw new TypeError("block count does not match the size");
    }
    const entries = this.#entries;
    return encodeIndex(
      this.#size,
      sha256,
      (k) => weakKey(entries[2 * k]!),
      (k) => entries[2 * k + 1]!,
    );
  }

  /** Sums the full block in #pending. */
  #addPending(): void {
    this.#reserve(1);
    if (LITTLE_ENDIAN) {
      blockSums(this.#pendingWords, 0, this.#entries, 2 * this.#count);
    } else {
      this.#entries[2 * this.#count] = weakSum(this.#pending, 0, BLOCK_SIZE);
      this.#entries[2 * this.#count + 1] = strongSum(this.#pending, 0, BLOCK_SIZE);
    }
    this.#count++;
    this.#pendingLength = 0;
  }

  /** Room for `blocks` more entries. */
  #reserve(blocks: number): void {
    const needed = 2 * (this.#count + blocks);
    if (needed <= this.#entries.length) return;
    const grown = new Uint32Array(Math.max(needed, 2 * this.#entries.length));
    grown.set(this.#entries.subarray(0, 2 * this.#count));
    this.#entries = grown;
  }
}

/**
 * The index file (version 2): header, then per block its weak key (big-endian
 * u16, {@link weakKey} of its 32-bit sum) and its strong checksum (big-endian
 * u32), block k's from `weakOf(k)` and `strongOf(k)`; in pieces of at most
 * {@link PIECE_BLOCKS} entries (the header in the first), so that it can be
 * written without being held whole. Each piece is a view of one buffer,
 * refilled for the next: use it before asking for the next one.
 */
function* indexPieces(
  size: number,
  sha256: string,
  weakOf: (k: number) => number,
  strongOf: (k: number) => number,
): Generator<Uint8Array> {
  if (!SHA256_HEX.test(sha256)) throw new TypeError("sha256 must be 64 lowercase hex digits");
  const count = blockCount(size);
  // One buffer for every piece: pieces written one by one leave nothing to collect.
  const buffer = new Uint8Array(INDEX_HEADER_BYTES + ENTRY_BYTES * Math.min(PIECE_BLOCKS, count));
  const view = new DataView(buffer.buffer);
  for (let first = 0, header = true; header || first < count; first += PIECE_BLOCKS) {
    const blocks = Math.min(PIECE_BLOCKS, count - first);
    const start = header ? INDEX_HEADER_BYTES : 0;
    const out = buffer.subarray(0, start + ENTRY_BYTES * blocks);
    if (header) {
      out.set(INDEX_MAGIC_BYTES, 0);
      view.setUint16(8, INDEX_VERSION);
      view.setUint8(10, WEAK_BYTES);
      view.setUint8(11, STRONG_BYTES);
      view.setUint32(12, BLOCK_SIZE);
      view.setBigUint64(16, BigInt(size));
      for (let i = 0; i < 32; i++) out[24 + i] = parseInt(sha256.slice(2 * i, 2 * i + 2), 16);
      header = false;
    }
    for (let k = 0, at = start; k < blocks; k++, at += ENTRY_BYTES) {
      view.setUint16(at, weakOf(first + k));
      view.setUint32(at + 2, strongOf(first + k));
    }
    yield out;
  }
}

/** Entries per piece of {@link indexPieces}: 384 KiB. */
const PIECE_BLOCKS = 65536;

/** {@link indexPieces} in one buffer. */
function encodeIndex(
  size: number,
  sha256: string,
  weakOf: (k: number) => number,
  strongOf: (k: number) => number,
): Uint8Array {
  const out = new Uint8Array(indexLength(size));
  let at = 0;
  for (const piece of indexPieces(size, sha256, weakOf, strongOf)) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}

/**
 * The index file (version 2) of a parsed index: the bytes it was parsed from
 * when those were version 2, a version-1 index rewritten as version 2 (the
 * fields a parsed index keeps are those of version 2). A delta update keeps
 * the index of the image it built this way, so that the bytes it downloaded
 * need not stay in memory while it matches.
 *
 * @example
 * ```ts
 * import { parseIndex } from "./index_reader.ts";
 * declare const bytes: Uint8Array, size: number, sha256: string;
 * encodeParsedIndex(parseIndex(bytes, size, sha256, "store/….index")); // bytes, when version 2
 * ```
 */
export function encodeParsedIndex(index: ChunkIndex): Uint8Array {
  const { weak, strong } = index;
  return encodeIndex(index.size, index.sha256, (k) => weak[k]!, (k) => strong[k]!);
}

/**
 * {@link encodeParsedIndex} in pieces of at most 384 KiB, each a view of one
 * buffer refilled for the next: what a delta update writes beside the image
 * it built, without a copy of the whole index (6 MiB at 4 GiB) beside the
 * parsed one, nor 6 MiB of pieces left to collect.
 *
 * @example
 * ```ts
 * declare const index: ChunkIndex;
 * let bytes = 0;
 * for (const piece of parsedIndexPieces(index)) bytes += piece.length; // indexLength(index.size)
 * ```
 */
export function parsedIndexPieces(index: ChunkIndex): Iterable<Uint8Array> {
  const { weak, strong } = index;
  return indexPieces(index.size, index.sha256, (k) => weak[k]!, (k) => strong[k]!);
}
