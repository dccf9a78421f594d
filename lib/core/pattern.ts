/**
 * Version patterns, the `Version=` key (SPEC §3): which published versions are
 * compatible, and which of them is newest.
 *
 * Four forms, recognised in this order:
 * - bounds: `A <= v < B` (inclusive lower, exclusive upper bound);
 * - SemVer range: starts with `^ ~ > < =`, or contains `||` or ` - `;
 * - wildcard: the last part is exactly `*` (`*`, `1.*`, `1.0.*`);
 * - exact: any other version (`1.13.7`).
 *
 * Outside SemVer ranges a part `x` or `X` (`1.x`, `1.2.x`) is refused: Tako
 * would read it as a literal part, and the pattern would silently match nothing.
 *
 * @module
 */
// @ts-types="@types/semver"
import type semverApi from "semver";
import { printable, TakoError } from "./errors.ts";
import { compareVersions, hasVersionPrefix, isValidVersion } from "./version.ts";

/** A parsed `Version=` pattern. */
export interface Pattern {
  /** The pattern as written ("*" when Version= is absent). */
  readonly text: string;
  readonly kind: "wildcard" | "exact" | "bounds" | "semver";
  /** Whether a published version is compatible. */
  matches(version: string): boolean;
  /**
   * For a SemVer range: a hint to show when it matches nothing because the
   * versions on offer are not SemVer, such as "'1.4.0 <= v < 2' or '1.*'".
   */
  readonly semverHint?: string;
  /** Orders two matching versions (Tako order of version.ts; SemVer precedence for semver ranges, ties broken by Tako order). */
  compare(a: string, b: string): number;
}

type Semver = typeof semverApi;
type SemVerValue = InstanceType<Semver["SemVer"]>;

const BOUNDS_SEPARATOR = " <= v < ";
/** Printable ASCII, spaces included (bounds and ranges have spaces): all a pattern may use. */
const PATTERN_CHARS = /^[\x20-\x7e]+$/;
const SEPARATOR_THEN_STAR = /[.\-_]\*$/;
/** SemVer 2.0 as given on semver.org: no leading `v`, no leading zeros; build metadata allowed. */
const STRICT_SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;
const EXAMPLES =
  "a version such as 1.2.0, a wildcard such as 1.*, bounds such as '1.0 <= v < 2.0' or a SemVer range such as ^1.4";

/** The pattern used when Version= is absent: matches everything. */
export const ANY_VERSION: Pattern = wildcardPattern("*");

/**
 * Whether text is a SemVer range by SPEC §3's rule (starts with ^ ~ > < =, or
 * contains "||" or " - "), checked after the bounds form.
 *
 * @example
 * ```ts
 * isSemverRange("^1.4"); // true
 * isSemverRange("1.x"); // false: a Tako exact pattern
 * ```
 */
export function isSemverRange(text: string): boolean {
  return /^[\^~><=]/.test(text) || text.includes("||") || text.includes(" - ");
}

/**
 * Parses a Version= pattern; throws TakoError("config", ...) with a sentence
 * that quotes the pattern and says what was expected (the caller prefixes
 * "file line N: "). The SemVer library is loaded only for SemVer ranges.
 *
 * @example
 * ```ts
 * const pattern = await parsePattern("1.*");
 * pattern.matches("1.4.2"); // true
 * pattern.matches("2.0"); // false
 * ```
 */
export async function parsePattern(text: string): Promise<Pattern> {
  if (text === "") throw invalid(text, `expected ${EXAMPLES}.`);
  if (!PATTERN_CHARS.test(text)) {
    throw invalid(text, `expected printable ASCII: ${EXAMPLES}.`);
  }
  if (text.includes(BOUNDS_SEPARATOR)) {
    checkNoX(text);
    return boundsPattern(text);
  }
  if (isSemverRange(text)) return semverPattern(text, await loadSemver());
  checkNoX(text);
  if (text.includes("*")) return wildcardPattern(text);
  if (isValidVersion(text)) return exactPattern(text);
  throw invalid(text, `expected ${EXAMPLES}.`);
}

/** A part that someone meant as a wildcard, as in SemVer's `1.x`. */
const X_PART = /^[xX]$/;

/**
 * Refuses a part `x`/`X` outside SemVer ranges, suggesting the wildcard meant:
 * everything from the first such part on becomes `*`.
 */
function checkNoX(text: string): void {
  for (const version of text.split(BOUNDS_SEPARATOR)) {
    const parts = version.split(/([.\-_])/);
    const at = parts.findIndex((p) => X_PART.test(p));
    if (at < 0) continue;
    const meant = parts.slice(0, at).join("") + "*";
    throw invalid(
      text,
      `'${printable(parts[at]!)}' is not a wildcard in Tako (it would match only a literal '${
        parts[at]
      }'); did you mean ${printable(meant)}?`,
    );
  }
}

function invalid(text: string, expected: string): TakoError {
  return new TakoError("config", `version pattern '${printable(text)}' is not valid; ${expected}`);
}

async function loadSemver(): Promise<Semver> {
  return (await import("semver")).default;
}

function wildcardPattern(text: string): Pattern {
  const prefix = text.slice(0, -1);
  const wellFormed = text === "*" ||
    (SEPARATOR_THEN_STAR.test(text) && !prefix.includes("*") && isValidVersion(prefix));
  if (!wellFormed) {
    throw invalid(text, "'*' must be the whole last part, as in * or 1.* or 1.0.*.");
  }
  return {
    text,
    kind: "wildcard",
    matches: (version) => hasVersionPrefix(version, prefix),
    compare: compareVersions,
  };
}

function exactPattern(text: string): Pattern {
  return {
    text,
    kind: "exact",
    matches: (version) => compareVersions(version, text) === 0,
    compare: compareVersions,
  };
}

function boundsPattern(text: string): Pattern {
  const bounds = text.split(BOUNDS_SEPARATOR);
  const [lower, upper] = bounds;
  if (bounds.length !== 2 || !isBound(lower) || !isBound(upper)) {
    throw invalid(
      text,
      "expected bounds written 'A <= v < B' with versions A and B, such as '1.0 <= v < 2.0'.",
    );
  }
  if (compareVersions(lower, upper) >= 0) {
    throw invalid(
      text,
      `the lower bound ${printable(lower)} must be below the upper bound ${printable(upper)}.`,
    );
  }
  return {
    text,
    kind: "bounds",
    matches: (version) =>
      compareVersions(version, lower) >= 0 && compareVersions(version, upper) < 0,
    compare: compareVersions,
  };
}

/** A bound is a plain version; a `*` in it is surely a misunderstanding, not a version. */
function isBound(text: string | undefined): text is string {
  return text !== undefined && !text.includes("*") && isValidVersion(text);
}

function semverPattern(text: string, semver: Semver): Pattern {
  if (semver.validRange(text) === null) {
    throw new TakoError(
      "config",
      `version pattern '${
        printable(text)
      }' is not a valid SemVer range; expected a range such as ^1.4, ~1.4.2 or '>=1.2.0 <2.0.0'.`,
    );
  }
  // Default options: no loose parsing, pre-releases only where the range names one.
  const range = new semver.Range(text);
  const lowest = semver.minVersion(range);
  /** Only strict SemVer 2.0 versions are candidates; the library would accept `v1.2.3`. */
  const candidate = (version: string): SemVerValue | null =>
    STRICT_SEMVER.test(version) ? semver.parse(version) : null;
  // A release version (three numbers, nothing else) is tested against the range's comparators
  // as numbers: a 100,000-entry manifest would otherwise make 100,000 SemVer objects to test
  // (docs/performance.md). The tests hold this to the library's own test.
  const releaseMatches = releaseTester(range);
  const parts: number[] = [0, 0, 0];
  return {
    text,
    kind: "semver",
    semverHint: lowest === null
      ? "'1.4 <= v < 2' or '1.*'"
      : `'${printable(lowest.version, 40)} <= v < ${lowest.major + 1}' or '${lowest.major}.*'`,
    matches(version) {
      if (readRelease(version, parts)) return releaseMatches(parts);
      const parsed = candidate(version);
      return parsed !== null && range.test(parsed);
    },
    compare(a, b) {
      // Two release versions (no pre-release, no build) compare in SemVer as in Tako order:
      // the three numbers by value. Most sorts of a large manifest need nothing else.
      if (isRelease(a) && isRelease(b)) return compareVersions(a, b);
      const x = candidate(a);
      const y = candidate(b);
      // Non-candidates never match; ordering them first keeps compare a total preorder.
      if (x === null || y === null) {
        if (x !== y) return x === null ? -1 : 1;
        return compareVersions(a, b);
      }
      return semver.compare(x, y) || compareVersions(a, b);
    },
  };
}

/** The digits a release's number may have: 15 stay exact as a double, and within the library's limit. */
const RELEASE_DIGITS = 15;
const DOT = 0x2e;
const DIGIT_ZERO = 0x30;
const DIGIT_NINE = 0x39;

/**
 * Reads a SemVer release, three numbers without leading zeros of at most 15
 * digits each and nothing else (`1.4.2`, not `1.4.2-rc.1`, `1.4.2+b5` or
 * `01.4.2`), into `parts`; false, leaving `parts` unspecified, for anything else.
 */
function readRelease(version: string, parts: number[]): boolean {
  let at = 0;
  for (let part = 0; part < 3; part++) {
    if (part > 0) {
      if (version.charCodeAt(at) !== DOT) return false;
      at++;
    }
    const start = at;
    let value = 0;
    for (; at < version.length; at++) {
      const code = version.charCodeAt(at);
      if (code < DIGIT_ZERO || code > DIGIT_NINE) break;
      value = value * 10 + (code - DIGIT_ZERO);
    }
    const digits = at - start;
    if (digits === 0 || digits > RELEASE_DIGITS) return false;
    if (digits > 1 && version.charCodeAt(start) === DIGIT_ZERO) return false;
    parts[part] = value;
  }
  return at === version.length;
}

const scratch: number[] = [0, 0, 0];

function isRelease(version: string): boolean {
  return readRelease(version, scratch);
}

/** One comparator of a range as numbers; undefined for one that allows anything. */
interface ReleaseBound {
  readonly operator: "" | "<" | ">" | "<=" | ">=";
  readonly numbers: readonly [number, number, number];
  /** Whether the bound has a pre-release, which orders it before its release. */
  readonly prerelease: boolean;
}

/**
 * The library's `range.test` for a release version, given as its three
 * numbers: some comparator set whose every comparator holds (a release has no
 * pre-release, so the library's pre-release rule does not apply to it). A
 * comparator holds by SemVer precedence: the numbers first, then a bound with a
 * pre-release is below the release of the same numbers.
 */
function releaseTester(range: InstanceType<Semver["Range"]>): (parts: number[]) => boolean {
  const sets = range.set.map((set) =>
    set.map((c): ReleaseBound | undefined =>
      // An empty value is the library's comparator that allows anything.
      c.value === "" ? undefined : {
        operator: c.operator === "=" ? "" : c.operator,
        numbers: [c.semver.major, c.semver.minor, c.semver.patch],
        prerelease: c.semver.prerelease.length > 0,
      }
    )
  );
  const holds = (bound: ReleaseBound | undefined, parts: number[]): boolean => {
    if (bound === undefined) return true;
    const [major, minor, patch] = bound.numbers;
    const order = Math.sign(parts[0]! - major) || Math.sign(parts[1]! - minor) ||
      Math.sign(parts[2]! - patch) || (bound.prerelease ? 1 : 0);
    switch (bound.operator) {
      case "":
        return order === 0;
      case "<":
        return order < 0;
      case ">":
        return order > 0;
      case "<=":
        return order <= 0;
      case ">=":
        return order >= 0;
    }
  };
  return (parts) => sets.some((set) => set.every((bound) => holds(bound, parts)));
}

/**
 * Why a pattern that matches none of `versions` may do so although a version
 * looks right: a SemVer range sees only SemVer versions, and `1.4` or `1.5`
 * are not. Undefined when that is not the reason.
 *
 * @example
 * ```ts
 * noMatchHint(await parsePattern("^1.4"), ["1.4", "1.5"]);
 * // "the versions on offer are not SemVer (such as 1.5), which a SemVer range never matches; …"
 * ```
 */
export function noMatchHint(pattern: Pattern, versions: readonly string[]): string | undefined {
  if (pattern.kind !== "semver" || pattern.semverHint === undefined) return undefined;
  const other = versions.filter((v) => !STRICT_SEMVER.test(v));
  if (other.length === 0) return undefined;
  const which = other.length === versions.length
    ? "the versions on offer are"
    : "some versions on offer are";
  return `${which} not SemVer (such as ${
    printable(other[other.length - 1]!)
  }), which a SemVer range never matches; for them, write bounds or a wildcard such as ${pattern.semverHint}`;
}
