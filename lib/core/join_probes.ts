/**
 * The second step of matching a local image by its cached chunk index (a
 * join): the blocks of the new image still missing after the pairs, each
 * tried against the local block that a found neighbour points to, as a scan
 * probes after a run breaks and extends a run backwards. Finds the single
 * unchanged blocks between blocks changed in place, without reading the
 * local image.
 *
 * @module
 */
import type { ChunkIndex } from "./chunk_index.ts";
import type { Matches } from "./delta_plan.ts";
import { NONE } from "./rolling_sum.ts";

/** Blocks tried on each side of a found block, as a scan's probes after a run. */
export const PROBES = 8;

/**
 * Probes the missing full blocks of the new image (`index`) against local
 * image number `image` (its index `local`), from a found block before, then
 * from one after; `record(j, offset)` is called for each block found.
 *
 * @example
 * ```ts
 * import type { ChunkIndex } from "./chunk_index.ts";
 * declare const index: ChunkIndex, local: ChunkIndex;
 * const offsets = new Float64Array(index.count);
 * const matches = { image: new Int8Array(index.count).fill(-1), offsetOf: (j: number) => offsets[j]! };
 * joinProbes(matches, index, local, 0, (j, at) => {
 *   matches.image[j] = 0;
 *   offsets[j] = at;
 * });
 * ```
 */
export function joinProbes(
  matches: Matches,
  index: ChunkIndex,
  local: ChunkIndex,
  image: number,
  record: (j: number, offset: number) => void,
): void {
  const block = index.blockSize;
  const full = index.size % block === 0 ? index.count : index.count - 1;
  const localFull = Math.floor(local.size / block);
  const probe = (j: number, side: number) => {
    if (matches.image[j] !== NONE) return;
    for (let d = 1, n = j + side; d <= PROBES && n >= 0 && n < full; d++, n += side) {
      if (matches.image[n] !== image) continue;
      const k = (matches.offsetOf(n) - side * d * block) / block;
      if (!Number.isInteger(k) || k < 0 || k >= localFull) return;
      if (local.weak[k] === index.weak[j] && local.strong[k] === index.strong[j]) {
        record(j, k * block);
      }
      return;
    }
  };
  for (let j = 1; j < full; j++) probe(j, -1);
  for (let j = full - 2; j >= 0; j--) probe(j, 1);
}
