import { createHash } from "node:crypto";
import { BlockMatcher } from "../../../lib/core/block_match.ts";
import { BLOCK_SIZE, IndexBuilder, parseIndex } from "../../../lib/core/chunk_index.ts";
import { planDelta } from "../../../lib/core/delta_plan.ts";
import { scanLocalImages } from "../../../lib/shell/local_scan.ts";
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

Deno.test("scanLocalImages() reads on after the blocks a join found, without reading them", async () => {
  // 24 MiB, shifted by 100 bytes after 20 MiB: the join finds the first 20 MiB, more than one
  // 8 MiB buffer, so the scan seeks past them and reads the first buffer and the shifted rest.
  const old = noise(24 * MiB, 101);
  const target = concat(old.subarray(0, 20 * MiB), noise(100, 102), old.subarray(20 * MiB));
  await withDir(async (dir) => {
    const path = `${dir}/old.img`;
    await Deno.writeFile(path, old);
    const matcher = new BlockMatcher(indexOf(target));
    const report = await scanLocalImages(matcher, [{ id: 0, path, index: indexOf(old) }]);
    assert.equal(report.joined, 1);
    assert.equal(report.scanned, 1);
    assert.ok(report.bytesRead <= 13 * MiB, `${report.bytesRead} bytes read`);
    const plan = planDelta(target.length, BLOCK_SIZE, matcher);
    assert.ok(plan.remoteBytes <= 2 * BLOCK_SIZE, `${plan.remoteBytes} bytes to fetch`);
    for (const segment of plan.segments) {
      if (segment.kind !== "local") continue;
      const want = target.subarray(segment.at, segment.at + segment.length);
      const have = old.subarray(segment.from, segment.from + segment.length);
      assert.ok(want.every((x, i) => x === have[i]), `segment at ${segment.at} is the local bytes`);
    }
  });
});
