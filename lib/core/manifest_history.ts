/**
 * How a manifest's history may change (SPEC §2): a publisher inserts a new
 * entry in version order and never changes a published one; a client accepts
 * a new manifest only when it keeps every entry of the stored one.
 *
 * @module
 */
import { printable, TakoError } from "./errors.ts";
import { type Entry, sha256Problem, versionProblem } from "./manifest.ts";
import { compareVersions } from "./version.ts";

/**
 * Inserts `entry` in version order into a sorted entry list. An identical
 * entry already present leaves the list as it is (`changed: false`); a
 * version that is present, by spelling or by equality under SPEC §3, with
 * another spelling, size or digest is refused with a usage error.
 *
 * @example
 * ```ts
 * import type { Entry } from "./manifest.ts";
 * declare const entries: Entry[], sha256: string;
 * const { entries: next, changed } = insertEntry(entries, { version: "1.1.0", size: 20n, sha256 });
 * ```
 */
export function insertEntry(
  entries: readonly Entry[],
  entry: Entry,
): { entries: Entry[]; changed: boolean } {
  const problem = versionProblem(entry.version) ??
    (entry.size < 0n ? `${entry.size} is not a size; expected a number of bytes.` : undefined) ??
    sha256Problem(entry.sha256);
  if (problem !== undefined) throw new TakoError("usage", `Cannot add an entry: ${problem}`);

  // Binary search: the first index whose version is not lower than entry's.
  let low = 0;
  let high = entries.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (compareVersions(entries[middle]!.version, entry.version) < 0) low = middle + 1;
    else high = middle;
  }
  const present = entries[low];
  if (present !== undefined && compareVersions(present.version, entry.version) === 0) {
    if (sameEntry(present, entry)) return { entries: [...entries], changed: false };
    throw new TakoError(
      "usage",
      present.version === entry.version
        ? `Version ${
          printable(entry.version)
        } is already published with another size or digest; published versions never change, so choose a new version.`
        : `Version ${printable(entry.version)} equals the published version ${
          printable(present.version)
        } under Tako's version order; choose a new version.`,
    );
  }
  return { entries: [...entries.slice(0, low), entry, ...entries.slice(low)], changed: true };
}

function sameEntry(a: Entry, b: Entry): boolean {
  return a.version === b.version && a.size === b.size && a.sha256 === b.sha256;
}

/**
 * Enforces the append-only history (SPEC §2): every entry of `old` must
 * appear in `next` unchanged. Throws an integrity error starting with
 * `source` that names the first entry missing or changed.
 *
 * @example
 * ```ts
 * import type { Entry } from "./manifest.ts";
 * declare const localEntries: Entry[], downloadedEntries: Entry[];
 * checkAppendOnly(localEntries, downloadedEntries, "https://example.com/app/manifest");
 * ```
 */
export function checkAppendOnly(
  old: readonly Entry[],
  next: readonly Entry[],
  source: string,
): void {
  const byVersion = new Map(next.map((e) => [e.version, e]));
  for (const entry of old) {
    const found = byVersion.get(entry.version);
    if (found === undefined) {
      throw new TakoError(
        "integrity",
        `${source}: version ${
          printable(entry.version)
        } of the local manifest is missing; published versions are never removed, so this looks like a rollback.`,
      );
    }
    if (!sameEntry(found, entry)) {
      throw new TakoError(
        "integrity",
        `${source}: version ${
          printable(entry.version)
        } has another size or digest than in the local manifest; published versions never change.`,
      );
    }
  }
}
