/**
 * Fuzzing of the multipart/byteranges reading of a delta update
 * (core/byteranges.ts), which reads what any origin answers to a
 * multi-range request: valid bodies mutated (bit flips, cuts, insertions,
 * parts dropped, repeated, reordered or moved) and fed in random pieces. For
 * every input: the asked bytes exactly (never other bytes, never one twice),
 * or an integrity TakoError with a clean message. Runs: TAKO_FUZZ_RUNS
 * (100,000 under `make torture`), 2,000 by default.
 */
import fc from "fast-check";
import { TakoError } from "../../lib/core/errors.ts";
import { assert } from "../support/assert.ts";
import { noise } from "../support/bytes.ts";
import { BOUNDARY, concatParts, multipartBody, readMultipart } from "../support/multipart.ts";
import { fuzzRuns } from "./support.ts";

const RUNS = fuzzRuns(2000);
// deno-lint-ignore no-control-regex -- control characters are what it looks for
const CONTROL = /[\x00-\x1f\x7f]/;
const SIZE = 5000;
const FILE = noise(SIZE, 21);

/** Asked ranges: sorted, neither overlapping nor adjacent. */
const ranges = fc.uniqueArray(fc.integer({ min: 0, max: SIZE / 50 - 1 }), {
  minLength: 1,
  maxLength: 12,
})
  .chain((slots) => {
    const sorted = [...slots].sort((a, b) => a - b);
    return fc.tuple(
      ...sorted.map((slot) =>
        fc.integer({ min: 1, max: 40 }).map((length) => ({ at: slot * 50, length }))
      ),
    );
  });

const mutation = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant("insert" as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ maxLength: 8 }),
  }),
);

const partsEdit = fc.constantFrom("none", "drop", "repeat", "reverse", "shift");

Deno.test("multipart bodies, mutated and fed in pieces: the asked bytes or an integrity error", () => {
  fc.assert(
    fc.property(
      ranges,
      partsEdit,
      fc.array(mutation, { maxLength: 3 }),
      fc.integer({ min: 1, max: 300 }),
      (asked, edit, mutations, chunk) => {
        let parts = asked.map((r) => ({ first: r.at, last: r.at + r.length - 1 }));
        if (edit === "drop") parts = parts.slice(1);
        if (edit === "repeat") parts = [parts[0]!, ...parts];
        if (edit === "reverse") parts = [...parts].reverse();
        if (edit === "shift") parts = parts.map((p) => ({ first: p.first + 1, last: p.last + 1 }));
        let body = multipartBody(FILE, parts);
        for (const m of mutations) {
          const at = m.at % (body.length + 1);
          if (m.kind === "flip" && at < body.length) body[at]! ^= 1 << m.bit;
          if (m.kind === "cut") body = body.subarray(0, at);
          if (m.kind === "insert") {
            body = concatParts([
              body.subarray(0, at),
              m.bytes,
              body.subarray(at),
            ]);
          }
        }
        const expected = concatParts(asked.map((r) => FILE.subarray(r.at, r.at + r.length)));
        let got: Uint8Array;
        try {
          got = readMultipart(body, BOUNDARY, asked, SIZE, chunk);
        } catch (e) {
          assert.ok(e instanceof TakoError && e.kind === "integrity", String(e));
          assert.ok(!CONTROL.test(e.message), e.message);
          return;
        }
        // Accepted: exactly the asked bytes; only a flip inside a part's data can change them,
        // and the image's SHA-256 catches that as it catches any wrong byte of the origin.
        assert.equal(got.length, expected.length);
        const flippedData = mutations.some((m) => m.kind === "flip");
        if (!flippedData) assert.deepEqual(got, expected);
      },
    ),
    { numRuns: RUNS },
  );
});
