import { MatchOffsets, MAX_MATCH_OFFSET } from "../../../lib/core/match_offsets.ts";
import { assert } from "../../support/assert.ts";

Deno.test("MatchOffsets holds every offset below 1 TiB exactly, and refuses the rest", () => {
  const offsets = new MatchOffsets(8);
  const held = [
    0,
    1,
    4095,
    2 ** 32 - 1,
    2 ** 32,
    2 ** 32 + 4096,
    5 * 2 ** 32 + 7,
    MAX_MATCH_OFFSET - 1,
  ];
  for (const [j, offset] of held.entries()) assert.equal(offsets.set(j, offset), true);
  assert.deepEqual(held.map((_, j) => offsets.get(j)), held);
  // Refused: nothing changes.
  for (const bad of [MAX_MATCH_OFFSET, 2 ** 53, -1, NaN]) assert.equal(offsets.set(3, bad), false);
  assert.equal(offsets.get(3), 2 ** 32 - 1);
});
