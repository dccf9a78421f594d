import fc from "fast-check";
import { assert, assertRejectsTako } from "../../support/assert.ts";
import { printable } from "../../../lib/core/errors.ts";
import {
  ANY_VERSION,
  isSemverRange,
  noMatchHint,
  parsePattern,
  type Pattern,
} from "../../../lib/core/pattern.ts";
import { fuzzRuns } from "../../support/fuzz.ts";

/** Asserts which of `versions` the pattern matches: exactly those in `matching`. */
async function assertMatches(text: string, matching: string[], others: string[]): Promise<void> {
  const pattern = await parsePattern(text);
  for (const v of matching) assert.equal(pattern.matches(v), true, `${text} should match ${v}`);
  for (const v of others) assert.equal(pattern.matches(v), false, `${text} should not match ${v}`);
}

const sortWith = (pattern: Pattern, versions: string[]) =>
  [...versions].sort((a, b) => pattern.compare(a, b));

Deno.test("`parsePattern()` tells the four kinds apart and keeps the text as written", async () => {
  const table: [string, Pattern["kind"]][] = [
    ["*", "wildcard"],
    ["1.*", "wildcard"],
    ["1.0.*", "wildcard"],
    ["1-*", "wildcard"],
    ["1.13.7", "exact"],
    ["v1.2.3", "exact"],
    ["1.0 <= v < 2.0", "bounds"],
    ["^1.4", "semver"],
    ["~1.4.2", "semver"],
    [">=1.2.0 <2.0.0", "semver"],
    ["<2", "semver"],
    ["=1.2.3", "semver"],
    ["1.2.3 - 1.4", "semver"],
    ["^1.0.0 || ^2.0.0", "semver"],
    ["1.x || 2.x", "semver"],
  ];
  for (const [text, kind] of table) {
    const pattern = await parsePattern(text);
    assert.equal(pattern.kind, kind, text);
    assert.equal(pattern.text, text);
  }
});

Deno.test("`ANY_VERSION` is the wildcard `*` and matches every version", () => {
  assert.equal(ANY_VERSION.text, "*");
  assert.equal(ANY_VERSION.kind, "wildcard");
  for (const v of ["0", "1.0.0", "0.0.0-alpha", "v9", "a", "999999999999999999999.1"]) {
    assert.equal(ANY_VERSION.matches(v), true, v);
  }
  assert.ok(ANY_VERSION.compare("1.0.0-beta", "1.0.0") < 0);
});

Deno.test("`isSemverRange()` follows SPEC §3's rule", () => {
  const table: [string, boolean][] = [
    ["^1.4", true],
    ["~1.4.2", true],
    [">1", true],
    ["<1", true],
    ["=1.0.0", true],
    ["1.2.3 - 1.4", true],
    ["1||2", true],
    ["1.x", false],
    ["1.*", false],
    ["*", false],
    ["1.2.3", false],
    ["1.0 <= v < 2.0", false],
    ["1.0-2.0", false],
    [" ^1.4", false],
  ];
  for (const [text, expected] of table) assert.equal(isSemverRange(text), expected, text);
});

Deno.test("`parsePattern()` wildcards match by leading parts (SPEC §3)", async () => {
  await assertMatches("*", ["1", "0.0.1", "2.0-beta", "v1"], []);
  await assertMatches("1.*", ["1.0", "1.1", "1", "1.0.0", "1.a", "01.7", "1-9_9"], [
    "2.0",
    "0.1",
    "10.0",
    "1a",
    "a.1",
  ]);
  await assertMatches("1.0.*", ["1.0", "1", "1.0.0", "1.0.5", "1.0.0-beta", "1-0_3"], [
    "1.1",
    "1.1.0",
    "1.01.0",
    "2.0",
  ]);
  await assertMatches("1.a.*", ["1.a", "1.a.3", "1-a"], ["1", "1.0", "1.b"]);
});

Deno.test("`parsePattern()` exact patterns match every version equal to them", async () => {
  await assertMatches("1.13.7", ["1.13.7", "1.13.7.0", "1-13_7", "01.013.7"], [
    "1.13.8",
    "1.13.7.1",
    "1.13.7-beta",
    "1.13",
  ]);
});

Deno.test("`parsePattern()` refuses an `x` part outside SemVer ranges and names the wildcard meant", async () => {
  const table: [string, string][] = [
    ["1.x", "1.*"],
    ["1.2.x", "1.2.*"],
    ["1.X", "1.*"],
    ["x", "*"],
    ["1.x.0", "1.*"],
    ["1-x", "1-*"],
    ["1.x.*", "1.*"],
    ["1.0 <= v < 1.x", "1.*"],
  ];
  for (const [text, meant] of table) {
    await assertRejectsTako(
      () => parsePattern(text),
      "config",
      `'${text}'`,
      `did you mean ${meant}?`,
    );
  }
  // Letters that are not a whole part stay literal, and SemVer ranges keep their own `x`.
  assert.equal((await parsePattern("1.xy")).kind, "exact");
  assert.equal((await parsePattern("1.0-x1")).kind, "exact");
  assert.ok((await parsePattern("^1.x")).matches("1.5.0"));
});

Deno.test("`noMatchHint()` explains a SemVer range facing versions that are not SemVer", async () => {
  const caret = await parsePattern("^1.4");
  const hint = noMatchHint(caret, ["1.4", "1.5"]);
  assert.ok(hint?.includes("the versions on offer are not SemVer (such as 1.5)"), hint);
  assert.ok(hint?.includes("'1.4.0 <= v < 2' or '1.*'"), hint);
  assert.ok(noMatchHint(caret, ["1.3.0", "1.5"])?.startsWith("some versions on offer"));
  // No hint when every version is SemVer, or for other kinds of pattern.
  assert.equal(noMatchHint(caret, ["1.3.0", "2.0.0"]), undefined);
  assert.equal(noMatchHint(await parsePattern("1.*"), ["2.0"]), undefined);
  assert.equal(noMatchHint(caret, []), undefined);
});

Deno.test("`parsePattern()` bounds `1.0 <= v < 2.0` equal `1.*` on numeric versions", async () => {
  const bounds = await parsePattern("1.0 <= v < 2.0");
  const wildcard = await parsePattern("1.*");
  const versions = [
    "0",
    "0.9",
    "0.99.99",
    "1",
    "1.0",
    "1.0.0",
    "1.5",
    "1.5.3.7",
    "01.1",
    "1.99999999999999999999",
    "2",
    "2.0",
    "2.0.1",
    "10",
  ];
  for (const v of versions) assert.equal(bounds.matches(v), wildcard.matches(v), v);
  assert.ok(versions.some((v) => bounds.matches(v)) && versions.some((v) => !bounds.matches(v)));
});

Deno.test("`parsePattern()` bounds and wildcards differ where string parts order before 0", async () => {
  // By SPEC §3's order 1.0-beta < 1.0 and 2.0-alpha < 2.0: the bounds exclude the
  // first and include the second, while `1.*` does the opposite.
  const bounds = await parsePattern("1.0 <= v < 2.0");
  const wildcard = await parsePattern("1.*");
  for (const v of ["1.0-beta", "1.a"]) {
    assert.deepEqual([bounds.matches(v), wildcard.matches(v)], [false, true], v);
  }
  assert.deepEqual([bounds.matches("2.0-alpha"), wildcard.matches("2.0-alpha")], [true, false]);
});

Deno.test("`parsePattern()` bounds include the lower and exclude the upper bound", async () => {
  // 3.0-beta orders before 3.0 (SPEC §3), so it is inside; 2.3-rc1 is before 2.3.
  await assertMatches("2.3 <= v < 3.0", ["2.3", "2.3.0", "2.3.1", "2.10", "2.99.99", "3.0-beta"], [
    "2.2",
    "2.2.9",
    "2.3-rc1",
    "3.0",
    "3",
    "3.0.1",
  ]);
});

Deno.test("`parsePattern()` SemVer ranges follow the library", async () => {
  await assertMatches("^1.4", ["1.4.0", "1.4.1", "1.9.0", "1.99.0+build.5"], [
    "1.3.9",
    "2.0.0",
    "1.5.0-beta",
    "0.4.0",
  ]);
  await assertMatches("~1.4.2", ["1.4.2", "1.4.9"], ["1.4.1", "1.5.0", "2.0.0"]);
  await assertMatches(">=1.2.0 <2.0.0", ["1.2.0", "1.99.99"], ["1.1.9", "2.0.0", "2.0.0-alpha"]);
  await assertMatches("1.2.3 - 1.4", ["1.2.3", "1.3.0", "1.4.9"], ["1.2.2", "1.5.0"]);
  await assertMatches("^1.0.0 || ^2.0.0", ["1.0.0", "1.9.0", "2.0.0", "2.5.1"], [
    "0.9.0",
    "3.0.0",
    "2.1.0-rc.1",
  ]);
});

Deno.test("`parsePattern()` SemVer ranges take pre-releases only where the range names one", async () => {
  await assertMatches(
    "^1.0.0-beta",
    ["1.0.0-beta", "1.0.0-beta.2", "1.0.0-rc.1", "1.0.0", "1.5.0"],
    [
      "1.0.0-alpha",
      "1.1.0-beta",
      "2.0.0",
    ],
  );
  await assertMatches("^1.0.0", ["1.0.0", "1.1.0"], ["1.0.0-beta.2", "1.1.0-beta"]);
});

Deno.test("`parsePattern()` SemVer ranges never match versions that are not strict SemVer 2.0", async () => {
  const range = await parsePattern(">=0.0.0");
  const strict = ["0.0.0", "1.2.3", "1.2.3+build.5", "10.20.30", "1.2.3+001"];
  const notSemver = [
    "1.2",
    "1",
    "v1.2.3",
    "=1.2.3",
    "01.2.3",
    "1.02.3",
    "1.2.3.4",
    "1.2.3-01",
    "1.2.3_4",
    "1.2.3-",
    "1.2.3+",
    "1.0.9007199254740993",
    "1.x",
  ];
  for (const v of strict) assert.equal(range.matches(v), true, v);
  for (const v of notSemver) assert.equal(range.matches(v), false, v);
  assert.equal((await parsePattern("^1.2")).matches("1.2"), false);
  assert.equal((await parsePattern("~1.2.3")).matches("v1.2.3"), false);
});

Deno.test("`compare()` orders SemVer ranges by SemVer precedence, ties by Tako order", async () => {
  const range = await parsePattern(">=1.0.0-0");
  // SemVer puts numeric pre-release identifiers before alphanumeric ones; Tako does the opposite.
  assert.ok(range.compare("1.0.0-1", "1.0.0-rc.1") < 0);
  assert.ok(range.compare("1.0.0-rc.1", "1.0.0-1") > 0);
  assert.deepEqual(
    sortWith(range, ["1.0.0", "1.0.0-rc.1", "1.0.0-1", "1.0.0-alpha", "1.0.0-alpha.1", "0.9.9"]),
    ["0.9.9", "1.0.0-1", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-rc.1", "1.0.0"],
  );
  // Build metadata does not count in SemVer; Tako order breaks the tie.
  assert.ok(range.compare("1.0.0+b1", "1.0.0+b2") < 0);
  assert.ok(range.compare("1.0.0+b2", "1.0.0+b1") > 0);
  assert.equal(range.compare("1.0.0", "1.0.0"), 0);
  // Versions that can never match sort before those that can.
  assert.ok(range.compare("v9.9.9", "1.0.0") < 0);
  assert.ok(range.compare("1.0.0", "9.9") > 0);
});

Deno.test("`compare()` of Tako patterns is Tako order", async () => {
  for (const text of ["*", "1.*", "1.0.0", "1.0 <= v < 2.0"]) {
    const pattern = await parsePattern(text);
    assert.ok(pattern.compare("1.0.0-1", "1.0.0-rc.1") > 0, text);
    assert.ok(pattern.compare("1.0.0-beta.1", "1.0.0") < 0, text);
    assert.equal(pattern.compare("1.0", "1-0.0"), 0, text);
  }
});

Deno.test("`parsePattern()` rejects invalid patterns with a config error that names them", async () => {
  const invalid = [
    "",
    "1*",
    "1.*.2",
    "*.1",
    "**",
    "1.**",
    ".*",
    "1.0*",
    "^not a range",
    ">=1.0.0 <<2",
    "2.0 <= v < 1.0",
    "1.0 <= v < 1.0",
    "1 <= v < 1.0.0",
    "1.0 <= v < ",
    " <= v < 2.0",
    "1.0 <= v < 2.0 <= v < 3.0",
    "1.* <= v < 2.0",
    "1.0 <=v< 2.0",
    "1.0 2.0",
    " 1.0",
    "1.0 ",
  ];
  for (const text of invalid) {
    await assertRejectsTako(() => parsePattern(text), "config", `'${text}'`);
  }
});

Deno.test("`parsePattern()` explains what was expected", async () => {
  await assertRejectsTako(() => parsePattern("1.*.2"), "config", "1.*");
  await assertRejectsTako(() => parsePattern("2.0 <= v < 1.0"), "config", "lower bound 2.0");
  await assertRejectsTako(() => parsePattern("^not a range"), "config", "SemVer range", "^1.4");
  await assertRejectsTako(() => parsePattern("1.0 2.0"), "config", "1.*", "^1.4");
  // The bounds form is recognised before SemVer ranges, so its hint is about bounds.
  await assertRejectsTako(() => parsePattern("1.0 <= v < 2.0 || 3"), "config", "'A <= v < B'");
});

Deno.test("`parsePattern()` never echoes control characters or non-ASCII", async () => {
  // The SemVer library itself would accept "^1.4\n" and "^1.4\t".
  for (
    const text of [
      "^1.4\n",
      "^1.4\t",
      "1.0\n",
      "^1.0\x1b[2J",
      "1.\x00*",
      "1.0\t<= v < 2.0",
      "1.é",
      "\x7f",
      "1.0\r",
    ]
  ) {
    const error = await assertRejectsTako(() => parsePattern(text), "config", printable(text));
    assert.doesNotMatch(error.message, /[^\x20-\x7e…]/, JSON.stringify(error.message));
  }
});

// ---- Properties -------------------------------------------------------------

/**
 * A version as parts and separators, from a small pool so that shared prefixes are common. A
 * part `x` or `X`, which patterns refuse, is left out.
 */
const versionText = fc
  .array(
    fc.tuple(
      fc.oneof(
        fc.constantFrom("0", "00", "1", "01", "2", "a", "b", "B", "rc", ""),
        fc.stringMatching(/^[0-9]{1,30}$/),
        // Printable, but neither `*` nor what would make a SemVer range (`^ ~ < > = |`).
        fc.stringMatching(/^[!#$%&'()+,/:;?@a-zA-Z0-9[\]{}]{1,3}$/).filter((p) =>
          !/^[xX]$/.test(p)
        ),
      ),
      fc.constantFrom(".", "-", "_"),
    ),
    { minLength: 1, maxLength: 5 },
  )
  .map((pairs) => pairs.map(([part, sep]) => part + sep).join("").replace(/[._-]+$/, ""));

/** Part lists of SPEC §3 with the sentinels of the wildcard's formal definition. */
type ModelPart = bigint | Uint8Array | "MIN" | "MAX";

function modelParts(v: string): ModelPart[] {
  return v.split(/[._-]/).filter((p) => p !== "").map((p) =>
    /^[0-9]+$/.test(p) ? BigInt(p) : new TextEncoder().encode(p)
  );
}

function modelComparePart(a: ModelPart, b: ModelPart): number {
  if (a === "MIN" || b === "MAX") return a === b ? 0 : -1;
  if (a === "MAX" || b === "MIN") return 1;
  if (typeof a === "bigint" || typeof b === "bigint") {
    if (typeof a !== "bigint") return -1;
    if (typeof b !== "bigint") return 1;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  }
  return Math.sign(a.length - b.length);
}

function modelCompare(a: ModelPart[], b: ModelPart[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const c = modelComparePart(a[i] ?? 0n, b[i] ?? 0n);
    if (c !== 0) return c;
  }
  return 0;
}

Deno.test("`parsePattern()` wildcard `P.*` matches v iff P+[MIN] <= v <= P+[MAX]", async () => {
  const prefixAndVersion = fc.oneof(
    fc.tuple(versionText, versionText),
    // v extends P, so that the interesting case is frequent.
    fc.tuple(versionText, versionText, fc.constantFrom(".", "-", "_"))
      .map(([p, rest, sep]) => [p, p + sep + rest] as const),
  );
  await fc.assert(
    fc.asyncProperty(prefixAndVersion, fc.constantFrom(".", "-", "_"), async ([p, v], sep) => {
      const pattern = await parsePattern(p === "" ? "*" : p + sep + "*");
      const prefix = modelParts(p);
      const inside = modelCompare([...prefix, "MIN"], modelParts(v)) <= 0 &&
        modelCompare(modelParts(v), [...prefix, "MAX"]) <= 0;
      assert.equal(pattern.matches(v), inside, `${pattern.text} vs ${v}`);
    }),
    { numRuns: fuzzRuns() },
  );
});

Deno.test("`parsePattern()` bounds and exact patterns agree with the model order", async () => {
  await fc.assert(
    fc.asyncProperty(versionText, versionText, versionText, async (a, b, v) => {
      const [lower, upper] = modelCompare(modelParts(a), modelParts(b)) <= 0 ? [a, b] : [b, a];
      const lowToV = modelCompare(modelParts(lower), modelParts(v));
      const vToUp = modelCompare(modelParts(v), modelParts(upper));
      if (lower !== "" && upper !== "" && modelCompare(modelParts(lower), modelParts(upper)) < 0) {
        const bounds = await parsePattern(`${lower} <= v < ${upper}`);
        assert.equal(bounds.matches(v), lowToV <= 0 && vToUp < 0, `${bounds.text} vs ${v}`);
      }
      if (lower !== "") {
        const exact = await parsePattern(lower);
        assert.equal(exact.matches(v), lowToV === 0, `${lower} vs ${v}`);
      }
    }),
    { numRuns: fuzzRuns() },
  );
});

Deno.test("`compare()` of a SemVer range is a total preorder", async () => {
  const range = await parsePattern(">=0.0.0-0");
  const semverish = fc
    .tuple(
      fc.constantFrom("0", "1", "01", "2"),
      fc.constantFrom("0", "1"),
      fc.constantFrom("0", "1"),
      fc.constantFrom("", "-1", "-rc", "-rc.1", "-0", "-a-b", "-a.b"),
      fc.constantFrom("", "+b1", "+b2"),
      fc.constantFrom("", "v"),
    )
    .map(([x, y, z, pre, build, v]) => `${v}${x}.${y}.${z}${pre}${build}`);
  fc.assert(
    fc.property(semverish, semverish, semverish, (a, b, c) => {
      const sign = (n: number) => Math.sign(n) + 0;
      assert.equal(range.compare(a, a), 0);
      assert.equal(sign(range.compare(a, b)), sign(-range.compare(b, a)));
      if (range.compare(a, b) <= 0 && range.compare(b, c) <= 0) {
        assert.ok(range.compare(a, c) <= 0, `${a} <= ${b} <= ${c}`);
      }
    }),
    { numRuns: fuzzRuns() },
  );
});

Deno.test("SemVer ranges match and order strict SemVer versions exactly as the library does", async () => {
  const semver = (await import("semver")).default;
  const ranges = [
    "^3.4.0",
    "~1.2.3",
    ">=1.0.0 <2.0.0-0",
    "1.2.3 - 2.3",
    "^0.0.3 || >=5",
    "<1.0.0-rc.1",
    ">=0.0.0-0",
  ];
  const number = fc.oneof(fc.constantFrom(0, 1, 2, 3, 4, 5), fc.nat({ max: 99 }));
  const version = fc
    .tuple(
      number,
      number,
      number,
      fc.constantFrom("", "", "-0", "-rc.1", "-alpha"),
      fc.constantFrom("", "", "+b7"),
    )
    .map(([x, y, z, pre, build]) => `${x}.${y}.${z}${pre}${build}`);
  const patterns = await Promise.all(ranges.map((r) => parsePattern(r)));
  fc.assert(
    fc.property(fc.nat({ max: ranges.length - 1 }), version, version, (i, a, b) => {
      const range = ranges[i]!;
      const pattern = patterns[i]!;
      assert.equal(pattern.matches(a), semver.satisfies(a, range), `${a} in ${range}`);
      const order = Math.sign(pattern.compare(a, b)) + 0;
      const library = Math.sign(semver.compare(a, b));
      if (library !== 0) assert.equal(order, library, `${a} vs ${b}`);
    }),
    { numRuns: fuzzRuns() },
  );
});

Deno.test("SemVer ranges of any shape test release versions exactly as the library does", async () => {
  const semver = (await import("semver")).default;
  const number = fc.oneof(fc.constantFrom(0, 1, 2, 3), fc.nat({ max: 12 }));
  const partial = fc
    .tuple(
      number,
      fc.oneof(number.map(String), fc.constantFrom("x", "*", "")),
      fc.oneof(number.map(String), fc.constantFrom("x", "")),
      fc.constantFrom("", "", "-0", "-rc.1", "-alpha"),
    )
    .map(([x, y, z, pre]) => {
      if (y === "") return `${x}`;
      if (z === "" || y === "x" || y === "*") return `${x}.${y}`;
      return `${x}.${y}.${z}${pre}`;
    });
  const comparator = fc.oneof(
    fc.tuple(fc.constantFrom("", "=", "<", ">", "<=", ">=", "^", "~"), partial)
      .map(([op, v]) => `${op}${v}`),
    fc.tuple(partial, partial).map(([a, b]) => `${a} - ${b}`),
    fc.constant("*"),
  );
  const set = fc.array(comparator, { minLength: 1, maxLength: 3 }).map((c) => c.join(" "));
  const range = fc.array(set, { minLength: 1, maxLength: 3 }).map((s) => s.join(" || "))
    .filter((r) => isSemverRange(r) && semver.validRange(r) !== null);
  const release = fc.tuple(number, number, number).map(([x, y, z]) => `${x}.${y}.${z}`);
  await fc.assert(
    fc.asyncProperty(range, fc.array(release, { minLength: 1, maxLength: 8 }), async (r, vs) => {
      const pattern = await parsePattern(r);
      for (const v of vs) {
        assert.equal(pattern.matches(v), semver.satisfies(v, r), `${v} in ${r}`);
      }
    }),
    { numRuns: fuzzRuns() },
  );
});
