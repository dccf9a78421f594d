/**
 * Tako versions (SPEC §3): split into parts at `.`, `-` and `_`; digit-only
 * parts are numeric and compare by value at any length; other parts are
 * strings, compare by bytes and order before every number. The shorter version
 * is padded with numeric zeros.
 *
 * The functions walk the strings in place and allocate nothing: a 100,000-entry
 * manifest compares every neighbouring pair when it is read, and a pattern
 * compares every entry when one is selected (docs/performance.md).
 *
 * @module
 */
import { printable, TakoError } from "./errors.ts";

/** Printable ASCII except space: the characters a version may use (the manifest is ASCII). */
const VERSION_CHARS = /^[\x21-\x7e]+$/;

const DOT = 0x2e;
const DASH = 0x2d;
const UNDERSCORE = 0x5f;
const DIGIT_ZERO = 0x30;
const DIGIT_NINE = 0x39;
/** The first UTF-16 code unit where code-unit order can differ from byte (UTF-8) order. */
const SURROGATE_START = 0xd800;

function isSeparator(code: number): boolean {
  return code === DOT || code === DASH || code === UNDERSCORE;
}

/** Where the part at or after `i` starts (skipping separators); `text.length` when none is left. */
function partStart(text: string, i: number): number {
  while (i < text.length && isSeparator(text.charCodeAt(i))) i++;
  return i;
}

/** Where the part starting at `i` ends. */
function partEnd(text: string, i: number): number {
  while (i < text.length && !isSeparator(text.charCodeAt(i))) i++;
  return i;
}

/** Whether `text[start, end)` is all ASCII digits; an absent part (start = end) pads as numeric 0. */
function isNumeric(text: string, start: number, end: number): boolean {
  for (let k = start; k < end; k++) {
    const code = text.charCodeAt(k);
    if (code < DIGIT_ZERO || code > DIGIT_NINE) return false;
  }
  return true;
}

/** Compares the parts `a[i, iEnd)` and `b[j, jEnd)`: strings before numbers, numbers by value, strings by bytes. */
function compareParts(
  a: string,
  i: number,
  iEnd: number,
  b: string,
  j: number,
  jEnd: number,
): number {
  const aNumeric = isNumeric(a, i, iEnd);
  if (aNumeric !== isNumeric(b, j, jEnd)) return aNumeric ? 1 : -1;
  if (aNumeric) {
    // By value at any length: without leading zeros, the longer number is larger.
    while (i < iEnd && a.charCodeAt(i) === DIGIT_ZERO) i++;
    while (j < jEnd && b.charCodeAt(j) === DIGIT_ZERO) j++;
    if (iEnd - i !== jEnd - j) return iEnd - i < jEnd - j ? -1 : 1;
  }
  for (let x = i, y = j; x < iEnd && y < jEnd; x++, y++) {
    const p = a.charCodeAt(x);
    const q = b.charCodeAt(y);
    if (p === q) continue;
    if (p >= SURROGATE_START || q >= SURROGATE_START) {
      return compareUtf8(a.slice(i, iEnd), b.slice(j, jEnd));
    }
    return p < q ? -1 : 1;
  }
  return Math.sign((iEnd - i) - (jEnd - j));
}

/** Byte order of the UTF-8 encodings, for the rare part beyond U+D7FF (never in a valid version). */
function compareUtf8(a: string, b: string): number {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  }
  return Math.sign(x.length - y.length);
}

/** Whether `version` can be published: printable ASCII without spaces and at least one part. */
export function isValidVersion(version: string): boolean {
  return VERSION_CHARS.test(version) && partStart(version, 0) < version.length;
}

/** Throws a config error unless {@link isValidVersion}; `where` prefixes the message. */
export function checkVersion(version: string, where: string): void {
  if (!isValidVersion(version)) {
    const shown = printable(version);
    throw new TakoError(
      "config",
      `${where}: '${shown}' is not a valid version; expected printable ASCII without spaces, such as 1.2.0.`,
    );
  }
}

/**
 * Compares two versions under SPEC §3: negative, zero or positive.
 *
 * @example
 * ```ts
 * compareVersions("1.0.0-beta.1", "1.0.0") < 0; // true
 * compareVersions("1", "1.0") === 0; // true
 * ```
 */
export function compareVersions(a: string, b: string): number {
  if (a === b) return 0;
  // The parts before the first differing character are the same in both (a manifest's
  // neighbours share most of theirs): the comparison starts at the part holding it.
  const common = Math.min(a.length, b.length);
  let k = 0;
  while (k < common && a.charCodeAt(k) === b.charCodeAt(k)) k++;
  while (k > 0 && !isSeparator(a.charCodeAt(k - 1))) k--;
  return compareFrom(a, b, k);
}

/** compareVersions of `a` and `b` from index `start`, a part's start in both. */
function compareFrom(a: string, b: string, start: number): number {
  let i = start;
  let j = start;
  for (;;) {
    i = partStart(a, i);
    j = partStart(b, j);
    if (i === a.length && j === b.length) return 0;
    const iEnd = partEnd(a, i);
    const jEnd = partEnd(b, j);
    const order = compareParts(a, i, iEnd, b, j, jEnd);
    if (order !== 0) return order;
    i = iEnd;
    j = jEnd;
  }
}

/**
 * Whether the leading parts of `version` (zero-padded) equal all parts of
 * `prefix`: the match of the wildcard `<prefix>.*`.
 *
 * @example
 * ```ts
 * hasVersionPrefix("1.5.2", "1.5"); // true
 * hasVersionPrefix("1", "1.0"); // true: 1 is 1.0
 * hasVersionPrefix("1.a", "1.0"); // false: a string part is not 0
 * ```
 */
export function hasVersionPrefix(version: string, prefix: string): boolean {
  let i = 0;
  let j = 0;
  for (;;) {
    j = partStart(prefix, j);
    if (j === prefix.length) return true;
    i = partStart(version, i);
    const iEnd = partEnd(version, i);
    const jEnd = partEnd(prefix, j);
    if (compareParts(version, i, iEnd, prefix, j, jEnd) !== 0) return false;
    i = iEnd;
    j = jEnd;
  }
}
