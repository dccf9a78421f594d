/**
 * What a version pattern finds among the versions on offer, in words: for
 * fetch's message when nothing can be chosen (fetch_plan.ts), and the problem
 * status reports for monitoring when the pattern matches none of them. Pure.
 *
 * @module
 */
import { printable } from "./errors.ts";
import type { Entry } from "./manifest.ts";
import { noMatchHint, type Pattern } from "./pattern.ts";

/** How many versions a "no compatible version" message names. */
const VERSIONS_NAMED = 5;

/** "newest on offer: 2.0, 1.9, …" (or that there is none), for the end of a sentence. */
export function onOffer(entries: readonly Entry[]): string {
  const newest = entries.slice(-VERSIONS_NAMED).reverse().map((e) => printable(e.version));
  return newest.length === 0
    ? "the manifest lists no versions"
    : `newest on offer: ${newest.join(", ")}`;
}

/**
 * The problem when `pattern` matches none of `entries` (oldest first), or
 * undefined when one matches or none is on offer. Says why a SemVer range
 * sees none of versions that are not SemVer.
 *
 * @example
 * ```ts
 * import { parsePattern } from "./pattern.ts";
 * const entries = [{ version: "1.4", size: 1n, sha256: "a".repeat(64) }];
 * patternProblem(await parsePattern("^1.4"), entries); // "no version matches Version=^1.4 (…); the versions on offer are not SemVer …"
 * ```
 */
export function patternProblem(pattern: Pattern, entries: readonly Entry[]): string | undefined {
  if (entries.length === 0 || entries.some((e) => pattern.matches(e.version))) return undefined;
  const hint = noMatchHint(pattern, entries.map((e) => e.version));
  return `no version matches Version=${printable(pattern.text)} (${onOffer(entries)})${
    hint === undefined ? "" : `; ${hint}`
  }.`;
}
