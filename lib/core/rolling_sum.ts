/**
 * The hot loop of the rolling match (block_match.ts): rsync's rolling
 * checksum over a window of a buffer, moved byte by byte, and the probe of
 * the table of missing blocks at each offset. Int32 arithmetic only. Pure.
 *
 * @module
 */

/** An empty table slot (and "not a fill"). */
export const NONE = -1;
/** A table slot whose chain has no missing block left. */
export const SPENT = -2;
/** The multiplier that spreads weak checksums over the table's slots. */
export const GOLDEN = 0x9e3779b1 | 0;
/** The multiplier that spreads weak checksums over the filter's bits. */
export const FILTER_MIX = 0x85ebca6b | 0;

/** The byte value the window `buffer[at, at + block)` holds throughout, or -1 when it holds several. */
export function fillByte(buffer: Uint8Array, at: number, block: number): number {
  const value = buffer[at]!;
  if (buffer[at + block - 1] !== value) return NONE;
  for (let i = at + 1; i < at + block - 1; i++) if (buffer[i] !== value) return NONE;
  return value;
}

/** Sets `sums` to rsync's a and b of the window `buffer[at, at + block)`. */
export function sumWindow(buffer: Uint8Array, at: number, block: number, sums: Int32Array): void {
  let a = 0;
  let b = 0;
  for (let i = at; i < at + block; i++) {
    a = (a + buffer[i]!) | 0;
    b = (b + a) | 0;
  }
  sums[0] = a;
  sums[1] = b;
}

/** Moves the window of `sums` one byte on, from `at` to `at + 1`. */
export function rollOne(buffer: Uint8Array, at: number, block: number, sums: Int32Array): void {
  const out = buffer[at]!;
  const a = (sums[0]! + buffer[at + block]! - out) | 0;
  sums[0] = a;
  sums[1] = (sums[1]! + a - Math.imul(block, out)) | 0;
}

/**
 * The hot loop: rolls from the window at `at` (whose sums are in `sums`) to
 * the first window, up to `last`, whose weak checksum heads a chain of the
 * table; returns its offset with its sums in `sums`, or -1 after `last`.
 * Int32 arithmetic only, one table probe per byte.
 */
export function rollToCandidate(
  buffer: Uint8Array,
  from: number,
  last: number,
  block: number,
  sums: Int32Array,
  slots: Int32Array,
  shift: number,
  weakOfBlock: Int32Array,
  filter: Int32Array,
): number {
  const mask = slots.length - 1;
  const filterShift = 32 - Math.log2(filter.length * 32);
  let a = sums[0]!;
  let b = sums[1]!;
  for (let at = from;; at++) {
    const weak = (b << 16) | (a & 0xffff);
    const bit = Math.imul(weak, FILTER_MIX) >>> filterShift;
    let slot = Math.imul(weak, GOLDEN) >>> shift;
    let head = (filter[bit >>> 5]! & (1 << (bit & 31))) === 0 ? NONE : slots[slot]!;
    while (head !== NONE) {
      if (head !== SPENT && weakOfBlock[head] === weak) {
        sums[0] = a;
        sums[1] = b;
        return at;
      }
      slot = (slot + 1) & mask;
      head = slots[slot]!;
    }
    if (at >= last) return -1;
    const out = buffer[at]!;
    a = (a + buffer[at + block]! - out) | 0;
    b = (b + a - Math.imul(block, out)) | 0;
  }
}
