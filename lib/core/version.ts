/**
 * Tako versions (SPEC §3): split into parts at `.`, `-` and `_`; digit-only
 * parts are numeric and compare by value at any length; other parts are
 * strings, compare by bytes and order before every number. The shorter version
 * is padded with numeric zeros.
 *
 * @module
 */
import { printable, TakoError } from "./errors.ts";

/** A numeric part (its digits without leading zeros, so "0" for zero) or a string part. */
export type Part = { readonly num: string } | { readonly str: string };

const ZERO: Part = { num: "0" };
const DIGITS = /^[0-9]+$/;
const SEPARATORS = /[.\-_]/;
/** Printable ASCII except space: the characters a version may use (the manifest is ASCII). */
const VERSION_CHARS = /^[\x21-\x7e]+$/;

/**
 * Splits a version into parts; empty parts are skipped.
 *
 * @example
 * ```ts
 * parseParts("1.0.0-beta.2"); // [{num:"1"},{num:"0"},{num:"0"},{str:"beta"},{num:"2"}]
 * ```
 */
export function parseParts(version: string): Part[] {
  const parts: Part[] = [];
  for (const raw of version.split(SEPARATORS)) {
    if (raw === "") continue;
    parts.push(DIGITS.test(raw) ? { num: raw.replace(/^0+(?=.)/, "") } : { str: raw });
  }
  return parts;
}

/** Whether `version` can be published: printable ASCII without spaces and at least one part. */
export function isValidVersion(version: string): boolean {
  return VERSION_CHARS.test(version) && parseParts(version).length > 0;
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

function compareNumeric(a: string, b: string): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareBytes(a: string, b: string): number {
  // Versions are ASCII, where UTF-16 order equals byte order; keep byte order for anything else.
  if (/[^\x20-\x7e]/.test(a + b)) {
    const x = new TextEncoder().encode(a);
    const y = new TextEncoder().encode(b);
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
    }
    return Math.sign(x.length - y.length);
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Compares two parts: strings before numbers, strings by bytes, numbers by value. */
export function compareParts(a: Part, b: Part): number {
  if ("num" in a) return "num" in b ? compareNumeric(a.num, b.num) : 1;
  return "num" in b ? -1 : compareBytes(a.str, b.str);
}

/** Compares part lists, padding the shorter with numeric zeros. */
export function comparePartLists(a: readonly Part[], b: readonly Part[]): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = compareParts(a[i] ?? ZERO, b[i] ?? ZERO);
    if (c !== 0) return c;
  }
  return 0;
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
  return comparePartLists(parseParts(a), parseParts(b));
}

/** Whether the first `prefix.length` parts of `version` (zero-padded) equal `prefix`. */
export function hasPrefix(version: readonly Part[], prefix: readonly Part[]): boolean {
  return prefix.every((p, i) => compareParts(version[i] ?? ZERO, p) === 0);
}
