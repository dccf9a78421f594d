/**
 * Finds the blocks of a new image (described by its {@link ChunkIndex}) in
 * local images, at any byte offset: zsync's 4 KiB rolling match, which holds
 * both on packed formats (squashfs, tar), where a change shifts everything
 * after it, and on block filesystems (ext4, erofs), which keep 4 KiB
 * alignment. Pure: the caller streams each local image through
 * {@link BlockMatcher.scan} in buffers it reuses.
 *
 * Speed: after a match the next block of the new image is tried at the next
 * block of the local one (one strong checksum per 4 KiB), so only bytes between runs
 * of matches are rolled byte by byte, each roll one probe of a table that
 * holds only the blocks still missing. A run of one byte value (zeros) is
 * the same window at every offset: it is checked once, not once per byte.
 *
 * @module
 */
import { type ChunkIndex, strongSum, weakSum } from "./chunk_index.ts";

import {
  fillByte,
  FILTER_MIX,
  GOLDEN,
  NONE,
  rollOne,
  rollToCandidate,
  SPENT,
  sumWindow,
} from "./rolling_sum.ts";

/** Where each block of the new image can be copied from. */
export interface Matches {
  /** Per block: the caller's number of the local image holding it, or -1. */
  readonly image: Int32Array;
  /** Per block: its byte offset in that local image. */
  readonly offset: Float64Array;
}

/**
 * Streams local images against an index and records where each block of the
 * new image was found.
 *
 * @example
 * ```ts
 * import type { ChunkIndex } from "./chunk_index.ts";
 * declare const index: ChunkIndex, local: Uint8Array;
 * const matcher = new BlockMatcher(index);
 * matcher.begin(0, local.length);
 * // One buffer holding the whole local image; in pieces, the next starts at matcher.keepFrom(from).
 * matcher.scan(local, 0, 0);
 * ```
 */
export class BlockMatcher implements Matches {
  readonly image: Int32Array;
  readonly offset: Float64Array;
  readonly #index: ChunkIndex;
  readonly #block: number;
  /** Blocks of full length; the last block is shorter when the size is not a multiple. */
  readonly #full: number;
  readonly #tail: number;
  #missing: number;
  // The table of missing full blocks by weak checksum: open addressing, chains through #next.
  #slots = new Int32Array(0);
  #mask = 0;
  /** Slots are picked by the high bits of a multiplicative hash: the low bits of the weak sum cluster. */
  #shift = 32;
  /**
   * A bit per weak checksum hash, 32 bits per missing block (at most 2 MiB):
   * most windows are turned away by one bit test, without touching the table.
   */
  #filter = new Int32Array(32);
  readonly #next: Int32Array;
  // The local image being scanned.
  #local = NONE;
  #localSize = 0;
  #expect = NONE;
  /** The rolling sums a and b of the window being rolled. */
  readonly #sums = new Int32Array(2);
  /** The weak checksums as int32 (so that V8 compares small integers, not doubles). */
  readonly #weak: Int32Array;
  /** Per byte value: 1 once a window of only that byte matched no missing block (stays so). */
  readonly #spentFills = new Uint8Array(256);
  #strongChecks = 0;

  constructor(index: ChunkIndex) {
    this.#index = index;
    this.#block = index.blockSize;
    this.#tail = index.size % index.blockSize;
    this.#full = this.#tail === 0 ? index.count : index.count - 1;
    this.#weak = new Int32Array(index.weak.buffer, index.weak.byteOffset, index.weak.length);
    this.image = new Int32Array(index.count).fill(NONE);
    this.offset = new Float64Array(index.count);
    this.#next = new Int32Array(index.count).fill(NONE);
    this.#missing = index.count;
  }

  /** Strong checksums computed so far (4 KiB of work each): what scans cost, on any machine. */
  get strongChecks(): number {
    return this.#strongChecks;
  }

  /** Blocks not found yet. */
  get missing(): number {
    return this.#missing;
  }

  /**
   * Starts scanning the local image numbered `image` (`size` bytes): the
   * table then holds only the blocks still missing.
   */
  begin(image: number, size: number): void {
    this.#local = image;
    this.#localSize = size;
    this.#expect = NONE;
    this.#buildTable();
  }

  /**
   * Matches the local image numbered `image` by its own chunk index
   * (`local`, the index of its aligned blocks, cached beside it) instead of
   * reading it: each of its full blocks whose checksums equal a missing
   * block's is taken for it. Finds what a scan finds at block-aligned
   * offsets, without I/O; a claim that is wrong only costs the digest check.
   */
  join(image: number, local: ChunkIndex): void {
    if (local.blockSize !== this.#block) return;
    this.begin(image, local.size);
    const full = Math.floor(local.size / this.#block);
    const weak = new Int32Array(local.weak.buffer, local.weak.byteOffset, local.weak.length);
    for (let k = 0; k < full && this.#missing > 0; k++) {
      const w = weak[k]!;
      let slot = Math.imul(w, GOLDEN) >>> this.#shift;
      for (let head = this.#slots[slot]!; head !== NONE; head = this.#slots[slot]!) {
        if (head !== SPENT && this.#weak[head] === w) {
          for (let j = head; j !== NONE; j = this.#next[j]!) {
            if (this.#weak[j] === w && this.#index.strong[j] === local.strong[k]) {
              this.#found(j, k * this.#block);
            }
          }
          break;
        }
        slot = (slot + 1) & this.#mask;
      }
    }
  }

  /**
   * Scans `buffer`, the local image's bytes from offset `base`, checking the
   * windows that start at `from` (≥ base) or later and lie wholly in it.
   * Returns where the next scan must go on (its `from`); the next buffer must
   * start at or before {@link BlockMatcher.keepFrom} of it. The buffer that
   * reaches the end of the local image finishes it (the result is its size).
   */
  scan(buffer: Uint8Array, base: number, from: number): number {
    const block = this.#block;
    const end = base + buffer.length;
    let pos = from;
    while (this.#missing > 0 && pos + block <= end) {
      if (this.#expect !== NONE && this.#tryExpected(buffer, pos - base, pos)) {
        pos += this.#lengthOf(this.#expect - 1);
        continue;
      }
      pos = this.#roll(buffer, base, pos);
    }
    if (end < this.#localSize) return pos;
    this.#matchTail(buffer, base);
    return this.#localSize;
  }

  /**
   * The first byte the next buffer must hold for a scan to go on at `from`:
   * `from` itself, or earlier so that the local image's last block stays
   * available for the new image's short last block.
   */
  keepFrom(from: number): number {
    return Math.max(0, Math.min(from, this.#localSize - this.#block));
  }

  /** Tries the block that follows the last match, here; on success records it. */
  #tryExpected(buffer: Uint8Array, at: number, pos: number): boolean {
    const j = this.#expect;
    this.#expect = NONE;
    if (j >= this.#index.count) return false;
    const length = this.#lengthOf(j);
    if (at + length > buffer.length) return false;
    // Within a run the strong checksum alone decides (one XXH32 per 4 KiB, no weak sum):
    // a false continuation has odds of 2^-32 per block, and the image's digest catches it.
    this.#strongChecks++;
    if (strongSum(buffer, at, at + length) !== this.#index.strong[j]) return false;
    this.#found(j, pos);
    this.#expect = j + 1;
    return true;
  }

  /**
   * Rolls the checksum byte by byte from `pos` until a window matches a
   * missing block (records it, returns the offset after it) or the buffer
   * ends (returns the first window not checked; the next scan sums it anew,
   * 4 KiB of work per buffer).
   */
  #roll(buffer: Uint8Array, base: number, pos: number): number {
    const block = this.#block;
    const last = buffer.length - block;
    const sums = this.#sums;
    let at = pos - base;
    sumWindow(buffer, at, block, sums);
    for (;;) {
      at = rollToCandidate(
        buffer,
        at,
        last,
        block,
        sums,
        this.#slots,
        this.#shift,
        this.#weak,
        this.#filter,
      );
      if (at < 0) return base + last + 1;
      const fill = fillByte(buffer, at, block);
      if (fill === NONE || !this.#spentFills[fill]) {
        const found = this.#strongMatch(buffer, at, this.#slotOf(sums), base + at);
        if (found !== NONE) {
          this.#expect = found + 1;
          return base + at + block;
        }
        if (fill !== NONE) this.#spentFills[fill] = 1;
      }
      // A run of one byte value (zeros, free space) is the same window at every offset: checked once.
      if (fill !== NONE) { while (at < last && buffer[at + block] === fill) at++; }
      if (at >= last) return base + at + 1;
      rollOne(buffer, at, block, sums);
      at++;
    }
  }

  /** The slot of the chain whose weak checksum is the window's (it exists: a candidate was found). */
  #slotOf(sums: Int32Array): number {
    const weak = (sums[1]! << 16) | (sums[0]! & 0xffff);
    let slot = Math.imul(weak, GOLDEN) >>> this.#shift;
    for (;;) {
      const head = this.#slots[slot]!;
      if (head !== SPENT && this.#weak[head] === weak) return slot;
      slot = (slot + 1) & this.#mask;
    }
  }

  /**
   * Checks the window against the chain in `slot` (blocks with its weak
   * checksum), dropping blocks found meanwhile from the chain; records every
   * missing block with the window's strong checksum and returns the first,
   * or -1.
   */
  #strongMatch(buffer: Uint8Array, at: number, slot: number, pos: number): number {
    const { strong: strongOfBlock } = this.#index;
    const next = this.#next;
    let head = this.#slots[slot]!;
    while (head !== NONE && this.image[head] !== NONE) head = next[head]!;
    // A chain with nothing left to find stays in the table as a tombstone: probes pass it.
    this.#slots[slot] = head === NONE ? SPENT : head;
    if (head === NONE) return NONE;
    this.#strongChecks++;
    const strong = strongSum(buffer, at, at + this.#block);
    let first = NONE;
    for (let j = head, previous = NONE; j !== NONE; j = next[j]!) {
      if (this.image[j] !== NONE) {
        next[previous] = next[j]!;
        continue;
      }
      previous = j;
      if (strongOfBlock[j] !== strong) continue;
      this.#found(j, pos);
      if (first === NONE) first = j;
    }
    return first;
  }

  #found(j: number, pos: number): void {
    if (this.image[j] !== NONE) return;
    this.image[j] = this.#local;
    this.offset[j] = pos;
    this.#missing--;
  }

  #lengthOf(j: number): number {
    return j === this.#full && this.#tail !== 0 ? this.#tail : this.#block;
  }

  /** The short last block of the new image, tried against the local image's last bytes. */
  #matchTail(buffer: Uint8Array, base: number): void {
    const j = this.#full;
    if (this.#tail === 0 || this.image[j] !== NONE) return;
    const at = this.#localSize - this.#tail - base;
    if (at < 0) return;
    const end = at + this.#tail;
    if (weakSum(buffer, at, end) !== this.#index.weak[j]) return;
    if (strongSum(buffer, at, end) !== this.#index.strong[j]) return;
    this.#found(j, base + at);
  }

  /** The table of missing full blocks, twice as many slots as blocks (a power of two). */
  #buildTable(): void {
    let size = 16;
    let bits = 4;
    while (size < 2 * this.#missing) {
      size *= 2;
      bits++;
    }
    this.#shift = 32 - bits;
    const filterWords = Math.min(1 << 19, Math.max(32, size / 2));
    if (this.#filter.length !== filterWords) this.#filter = new Int32Array(filterWords);
    this.#filter.fill(0);
    const filterShift = 32 - Math.log2(filterWords * 32);
    if (this.#slots.length !== size) this.#slots = new Int32Array(size);
    this.#slots.fill(NONE);
    this.#mask = size - 1;
    this.#next.fill(NONE);
    // Chains keep blocks in ascending order, so a run continues at the first equal block.
    for (let j = this.#full - 1; j >= 0; j--) {
      if (this.image[j] !== NONE) continue;
      const weak = this.#weak[j]!;
      const bit = Math.imul(weak, FILTER_MIX) >>> filterShift;
      this.#filter[bit >>> 5] = this.#filter[bit >>> 5]! | (1 << (bit & 31));
      let slot = Math.imul(weak, GOLDEN) >>> this.#shift;
      for (;;) {
        const head = this.#slots[slot]!;
        if (head === NONE) {
          this.#slots[slot] = j;
          break;
        }
        if (this.#weak[head] === weak) {
          this.#next[j] = head;
          this.#slots[slot] = j;
          break;
        }
        slot = (slot + 1) & this.#mask;
      }
    }
  }
}
