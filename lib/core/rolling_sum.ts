/**
 * The hot loop of the rolling match (block_match.ts): rsync's rolling
 * checksum over two neighbouring windows of a buffer (at x and x + block),
 * moved byte by byte, and the probe of the table of missing block pairs at
 * each offset by the pair's key: the `b` halves of both windows' sums, 32
 * bits, through a two-bit filter first. Int32 arithmetic only. Pure: the
 * loop itself runs in WebAssembly (rolling_kernel.wat), in memory of its own.
 *
 * @module
 */
import { ROLLING_KERNEL_WASM } from "./rolling_kernel_wasm.ts";

/** An empty table slot (and "not a fill"). */
export const NONE = -1;
/** A table slot whose chain has no missing block left. */
export const SPENT = -2;
/** The multiplier that spreads pair keys over the table's slots. */
export const GOLDEN = 0x9e3779b1 | 0;
/** The multiplier that spreads pair keys over the filter's bits. */
export const FILTER_MIX = 0x85ebca6b | 0;

/** The lookup key of two neighbouring blocks with 16-bit weak keys `first` and `second`. */
export function pairKey(first: number, second: number): number {
  return (first << 16) | (second & 0xffff);
}

/** The byte value the window `buffer[at, at + length)` holds throughout, or -1 when it holds several. */
export function fillByte(buffer: Uint8Array, at: number, length: number): number {
  const value = buffer[at]!;
  if (buffer[at + length - 1] !== value) return NONE;
  for (let i = at + 1; i < at + length - 1; i++) if (buffer[i] !== value) return NONE;
  return value;
}

/**
 * Sets `sums` to rsync's a and b of the window `buffer[at, at + block)`
 * (`sums[0]`, `sums[1]`) and of the one after it (`sums[2]`, `sums[3]`).
 */
export function sumPair(buffer: Uint8Array, at: number, block: number, sums: Int32Array): void {
  let a = 0;
  let b = 0;
  for (let i = at; i < at + block; i++) {
    a = (a + buffer[i]!) | 0;
    b = (b + a) | 0;
  }
  let a2 = 0;
  let b2 = 0;
  for (let i = at + block; i < at + 2 * block; i++) {
    a2 = (a2 + buffer[i]!) | 0;
    b2 = (b2 + a2) | 0;
  }
  sums[0] = a;
  sums[1] = b;
  sums[2] = a2;
  sums[3] = b2;
}

/** Moves both windows of `sums` one byte on, from `at` to `at + 1`. */
export function rollPair(buffer: Uint8Array, at: number, block: number, sums: Int32Array): void {
  const out = buffer[at]!;
  const middle = buffer[at + block]!;
  const a = (sums[0]! + middle - out) | 0;
  const a2 = (sums[2]! + buffer[at + 2 * block]! - middle) | 0;
  sums[0] = a;
  sums[1] = (sums[1]! + a - Math.imul(block, out)) | 0;
  sums[2] = a2;
  sums[3] = (sums[3]! + a2 - Math.imul(block, middle)) | 0;
}

/** What {@link RollingScan.toCandidate} probes: the pair table's arrays (pair_table.ts). */
export interface CandidateTable {
  /** Whether a window pair with `key` is worth a look: a chain of it, or a spent one on its probe. */
  isCandidate(key: number): boolean;
  /** Two bits per pair key ({@link filterBit}); `filterVersion` changes whenever it does. */
  readonly filter: Int32Array;
  readonly filterVersion: number;
}

/** The filter's largest size in 32-bit words (2 MiB). */
export const MAX_FILTER_WORDS = 1 << 19;

/** How far {@link filterBit} shifts for a filter of `words` 32-bit words (a power of two). */
export function filterShift(words: number): number {
  return 32 - Math.log2(words * 32);
}

/**
 * Bit number `hash` (0 or 1) of the filter that pair key `key` sets; both
 * set let an offset through to the table. As rolling_kernel.wat computes them.
 */
export function filterBit(key: number, shift: number, hash: 0 | 1): number {
  return Math.imul(key, hash === 0 ? FILTER_MIX : FILTER_MIX2) >>> shift;
}

/** The second filter hash's multiplier. */
const FILTER_MIX2 = 0xc2b2ae35 | 0;
/** Window offsets rolled per copy into the kernel's memory. */
export const STRETCH = 256 * 1024;
/** Where the kernel's memory holds the sums (16 bytes), the filter and the stretch of bytes. */
const SUMS_AT = 0;
const FILTER_AT = 1024;
const STRETCH_AT = FILTER_AT + 4 * MAX_FILTER_WORDS;

let kernelModule: WebAssembly.Module | undefined;

/** rolling_kernel.wat's `roll`. */
type Kernel = (at: number, last: number, block: number, filter: number, shift: number) => number;

/**
 * The hot loop: rolls both windows byte by byte and tests each offset's pair
 * key against the filter, in WebAssembly (rolling_kernel.wat: faster than
 * the same loop in JavaScript, and fast from its first call; docs/delta.md). Each
 * stretch of the caller's buffer is copied into the kernel's memory first
 * ({@link STRETCH} offsets at a time; the copy costs a small fraction of rolling them); the table is
 * probed here, on the rare offsets that pass the filter. One per matcher: its
 * memory (about 2.3 MiB, most of it the room for the largest filter) is reused.
 */
export class RollingScan {
  readonly #memory: WebAssembly.Memory;
  readonly #roll: Kernel;
  readonly #bytes: Uint8Array;
  readonly #sums: Int32Array;
  #filterVersion = NaN;

  constructor(block: number) {
    const pages = Math.ceil((STRETCH_AT + STRETCH + 2 * block + 1) / 65536);
    this.#memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    kernelModule ??= new WebAssembly.Module(
      Uint8Array.from(atob(ROLLING_KERNEL_WASM), (c) => c.charCodeAt(0)),
    );
    const instance = new WebAssembly.Instance(kernelModule, { tako: { memory: this.#memory } });
    this.#roll = instance.exports.roll as Kernel;
    this.#bytes = new Uint8Array(this.#memory.buffer);
    this.#sums = new Int32Array(this.#memory.buffer, SUMS_AT, 4);
  }

  /**
   * Rolls from the pair of windows at `from` of `buffer` (whose sums are in
   * `sums`) to the first, up to `last`, whose key heads a chain of `table`
   * or whose probe meets a spent chain; returns its offset with its sums in
   * `sums`, or -1 after `last`. The bytes read lie in `buffer[from, last + 2
   * * block)`.
   */
  toCandidate(
    buffer: Uint8Array,
    from: number,
    last: number,
    block: number,
    sums: Int32Array,
    table: CandidateTable,
  ): number {
    if (this.#filterVersion !== table.filterVersion) {
      this.#bytes.set(
        new Uint8Array(table.filter.buffer, table.filter.byteOffset, table.filter.byteLength),
        FILTER_AT,
      );
      this.#filterVersion = table.filterVersion;
    }
    const shift = filterShift(table.filter.length);
    const kernel = this.#sums;
    kernel.set(sums);
    for (let start = from;;) {
      // Offsets start..end are tested here; the bytes rolled past end are copied too.
      const end = Math.min(last, start + STRETCH - 1);
      this.#bytes.set(buffer.subarray(start, end + 2 * block + 1), STRETCH_AT);
      const stretchEnd = STRETCH_AT + end - start;
      for (let at = STRETCH_AT;;) {
        const hit = this.#roll(at, stretchEnd, block, FILTER_AT, shift);
        if (hit < 0) break;
        const key = pairKey(kernel[1]!, kernel[3]!);
        if (table.isCandidate(key)) {
          sums.set(kernel);
          return start + hit - STRETCH_AT;
        }
        if (hit === stretchEnd) break;
        rollPair(this.#bytes, hit, block, kernel);
        at = hit + 1;
      }
      // Offset end was tested: on to the next stretch, or done.
      if (end >= last) return -1;
      rollPair(this.#bytes, stretchEnd, block, kernel);
      start = end + 1;
    }
  }
}
