/**
 * Fuzzing of the parsers that read untrusted text (SPEC §2 manifest, §4
 * config, §1 keys, §3 versions and patterns), adding to the property tests of
 * tests/unit/: inputs drawn from the whole of Unicode and from grammars of
 * near-valid tokens (signs, leading zeros, hex and exponent sizes, huge digit
 * runs, control characters). For every input: no exception other than
 * TakoError of the parser's kind, no raw control character in a message, and
 * no input slower than {@link SLOW_MS} (no hang, no super-linear blow-up).
 * Runs: TAKO_FUZZ_RUNS each (100,000 under `make torture`), 2,000 by default.
 */
import fc from "fast-check";
import { type ErrorKind, TakoError } from "../../lib/core/errors.ts";
import { parseConfig } from "../../lib/core/config.ts";
import { parseSecretKey } from "../../lib/core/keys.ts";
import { formatPublicKey, parsePublicKey } from "../../lib/core/public_key.ts";
import { serializeEntries } from "../../lib/core/manifest.ts";
import { verifyManifest } from "../../lib/core/manifest_signature.ts";
import { parsePattern } from "../../lib/core/pattern.ts";
import { checkVersion, compareVersions, isValidVersion } from "../../lib/core/version.ts";
import { assert } from "../support/assert.ts";
import { signRaw, TEST_KEY } from "../support/publish.ts";
import { TEST_PUBLIC_KEY } from "../support/vectors.ts";
import { fuzzRuns } from "./support.ts";

const RUNS = fuzzRuns(2000);
/** The most one input may take. Generous for a loaded 2-core machine; a hang takes forever. */
const SLOW_MS = 2000;
// deno-lint-ignore no-control-regex -- control characters are what it looks for
const CONTROL = /[\x00-\x1f\x7f]/;

/** Inputs accepted and refused by one property, printed so the figures can be recorded. */
class Tally {
  accepted = 0;
  refused = 0;
  count(result: unknown): void {
    if (result === undefined) this.refused++;
    else this.accepted++;
  }
  /** Prints the tally and checks that both outcomes were reached. */
  report(what: string): void {
    console.log(`${what}: ${this.accepted} accepted, ${this.refused} refused`);
    assert.ok(this.accepted > 0 && this.refused > 0, `${what}: the inputs reach only one outcome`);
  }
}

/** Runs `fn`; fails on anything but a TakoError of `kind` with a clean message, or on slowness. */
async function cleanly<T>(kind: ErrorKind, fn: () => T | Promise<T>): Promise<T | undefined> {
  const started = performance.now();
  try {
    return await fn();
  } catch (e) {
    if (!(e instanceof TakoError)) throw e;
    assert.equal(e.kind, kind, e.message);
    assert.doesNotMatch(e.message, CONTROL, "a message echoes a control character");
    return undefined;
  } finally {
    const took = performance.now() - started;
    assert.ok(took < SLOW_MS, `one input took ${Math.round(took)} ms`);
  }
}

/** Any text: full Unicode, lone surrogates, and control characters. */
const anyText = (maxLength: number) =>
  fc.oneof(
    fc.string({ unit: "binary", maxLength }),
    fc.string({ unit: "grapheme", maxLength }),
    fc.string({
      unit: fc.constantFrom("\0", "\n", "\r", "\t", "\x1b", "\x7f", "\u2028", "\ufeff", "\ud800"),
      maxLength,
    }),
  );

/** A digit run of any length up to 400, leading zeros included. */
const digits = fc.stringMatching(/^[0-9]{1,400}$/);

const versionToken = fc.oneof(
  digits,
  fc.constantFrom(
    "*",
    "x",
    "X",
    "^",
    "~",
    ">=",
    "<",
    "=",
    "||",
    " - ",
    " <= v < ",
    "v",
    "-",
    ".",
    "_",
    "+",
    "/",
    "..",
  ),
  fc.stringMatching(/^[a-z]{1,6}$/),
  fc.constantFrom("é", "\x1b[31m", "\0", " ", "\t", "１"),
);
const versionish = fc.array(versionToken, { maxLength: 10 }).map((t) => t.join(""));

Deno.test(`fuzz: the version parser takes ${RUNS} inputs without a stray exception`, async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(anyText(60), versionish),
      fc.oneof(anyText(60), versionish),
      async (a, b) => {
        await cleanly("config", () => checkVersion(a, "fuzz"));
        assert.equal(
          isValidVersion(a),
          !CONTROL.test(a) && /^[\x21-\x7e]+$/.test(a) && /[^._-]/.test(a),
        );
        const ab = compareVersions(a, b);
        assert.equal(Math.sign(ab), -Math.sign(compareVersions(b, a)) || 0);
      },
    ),
    { numRuns: RUNS },
  );
});

Deno.test(`fuzz: numeric version parts of any length compare exactly (${RUNS} pairs)`, () => {
  fc.assert(
    fc.property(digits, digits, (x, y) => {
      const expected = BigInt(x) < BigInt(y) ? -1 : BigInt(x) > BigInt(y) ? 1 : 0;
      assert.equal(Math.sign(compareVersions(`1.${x}`, `1.${y}`)), expected, `1.${x} vs 1.${y}`);
    }),
    { numRuns: RUNS },
  );
  assert.ok(compareVersions("1.9007199254740993", "1.9007199254740992") > 0);
});

Deno.test(`fuzz: the pattern parser (Version=) takes ${RUNS} inputs without a stray exception`, async () => {
  const tally = new Tally();
  await fc.assert(
    fc.asyncProperty(fc.oneof(anyText(60), versionish), versionish, async (text, v) => {
      const pattern = await cleanly("config", () => parsePattern(text));
      tally.count(pattern);
      if (pattern === undefined) return;
      // A pattern that parses answers for any version without throwing.
      if (isValidVersion(v)) assert.equal(typeof pattern.matches(v), "boolean");
    }),
    { numRuns: RUNS },
  );
  tally.report("patterns");
});

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

Deno.test(`fuzz: the key parsers take ${RUNS} inputs without a stray exception`, async () => {
  const base64ish = (n: number) =>
    fc.string({
      unit: fc.constantFrom(...BASE64, "=", "-", "_", " ", "\n"),
      minLength: n - 2,
      maxLength: n + 2,
    });
  const mutatedKey = fc.tuple(fc.nat(43), fc.constantFrom(...BASE64, "=", "\0")).map(([at, c]) =>
    TEST_PUBLIC_KEY.slice(0, at) + c + TEST_PUBLIC_KEY.slice(at + 1)
  );
  const publicKeys = new Tally();
  await fc.assert(
    fc.asyncProperty(fc.oneof(anyText(60), base64ish(44), mutatedKey), async (text) => {
      const key = await cleanly("config", () => parsePublicKey(text, "fuzz line 1"));
      publicKeys.count(key);
      // Only the canonical spelling of a key is accepted.
      if (key !== undefined) assert.equal(formatPublicKey(key), text);
    }),
    { numRuns: RUNS },
  );
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        anyText(140),
        base64ish(128).map((t) => `SECRET+${t}`),
        base64ish(88).map((t) => `SECRET+${t}`),
      ),
      async (text) => {
        const key = await cleanly("usage", () => parseSecretKey(text, "fuzz"));
        if (key !== undefined) assert.equal(key.publicKey.length, 32);
      },
    ),
    { numRuns: RUNS },
  );
  publicKeys.report("public keys");
});

/** Size tokens: canonical, and every non-canonical spelling of SPEC §7. */
const sizeToken = fc.oneof(
  fc.bigInt({ min: 0n, max: 2n ** 70n }).map(String),
  fc.constantFrom(
    "+5",
    "05",
    "0x5",
    "5e0",
    "5.0",
    "-5",
    "",
    " 5",
    "9007199254740993",
    "18446744073709551616",
    "0",
  ),
  digits,
);
const hexToken = fc.oneof(
  fc.stringMatching(/^[0-9a-f]{64}$/),
  fc.stringMatching(/^[0-9a-fA-F]{62,66}$/),
  fc.constantFrom("", "g".repeat(64)),
);
const entryLine = fc.oneof(
  fc.tuple(versionish, sizeToken, hexToken).map(([v, s, h]) => `${v} ${s} ${h}`),
  fc.tuple(versionish, sizeToken, hexToken, fc.constantFrom(" x", "  ", "\t", " ")).map((
    [v, s, h, e],
  ) => `${v} ${s} ${h}${e}`),
  anyText(80),
);

Deno.test(`fuzz: the manifest parser takes ${RUNS} validly signed near-manifests without a stray exception`, async () => {
  const tally = new Tally();
  await fc.assert(
    fc.asyncProperty(
      fc.array(entryLine, { maxLength: 6 }),
      fc.constantFrom(
        "Tako Manifest 1\n\n",
        "Tako Manifest 1\n",
        "Tako Manifest 1\r\n\r\n",
        "tako manifest 1\n\n",
      ),
      fc.constantFrom("\n", "", "\n\n", "\r\n"),
      async (lines, header, tail) => {
        const signedPart = header + lines.map((l) => `${l}\n`).join("") + tail;
        let bytes: Uint8Array;
        try {
          bytes = signRaw(signedPart, TEST_KEY);
        } catch {
          return; // lone surrogates cannot be encoded as the text to sign
        }
        const entries = await cleanly(
          "integrity",
          () => verifyManifest(bytes, [TEST_KEY.publicKey], "fuzz"),
        );
        tally.count(entries);
        // Whatever is accepted is canonical: it serialises back to the signed bytes.
        if (entries !== undefined) assert.equal(serializeEntries(entries), signedPart);
      },
    ),
    { numRuns: RUNS },
  );
  tally.report("manifests");
});

const CONFIG_KEYS = [
  "Origin",
  "PublicKey",
  "Destination",
  "Version",
  "Restart",
  "RestartUnit",
  "KeepImages",
  "MaxStoreSize",
  "origin",
  "Unknown",
  "",
];
const configValue = fc.oneof(
  fc.constantFrom(
    "https://images.example.com/app",
    "http://127.0.0.1:1/x",
    "file:///srv/origin",
    "ftp://x",
    "/var/lib/tako/app",
    TEST_PUBLIC_KEY,
    "1.*",
    "^1.4",
    "2.3 <= v < 3.0",
    "10G",
    "0",
    "01",
    "a.service b.service",
  ),
  versionish,
  anyText(40),
);
const configLine = fc.oneof(
  fc.tuple(fc.constantFrom(...CONFIG_KEYS), fc.constantFrom("=", " = ", "=\t"), configValue).map((
    [k, s, v],
  ) => `${k}${s}${v}`),
  fc.constantFrom("# comment", "; comment", "", "  ", "[Section]", "=", "Origin"),
  anyText(60),
);

/** A valid config's required lines, then a mix of valid and hostile lines. */
const configText = fc.tuple(
  fc.boolean(),
  fc.array(
    fc.oneof(
      {
        weight: 3,
        arbitrary: fc.constantFrom(
          "Version=1.*",
          "Restart=a.service b.service",
          "RestartUnit=c.service",
          "# a comment",
          "",
          "KeepImages=3",
          "MaxStoreSize=10G",
          "Origin=https://mirror.example/app/",
          `PublicKey=${TEST_PUBLIC_KEY}`,
        ),
      },
      { weight: 1, arbitrary: configLine },
    ),
    { maxLength: 8 },
  ),
).map(([base, lines]) =>
  (base
    ? [
      "Origin=https://images.example/app",
      `PublicKey=${TEST_PUBLIC_KEY}`,
      "Destination=/var/lib/app",
    ]
    : [])
    .concat(lines)
);

Deno.test(`fuzz: the config parser takes ${RUNS} near-configs without a stray exception`, async () => {
  const tally = new Tally();
  await fc.assert(
    fc.asyncProperty(configText, fc.constantFrom("\n", "\n", "\r\n"), async (lines, eol) => {
      const config = await cleanly("config", () => parseConfig(lines.join(eol), "/etc/tako/fuzz"));
      tally.count(config);
      if (config !== undefined) {
        assert.ok(
          config.origins.length > 0 && config.publicKeys.length > 0 && config.destination !== "",
        );
      }
    }),
    { numRuns: RUNS },
  );
  tally.report("configs");
});

Deno.test("fuzz: the largest inputs the parsers allow stay fast", async () => {
  // A config just under 1 MiB of comment and key lines.
  const big = Array.from(
    { length: 20_000 },
    (_, i) => i % 2 ? "# " + "x".repeat(40) : "Restart=a.service",
  )
    .concat([`Origin=https://o.example`, `PublicKey=${TEST_PUBLIC_KEY}`, "Destination=/d"]).join(
      "\n",
    );
  await cleanly("config", () => parseConfig(big, "/etc/tako/big"));
  // A 64 KiB version and a 64 KiB pattern.
  const long = "1." + "9".repeat(64 * 1024);
  await cleanly("config", () => checkVersion(long, "fuzz"));
  await cleanly("config", () => parsePattern(long));
  await cleanly("config", () => parsePattern(long + ".*"));
  assert.ok(compareVersions(long, long + "0") < 0);
  // A signed manifest of 150,000 entries (about the 16 MiB cap).
  const entries = Array.from(
    { length: 150_000 },
    (_, i) => `1.${i} ${i} ${i.toString(16).padStart(64, "0")}`,
  );
  const bytes = signRaw(`Tako Manifest 1\n\n${entries.join("\n")}\n\n`, TEST_KEY);
  const parsed = await cleanly(
    "integrity",
    () => verifyManifest(bytes, [TEST_KEY.publicKey], "fuzz"),
  );
  assert.equal(parsed?.length, 150_000);
});
