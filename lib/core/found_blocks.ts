/**
 * The block-aligned places of one local image that hold blocks of the new
 * image found already (by a join of its cached index, or an earlier scan).
 * A rolling scan jumps over them as over a run it followed itself, instead of
 * rolling byte by byte through bytes whose blocks are known: what the scan of
 * a packed format costs after a join found everything before its first shift.
 *
 * @module
 */
import type { Matches } from "./delta_plan.ts";
import { NONE } from "./rolling_sum.ts";

/**
 * Per aligned block of a local image, the new image's block found there.
 *
 * @example
 * ```ts
 * const matches = { image: Int8Array.of(0, 0, -1), offset: Float64Array.of(4096, 8192, 0) };
 * const found = FoundBlocks.of(matches, 0, 16384, 4096, 3)!;
 * found.nextStart(0); // 4096
 * found.runFrom(4096); // { end: 12288, last: 1 }
 * ```
 */
export class FoundBlocks {
  readonly #at: Int32Array;
  readonly #block: number;
  /** No found block lies in [#searchedFrom, #next) (in blocks): the search goes on from there. */
  #searchedFrom = 0;
  #next = 0;

  private constructor(at: Int32Array, block: number) {
    this.#at = at;
    this.#block = block;
  }

  /**
   * The found blocks of local image `image` (`size` bytes) among the first
   * `fullBlocks` blocks of `matches` (blocks of full length), or undefined
   * when none lies at an aligned offset of it.
   */
  static of(
    matches: Matches,
    image: number,
    size: number,
    block: number,
    fullBlocks: number,
  ): FoundBlocks | undefined {
    let at: Int32Array | undefined;
    const blocks = Math.floor(size / block);
    for (let j = 0; j < fullBlocks; j++) {
      if (matches.image[j] !== image) continue;
      const k = matches.offset[j]! / block;
      if (!Number.isInteger(k) || k >= blocks) continue;
      at ??= new Int32Array(blocks).fill(NONE);
      if (at[k] === NONE) at[k] = j;
    }
    return at === undefined ? undefined : new FoundBlocks(at, block);
  }

  /** The first aligned offset at or after `pos` that holds a found block; Infinity when none does. */
  nextStart(pos: number): number {
    const from = Math.ceil(pos / this.#block);
    if (from < this.#searchedFrom) this.#next = from;
    this.#searchedFrom = from;
    let k = Math.max(from, this.#next);
    while (k < this.#at.length && this.#at[k] === NONE) k++;
    this.#next = k;
    return k < this.#at.length ? k * this.#block : Infinity;
  }

  /**
   * The run of found blocks starting at `pos`: where it ends, and the new
   * image's block found in its last local block; undefined when `pos` holds
   * none.
   */
  runFrom(pos: number): { end: number; last: number } | undefined {
    const start = pos / this.#block;
    if (!Number.isInteger(start) || start >= this.#at.length || this.#at[start] === NONE) {
      return undefined;
    }
    let k = start;
    while (k + 1 < this.#at.length && this.#at[k + 1] !== NONE) k++;
    return { end: (k + 1) * this.#block, last: this.#at[k]! };
  }
}
