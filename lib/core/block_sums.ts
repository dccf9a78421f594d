/**
 * The checksums of a chunk index (chunk_index.ts), per block: rsync's
 * rolling checksum and its 16-bit key, XXH32, and both of a full 4 KiB block
 * in one pass of word reads. Pure; no allocation per block.
 *
 * @module
 */

/** The block size of every index version: 4 KiB, the page and block size of the filesystems served. */
export const BLOCK_SIZE = 4096;

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

/**
 * The 16-bit weak checksum an index keeps for a block: the `b` half of its
 * {@link weakSum} (b weighs every byte by its position, so it mixes better
 * than a, a plain byte sum). The same cut turns a version-1 entry into one.
 *
 * @example
 * ```ts
 * weakKey(weakSum(new Uint8Array([1, 2, 3]), 0, 3)); // 10
 * ```
 */
export function weakKey(weak: number): number {
  return weak >>> 16;
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

/**
 * {@link strongSum} of a whole block, faster: the block's words read through
 * `view` (a DataView of `bytes`' whole buffer, from {@link viewOf}), 2.5 ×
 * faster than byte by byte whether or not the block starts 4-byte aligned
 * (V8 reads unaligned little-endian words through a DataView at the cost of
 * aligned ones): packed formats such as squashfs shift blocks by any amount.
 * Other lengths (an image's last block) go byte by byte.
 *
 * @example
 * ```ts
 * const bytes = new Uint8Array(8192);
 * strongSumOf(bytes, viewOf(bytes), 4095, 8191) === strongSum(bytes, 4095, 8191); // true
 * ```
 */
export function strongSumOf(bytes: Uint8Array, view: DataView, start: number, end: number): number {
  if (end - start !== BLOCK_SIZE) return strongSum(bytes, start, end);
  let v1 = (P1 + P2) | 0;
  let v2 = P2;
  let v3 = 0;
  let v4 = -P1 | 0;
  for (let i = bytes.byteOffset + start, last = i + BLOCK_SIZE; i < last; i += 16) {
    v1 = Math.imul(rotl((v1 + Math.imul(view.getUint32(i, true), P2)) | 0, 13), P1);
    v2 = Math.imul(rotl((v2 + Math.imul(view.getUint32(i + 4, true), P2)) | 0, 13), P1);
    v3 = Math.imul(rotl((v3 + Math.imul(view.getUint32(i + 8, true), P2)) | 0, 13), P1);
    v4 = Math.imul(rotl((v4 + Math.imul(view.getUint32(i + 12, true), P2)) | 0, 13), P1);
  }
  return finishBlock(v1, v2, v3, v4);
}

/** A DataView of `bytes`' whole buffer, for {@link strongSumOf}. */
export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer);
}

/** XXH32's end for a whole block: the four lanes merged, the length added, avalanched. */
function finishBlock(v1: number, v2: number, v3: number, v4: number): number {
  let h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18) + BLOCK_SIZE) | 0;
  h = Math.imul(h ^ (h >>> 15), P2);
  h = Math.imul(h ^ (h >>> 13), P3);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Whether a Uint32Array view reads words little-endian, as {@link strongSum} does. */
export const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
export const WORDS_PER_BLOCK = BLOCK_SIZE / 4;
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
export function blockSums(words: Uint32Array, w: number, out: Uint32Array, at: number): void {
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
  out[at + 1] = finishBlock(v1, v2, v3, v4);
}
