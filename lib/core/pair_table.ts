/**
 * The table of block pairs a scan still looks for (block_match.ts): pairs
 * (j, j + 1) of the new image's full blocks by their key (rolling_sum.ts
 * `pairKey`), open addressing over twice as many slots as pairs, pairs of
 * one key chained through `next` in ascending order, and a two-bit filter
 * in front. Pure.
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
  /** Per slot: the first pair of a chain, NONE, or SPENT (a chain with nothing left, kept for probes). */
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
  /** Per pair: the next pair of its chain, or NONE. */
  readonly next: Int32Array;
  #mask = 0;

  /** `key[j]`: the key of pair j. */
  constructor(readonly key: Int32Array) {
    this.next = new Int32Array(key.length).fill(NONE);
  }

  /** Fills the table anew with the pairs j < `pairs` for which `wanted(j)`, sized for `missing` blocks. */
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
    this.next.fill(NONE);
    // Chains keep pairs in ascending order, so a run continues at the first equal pair.
    for (let j = pairs - 1; j >= 0; j--) {
      if (!wanted(j)) continue;
      const key = this.key[j]!;
      this.#setBit(filterBit(key, bitShift, 0));
      this.#setBit(filterBit(key, bitShift, 1));
      let slot = Math.imul(key, GOLDEN) >>> this.shift;
      for (;;) {
        const head = this.slots[slot]!;
        if (head === NONE) {
          this.slots[slot] = j;
          break;
        }
        if (this.key[head] === key) {
          this.next[j] = head;
          this.slots[slot] = j;
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
      if (head !== SPENT && this.key[head] === key) return slot;
      slot = (slot + 1) & this.#mask;
    }
    return NONE;
  }
}
