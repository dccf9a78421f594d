import fc from "fast-check";
import { assert, assertTakoError } from "../../support/assert.ts";
import {
  checkVersion,
  compareVersions,
  hasVersionPrefix,
  isValidVersion,
} from "../../../lib/core/version.ts";
import { fuzzRuns } from "../../support/fuzz.ts";

const sign = (n: number) => Math.sign(n) + 0;

function assertOrder(a: string, relation: "<" | "=", b: string): void {
  const expected = relation === "<" ? -1 : 0;
  assert.equal(sign(compareVersions(a, b)), expected, `${a} ${relation} ${b}`);
  assert.equal(sign(compareVersions(b, a)), sign(-expected), `${b} vs ${a}`);
}

Deno.test("`compareVersions()` follows every ordering example of SPEC §3", () => {
  const table: [string, "<" | "=", string][] = [
    ["1.0.0", "<", "2.0.0"],
    ["1.0.0", "<", "1.1.0"],
    ["1.0.0", "<", "1.0.1"],
    ["1", "=", "1.0"],
    ["1-0", "=", "1.0"],
    ["1.a", "<", "1.0"],
    ["1.0.0.a", "<", "1.0.0"],
    ["1.0.a", "<", "1.0.b"],
    ["1.0.0-beta.1", "<", "1.0.0"],
    ["1.0.0-beta", "<", "1.0.0-beta.1"],
    ["1.0.0-beta.1", "<", "1.0.0-beta.2"],
    ["1.2a", "<", "1.1"],
    ["1.0.a", "<", "1.0"],
    ["1.0.0", "=", "1.0-0"],
  ];
  for (const [a, relation, b] of table) assertOrder(a, relation, b);
});

Deno.test("`compareVersions()` ignores which separator is used and skips empty parts", () => {
  const table: [string, "<" | "=", string][] = [
    ["1_0", "=", "1.0"],
    ["1-2_3.4", "=", "1.2.3.4"],
    ["1..2", "=", "1.2"],
    ["-1.2-", "=", "1.2"],
    ["1.0.0.0.0", "=", "1"],
    ["1.0.0.0.1", "<", "1.0.0.0.2"],
    ["1.9", "<", "1.10"],
    ["1.b", "<", "1.ba"],
    ["1.B", "<", "1.a"],
  ];
  for (const [a, relation, b] of table) assertOrder(a, relation, b);
});

Deno.test("`compareVersions()` compares digit runs of any length exactly", () => {
  const big = "9".repeat(500);
  const table: [string, "<" | "=", string][] = [
    ["1.9007199254740992", "<", "1.9007199254740993"],
    ["18446744073709551615", "<", "18446744073709551616"],
    [`1.${big}`, "<", `1.1${"0".repeat(500)}`],
    [`1.${"0".repeat(499)}1`, "<", `1.${"0".repeat(498)}2`],
    [`2.${big}`, "=", `2.${"0".repeat(300)}${big}`],
    [`${big}.${big}`, "<", `${big}.${big}.1`],
  ];
  for (const [a, relation, b] of table) assertOrder(a, relation, b);
});

Deno.test("`compareVersions()` treats leading zeros as the same number", () => {
  const table: [string, "<" | "=", string][] = [
    ["1.01", "=", "1.1"],
    ["1.010", "=", "1.10"],
    ["1.00", "=", "1"],
    ["001.0", "=", "1"],
    ["1.09", "<", "1.010"],
  ];
  for (const [a, relation, b] of table) assertOrder(a, relation, b);
});

Deno.test("`compareVersions()` orders string parts by bytes, also beyond ASCII", () => {
  const table: [string, "<" | "=", string][] = [
    ["1.Z", "<", "1.a"],
    ["1.z", "<", "1.é"],
    // UTF-16 would put U+1F600 (a surrogate pair, 0xD83D...) before U+FF61;
    // its UTF-8 bytes (F0 ...) come after those of U+FF61 (EF ...).
    ["1.\uff61", "<", "1.\u{1f600}"],
    ["1.é", "<", "1.\uff61"],
    ["1.\u{1f600}", "<", "1.0"],
  ];
  for (const [a, relation, b] of table) assertOrder(a, relation, b);
});

Deno.test("`compareVersions()` splits at separators into numeric and string parts", () => {
  // Each version against its parts written out with dots: equal exactly when the split is right.
  const table: [string, string][] = [
    ["1.0.0-beta.2", "1.0.0.beta.2"],
    ["66.0.3359.117-1", "66.0.3359.117.1"],
    ["1.2a", "1.2a"],
    ["1__2..3--", "1.2.3"],
    ["007.000", "7.0"],
    ["v1", "v1"],
    ["1.x", "1.x"],
    ["1+build", "1+build"],
    ["１", "１"], // a fullwidth digit is not an ASCII digit
    ["", "0"],
    [".-_", "0"],
  ];
  for (const [version, parts] of table) assertOrder(version, "=", parts);
  // A part that mixes digits and letters is one string part, never a number and a string.
  assertOrder("1.2a", "<", "1.0");
  assertOrder("1+build", "<", "0");
  assertOrder("１", "<", "0");
  assertOrder("1.x", "<", "1");
});

Deno.test("`isValidVersion()` accepts printable ASCII with at least one part", () => {
  const valid = ["1", "1.0.0", "1.0.0-beta.2", "v1.2.3", "1.2.3+build.7", "a", "1.x", "~1!", "_1"];
  for (const version of valid) assert.equal(isValidVersion(version), true, version);
});

Deno.test("`isValidVersion()` rejects spaces, control characters, non-ASCII, empty and bare separators", () => {
  const invalid = [
    "",
    " ",
    "1.0 ",
    " 1.0",
    "1 0",
    "1.0\t",
    "1.0\n",
    "1.0\r",
    "1\x00",
    "1\x7f",
    "1.é",
    "\u{1f600}",
    ".",
    "-",
    "_",
    "..",
    ".-_",
  ];
  for (const version of invalid) {
    assert.equal(isValidVersion(version), false, JSON.stringify(version));
  }
});

Deno.test("`checkVersion()` names the version without echoing control characters", () => {
  assertTakoError(
    () => checkVersion("1.0\x1b[31m", "store"),
    "config",
    "store: ",
    "1.0\\u{1b}[31m",
  );
  const error = assertTakoError(() => checkVersion("1 0", "here"), "config", "'1 0'");
  assert.doesNotMatch(error.message, /[^\x20-\x7e]/);
  checkVersion("1.0.0", "here");
});

Deno.test("`hasVersionPrefix()` compares the zero-padded leading parts", () => {
  const table: [string, string, boolean][] = [
    ["1.0", "1", true],
    ["1", "1.0", true],
    ["1.5.2", "1.5", true],
    ["1.a", "1", true],
    ["1.a", "1.0", false],
    ["2.0", "1", false],
    ["0.1", "1", false],
    ["1.01.3", "1.1", true],
    ["anything", "", true],
  ];
  for (const [version, prefix, expected] of table) {
    assert.equal(hasVersionPrefix(version, prefix), expected, `${version} ${prefix}`);
  }
});

// ---- Properties -------------------------------------------------------------

/** Versions built from a small pool of parts, so that equal and near-equal versions are common. */
const poolVersion = fc
  .array(
    fc.tuple(
      fc.constantFrom("0", "00", "1", "01", "2", "10", "a", "b", "ab", "B", "beta", ""),
      fc.constantFrom(".", "-", "_"),
    ),
    { minLength: 1, maxLength: 5 },
  )
  .map((pairs) => pairs.map(([part, sep]) => part + sep).join(""));

/** Versions with long digit runs and arbitrary printable parts. */
const wideVersion = fc
  .array(
    fc.oneof(
      fc.stringMatching(/^[0-9]{1,40}$/),
      fc.stringMatching(/^[\x21-\x7e]{1,4}$/),
      fc.constantFrom(".", "-", "_"),
    ),
    { minLength: 1, maxLength: 8 },
  )
  .map((pieces) => pieces.join(""));

/** Any string at all: compareVersions must stay a total preorder on input that is not a version. */
const anyString = fc.string({ unit: "binary", maxLength: 12 });

const version = fc.oneof(
  { weight: 3, arbitrary: poolVersion },
  { weight: 2, arbitrary: wideVersion },
  { weight: 1, arbitrary: anyString },
);

/** A respelling that SPEC §3 calls equal: other separators, leading zeros, trailing zero parts. */
function respelled(v: string): fc.Arbitrary<string> {
  return fc
    .tuple(
      fc.constantFrom(".", "-", "_"),
      fc.constantFrom("", "0", "000"),
      fc.constantFrom("", ".0", "_00.0", "-"),
    )
    .map(([sep, zeros, tail]) =>
      v.split(/[._-]/).map((p) => /^[0-9]+$/.test(p) ? zeros + p : p).join(sep) + tail
    );
}

/** Pairs and triples where equal versions are common (independent ones rarely are). */
const pair = fc.oneof(
  fc.tuple(version, version),
  version.chain((a) => fc.tuple(fc.constant(a), respelled(a))),
);
const triple = fc.oneof(
  fc.tuple(version, version, version),
  pair.chain(([a, b]) => fc.tuple(fc.constant(a), fc.constant(b), version)),
  pair.chain(([a, b]) => fc.tuple(fc.constant(a), fc.constant(b), respelled(b))),
  fc.tuple(version, pair).map(([a, [b, c]]) => [a, b, c] as const),
);

/** An independent model of SPEC §3: BigInt numbers, UTF-8 byte strings, zero padding. */
function modelCompare(a: string, b: string): number {
  const split = (v: string) => v.split(/[._-]/).filter((p) => p !== "");
  const x = split(a);
  const y = split(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const p = x[i] ?? "0";
    const q = y[i] ?? "0";
    const pNum = /^[0-9]+$/.test(p);
    const qNum = /^[0-9]+$/.test(q);
    if (pNum !== qNum) return pNum ? 1 : -1;
    const c = pNum ? compareBigInts(BigInt(p), BigInt(q)) : compareUtf8(p, q);
    if (c !== 0) return c;
  }
  return 0;
}

function compareBigInts(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareUtf8(a: string, b: string): number {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i]! - y[i]! < 0 ? -1 : 1;
  }
  return sign(x.length - y.length);
}

/**
 * The canonical spelling of a version under SPEC §3 equality: numbers without
 * leading zeros, strings as their UTF-8 bytes, trailing zero parts dropped.
 */
function canonical(v: string): string {
  const parts = v.split(/[._-]/).filter((p) => p !== "").map((p) =>
    /^[0-9]+$/.test(p) ? BigInt(p).toString() : [...new TextEncoder().encode(p)]
  );
  while (parts.at(-1) === "0") parts.pop();
  return JSON.stringify(parts);
}

Deno.test("`compareVersions()` agrees with an independent model of SPEC §3", () => {
  fc.assert(
    fc.property(pair, ([a, b]) => {
      assert.equal(sign(compareVersions(a, b)), modelCompare(a, b));
    }),
    { numRuns: fuzzRuns() },
  );
});

Deno.test("`compareVersions()` is reflexive and antisymmetric", () => {
  fc.assert(
    fc.property(pair, ([a, b]) => {
      assert.equal(compareVersions(a, a), 0);
      assert.equal(sign(compareVersions(a, b)), sign(-compareVersions(b, a)));
    }),
    { numRuns: fuzzRuns() },
  );
});

Deno.test("`compareVersions()` is transitive, for order and for equality", () => {
  fc.assert(
    fc.property(triple, ([a, b, c]) => {
      const ab = compareVersions(a, b);
      const bc = compareVersions(b, c);
      const ac = compareVersions(a, c);
      if (ab <= 0 && bc <= 0) assert.ok(ac <= 0, `${a} <= ${b} <= ${c} but ${a} > ${c}`);
      if (ab < 0 && bc <= 0) assert.ok(ac < 0, `${a} < ${b} <= ${c} but not ${a} < ${c}`);
      if (ab === 0 && bc === 0) assert.equal(ac, 0, `${a} = ${b} = ${c} but ${a} != ${c}`);
      // Equal versions are interchangeable in every comparison.
      if (ab === 0) assert.equal(sign(ac), sign(bc));
    }),
    { numRuns: fuzzRuns() },
  );
});

Deno.test("`compareVersions()` sorts consistently: every pair of a sorted list is in order", () => {
  fc.assert(
    fc.property(fc.array(pair, { maxLength: 8 }), (pairs) => {
      const sorted = pairs.flat().sort(compareVersions);
      for (let i = 0; i < sorted.length; i++) {
        for (let j = i + 1; j < sorted.length; j++) {
          assert.ok(compareVersions(sorted[i]!, sorted[j]!) <= 0, `${sorted[i]} > ${sorted[j]}`);
        }
      }
    }),
    { numRuns: fuzzRuns(500) },
  );
});

Deno.test("`compareVersions()` returns 0 exactly for versions spelled alike up to SPEC §3 equality", () => {
  fc.assert(
    fc.property(pair, ([a, b]) => {
      assert.equal(compareVersions(a, b) === 0, canonical(a) === canonical(b));
    }),
    { numRuns: fuzzRuns() },
  );
  fc.assert(
    fc.property(version.chain((a) => fc.tuple(fc.constant(a), respelled(a))), ([a, b]) => {
      assert.equal(compareVersions(a, b), 0, `${a} = ${b}`);
    }),
    { numRuns: fuzzRuns() },
  );
});
