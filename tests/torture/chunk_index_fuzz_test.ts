/**
 * Fuzzing of the chunk index parser (docs/formats.md), which reads what any
 * origin serves: valid indexes of both versions (2, as written, and 1, as
 * older origins and caches hold) mutated (bit flips, cuts, growth, header
 * fields set to anything, one version's header on the other's entries) and
 * arbitrary bytes. For every input: a TakoError of kind
 * integrity with a clean message, or an index that holds exactly one entry
 * per block of the signed size; an accepted index, however wrong its
 * checksums, gives a plan that covers the image once and fetches at most its
 * size. Runs: TAKO_FUZZ_RUNS (100,000 under `make torture`), 2,000 by default.
 */
import fc from "fast-check";
import { createHash } from "node:crypto";
import { BlockMatcher } from "../../lib/core/block_match.ts";
import { blockCount, IndexBuilder } from "../../lib/core/chunk_index.ts";
import { parseIndex } from "../../lib/core/index_reader.ts";
import { planDelta } from "../../lib/core/delta_plan.ts";
import { TakoError } from "../../lib/core/errors.ts";
import { assert } from "../support/assert.ts";
import { indexV1 } from "../support/index_v1.ts";
import { fuzzRuns } from "./support.ts";

const RUNS = fuzzRuns(2000);
// deno-lint-ignore no-control-regex -- control characters are what it looks for
const CONTROL = /[\x00-\x1f\x7f]/;
const SLOW_MS = 2000;

const IMAGE = new Uint8Array(5 * 4096 + 321).map((_, i) => (i * 7919) >>> 3);
const SHA256 = createHash("sha256").update(IMAGE).digest("hex");
const VALID_V2 = (() => {
  const builder = new IndexBuilder();
  builder.push(IMAGE);
  return builder.finish(SHA256);
})();
const VALID_V1 = indexV1(IMAGE);

/** The other version's header (version and checksum lengths) on a valid index's entries. */
function swappedHeader(valid: Uint8Array): Uint8Array {
  const copy = valid.slice();
  copy.set(valid === VALID_V1 ? [0, 2, 2, 4] : [0, 1, 4, 4], 8);
  return copy;
}

/** A mutation of a valid index of either version. */
const mutated = fc.constantFrom(VALID_V2, VALID_V1).chain((valid) =>
  fc.oneof(
    fc.array(fc.record({ at: fc.nat(), bit: fc.nat({ max: 7 }) }), { minLength: 1, maxLength: 8 })
      .map((flips) => {
        const copy = valid.slice();
        for (const { at, bit } of flips) copy[at % copy.length]! ^= 1 << bit;
        return copy;
      }),
    fc.nat({ max: valid.length }).map((n) => valid.subarray(0, n)),
    fc.uint8Array({ maxLength: 64 }).map((tail) => new Uint8Array([...valid, ...tail])),
    fc.record({ at: fc.nat({ max: 55 }), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) })
      .map(({ at, bytes }) => {
        const copy = valid.slice();
        copy.set(bytes.subarray(0, Math.max(0, 56 - at)), at);
        return copy;
      }),
    fc.constant(swappedHeader(valid)),
    fc.uint8Array({ maxLength: 300 }),
  )
);

Deno.test(`fuzz: the chunk index parser takes ${RUNS} hostile indexes cleanly`, () => {
  let accepted = 0;
  let refused = 0;
  fc.assert(
    fc.property(mutated, (bytes) => {
      const started = performance.now();
      try {
        const index = parseIndex(bytes, IMAGE.length, SHA256, "http://origin/store/x.index");
        accepted++;
        assert.equal(index.count, blockCount(IMAGE.length));
        assert.ok(
          index.weak.every((w) => w <= 0xffff),
          "weak keys are 16 bits, whatever the version",
        );
        // Checksums may be anything: matching against a local image still gives a sound plan.
        const matcher = new BlockMatcher(index);
        matcher.begin(0, IMAGE.length);
        matcher.scan(IMAGE, 0, 0);
        const plan = planDelta(index.size, index.blockSize, matcher);
        assert.equal(plan.localBytes + plan.remoteBytes, IMAGE.length);
        assert.ok(plan.remoteBytes <= IMAGE.length);
      } catch (e) {
        if (!(e instanceof TakoError)) throw e;
        refused++;
        assert.equal(e.kind, "integrity");
        assert.doesNotMatch(e.message, CONTROL);
      }
      assert.ok(performance.now() - started < SLOW_MS, "one input was slow");
    }),
    { numRuns: RUNS },
  );
  console.log(`chunk index: ${accepted} accepted, ${refused} refused`);
  assert.ok(accepted > 0 && refused > 0, "the inputs reach only one outcome");
});
