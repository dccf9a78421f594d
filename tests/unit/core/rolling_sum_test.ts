import { PairTable } from "../../../lib/core/pair_table.ts";
import { ROLLING_KERNEL_WASM } from "../../../lib/core/rolling_kernel_wasm.ts";
import {
  filterBit,
  filterShift,
  pairKey,
  RollingScan,
  rollPair,
  STRETCH,
  sumPair,
} from "../../../lib/core/rolling_sum.ts";
import { assert } from "../../support/assert.ts";
import { noise } from "../../support/bytes.ts";

const BLOCK = 4096;
const MiB = 1024 * 1024;

/** The pair key of the two windows at `at`, summed from scratch. */
function keyAt(buffer: Uint8Array, at: number): number {
  const sums = new Int32Array(4);
  sumPair(buffer, at, BLOCK, sums);
  return pairKey(sums[1]!, sums[3]!);
}

/** A table holding the pairs of windows at `offsets` of `buffer` (and nothing else). */
function tableOf(buffer: Uint8Array, offsets: number[]): PairTable {
  const keys = Int32Array.from(offsets, (at) => keyAt(buffer, at));
  const table = new PairTable((j) => keys[j]!);
  table.build(offsets.length, offsets.length, () => true);
  return table;
}

/**
 * The model: every offset from `from` to `last` in turn, its sums rolled in
 * JavaScript, its key looked up in the table's filter (both bits) and chains;
 * the offsets that pass both.
 */
function model(buffer: Uint8Array, from: number, last: number, table: PairTable): number[] {
  const found: number[] = [];
  const sums = new Int32Array(4);
  sumPair(buffer, from, BLOCK, sums);
  for (let at = from;; at++) {
    const key = pairKey(sums[1]!, sums[3]!);
    const shift = filterShift(table.filter.length);
    const inFilter = ([0, 1] as const).map((hash) => filterBit(key, shift, hash))
      .every((bit) => (table.filter[bit >>> 5]! & (1 << (bit & 31))) !== 0);
    if (inFilter && table.find(key) !== -1) found.push(at);
    if (at >= last) return found;
    rollPair(buffer, at, BLOCK, sums);
  }
}

/** Every candidate from `from` to `last`, by the kernel, each with the sums it hands back checked. */
function candidates(buffer: Uint8Array, from: number, last: number, table: PairTable): number[] {
  const scan = new RollingScan(BLOCK);
  const found: number[] = [];
  const sums = new Int32Array(4);
  sumPair(buffer, from, BLOCK, sums);
  for (let at = from;;) {
    at = scan.toCandidate(buffer, at, last, BLOCK, sums, table);
    if (at < 0) return found;
    const expected = new Int32Array(4);
    sumPair(buffer, at, BLOCK, expected);
    assert.deepEqual([...sums], [...expected], `the sums handed back at ${at}`);
    found.push(at);
    if (at >= last) return found;
    rollPair(buffer, at, BLOCK, sums);
    at++;
  }
}

Deno.test("RollingScan finds each pair of windows the table holds, across its stretches", () => {
  const S = STRETCH;
  const buffer = noise(3 * S + 100000, 7);
  const last = buffer.length - 2 * BLOCK;
  const planted = [0, 1, S - 1, S, S + 1, 2 * S - 2, 2 * S, 2 * S + 12345, last];
  const table = tableOf(buffer, planted);
  assert.deepEqual(candidates(buffer, 0, last, table), planted);
  for (const from of [2, S, S + 2, last - 1]) {
    assert.deepEqual(candidates(buffer, from, last, table), model(buffer, from, last, table));
  }
});

Deno.test("RollingScan rolls on from one stretch into the next where nothing is found", () => {
  const buffer = noise(3 * STRETCH + 50000, 13);
  const last = buffer.length - 2 * BLOCK;
  const planted = [5, 2 * STRETCH + 777, last - 3];
  const table = tableOf(buffer, planted);
  assert.deepEqual(candidates(buffer, 0, last, table), planted);
  assert.deepEqual(candidates(buffer, 6, last, table), planted.slice(1));
});

Deno.test("RollingScan stops at `last` and tests `from` itself, even past `last`", () => {
  const buffer = noise(64 * 1024, 3);
  const table = tableOf(buffer, [100, 5000]);
  assert.deepEqual(candidates(buffer, 0, 99, table), []);
  assert.deepEqual(candidates(buffer, 0, 100, table), [100]);
  assert.deepEqual(candidates(buffer, 101, 4999, table), []);
  assert.deepEqual(candidates(buffer, 5000, 10, table), [5000]);
  assert.deepEqual(candidates(buffer, 0, buffer.length - 2 * BLOCK, table), [100, 5000]);
});

Deno.test("RollingScan: sums that wrap (bytes of 0xff) roll as in JavaScript's Int32 arithmetic", () => {
  const buffer = noise(256 * 1024, 11);
  buffer.fill(0xff, 20000, 32000);
  const last = buffer.length - 2 * BLOCK;
  // A window pair inside the 0xff run: the same key at every offset of the run.
  const table = tableOf(buffer, [22000, 200000]);
  const found = candidates(buffer, 0, last, table);
  assert.equal(found[0], 20000);
  assert.equal(found.at(-1), 200000);
  for (const from of [0, 19000, 25000]) {
    assert.deepEqual(candidates(buffer, from, last, table), model(buffer, from, last, table));
  }
});

Deno.test("RollingScan agrees with the model on a dense filter and a large table", () => {
  const buffer = noise(2 * MiB + 50000, 5);
  const last = buffer.length - 2 * BLOCK;
  const planted: number[] = [];
  for (let at = 777; at < last; at += 9973) planted.push(at);
  // Many missing pairs (unrelated keys besides the planted ones): a denser filter, more false hits.
  const keys = Int32Array.from(
    { length: 200000 },
    (_, i) => i < planted.length ? keyAt(buffer, planted[i]!) : Math.imul(i, 0x27d4eb2d),
  );
  const table = new PairTable((j) => keys[j]!);
  table.build(keys.length, keys.length, () => true);
  // Unrelated keys match some offsets too (about one in 21,000 here): the model says which.
  const found = candidates(buffer, 0, last, table);
  assert.deepEqual(found, model(buffer, 0, last, table));
  assert.ok(planted.every((at) => found.includes(at)));
  assert.ok(found.length > planted.length);
});

Deno.test("RollingScan takes a rebuilt table's filter (the kernel holds a copy)", () => {
  const buffer = noise(128 * 1024, 9);
  const last = buffer.length - 2 * BLOCK;
  const keys = Int32Array.from([1000, 9000], (at) => keyAt(buffer, at));
  const table = new PairTable((j) => keys[j]!);
  const scan = new RollingScan(BLOCK);
  const sums = new Int32Array(4);
  table.build(2, 1, (j) => j === 1);
  sumPair(buffer, 0, BLOCK, sums);
  assert.equal(scan.toCandidate(buffer, 0, last, BLOCK, sums, table), 9000);
  // Rebuilt with pair 0 too: the kernel must see its bits, or it rolls past 1000.
  table.build(2, 2, () => true);
  sumPair(buffer, 0, BLOCK, sums);
  assert.equal(scan.toCandidate(buffer, 0, last, BLOCK, sums, table), 1000);
});

const wat2wasm = await new Deno.Command("sh", {
  args: ["-c", "command -v wat2wasm"],
  stdout: "piped",
  stderr: "null",
}).output().then((o) => o.success).catch(() => false);

Deno.test({
  name: "rolling_kernel_wasm.ts holds what wat2wasm makes of rolling_kernel.wat (make wasm)",
  ignore: !wat2wasm,
  async fn() {
    const wat = new URL("../../../lib/core/rolling_kernel.wat", import.meta.url).pathname;
    const out = await Deno.makeTempFile({ suffix: ".wasm" });
    try {
      const run = await new Deno.Command("wat2wasm", { args: [wat, "-o", out] }).output();
      assert.ok(run.success, new TextDecoder().decode(run.stderr));
      const bytes = await Deno.readFile(out);
      assert.deepEqual(Uint8Array.from(atob(ROLLING_KERNEL_WASM), (c) => c.charCodeAt(0)), bytes);
    } finally {
      await Deno.remove(out);
    }
  },
});
