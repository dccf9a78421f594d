/**
 * The table of block pairs a scan still looks for (block_match.ts): pairs
 * (j, j + 1) of the new image's full blocks by their key (rolling_sum.ts
 * `pairKey`), open addressing over twice as many slots as missing blocks,
 * pairs of one key chained in ascending order, and a two-bit filter in
 * front. Only the pairs still wanted are held (8 bytes each, in `pair` and
 * `next`), and keys are computed when compared, not stored: after a join
 * has found most blocks the table is small, whatever the image's size. Pure.
 *
 * @module
 */
import {
  type CandidateTable,
  filterBit,
  filterShift,
  GOLDEN,
  MAX_FILTER_WORDS,
  NONE,
  SPENT,
} from "./rolling_sum.ts";

export class PairTable implements CandidateTable {
  /** Per slot: the first member of a chain, NONE, or SPENT (a chain with nothing left, kept for probes). */
  slots = new Int32Array(0);
  /** Slots are picked by the high bits of a multiplicative hash: the low bits of the key cluster. */
  shift = 32;
  /**
   * Two bits per key (rolling_sum.ts filterBit), 32 bits per missing block (at most 2
   * MiB): most offsets are turned away by one bit test, nearly all of the
   * rest by the second, without touching the table.
   */
  filter = new Int32Array(32);
  /** Changes with every build, when the filter does. */
  filterVersion = 0;
  /** Per member of a chain: its pair j. */
  pair = new Int32Array(0);
  /** Per member: the next member of its chain, or NONE. */
  next = new Int32Array(0);
  #mask = 0;

  /** `keyOf(j)`: the key of pair j. */
  constructor(readonly keyOf: (j: number) => number) {}

  /**
   * Fills the table anew with the pairs j < `pairs` for which `wanted(j)`,
   * sized for `missing` blocks: each wanted pair holds a missing block, so
   * there are at most twice as many.
   */
  build(pairs: number, missing: number, wanted: (j: number) => boolean): void {
    let size = 16;
    let bits = 4;
    while (size < 2 * missing) {
      size *= 2;
      bits++;
    }
    this.shift = 32 - bits;
    const filterWords = Math.min(MAX_FILTER_WORDS, Math.max(32, size / 2));
    if (this.filter.length !== filterWords) this.filter = new Int32Array(filterWords);
    this.filter.fill(0);
    this.filterVersion++;
    const bitShift = filterShift(filterWords);
    if (this.slots.length !== size) this.slots = new Int32Array(size);
    this.slots.fill(NONE);
    this.#mask = size - 1;
    const capacity = Math.max(0, Math.min(pairs, 2 * missing));
    // Builds only shrink (blocks are found, never lost): the first arrays are reused.
    if (this.pair.length < capacity) {
      this.pair = new Int32Array(capacity);
      this.next = new Int32Array(capacity);
    }
    let members = 0;
    // Chains keep pairs in ascending order, so a run continues at the first equal pair.
    for (let j = pairs - 1; j >= 0; j--) {
      if (!wanted(j)) continue;
      if (members === this.pair.length) {
        throw new RangeError("more wanted pairs than missing blocks allow");
      }
      const m = members++;
      this.pair[m] = j;
      this.next[m] = NONE;
      const key = this.keyOf(j);
      this.#setBit(filterBit(key, bitShift, 0));
      this.#setBit(filterBit(key, bitShift, 1));
      let slot = Math.imul(key, GOLDEN) >>> this.shift;
      for (;;) {
        const head = this.slots[slot]!;
        if (head === NONE) {
          this.slots[slot] = m;
          break;
        }
        if (this.keyOf(this.pair[head]!) === key) {
          this.next[m] = head;
          this.slots[slot] = m;
          break;
        }
        slot = (slot + 1) & this.#mask;
      }
    }
  }

  #setBit(bit: number): void {
    this.filter[bit >>> 5] = this.filter[bit >>> 5]! | (1 << (bit & 31));
  }

  /** The slot of the chain of pairs with `key`, or NONE. */
  find(key: number): number {
    let slot = Math.imul(key, GOLDEN) >>> this.shift;
    for (let head = this.slots[slot]!; head !== NONE; head = this.slots[slot]!) {
      if (head !== SPENT && this.keyOf(this.pair[head]!) === key) return slot;
      slot = (slot + 1) & this.#mask;
    }
    return NONE;
  }

  /**
   * Whether `key` heads a chain, or its probe meets a spent chain: in a run
   * of one byte value (free space) the caller checks the window once and
   * skips the run, which rolling through would not.
   */
  isCandidate(key: number): boolean {
    for (let slot = Math.imul(key, GOLDEN) >>> this.shift;; slot = (slot + 1) & this.#mask) {
      const head = this.slots[slot]!;
      if (head === NONE) return false;
      if (head === SPENT || this.keyOf(this.pair[head]!) === key) return true;
    }
  }
}
