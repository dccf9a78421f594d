/**
 * How many inputs the property tests generate: a few thousand under
 * `make test`, TAKO_FUZZ_RUNS (100,000 under `make torture`) when set. The
 * tests run without --allow-env too, then the defaults hold.
 *
 * @module
 */

/** TAKO_FUZZ_RUNS as a positive integer, or undefined when unset, invalid or not permitted. */
function requestedRuns(): number | undefined {
  try {
    const runs = Number(Deno.env.get("TAKO_FUZZ_RUNS"));
    return Number.isSafeInteger(runs) && runs > 0 ? runs : undefined;
  } catch {
    return undefined; // no --allow-env
  }
}

/** Runs of one property: TAKO_FUZZ_RUNS when set, else `fallback`. */
export function fuzzRuns(fallback = 2000): number {
  return requestedRuns() ?? fallback;
}

/**
 * Runs of a costlier property whose default is `base`: scaled by
 * TAKO_FUZZ_RUNS as a 2000-run property would be.
 */
export function scaledFuzzRuns(base = 2000): number {
  const runs = requestedRuns();
  return runs === undefined ? base : Math.max(1, Math.round((base * runs) / 2000));
}

/** Whether `text` holds a control character (C0 or DEL). */
export function hasControlCharacter(text: string): boolean {
  return Array.from(text).some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
}
