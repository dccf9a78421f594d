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
 * const offsets = [4096, 8192, 0];
 * const matches = { image: Int8Array.of(0, 0, -1), offsetOf: (j: number) => offsets[j]! };
 * const found = FoundBlocks.of(matches, 0, 16384, 4096, 3)!;
 * found.nextStart(0); // 4096
 * found.runFrom(4096); // { end: 12288, last: 1 }
 * ```
 */
export class FoundBlocks {
  /** Maximal runs of consecutive local blocks holding a found block: [start, end) in blocks. */
  readonly #start: Int32Array;
  readonly #end: Int32Array;
  /** Per run: the new image's block found in its last local block (the first, if several). */
  readonly #last: Int32Array;
  readonly #block: number;

  private constructor(start: Int32Array, end: Int32Array, last: Int32Array, block: number) {
    this.#start = start;
    this.#end = end;
    this.#last = last;
    this.#block = block;
  }

  /**
   * The found blocks of local image `image` (`size` bytes) among the first
   * `fullBlocks` blocks of `matches` (blocks of full length), or undefined
   * when none lies at an aligned offset of it. Held as runs (12 bytes each)
   * and a bit per local block while they are made: a few kilobytes where a
   * block per local block would take 4 bytes each.
   */
  static of(
    matches: Matches,
    image: number,
    size: number,
    block: number,
    fullBlocks: number,
  ): FoundBlocks | undefined {
    const blocks = Math.floor(size / block);
    const alignedIn = (j: number): number => {
      if (matches.image[j] !== image) return NONE;
      const k = matches.offsetOf(j) / block;
      return Number.isInteger(k) && k < blocks ? k : NONE;
    };
    const held = new Uint8Array(Math.ceil(blocks / 8));
    let any = false;
    for (let j = 0; j < fullBlocks; j++) {
      const k = alignedIn(j);
      if (k === NONE) continue;
      held[k >>> 3] = held[k >>> 3]! | (1 << (k & 7));
      any = true;
    }
    if (!any) return undefined;
    const isHeld = (k: number) => (held[k >>> 3]! & (1 << (k & 7))) !== 0;
    const starts: number[] = [];
    const ends: number[] = [];
    for (let k = 0; k < blocks; k++) {
      if (!isHeld(k)) continue;
      starts.push(k);
      while (k + 1 < blocks && isHeld(k + 1)) k++;
      ends.push(k + 1);
    }
    const found = new FoundBlocks(
      Int32Array.from(starts),
      Int32Array.from(ends),
      new Int32Array(starts.length).fill(NONE),
      block,
    );
    // Ascending j: the first block found in a run's last local block is the one kept.
    for (let j = 0; j < fullBlocks; j++) {
      const k = alignedIn(j);
      if (k === NONE) continue;
      const r = found.#runAt(k);
      if (found.#end[r]! === k + 1 && found.#last[r] === NONE) found.#last[r] = j;
    }
    return found;
  }

  /** The first run that ends after block `k` (its index; the run count when none does). */
  #runAfter(k: number): number {
    let low = 0;
    let high = this.#end.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.#end[middle]! <= k) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** The run holding local block `k`, or NONE. */
  #runAt(k: number): number {
    const r = this.#runAfter(k);
    return r < this.#start.length && this.#start[r]! <= k ? r : NONE;
  }

  /** The first aligned offset at or after `pos` that holds a found block; Infinity when none does. */
  nextStart(pos: number): number {
    const from = Math.ceil(pos / this.#block);
    const r = this.#runAfter(from);
    return r < this.#start.length ? Math.max(from, this.#start[r]!) * this.#block : Infinity;
  }

  /**
   * The run of found blocks starting at `pos`: where it ends, and the new
   * image's block found in its last local block; undefined when `pos` holds
   * none.
   */
  runFrom(pos: number): { end: number; last: number } | undefined {
    const k = pos / this.#block;
    if (!Number.isInteger(k)) return undefined;
    const r = this.#runAt(k);
    return r === NONE ? undefined : { end: this.#end[r]! * this.#block, last: this.#last[r]! };
  }
}
