import { FoundBlocks } from "../../../lib/core/found_blocks.ts";
import { assert } from "../../support/assert.ts";

const B = 4096;

/** Matches of 6 new blocks: image numbers and offsets. */
function matches(image: number[], offset: number[]) {
  return { image: Int8Array.from(image), offsetOf: (j: number) => offset[j]! };
}

Deno.test("FoundBlocks.of() holds the aligned blocks found in that image only", () => {
  const m = matches([0, 0, 1, 0, -1, 0], [0, 5 * B, B, 100, 0, 2 * B]);
  const found = FoundBlocks.of(m, 0, 8 * B, B, 6)!;
  // Block 3 lies at an unaligned offset, block 2 in image 1, block 4 nowhere.
  assert.deepEqual(found.runFrom(0), { end: B, last: 0 });
  assert.equal(found.runFrom(B), undefined);
  assert.deepEqual(found.runFrom(2 * B), { end: 3 * B, last: 5 });
  assert.deepEqual(found.runFrom(5 * B), { end: 6 * B, last: 1 });
  assert.equal(found.runFrom(5 * B + 1), undefined, "only aligned offsets start a run");
  assert.equal(FoundBlocks.of(m, 2, 8 * B, B, 6), undefined, "nothing found in image 2");
  assert.equal(FoundBlocks.of(m, 1, 8 * B, B, 2), undefined, "only the first fullBlocks count");
});

Deno.test("FoundBlocks: a run goes on over consecutive local blocks, whichever new blocks they hold", () => {
  const m = matches([0, 0, 0, 0], [3 * B, 4 * B, 9 * B, 5 * B]);
  const found = FoundBlocks.of(m, 0, 10 * B, B, 4)!;
  assert.deepEqual(found.runFrom(3 * B), { end: 6 * B, last: 3 });
  assert.deepEqual(found.runFrom(4 * B), { end: 6 * B, last: 3 });
  assert.deepEqual(found.runFrom(9 * B), { end: 10 * B, last: 2 });
});

Deno.test("FoundBlocks.nextStart() finds the next found block forwards and after going back", () => {
  const m = matches([0, 0, 0], [2 * B, 3 * B, 7 * B]);
  const found = FoundBlocks.of(m, 0, 8 * B + 10, B, 3)!;
  assert.equal(found.nextStart(0), 2 * B);
  assert.equal(found.nextStart(2 * B), 2 * B);
  assert.equal(found.nextStart(2 * B + 1), 3 * B);
  assert.equal(found.nextStart(4 * B), 7 * B);
  assert.equal(found.nextStart(7 * B + 1), Infinity);
  assert.equal(found.nextStart(B), 2 * B, "a later call may start before an earlier one");
  // An offset past the local image's blocks (a stale match) is not taken.
  assert.equal(FoundBlocks.of(matches([0], [9 * B]), 0, 8 * B, B, 1), undefined);
});
