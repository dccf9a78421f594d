/**
 * The hot loop of the rolling match (block_match.ts): rsync's rolling
 * checksum over two neighbouring windows of a buffer (at x and x + block),
 * moved byte by byte, and the probe of the table of missing block pairs at
 * each offset by the pair's key: the `b` halves of both windows' sums, 32
 * bits. Int32 arithmetic only. Pure.
 *
 * @module
 */

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

/**
 * Whether `key` heads a chain of the table, or its probe meets a spent chain:
 * in a run of one byte value (free space) the caller checks the window once
 * and skips the run, which rolling through would not. Apart from the hot
 * loop, which runs about a third faster without this loop inside it.
 */
function isCandidate(
  key: number,
  slots: Int32Array,
  shift: number,
  keyOfPair: Int32Array,
): boolean {
  const mask = slots.length - 1;
  for (let slot = Math.imul(key, GOLDEN) >>> shift;; slot = (slot + 1) & mask) {
    const head = slots[slot]!;
    if (head === NONE) return false;
    if (head === SPENT || keyOfPair[head] === key) return true;
  }
}

/**
 * The hot loop: rolls from the pair of windows at `from` (whose sums are in
 * `sums`) to the first, up to `last`, whose key heads a chain of the table
 * or whose probe meets a spent chain; returns its offset with its sums in
 * `sums`, or -1 after `last`. One filter bit test per byte; the table only
 * on the rare filter hit.
 */
export function rollToCandidate(
  buffer: Uint8Array,
  from: number,
  last: number,
  block: number,
  sums: Int32Array,
  slots: Int32Array,
  shift: number,
  keyOfPair: Int32Array,
  filter: Int32Array,
): number {
  const filterShift = 32 - Math.log2(filter.length * 32);
  let a = sums[0]!;
  let b = sums[1]!;
  let a2 = sums[2]!;
  let b2 = sums[3]!;
  for (let at = from;; at++) {
    const key = (b << 16) | (b2 & 0xffff);
    const bit = Math.imul(key, FILTER_MIX) >>> filterShift;
    if (
      (filter[bit >>> 5]! & (1 << (bit & 31))) !== 0 && isCandidate(key, slots, shift, keyOfPair)
    ) {
      sums[0] = a;
      sums[1] = b;
      sums[2] = a2;
      sums[3] = b2;
      return at;
    }
    if (at >= last) return -1;
    const out = buffer[at]!;
    const middle = buffer[at + block]!;
    a = (a + middle - out) | 0;
    b = (b + a - Math.imul(block, out)) | 0;
    a2 = (a2 + buffer[at + 2 * block]! - middle) | 0;
    b2 = (b2 + a2 - Math.imul(block, middle)) | 0;
  }
}
