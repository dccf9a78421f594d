/**
 * The chunk index, `Tako Index 1`: a sidecar file beside each image on the
 * origin (`store/<sha256>.index`) that lets a client build the image from the
 * bytes it already holds plus Range requests for the rest. It lists, for each
 * 4 KiB block of the image, a 32-bit rolling checksum (found at any byte
 * offset of a local image by rolling it) and a 32-bit strong checksum
 * (XXH32). 8 bytes per 4 KiB: 0.2 % of the image. The index is not signed:
 * it names the image's size and SHA-256 so that a client can tell it belongs,
 * and the signed SHA-256 of the assembled result decides whether it was
 * right (byte layout in docs/formats.md).
 *
 * @module
 */
import { TakoError } from "./errors.ts";

/** The block size of version 1: 4 KiB, the page and block size of the filesystems served. */
export const BLOCK_SIZE = 4096;

/** The first 8 bytes of every index: ASCII `TAKOINDX`. */
export const INDEX_MAGIC = "TAKOINDX";

/** The format version this client reads and writes. */
export const INDEX_VERSION = 1;

/** Bytes of the header before the first block entry. */
export const INDEX_HEADER_BYTES = 56;

/** Bytes of one block entry: the rolling checksum and the strong checksum, each 32 bits. */
export const ENTRY_BYTES = 8;

/**
 * The largest index read: 64 MiB, the index of a 32 GiB image. A larger image
 * is always downloaded in full.
 */
export const MAX_INDEX_BYTES = 64 * 1024 * 1024;

const WEAK_BYTES = 4;
const STRONG_BYTES = 4;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const magicBytes = new TextEncoder().encode(INDEX_MAGIC);

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
  /** Number of blocks: ceil(size / blockSize); the last one may be shorter. */
  readonly count: number;
  readonly weak: Uint32Array;
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
 * The exact length of the index of an image of `size` bytes.
 *
 * @example
 * ```ts
 * indexLength(1024 * 1024); // 56 + 256 * 8 = 2104
 * ```
 */
export function indexLength(size: number): number {
  return INDEX_HEADER_BYTES + ENTRY_BYTES * blockCount(size);
}

/**
 * Whether an image of `size` bytes may have an index this client reads
 * (its index fits {@link MAX_INDEX_BYTES}).
 */
export function indexable(size: number): boolean {
  return Number.isSafeInteger(size) && size >= 0 && indexLength(size) <= MAX_INDEX_BYTES;
}

/**
 * The rolling checksum of `bytes[start, end)` (rsync's): with n = end − start,
 * a = Σ x_i and b = Σ (n − i)·x_i, both mod 2^16; the value is b·2^16 + a.
 *
 * @example
 * ```ts
 * weakSum(new Uint8Array([1, 2, 3]), 0, 3); // b = 3·1 + 2·2 + 1·3 = 10, a = 6: 0x000a0006
 * ```
 */
export function weakSum(bytes: Uint8Array, start: number, end: number): number {
  let a = 0;
  let b = 0;
  // b accumulates the running prefix sums: Σ_k Σ_{i≤k} x_i = Σ_i (n − i)·x_i.
  for (let i = start; i < end; i++) {
    a = (a + bytes[i]!) | 0;
    b = (b + a) | 0;
  }
  return (((b & 0xffff) << 16) | (a & 0xffff)) >>> 0;
}

const P1 = 0x9e3779b1 | 0;
const P2 = 0x85ebca77 | 0;
const P3 = 0xc2b2ae3d | 0;
const P4 = 0x27d4eb2f | 0;
const P5 = 0x165667b1 | 0;

/** The little-endian 32-bit word at `bytes[i, i + 4)`. */
function word(bytes: Uint8Array, i: number): number {
  return bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
}

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

/**
 * The strong checksum of `bytes[start, end)`: XXH32 (xxHash, 32 bits, seed
 * 0). Pure JavaScript on the caller's buffer: no allocation per block (a
 * native hash per 4 KiB block left native memory behind faster than the
 * garbage collector freed it), about as fast as SHA-256 in native code, and
 * as good at telling blocks apart by accident; trust comes from the image's
 * SHA-256.
 *
 * @example
 * ```ts
 * strongSum(new TextEncoder().encode("abc"), 0, 3); // 0x32d153ff
 * ```
 */
export function strongSum(bytes: Uint8Array, start: number, end: number): number {
  let i = start;
  let h: number;
  if (end - start >= 16) {
    let v1 = (P1 + P2) | 0;
    let v2 = P2;
    let v3 = 0;
    let v4 = -P1 | 0;
    for (const last = end - 16; i <= last; i += 16) {
      v1 = Math.imul(rotl((v1 + Math.imul(word(bytes, i), P2)) | 0, 13), P1);
      v2 = Math.imul(rotl((v2 + Math.imul(word(bytes, i + 4), P2)) | 0, 13), P1);
      v3 = Math.imul(rotl((v3 + Math.imul(word(bytes, i + 8), P2)) | 0, 13), P1);
      v4 = Math.imul(rotl((v4 + Math.imul(word(bytes, i + 12), P2)) | 0, 13), P1);
    }
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) | 0;
  } else {
    h = P5;
  }
  h = (h + (end - start)) | 0;
  for (; i + 4 <= end; i += 4) {
    h = Math.imul(rotl((h + Math.imul(word(bytes, i), P3)) | 0, 17), P4);
  }
  for (; i < end; i++) h = Math.imul(rotl((h + Math.imul(bytes[i]!, P5)) | 0, 11), P1);
  h = Math.imul(h ^ (h >>> 15), P2);
  h = Math.imul(h ^ (h >>> 13), P3);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Whether a Uint32Array view reads words little-endian, as {@link strongSum} does. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const WORDS_PER_BLOCK = BLOCK_SIZE / 4;
const EVEN_BYTES = 0x00ff00ff;

/**
 * The weak and strong checksums of the full block `words[w, w + 1024)`, into
 * `out[at]` and `out[at + 1]`: the same values as {@link weakSum} and
 * {@link strongSum} of its bytes (little-endian words), in one pass of word
 * reads instead of two of byte reads. XXH32 takes the words as they are; the
 * weak sum per word, with s the sum of its bytes x0..x3 and A the running
 * sum after it: a += s and b += 4·A − (x1 + 2·x2 + 3·x3), which is what the
 * byte loop (b += a after each byte) adds over the same four bytes. The byte
 * sums come two at a time from the even and odd bytes (`w & 0x00ff00ff`).
 */
function blockSums(words: Uint32Array, w: number, out: Uint32Array, at: number): void {
  let v1 = (P1 + P2) | 0;
  let v2 = P2;
  let v3 = 0;
  let v4 = -P1 | 0;
  let a = 0;
  let b = 0;
  for (let j = w, end = w + WORDS_PER_BLOCK; j < end; j += 4) {
    const w0 = words[j]!;
    const w1 = words[j + 1]!;
    const w2 = words[j + 2]!;
    const w3 = words[j + 3]!;
    v1 = Math.imul(rotl((v1 + Math.imul(w0, P2)) | 0, 13), P1);
    v2 = Math.imul(rotl((v2 + Math.imul(w1, P2)) | 0, 13), P1);
    v3 = Math.imul(rotl((v3 + Math.imul(w2, P2)) | 0, 13), P1);
    v4 = Math.imul(rotl((v4 + Math.imul(w3, P2)) | 0, 13), P1);
    // odd = x1 | x3 << 16, pairs = (x0 + x1) | (x2 + x3) << 16.
    let odd = (w0 >>> 8) & EVEN_BYTES;
    let pairs = (w0 & EVEN_BYTES) + odd;
    a = (a + (pairs & 0xffff) + (pairs >>> 16)) | 0;
    b = (b + 4 * a - ((odd & 0xffff) + 2 * (pairs >>> 16) + (w0 >>> 24))) | 0;
    odd = (w1 >>> 8) & EVEN_BYTES;
    pairs = (w1 & EVEN_BYTES) + odd;
    a = (a + (pairs & 0xffff) + (pairs >>> 16)) | 0;
    b = (b + 4 * a - ((odd & 0xffff) + 2 * (pairs >>> 16) + (w1 >>> 24))) | 0;
    odd = (w2 >>> 8) & EVEN_BYTES;
    pairs = (w2 & EVEN_BYTES) + odd;
    a = (a + (pairs & 0xffff) + (pairs >>> 16)) | 0;
    b = (b + 4 * a - ((odd & 0xffff) + 2 * (pairs >>> 16) + (w2 >>> 24))) | 0;
    odd = (w3 >>> 8) & EVEN_BYTES;
    pairs = (w3 & EVEN_BYTES) + odd;
    a = (a + (pairs & 0xffff) + (pairs >>> 16)) | 0;
    b = (b + 4 * a - ((odd & 0xffff) + 2 * (pairs >>> 16) + (w3 >>> 24))) | 0;
  }
  out[at] = (((b & 0xffff) << 16) | (a & 0xffff)) >>> 0;
  let h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18) + BLOCK_SIZE) | 0;
  h = Math.imul(h ^ (h >>> 15), P2);
  h = Math.imul(h ^ (h >>> 13), P3);
  out[at + 1] = (h ^ (h >>> 16)) >>> 0;
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
    return encodeIndex(this.#size, sha256, this.#entries.subarray(0, 2 * this.#count));
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

/** The index file: header, then each block's weak and strong checksum (big-endian u32). */
function encodeIndex(size: number, sha256: string, entries: Uint32Array): Uint8Array {
  if (!SHA256_HEX.test(sha256)) throw new TypeError("sha256 must be 64 lowercase hex digits");
  const count = entries.length / 2;
  if (count !== blockCount(size)) throw new TypeError("block count does not match the size");
  const out = new Uint8Array(INDEX_HEADER_BYTES + ENTRY_BYTES * count);
  const view = new DataView(out.buffer);
  out.set(magicBytes, 0);
  view.setUint16(8, INDEX_VERSION);
  view.setUint8(10, WEAK_BYTES);
  view.setUint8(11, STRONG_BYTES);
  view.setUint32(12, BLOCK_SIZE);
  view.setBigUint64(16, BigInt(size));
  for (let i = 0; i < 32; i++) out[24 + i] = parseInt(sha256.slice(2 * i, 2 * i + 2), 16);
  for (let i = 0; i < entries.length; i++) view.setUint32(INDEX_HEADER_BYTES + 4 * i, entries[i]!);
  return out;
}

/**
 * Parses an index and checks that it belongs to the image the manifest
 * lists (`size` bytes with SHA-256 `sha256`). Every fault is an integrity
 * TakoError naming `source`: the caller then downloads the image in full.
 *
 * @example
 * ```ts
 * declare const bytes: Uint8Array, size: number, sha256: string;
 * const index = parseIndex(bytes, size, sha256, "https://images.example.com/app/store/….index");
 * ```
 */
export function parseIndex(
  bytes: Uint8Array,
  size: number,
  sha256: string,
  source: string,
): ChunkIndex {
  const fail = (what: string) => new TakoError("integrity", `The chunk index ${source} ${what}.`);
  if (bytes.length < INDEX_HEADER_BYTES) {
    throw fail(`has ${bytes.length} bytes, fewer than its ${INDEX_HEADER_BYTES}-byte header`);
  }
  if (!magicBytes.every((b, i) => bytes[i] === b)) throw fail(`does not start with ${INDEX_MAGIC}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(8);
  if (version !== INDEX_VERSION) {
    throw fail(`has format version ${version}; this client reads version ${INDEX_VERSION}`);
  }
  if (view.getUint8(10) !== WEAK_BYTES || view.getUint8(11) !== STRONG_BYTES) {
    throw fail(`has ${view.getUint8(10)}+${view.getUint8(11)}-byte checksums; expected 4+4`);
  }
  const blockSize = view.getUint32(12);
  if (blockSize !== BLOCK_SIZE) throw fail(`has blocks of ${blockSize} bytes; expected 4096`);
  const declared = view.getBigUint64(16);
  if (declared !== BigInt(size)) {
    throw fail(`describes an image of ${declared} bytes, but the manifest lists ${size}`);
  }
  const digest = hex(bytes.subarray(24, 56));
  if (digest !== sha256) throw fail(`describes the image ${digest}, not ${sha256}`);
  const count = blockCount(size);
  const expected = INDEX_HEADER_BYTES + ENTRY_BYTES * count;
  if (bytes.length !== expected) {
    throw fail(`has ${bytes.length} bytes; an index of ${count} blocks has ${expected}`);
  }
  const weak = new Uint32Array(count);
  const strong = new Uint32Array(count);
  for (let i = 0, at = INDEX_HEADER_BYTES; i < count; i++, at += ENTRY_BYTES) {
    weak[i] = view.getUint32(at);
    strong[i] = view.getUint32(at + 4);
  }
  return { size, sha256, blockSize, count, weak, strong };
}

function hex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}
