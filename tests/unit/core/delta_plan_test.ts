import fc from "fast-check";
import { type ChunkIndex, strongSum, weakKey, weakSum } from "../../../lib/core/chunk_index.ts";
import type { Matches } from "../../../lib/core/delta_plan.ts";
import {
  DEFAULT_LIMITS,
  deltaSummary,
  localCandidates,
  planDelta,
  repairPlan,
  type Segment,
  unusedStretches,
} from "../../../lib/core/delta_plan.ts";
import { assert } from "../../support/assert.ts";
import { fuzzRuns } from "../../support/fuzz.ts";

const B = 4096;

/** Matches from a string: one letter per block, '.' missing, 'a'/'b' local images 0/1 at the same offset. */
function matches(pattern: string): Matches & { offset: Float64Array } {
  const image = new Int8Array(pattern.length);
  const offset = new Float64Array(pattern.length);
  for (const [j, c] of [...pattern].entries()) {
    image[j] = c === "." ? -1 : c.charCodeAt(0) - 97;
    offset[j] = j * B;
  }
  return { image, offset, offsetOf: (j) => offset[j]! };
}

function shape(segments: readonly Segment[]): string {
  return segments.map((s) => `${s.kind === "local" ? "L" + s.image : "R"}:${s.at}+${s.length}`)
    .join(" ");
}

const NO_BRIDGE = { bridgeBytes: 0, maxRequests: 1000, maxBridgedFraction: 0 };

Deno.test("planDelta() merges neighbouring blocks into segments", () => {
  const plan = planDelta(6 * B, B, matches("aa..ab"), NO_BRIDGE);
  assert.equal(
    shape(plan.segments),
    `L0:0+${2 * B} R:${2 * B}+${2 * B} L0:${4 * B}+${B} L1:${5 * B}+${B}`,
  );
  assert.equal(plan.localBytes, 4 * B);
  assert.equal(plan.remoteBytes, 2 * B);
  assert.equal(plan.requests, 1);
});

Deno.test("planDelta() keeps a local run only where its source offsets are consecutive", () => {
  const m = matches("aaa");
  m.offset[1] = 10 * B;
  assert.equal(planDelta(3 * B, B, m, NO_BRIDGE).segments.length, 3);
});

Deno.test("planDelta() bridges short local stretches between fetched ranges, not at the edges", () => {
  const plan = planDelta(8 * B, B, matches("a.aa.a.a"), { ...NO_BRIDGE, bridgeBytes: 2 * B });
  assert.equal(shape(plan.segments), `L0:0+${B} R:${B}+${6 * B} L0:${7 * B}+${B}`);
  assert.equal(plan.requests, 1);
});

Deno.test("planDelta() bridges the shortest stretches past maxRequests, within the byte budget", () => {
  // Fetched blocks separated by stretches of 1, 3 and 2 local blocks.
  const pattern = ".a...aaa..aa.";
  const size = pattern.length * B;
  const capped = planDelta(size, B, matches(pattern), {
    bridgeBytes: 0,
    maxRequests: 2,
    maxBridgedFraction: 1,
  });
  assert.equal(capped.requests, 2);
  assert.equal(capped.remoteBytes, 10 * B);
  // A budget too small for the next stretch stops the bridging.
  const tight = planDelta(size, B, matches(pattern), {
    bridgeBytes: 0,
    maxRequests: 1,
    maxBridgedFraction: (B + 2 * B) / size,
  });
  assert.equal(tight.requests, 2);
});

Deno.test("planDelta() of nothing found is one range of the whole image; of an empty image, nothing", () => {
  const plan = planDelta(3 * B - 5, B, matches("..."));
  assert.equal(shape(plan.segments), `R:0+${3 * B - 5}`);
  assert.equal(planDelta(0, B, matches("")).segments.length, 0);
});

Deno.test("property: segments partition the image and fetch at most its size", () => {
  fc.assert(
    fc.property(fc.stringMatching(/^[.ab]{0,200}$/), fc.nat({ max: B - 1 }), (pattern, cut) => {
      const size = Math.max(0, pattern.length * B - (pattern.length > 0 ? cut : 0));
      const plan = planDelta(size, B, matches(pattern), DEFAULT_LIMITS);
      let at = 0;
      for (const s of plan.segments) {
        assert.equal(s.at, at);
        assert.ok(s.length > 0);
        at += s.length;
      }
      assert.equal(at, size);
      assert.equal(plan.localBytes + plan.remoteBytes, size);
      assert.ok(plan.requests <= Math.ceil(pattern.length / 2));
    }),
    { numRuns: fuzzRuns(500) },
  );
});

Deno.test("repairPlan() fetches what was copied and copies what was fetched", () => {
  const plan = planDelta(5 * B, B, matches("aa.b."), NO_BRIDGE);
  const again = repairPlan(plan, 9);
  assert.equal(
    shape(again.segments),
    `R:0+${2 * B} L9:${2 * B}+${B} R:${3 * B}+${B} L9:${4 * B}+${B}`,
  );
  assert.equal(again.remoteBytes, plan.localBytes);
  assert.equal(plan.remoteBytes + again.remoteBytes, 5 * B, "both passes fetch the image once");
  const local = again.segments.find((s) => s.kind === "local");
  assert.equal(local?.kind === "local" && local.from, 2 * B, "copied from the same offset");
  // Stretches of two local images side by side are one range to fetch, not two adjacent ones.
  const two = repairPlan(planDelta(3 * B, B, matches("ab."), NO_BRIDGE), 9);
  assert.equal(shape(two.segments), `R:0+${2 * B} L9:${2 * B}+${B}`);
  assert.equal(two.requests, 1);
});

Deno.test("localCandidates() orders latest, previous, then the rest, without the target", () => {
  assert.deepEqual(localCandidates("t", "l", "p", ["x", "p", "t", "l", "y"]), ["l", "p", "x", "y"]);
  assert.deepEqual(localCandidates("t", undefined, "gone", ["x"]), ["x"]);
  assert.deepEqual(localCandidates("t", "t", undefined, ["t"]), []);
  assert.equal(localCandidates("t", "a", "b", ["a", "b", "c", "d", "e", "f"]).length, 4);
});

Deno.test("deltaSummary() says what was reused and downloaded", () => {
  assert.equal(
    deltaSummary("1.2.0", {
      size: 1000 * 1024 * 1024,
      reused: 988 * 1024 * 1024,
      downloaded: 12 * 1024 * 1024,
      requests: 9,
    }),
    "1.2.0: reused 988.0 MiB from local images, downloaded 12.0 MiB (1.2 %) in 9 requests",
  );
  assert.match(
    deltaSummary("1", { size: 0, reused: 0, downloaded: 64, requests: 1 }),
    /64 B \(0\.0 %\) in 1 request$/,
  );
});

Deno.test("unusedStretches() are the local ranges no found block comes from, widened and joined", () => {
  const B = 4096;
  const matches = (image: number[], offset: number[]): Matches => ({
    image: new Int8Array(image),
    offsetOf: (j) => offset[j]!,
  });
  /** The index of a local image of `size` bytes whose blocks have the given contents (distinct by default). */
  const local = (size: number, contents?: number[]): ChunkIndex => {
    const count = Math.ceil(size / B);
    const strong = new Uint32Array(count).map((_, k) => contents?.[k] ?? 1000 + k);
    return {
      size,
      sha256: "0".repeat(64),
      blockSize: B,
      version: 2,
      count,
      weak: new Uint16Array(count),
      strong,
    };
  };
  // Local blocks 0 and 2 used: block 1 widened to blocks 0–2, then block 3 to 2–4, joined.
  assert.deepEqual(unusedStretches(matches([0, -1, 0], [0, 0, 2 * B]), 0, local(4 * B)), [[
    0,
    4 * B,
  ]]);
  // Another image's blocks do not count; nothing found: the whole image.
  assert.deepEqual(unusedStretches(matches([1, 1], [0, B]), 0, local(2 * B + 5)), [[0, 2 * B + 5]]);
  // Used everywhere but block 100 and block 300 of 400: two stretches, far apart.
  const offsets = Array.from({ length: 400 }, (_, k) => k * B);
  const used = offsets.filter((_, k) => k !== 100 && k !== 300);
  assert.deepEqual(unusedStretches(matches(used.map(() => 0), used), 0, local(400 * B)), [
    [99 * B, 102 * B],
    [299 * B, 302 * B],
  ]);
  // An unaligned offset (a scan's) uses both blocks it touches.
  assert.deepEqual(unusedStretches(matches([0, 0], [0, B + 10]), 0, local(3 * B)), []);
  assert.deepEqual(unusedStretches(matches([0], [100]), 0, local(3 * B)), [[B, 3 * B]]);
  // Zero blocks, once one is used, hold nothing new (free space): only block 3 is left, widened.
  // A block equal to another used one that is not zeros still counts as unused.
  const zero = new Uint8Array(B);
  const [zw, zs] = [weakKey(weakSum(zero, 0, B)), strongSum(zero, 0, B)];
  const zeros = local(6 * B, [zs, zs, zs, 9, zs, zs]);
  zeros.weak.fill(zw);
  zeros.weak[3] = 1;
  assert.deepEqual(unusedStretches(matches([0], [0]), 0, zeros), [[2 * B, 5 * B]]);
  const sevens = [7, 7, 7, 9, 7, 7];
  assert.deepEqual(unusedStretches(matches([0], [0]), 0, local(6 * B, sevens)), [[0, 6 * B]]);
});
