/**
 * "Did you mean …?": the known word closest to a mistyped one. Pure.
 *
 * @module
 */

/**
 * The candidate `word` is most likely a misspelling of: the closest within
 * `maxEdits` insertions, deletions, substitutions or swaps of neighbours;
 * undefined when none is that close.
 *
 * @example
 * ```ts
 * closestWord("stauts", ["fetch", "status"]); // "status"
 * closestWord("frobnicate", ["fetch", "status"]); // undefined
 * ```
 */
export function closestWord(
  word: string,
  candidates: readonly string[],
  maxEdits = 2,
): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const name of candidates) {
    const distance = editDistance(word, name);
    if (distance <= maxEdits && (best === undefined || distance < best.distance)) {
      best = { name, distance };
    }
  }
  return best?.name;
}

/** Optimal string alignment distance: Levenshtein with swaps of neighbours. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
