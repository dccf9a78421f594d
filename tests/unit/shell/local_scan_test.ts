import { createHash } from "node:crypto";
import { BlockMatcher } from "../../../lib/core/block_match.ts";
import { BLOCK_SIZE, IndexBuilder } from "../../../lib/core/chunk_index.ts";
import { parseIndex } from "../../../lib/core/index_reader.ts";
import { type DeltaPlan, planDelta } from "../../../lib/core/delta_plan.ts";
import { scanLocalImages, type ScanReport } from "../../../lib/shell/local_scan.ts";
import { assert } from "../../support/assert.ts";
import { concat, noise } from "../../support/bytes.ts";
import { withDir } from "./_files.ts";

const MiB = 1024 * 1024;

function indexOf(bytes: Uint8Array) {
  const builder = new IndexBuilder();
  builder.push(bytes);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  return parseIndex(builder.finish(sha256), bytes.length, sha256, "test");
}

/** Checks that every local segment of `matcher`'s plan holds the target's bytes; returns the plan. */
function checkedPlan(matcher: BlockMatcher, target: Uint8Array, old: Uint8Array) {
  const plan = planDelta(target.length, BLOCK_SIZE, matcher);
  for (const segment of plan.segments) {
    if (segment.kind !== "local") continue;
    const want = target.subarray(segment.at, segment.at + segment.length);
    const have = old.subarray(segment.from, segment.from + segment.length);
    assert.ok(want.every((x, i) => x === have[i]), `segment at ${segment.at} is the local bytes`);
  }
  return plan;
}

/** Scans a file holding `old` (joined first by its index when `kept`) for the blocks of `target`. */
async function scanFor(target: Uint8Array, old: Uint8Array, kept: boolean) {
  let result: { report: ScanReport; plan: DeltaPlan } | undefined;
  await withDir(async (dir) => {
    const path = `${dir}/old.img`;
    await Deno.writeFile(path, old);
    const matcher = new BlockMatcher(indexOf(target));
    const image = kept
      ? { id: 0, path, readIndex: () => Promise.resolve(indexOf(old)) }
      : { id: 0, path };
    const report = await scanLocalImages(matcher, [image]);
    result = { report, plan: checkedPlan(matcher, target, old) };
  });
  return result!;
}

Deno.test("scanLocalImages() reads on after the blocks a join found, without reading them", async () => {
  // 24 MiB, shifted by 100 bytes after 20 MiB: the join finds the first 20 MiB, more than two
  // 4 MiB pieces, so the scan seeks past them: it reads the first piece, the one read ahead
  // meanwhile, and the shifted rest.
  const old = noise(24 * MiB, 101);
  const target = concat(old.subarray(0, 20 * MiB), noise(100, 102), old.subarray(20 * MiB));
  const { report, plan } = await scanFor(target, old, true);
  assert.equal(report.joined, 1);
  assert.equal(report.scanned, 1);
  assert.ok(report.bytesRead <= 13 * MiB, `${report.bytesRead} bytes read`);
  assert.ok(plan.remoteBytes <= 2 * BLOCK_SIZE, `${plan.remoteBytes} bytes to fetch`);
});

Deno.test("scanLocalImages() finds blocks that straddle the pieces it reads, at any shift", async () => {
  // No kept index: the whole image is rolled through, piece after piece (4 MiB each), and a
  // shift of 1,234 bytes puts a block across every boundary between them.
  const old = noise(13 * MiB + 777, 103);
  const target = concat(noise(1234, 104), old);
  const { report, plan } = await scanFor(target, old, false);
  assert.equal(report.scanned, 1);
  assert.equal(report.bytesRead, old.length);
  assert.ok(plan.remoteBytes <= 2 * BLOCK_SIZE, `${plan.remoteBytes} bytes to fetch`);
});

Deno.test("scanLocalImages() goes on in the piece read ahead when the blocks of a join end there", async () => {
  // The join finds the first 6 MiB; the scan of the first 4 MiB jumps to their end, inside the
  // piece read meanwhile, and goes on there: nothing is read twice.
  const old = noise(24 * MiB, 105);
  const target = concat(old.subarray(0, 6 * MiB), noise(100, 106), old.subarray(6 * MiB));
  const { report, plan } = await scanFor(target, old, true);
  assert.equal(report.joined, 1);
  assert.ok(report.bytesRead <= old.length, `${report.bytesRead} bytes read`);
  assert.ok(plan.remoteBytes <= 2 * BLOCK_SIZE, `${plan.remoteBytes} bytes to fetch`);
});

Deno.test("scanLocalImages() after a join reads only the stretch around the blocks that moved", async () => {
  // Three blocks at 4 MiB moved by 100 bytes in place: the join finds every other block, and
  // the scan of the stretch around them (5 blocks, well under one 4 MiB piece) finds these.
  const old = noise(8 * MiB, 107);
  const at = 4 * MiB;
  const moved = old.subarray(at + 100, at + 100 + 3 * BLOCK_SIZE);
  const target = concat(old.subarray(0, at), moved, old.subarray(at + 3 * BLOCK_SIZE));
  const { report, plan } = await scanFor(target, old, true);
  assert.equal(report.joined, 1);
  assert.equal(report.scanned, 1);
  assert.equal(report.bytesRead, 5 * BLOCK_SIZE);
  assert.equal(plan.remoteBytes, 0);
});
