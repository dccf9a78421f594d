/**
 * Per block of a new image, the byte offset where a local image holds it
 * (block_match.ts): 40 bits in 5 bytes, where a Float64Array takes 8 (3 MB
 * less at 4 GiB, where the match state is most of what grows with the
 * image). Offsets of 1 TiB and more are not held: such a block is fetched.
 * Pure.
 *
 * @module
 */

/** The first offset not held: 2^40 (1 TiB). */
export const MAX_MATCH_OFFSET = 2 ** 40;
const LOW = 2 ** 32;

/**
 * @example
 * ```ts
 * const offsets = new MatchOffsets(2);
 * offsets.set(1, 5 * 2 ** 32 + 7); // true
 * offsets.get(1); // 21474836487
 * ```
 */
export class MatchOffsets {
  readonly #low: Uint32Array;
  readonly #high: Uint8Array;

  constructor(count: number) {
    this.#low = new Uint32Array(count);
    this.#high = new Uint8Array(count);
  }

  /** The offset of block `j` (0 until set). */
  get(j: number): number {
    return this.#low[j]! + this.#high[j]! * LOW;
  }

  /** Sets the offset of block `j`; false (nothing set) for one of {@link MAX_MATCH_OFFSET} or more. */
  set(j: number, offset: number): boolean {
    if (!(offset >= 0 && offset < MAX_MATCH_OFFSET)) return false;
    this.#low[j] = offset % LOW;
    this.#high[j] = Math.floor(offset / LOW);
    return true;
  }
}
