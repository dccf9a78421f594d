import fc from "fast-check";
import { createHash } from "node:crypto";
import { BlockMatcher } from "../../../lib/core/block_match.ts";
import { BLOCK_SIZE, IndexBuilder, weakSum } from "../../../lib/core/chunk_index.ts";
import { parseIndex } from "../../../lib/core/index_reader.ts";
import { type DeltaPlan, planDelta } from "../../../lib/core/delta_plan.ts";
import { assert } from "../../support/assert.ts";
import { fuzzRuns } from "../../support/fuzz.ts";
import { concat, noise } from "../../support/bytes.ts";
import { indexV1 } from "../../support/index_v1.ts";

const KiB = 1024;

/**
 * The whole client procedure in memory: index the new image, scan the local
 * ones through buffers of `bufferSize`, plan, and assemble from the local
 * images and the new image's bytes (standing in for Range requests).
 */
function delta(locals: Uint8Array[], target: Uint8Array, bufferSize = 64 * KiB, version = 2) {
  const builder = new IndexBuilder();
  builder.push(target);
  const sha256 = createHash("sha256").update(target).digest("hex");
  const file = version === 2 ? builder.finish(sha256) : indexV1(target);
  const index = parseIndex(file, target.length, sha256, "test");
  const matcher = new BlockMatcher(index);
  scanAll(matcher, locals, bufferSize);
  const plan = planDelta(index.size, index.blockSize, matcher);
  return { plan, assembled: assemble(plan, locals, target), matcher };
}

/** Scans each local image whole through buffers of `bufferSize`, as local_scan.ts does. */
function scanAll(matcher: BlockMatcher, locals: Uint8Array[], bufferSize: number): void {
  for (const [n, local] of locals.entries()) {
    if (matcher.missing === 0) break;
    matcher.begin(n, local.length);
    let base = 0;
    let from = 0;
    for (;;) {
      const buffer = local.subarray(base, Math.min(local.length, base + bufferSize));
      from = matcher.scan(buffer, base, from);
      if (base + buffer.length >= local.length) break;
      const next = matcher.keepFrom(from);
      assert.ok(next > base || buffer.length < bufferSize, "the scan makes progress");
      base = next;
    }
  }
}

/** The parsed chunk index of `bytes`. */
function indexOf(bytes: Uint8Array) {
  const builder = new IndexBuilder();
  builder.push(bytes);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  return parseIndex(builder.finish(sha256), bytes.length, sha256, "test");
}

function assemble(plan: DeltaPlan, locals: Uint8Array[], target: Uint8Array): Uint8Array {
  const out = new Uint8Array(plan.size);
  let at = 0;
  for (const s of plan.segments) {
    assert.equal(s.at, at, "segments are in order and contiguous");
    if (s.kind === "remote") out.set(target.subarray(s.at, s.at + s.length), s.at);
    else {
      const span = locals[s.image]!.subarray(s.from, s.from + s.span);
      assert.equal(span.length, s.span, "the local stretch is in the local image");
      for (let i = 0; i < s.length; i += s.span) out.set(span.subarray(0, s.length - i), s.at + i);
    }
    at += s.length;
  }
  assert.equal(at, plan.size, "segments cover the image");
  return out;
}

/** Equality without a diff of megabytes when it fails. */
function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function fetchedFraction(plan: DeltaPlan): number {
  return plan.remoteBytes / plan.size;
}

Deno.test("identical images: nothing is fetched, the short last block included", () => {
  for (const length of [BLOCK_SIZE, 10 * BLOCK_SIZE, 10 * BLOCK_SIZE + 777]) {
    const image = noise(length, 7);
    const { plan, assembled } = delta([image], image);
    assert.deepEqual(assembled, image);
    assert.equal(plan.remoteBytes, 0);
    assert.equal(plan.segments.length, 1);
  }
});

Deno.test("an empty image and images smaller than one block", () => {
  const empty = delta([noise(5000, 1)], new Uint8Array(0));
  assert.equal(empty.plan.segments.length, 0);
  assert.equal(empty.assembled.length, 0);
  const small = noise(100, 3);
  // Held as the end of a local image: found; elsewhere: fetched.
  assert.equal(delta([concat(noise(9000, 4), small)], small).plan.remoteBytes, 0);
  const elsewhere = delta([concat(small, noise(9000, 4))], small);
  assert.deepEqual(elsewhere.assembled, small);
  assert.equal(elsewhere.plan.remoteBytes, 100);
  // A local image smaller than a block still yields the new image.
  const tiny = delta([noise(10, 5)], noise(5000, 6));
  assert.deepEqual(tiny.assembled, noise(5000, 6));
});

Deno.test("bytes inserted near the start shift everything: only about a block is fetched", () => {
  const old = noise(256 * KiB, 11);
  const target = concat(old.subarray(0, 1000), noise(37, 12), old.subarray(1000));
  const { plan, assembled } = delta([old], target);
  assert.ok(equalBytes(assembled, target));
  assert.ok(plan.remoteBytes <= 2 * BLOCK_SIZE, `fetched ${plan.remoteBytes}`);
});

Deno.test("bytes deleted, changed at the start and at the end", () => {
  const old = noise(200 * KiB, 21);
  const cases = [
    concat(old.subarray(0, 50_000), old.subarray(50_123)),
    concat(noise(10, 22), old.subarray(10)),
    concat(old.subarray(0, old.length - 10), noise(10, 23)),
    concat(old.subarray(0, old.length - 5000)),
  ];
  for (const target of cases) {
    const { plan, assembled } = delta([old], target);
    assert.ok(equalBytes(assembled, target));
    assert.ok(plan.remoteBytes <= 3 * BLOCK_SIZE, `fetched ${plan.remoteBytes}`);
  }
});

Deno.test("blocks come from several local images, in the order given", () => {
  const a = noise(64 * KiB, 31);
  const b = noise(64 * KiB, 32);
  const target = concat(b.subarray(0, 20_000), a.subarray(5, 40_000), b.subarray(30_000));
  const { plan, assembled } = delta([a, b], target);
  assert.ok(equalBytes(assembled, target));
  assert.ok(fetchedFraction(plan) < 0.2, `fetched ${plan.remoteBytes} of ${plan.size}`);
  const images = new Set(plan.segments.flatMap((s) => s.kind === "local" ? [s.image] : []));
  assert.deepEqual([...images].sort(), [0, 1]);
});

Deno.test("repeated blocks (zero fill) are found once and copied everywhere", () => {
  const old = concat(new Uint8Array(64 * KiB), noise(64 * KiB, 41));
  const target = concat(noise(64 * KiB, 41), new Uint8Array(128 * KiB), noise(3, 42));
  const { plan, assembled } = delta([old], target);
  assert.ok(equalBytes(assembled, target));
  assert.ok(plan.remoteBytes <= BLOCK_SIZE, `fetched ${plan.remoteBytes}`);
  // The 32 zero blocks are one block read once and written 32 times, not 32 segments.
  assert.equal(plan.segments.length, 3);
  assert.deepEqual(plan.segments[1], {
    kind: "local",
    at: 64 * KiB,
    length: 128 * KiB,
    image: 0,
    from: 0,
    span: BLOCK_SIZE,
  });
});

/**
 * A block that is not zeros but has the weak checksum of zeros (0): 512 bytes
 * of 128 sum to 65536 (a ≡ 0), at offsets whose weights 4096 − i sum to a
 * multiple of 512 (b ≡ 0).
 */
function zeroWeakBlock(): Uint8Array {
  const block = new Uint8Array(BLOCK_SIZE);
  let weights = 0;
  for (let i = 0; i < 2 * 511; i += 2) {
    block[i] = 128;
    weights += BLOCK_SIZE - i;
  }
  const need = (512 - (weights % 512)) % 512;
  let last = BLOCK_SIZE - 1;
  while ((BLOCK_SIZE - last) % 512 !== need) last--;
  block[last] = 128;
  return block;
}

Deno.test("a missing block with the weak checksum of zeros costs no strong checksum per zero byte", () => {
  const decoy = zeroWeakBlock();
  assert.equal(weakSum(decoy, 0, BLOCK_SIZE), 0);
  // Zero runs of the local image, between data, at offsets no block boundary aligns.
  const old = concat(
    noise(5000, 81),
    new Uint8Array(512 * KiB),
    noise(70 * KiB, 82),
    new Uint8Array(256 * KiB + 3),
  );
  const target = concat(
    noise(5000, 81).subarray(0, 4096),
    decoy,
    new Uint8Array(64 * KiB),
    noise(70 * KiB, 82),
  );
  const { plan, assembled, matcher } = delta([old], target);
  assert.ok(equalBytes(assembled, target));
  assert.ok(plan.remoteBytes <= 2 * BLOCK_SIZE, `fetched ${plan.remoteBytes}`);
  // One check per block of the target and a few per zero run, not one per zero byte (768 Ki).
  assert.ok(matcher.work.strongChecks < 200, `${matcher.work.strongChecks} strong checksums`);
});

Deno.test("a zero run whose pairs were all found is skipped, not rolled through byte by byte", () => {
  // The target's zero pair is found at the local image's start; the rest of that 1 MiB zero run
  // (free space on a block filesystem) then meets only a spent chain of the table.
  const data = noise(64 * KiB, 83);
  const old = concat(new Uint8Array(1024 * KiB), data);
  const target = concat(new Uint8Array(2 * BLOCK_SIZE), data);
  const { plan, assembled, matcher } = delta([old], target);
  assert.ok(equalBytes(assembled, target));
  assert.equal(plan.remoteBytes, 0);
  assert.ok(matcher.work.rolledBytes < 64 * KiB, `${matcher.work.rolledBytes} bytes rolled`);
});

Deno.test("block-aligned changes (a block filesystem) fetch only the changed blocks", () => {
  const old = noise(1024 * KiB, 51);
  const target = old.slice();
  for (const block of [3, 100, 101, 200]) target.set(noise(BLOCK_SIZE, block), block * BLOCK_SIZE);
  const { plan, assembled } = delta([old], target);
  assert.ok(equalBytes(assembled, target));
  // Blocks 100 and 101 are one range; nothing else is fetched.
  assert.equal(plan.remoteBytes, 4 * BLOCK_SIZE);
  assert.equal(plan.requests, 3);
});

Deno.test("property: any edit of any image is assembled exactly, whatever the buffer size", () => {
  const edit = fc.record({
    at: fc.nat(),
    remove: fc.nat({ max: 3 * BLOCK_SIZE }),
    insert: fc.nat({ max: 3 * BLOCK_SIZE }),
    seed: fc.integer(),
  });
  fc.assert(
    fc.property(
      fc.nat({ max: 24 * BLOCK_SIZE }),
      fc.array(edit, { maxLength: 4 }),
      fc.integer({ min: 2 * BLOCK_SIZE, max: 5 * BLOCK_SIZE }),
      (length, edits, bufferSize) => {
        const old = noise(length, length + 1);
        let target = old;
        for (const e of edits) {
          const at = target.length === 0 ? 0 : e.at % (target.length + 1);
          target = concat(
            target.subarray(0, at),
            noise(e.insert, e.seed),
            target.subarray(Math.min(target.length, at + e.remove)),
          );
        }
        const { plan, assembled } = delta([old], target, bufferSize);
        assert.ok(equalBytes(assembled, target));
        assert.ok(plan.remoteBytes <= target.length);
      },
    ),
    { numRuns: fuzzRuns(150) },
  );
});

Deno.test("join() finds by a local image's own index what a scan finds at aligned offsets", () => {
  const old = noise(256 * KiB + 100, 61);
  const target = old.slice();
  for (const block of [0, 7, 30]) target.set(noise(BLOCK_SIZE, 70 + block), block * BLOCK_SIZE);
  const joined = new BlockMatcher(indexOf(target));
  joined.join(0, indexOf(old));
  const plan = planDelta(target.length, BLOCK_SIZE, joined);
  // The three changed blocks, and the short last block, which a join leaves to a scan.
  assert.equal(plan.remoteBytes, 3 * BLOCK_SIZE + 100);
  // A join takes pairs, then probes as a scan does: block 4, alone between changed ones, is
  // found where block 2 points; block 13, with no found block within 8 before it, where block
  // 15 after it points (as a scan extends a run backwards).
  const lone = old.slice();
  for (const block of [3, 5, 6, 7, 8, 9, 10, 11, 12, 14]) {
    lone.set(noise(BLOCK_SIZE, 80 + block), block * BLOCK_SIZE);
  }
  const loneJoined = new BlockMatcher(indexOf(lone));
  loneJoined.join(0, indexOf(old));
  const lonePlan = planDelta(lone.length, BLOCK_SIZE, loneJoined);
  assert.deepEqual(assemble(lonePlan, [old], lone), lone);
  assert.equal(loneJoined.image[4], 0);
  assert.equal(loneJoined.image[13], 0);
  assert.equal(lonePlan.remoteBytes, 10 * BLOCK_SIZE + 100);
  assert.deepEqual(assemble(plan, [old], target), target);
  const scanned = delta([old], target).plan;
  assert.ok(scanned.remoteBytes <= plan.remoteBytes);
});

Deno.test("a scan after a join jumps over the blocks the join found, as over runs of its own", () => {
  // A packed image shifted by 100 bytes after its first MiB: the join finds the first half,
  // the scan the shifted rest, without rolling through the first half byte by byte.
  const old = noise(2048 * KiB, 91);
  const target = concat(old.subarray(0, 1024 * KiB), noise(100, 92), old.subarray(1024 * KiB));
  for (const bufferSize of [64 * KiB, 2048 * KiB]) {
    const matcher = new BlockMatcher(indexOf(target));
    matcher.join(0, indexOf(old));
    assert.ok(matcher.missing > 200, `${matcher.missing} blocks left to the scan`);
    scanAll(matcher, [old], bufferSize);
    const plan = planDelta(target.length, BLOCK_SIZE, matcher);
    assert.ok(equalBytes(assemble(plan, [old], target), target));
    assert.ok(
      plan.remoteBytes <= delta([old], target, bufferSize).plan.remoteBytes,
      "no more fetched than a scan alone",
    );
    assert.ok(plan.remoteBytes <= 2 * BLOCK_SIZE, `${plan.remoteBytes} bytes fetched`);
    assert.ok(matcher.work.rolledBytes < 64 * KiB, `${matcher.work.rolledBytes} bytes rolled`);
  }
});

Deno.test("a scan after a join still finds blocks between the join's runs, at any offset", () => {
  // Found runs at aligned offsets, with moved content between them that only rolling finds.
  const a = noise(256 * KiB, 93);
  const moved = noise(64 * KiB, 94);
  const b = noise(256 * KiB, 95);
  const old = concat(a, noise(32 * KiB, 96), moved, b);
  const target = concat(a, noise(32 * KiB + 300, 97), moved, noise(4 * KiB, 98), b.subarray(0));
  const matcher = new BlockMatcher(indexOf(target));
  matcher.join(0, indexOf(old));
  scanAll(matcher, [old], 64 * KiB);
  const plan = planDelta(target.length, BLOCK_SIZE, matcher);
  assert.ok(equalBytes(assemble(plan, [old], target), target));
  assert.ok(plan.remoteBytes <= delta([old], target).plan.remoteBytes);
  // The moved 64 KiB, shifted by 300 bytes, is found but for the blocks at its edges.
  assert.ok(plan.remoteBytes < 32 * KiB + 300 + 4 * KiB + 4 * BLOCK_SIZE, `${plan.remoteBytes}`);
});

/** Block `k` of `image`. */
function blockOf(image: Uint8Array, k: number): Uint8Array {
  return image.subarray(k * BLOCK_SIZE, (k + 1) * BLOCK_SIZE);
}

Deno.test("pairs: runs of 2 and 3 matching blocks are found at any offset, a lone one is fetched", () => {
  const old = noise(12 * BLOCK_SIZE, 91);
  // The local image holds the blocks at an offset no block boundary aligns.
  const local = concat(noise(777, 92), old);
  const changed = (seed: number) => noise(BLOCK_SIZE, seed);
  const target = concat(
    changed(1),
    blockOf(old, 1), // alone between changed blocks, no run before it: not found
    changed(2),
    blockOf(old, 3),
    blockOf(old, 4), // a run of 2
    changed(3),
    blockOf(old, 6),
    blockOf(old, 7),
    blockOf(old, 8), // a run of 3
    changed(4),
    blockOf(old, 10), // alone, but where the run before it points: found by a probe
    blockOf(old, 11).subarray(0, 100), // the short last block, not at the local image's end
  );
  const { plan, assembled } = delta([local], target);
  assert.ok(equalBytes(assembled, target));
  // The 4 changed blocks and block 1; block 10 and the last block go on from the probe.
  assert.equal(plan.remoteBytes, 5 * BLOCK_SIZE);
  // A version-1 index of the same image is matched the same way (its weak sums cut to 16 bits).
  assert.deepEqual(delta([local], target, 64 * KiB, 1).plan, plan);
});

Deno.test("pairs: after blocks changed in place, the blocks after them are probed where they lie", () => {
  const old = noise(16 * BLOCK_SIZE, 99);
  const target = old.slice();
  // Blocks 6 and 10 are alone between changed ones, 12 starts a run of 2 after a run of 2 changed.
  for (const block of [5, 7, 8, 9, 11, 14, 15]) {
    target.set(noise(BLOCK_SIZE, 200 + block), block * BLOCK_SIZE);
  }
  const { plan, assembled, matcher } = delta([concat(noise(777, 98), old)], target);
  assert.ok(equalBytes(assembled, target));
  assert.equal(plan.remoteBytes, 7 * BLOCK_SIZE);
  // Block 13 is followed from 12, found by the probe after 11.
  assert.ok(matcher.work.strongChecks < 40, `${matcher.work.strongChecks} strong checksums`);
});

Deno.test("pairs: the image's last block is tried at the end of each local image", () => {
  for (const tail of [500, BLOCK_SIZE]) {
    const old = noise(10 * BLOCK_SIZE + (tail % BLOCK_SIZE), 93);
    // The last block follows a changed one: no pair holds it, the local image's end does.
    const start = old.length - tail;
    const target = concat(
      old.subarray(0, start - BLOCK_SIZE),
      noise(BLOCK_SIZE, 94),
      old.subarray(start),
    );
    const { plan, assembled } = delta([old], target);
    assert.ok(equalBytes(assembled, target));
    assert.equal(plan.remoteBytes, BLOCK_SIZE, `last block of ${tail}`);
  }
  // A one-block image: found as a local image's end, fetched when it is elsewhere.
  const one = noise(BLOCK_SIZE, 95);
  assert.equal(delta([concat(noise(9000, 96), one)], one).plan.remoteBytes, 0);
  assert.equal(delta([concat(one, noise(9000, 96))], one).plan.remoteBytes, BLOCK_SIZE);
});

Deno.test("pairs: a run that crosses the buffers of a scan is followed across them", () => {
  const old = noise(64 * BLOCK_SIZE, 97);
  const target = concat(noise(10, 98), old);
  for (const bufferSize of [2 * BLOCK_SIZE, 3 * BLOCK_SIZE - 1, 5 * BLOCK_SIZE + 7]) {
    const { plan, assembled } = delta([old], target, bufferSize);
    assert.ok(equalBytes(assembled, target));
    // The first block holds the 10 new bytes; the last 10 bytes of old are the short last block.
    assert.ok(plan.remoteBytes <= BLOCK_SIZE + 10, `${plan.remoteBytes} with ${bufferSize}`);
  }
});

Deno.test("pairs: a run that begins in bytes another run passed over is extended backwards", () => {
  const old = noise(40 * BLOCK_SIZE, 101);
  // Blocks 20..39 repeat local bytes that blocks 0..19 were matched at, at another offset.
  const target = concat(
    old.subarray(0, 20 * BLOCK_SIZE),
    old.subarray(5 * BLOCK_SIZE + 1000, 25 * BLOCK_SIZE + 1000),
  );
  const { plan, assembled } = delta([old], target, 64 * BLOCK_SIZE);
  assert.ok(equalBytes(assembled, target));
  assert.equal(plan.remoteBytes, 0);
});
