import fc from "fast-check";
import { encodeBase64 } from "../../../lib/core/base64.ts";
import { TakoError } from "../../../lib/core/errors.ts";
import { generateSecretKey, type SecretKey, sign } from "../../../lib/core/keys.ts";
import { parsePublicKey } from "../../../lib/core/public_key.ts";
import {
  compatibleEntries,
  type Entry,
  MANIFEST_HEADER,
  MAX_MANIFEST_BYTES,
  serializeEntries,
} from "../../../lib/core/manifest.ts";
import { checkAppendOnly, insertEntry } from "../../../lib/core/manifest_history.ts";
import { signManifest, verifyManifest } from "../../../lib/core/manifest_signature.ts";
import type { Pattern } from "../../../lib/core/pattern.ts";
import { compareVersions, hasVersionPrefix, isValidVersion } from "../../../lib/core/version.ts";
import { assert, assertTakoError } from "../../support/assert.ts";
import {
  ONE_ENTRY,
  ONE_ENTRY_MANIFEST,
  TEST_PUBLIC_KEY,
  TEST_SEED,
  THREE_ENTRY_MANIFEST,
  THREE_IMAGES,
} from "../../support/vectors.ts";
import { hasControlCharacter, scaledFuzzRuns } from "../../support/fuzz.ts";

const SOURCE = "https://origin.example/app/manifest";
const KEY = generateSecretKey(TEST_SEED);
const PUBLIC_KEY = parsePublicKey(TEST_PUBLIC_KEY, "test");
const OTHER_KEY = generateSecretKey(new Uint8Array(32).fill(7));
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const THREE_ENTRIES: Entry[] = THREE_IMAGES.map(({ version, size, sha256 }) => ({
  version,
  size,
  sha256,
}));
const SHA_A = "a".repeat(64);
const SHA_B = "b".repeat(64);

/** A whole manifest file: `signedPart`, then its signature by `key` and a line feed. */
function signText(signedPart: string, key: SecretKey = KEY): Uint8Array {
  const signature = encodeBase64(sign(key, encoder.encode(signedPart)));
  return encoder.encode(signedPart + signature + "\n");
}

/** The signed part of a manifest with these entry lines. */
function signedPart(...lines: string[]): string {
  return MANIFEST_HEADER + "\n" + lines.map((line) => line + "\n").join("") + "\n";
}

function entry(version: string, size = 1n, sha256 = SHA_A): Entry {
  return { version, size, sha256 };
}

/** Asserts that `fn` throws only TakoError of kind "integrity" starting with `source`, if anything. */
function onlyIntegrityErrors(fn: () => unknown, source = SOURCE): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof TakoError) || e.kind !== "integrity" || !e.message.startsWith(source)) {
      throw e;
    }
  }
}

// ---------------------------------------------------------------- SPEC vectors

Deno.test("`signManifest()` writes the SPEC §2 vectors byte for byte", () => {
  assert.equal(decoder.decode(signManifest([ONE_ENTRY], KEY)), ONE_ENTRY_MANIFEST);
  assert.equal(decoder.decode(signManifest(THREE_ENTRIES, KEY)), THREE_ENTRY_MANIFEST);
});

Deno.test("`verifyManifest()` reads the SPEC §2 vectors", () => {
  assert.deepEqual(verifyManifest(encoder.encode(ONE_ENTRY_MANIFEST), [PUBLIC_KEY], SOURCE), [
    { ...ONE_ENTRY },
  ]);
  assert.deepEqual(
    verifyManifest(encoder.encode(THREE_ENTRY_MANIFEST), [PUBLIC_KEY], SOURCE),
    THREE_ENTRIES,
  );
});

Deno.test("the SPEC §2 images have the listed sizes and digests", async () => {
  for (const image of THREE_IMAGES) {
    const content = encoder.encode(image.content);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", content));
    assert.equal(BigInt(content.length), image.size);
    assert.equal(Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join(""), image.sha256);
  }
});

Deno.test("`serializeEntries()` writes header, blank line, entries and blank line", () => {
  assert.equal(serializeEntries([]), "Tako Manifest 1\n\n\n");
  assert.equal(MANIFEST_HEADER, "Tako Manifest 1\n");
  assert.equal(THREE_ENTRY_MANIFEST.startsWith(serializeEntries(THREE_ENTRIES)), true);
  assert.equal(serializeEntries([entry("1.0", 0n)]), `Tako Manifest 1\n\n1.0 0 ${SHA_A}\n\n`);
});

Deno.test("a manifest with zero entries is valid", () => {
  const bytes = signManifest([], KEY);
  assert.ok(decoder.decode(bytes).startsWith("Tako Manifest 1\n\n\n"));
  assert.equal(bytes.length, 16 + 2 + 88 + 1);
  assert.deepEqual(verifyManifest(bytes, [PUBLIC_KEY], SOURCE), []);
});

Deno.test("`verifyManifest()` accepts a manifest signed by any of the configured keys", () => {
  const bytes = encoder.encode(THREE_ENTRY_MANIFEST);
  assert.deepEqual(verifyManifest(bytes, [OTHER_KEY.publicKey, PUBLIC_KEY], SOURCE), THREE_ENTRIES);
  assert.deepEqual(verifyManifest(bytes, [PUBLIC_KEY, OTHER_KEY.publicKey], SOURCE), THREE_ENTRIES);
  const rotated = signManifest(THREE_ENTRIES, OTHER_KEY);
  assert.deepEqual(
    verifyManifest(rotated, [PUBLIC_KEY, OTHER_KEY.publicKey], SOURCE),
    THREE_ENTRIES,
  );
});

Deno.test("sizes are exact at any length", () => {
  const sizes = [0n, 1n, 2n ** 53n + 1n, 18446744073709551616n, 10n ** 40n];
  const entries = sizes.map((size, i) => entry(`${i + 1}.0`, size));
  const bytes = signManifest(entries, KEY);
  assert.ok(decoder.decode(bytes).includes(` 18446744073709551616 ${SHA_A}\n`));
  assert.deepEqual(verifyManifest(bytes, [PUBLIC_KEY], SOURCE), entries);
});

// ---------------------------------------------------------------- rejections

Deno.test("`verifyManifest()` rejects a wrong signature with an integrity error naming the source", () => {
  const bytes = encoder.encode(THREE_ENTRY_MANIFEST);
  const message = "the signature does not verify under the configured public key(s)";
  assertTakoError(() => verifyManifest(bytes, [OTHER_KEY.publicKey], SOURCE), "integrity", message);
  assertTakoError(() => verifyManifest(bytes, [], SOURCE), "integrity", message);
  const byOther = signManifest(THREE_ENTRIES, OTHER_KEY);
  const error = assertTakoError(
    () => verifyManifest(byOther, [PUBLIC_KEY], SOURCE),
    "integrity",
    message,
  );
  assert.ok(error.message.startsWith(SOURCE + ": "), error.message);
});

Deno.test("`verifyManifest()` rejects every single changed byte of a valid manifest", () => {
  const original = encoder.encode(THREE_ENTRY_MANIFEST);
  for (let i = 0; i < original.length; i++) {
    for (const change of [0x01, 0x20]) {
      const bytes = original.slice();
      bytes[i]! ^= change;
      assertTakoError(() => verifyManifest(bytes, [PUBLIC_KEY], SOURCE), "integrity", SOURCE);
    }
  }
});

Deno.test("`verifyManifest()` rejects malformed files, whatever their signature", () => {
  const valid = THREE_ENTRY_MANIFEST;
  const [signed, signature] = [valid.slice(0, valid.length - 89), valid.slice(-89, -1)];
  const table: [string, Uint8Array, string][] = [
    ["empty", encoder.encode(""), "not a Tako manifest"],
    ["wrong header, signed", signText(signed.replace("1\n", "2\n")), "first line"],
    ["lowercase header, signed", signText(signed.replace("Tako", "tako")), "first line"],
    ["header without its line feed", encoder.encode("Tako Manifest 1"), "not a Tako manifest"],
    ["CRLF line ends", encoder.encode(valid.replaceAll("\n", "\r\n")), "line 1: carriage return"],
    ["CRLF, signed", signText(signed.replaceAll("\n", "\r\n")), "carriage return"],
    ["a lone CR in an entry", signText(signed.replace(" 10 ", " 10\r")), "line 3: carriage return"],
    [
      "missing final line feed",
      encoder.encode(valid.slice(0, -1)),
      "does not end with a line feed",
    ],
    ["trailing byte", encoder.encode(valid + "x"), "does not end with a line feed"],
    ["trailing blank line", encoder.encode(valid + "\n"), "line 8: expected the signature"],
    ["trailing line", encoder.encode(valid + "more\n"), "line 8: expected the signature"],
    ["signature twice", encoder.encode(valid + signature + "\n"), "does not verify"],
    ["no signature line", encoder.encode(signed), "line 6: expected the signature"],
    ["header only", encoder.encode(MANIFEST_HEADER), "line 1: expected the signature"],
    [
      "signature too short",
      encoder.encode(signed + signature.slice(1) + "\n"),
      "expected the signature",
    ],
    [
      "signature too long",
      encoder.encode(signed + "A" + signature + "\n"),
      "expected the signature",
    ],
    [
      "signature, url-safe",
      encoder.encode(signed + signature.replace("+", "-") + "\n"),
      "88 characters",
    ],
    [
      "signature, padding bits",
      encoder.encode(signed + signature.replace("Bg==", "Bh==") + "\n"),
      "88",
    ],
    ["signature, padding missing", encoder.encode(signed + signature.slice(0, -2) + "AA\n"), "88"],
    ["signature, inner space", encoder.encode(signed + signature.replace("L", " ") + "\n"), "88"],
    ["signature, trailing space", encoder.encode(signed + signature.slice(0, -1) + " \n"), "88"],
    ["signature, non-ASCII", encoder.encode(signed + "é" + signature.slice(2) + "\n"), "88"],
    [
      "signature of other bytes",
      encoder.encode(signed + encodeBase64(new Uint8Array(64)) + "\n"),
      "verify",
    ],
  ];
  for (const [why, bytes, expected] of table) {
    const error = assertTakoError(
      () => verifyManifest(bytes, [PUBLIC_KEY], SOURCE),
      "integrity",
      SOURCE,
    );
    assert.ok(error.message.startsWith(SOURCE + ": "), `${why}: ${error.message}`);
    assert.ok(error.message.includes(expected), `${why}: ${error.message}`);
  }
});

Deno.test("`verifyManifest()` rejects validly signed manifests that break the format", () => {
  const ok = `1.0.0 10 ${SHA_A}`;
  const table: [string, string, string][] = [
    [
      "no blank line after the header",
      `${MANIFEST_HEADER}${ok}\n\n`,
      "line 2: expected a blank line after",
    ],
    [
      "no blank line before the signature",
      `${MANIFEST_HEADER}\n${ok}\n`,
      "line 3: expected a blank line before",
    ],
    ["only one blank line", `${MANIFEST_HEADER}\n`, "expected a blank line before"],
    [
      "two blank lines at the end",
      `${signedPart(ok)}\n`,
      "line 4: expected '<version> <size> <sha256>'",
    ],
    [
      "blank line between entries",
      signedPart(ok, "", `2.0 1 ${SHA_A}`),
      "line 4: expected '<version>",
    ],
    ["short hex", signedPart(`1.0 10 ${SHA_A.slice(1)}`), "line 3: 'aaaa"],
    ["long hex", signedPart(`1.0 10 ${SHA_A}a`), "64 lowercase hexadecimal digits"],
    [
      "uppercase hex",
      signedPart(`1.0 10 ${SHA_A.toUpperCase()}`),
      "64 lowercase hexadecimal digits",
    ],
    ["non-hex digit", signedPart(`1.0 10 ${SHA_A.slice(1)}g`), "64 lowercase hexadecimal digits"],
    ["size with plus sign", signedPart(`1.0 +5 ${SHA_A}`), "'+5' is not a size"],
    ["size with leading zero", signedPart(`1.0 05 ${SHA_A}`), "'05' is not a size"],
    ["size 00", signedPart(`1.0 00 ${SHA_A}`), "'00' is not a size"],
    ["hexadecimal size", signedPart(`1.0 0x5 ${SHA_A}`), "'0x5' is not a size"],
    ["size with exponent", signedPart(`1.0 5e0 ${SHA_A}`), "'5e0' is not a size"],
    ["negative size", signedPart(`1.0 -5 ${SHA_A}`), "'-5' is not a size"],
    ["empty size", signedPart(`1.0  ${SHA_A}`), "'' is not a size"],
    ["empty version", signedPart(` 5 ${SHA_A}`), "'' is not a valid version"],
    ["version of separators only", signedPart(`.-_ 5 ${SHA_A}`), "'.-_' is not a valid version"],
    ["two fields", signedPart(`1.0 ${SHA_A}`), "line 3: expected '<version> <size> <sha256>'"],
    ["four fields", signedPart(`1.0 5 ${SHA_A} x`), "expected '<version> <size> <sha256>'"],
    ["leading space", signedPart(` 1.0 5 ${SHA_A}`), "expected '<version> <size> <sha256>'"],
    ["trailing space", signedPart(`1.0 5 ${SHA_A} `), "expected '<version> <size> <sha256>'"],
    ["tab separator", signedPart(`1.0\t5 ${SHA_A}`), "byte 0x09 is not printable ASCII"],
    ["control character", signedPart(`1.0\x1b 5 ${SHA_A}`), "line 3: byte 0x1b"],
    ["non-ASCII version", signedPart(`1.0é 5 ${SHA_A}`), "is not printable ASCII"],
    [
      "unsorted",
      signedPart(`2.0.0 5 ${SHA_A}`, `1.0.0 5 ${SHA_B}`),
      "line 4: version 1.0.0 is lower than 2.0.0",
    ],
    [
      "unsorted by value",
      signedPart(`10 5 ${SHA_A}`, `9 5 ${SHA_B}`),
      "entries must be in ascending version order",
    ],
    ["duplicate", signedPart(ok, ok), "line 4: versions 1.0.0 and 1.0.0 are equal"],
    ["equal versions", signedPart(ok, `1.0-0 10 ${SHA_B}`), "versions 1.0.0 and 1.0-0 are equal"],
    [
      "equal by padding",
      signedPart(`1 1 ${SHA_A}`, `1.0 1 ${SHA_B}`),
      "versions 1 and 1.0 are equal",
    ],
    ["equal by leading zeros", signedPart(`1.01 1 ${SHA_A}`, `1.1 1 ${SHA_B}`), "are equal"],
  ];
  for (const [why, text, expected] of table) {
    const bytes = signText(text);
    const error = assertTakoError(
      () => verifyManifest(bytes, [PUBLIC_KEY], SOURCE),
      "integrity",
      SOURCE,
    );
    assert.ok(error.message.includes(expected), `${why}: ${error.message}`);
  }
});

Deno.test("`verifyManifest()` reports the line of an unsorted entry deep in the file", () => {
  const lines = Array.from({ length: 10 }, (_, i) => `1.${i} 1 ${SHA_A}`);
  lines[7] = `0.5 1 ${SHA_A}`;
  assertTakoError(
    () => verifyManifest(signText(signedPart(...lines)), [PUBLIC_KEY], SOURCE),
    "integrity",
    "line 10: version 0.5 is lower than 1.6",
  );
});

Deno.test("`verifyManifest()` refuses a manifest over the size limit before looking further", () => {
  assert.equal(MAX_MANIFEST_BYTES, 16 * 1024 * 1024);
  // No header, no final line feed, no signature: the size is the first thing checked.
  const tooLarge = new Uint8Array(MAX_MANIFEST_BYTES + 1);
  assertTakoError(
    () => verifyManifest(tooLarge, [PUBLIC_KEY], SOURCE),
    "integrity",
    SOURCE,
    "larger than 16777216 bytes",
  );
  // At the limit itself, the other checks speak.
  const atLimit = tooLarge.subarray(1);
  assertTakoError(
    () => verifyManifest(atLimit, [PUBLIC_KEY], SOURCE),
    "integrity",
    "not a Tako manifest",
  );
});

Deno.test("`verifyManifest()` never echoes control characters", () => {
  const error = assertTakoError(
    () => verifyManifest(signText(signedPart(`1.0\x7f 5 ${SHA_A}`)), [PUBLIC_KEY], SOURCE),
    "integrity",
  );
  assert.ok(!hasControlCharacter(error.message), error.message);
});

Deno.test("`verifyManifest()` reads a 100,000-entry manifest (timed in bench/, not here)", () => {
  const entries = Array.from(
    { length: 100_000 },
    (_, i) => entry(`${i >> 10}.${i & 1023}.${i % 3 ? "0" : "0-rc.1"}`, BigInt(i) * 7919n),
  );
  const parsed = verifyManifest(signManifest(entries, KEY), [PUBLIC_KEY], SOURCE);
  assert.deepEqual(parsed, entries);
});

Deno.test("`signManifest()` refuses entry lists that would not verify", () => {
  const table: [string, Entry[], string][] = [
    ["unsorted", [entry("2.0"), entry("1.0")], "ascending version order"],
    ["equal versions", [entry("1.0"), entry("1")], "are equal"],
    ["uppercase digest", [entry("1.0", 1n, SHA_A.toUpperCase())], "lowercase"],
    ["negative size", [entry("1.0", -1n)], "is not a size"],
    ["version with a space", [entry("1 0")], "expected '<version> <size> <sha256>'"],
  ];
  for (const [why, entries, expected] of table) {
    const error = assertTakoError(() => signManifest(entries, KEY), "integrity");
    assert.ok(error.message.includes(expected), `${why}: ${error.message}`);
  }
});

Deno.test("`signManifest()` refuses a key whose public key does not belong to its seed", () => {
  const broken = { seed: KEY.seed, publicKey: OTHER_KEY.publicKey };
  assertTakoError(() => signManifest(THREE_ENTRIES, broken), "integrity", "does not verify");
});

// ---------------------------------------------------------------- inserting

Deno.test("`insertEntry()` inserts in version order", () => {
  let entries: Entry[] = [];
  for (const version of ["1.1", "1.0", "2.0", "1.0.a", "10", "1.2a"]) {
    const result = insertEntry(entries, entry(version));
    assert.equal(result.changed, true);
    entries = result.entries;
  }
  assert.deepEqual(entries.map((e) => e.version), ["1.2a", "1.0.a", "1.0", "1.1", "2.0", "10"]);
});

Deno.test("`insertEntry()` leaves the list alone for an identical entry", () => {
  const result = insertEntry(THREE_ENTRIES, { ...THREE_ENTRIES[1]! });
  assert.equal(result.changed, false);
  assert.deepEqual(result.entries, THREE_ENTRIES);
  assert.notEqual(result.entries, THREE_ENTRIES);
});

Deno.test("`insertEntry()` does not change its input", () => {
  const before = structuredClone(THREE_ENTRIES);
  const result = insertEntry(THREE_ENTRIES, entry("1.5"));
  assert.deepEqual(THREE_ENTRIES, before);
  assert.deepEqual(result.entries.map((e) => e.version), ["1.0.0", "1.1.0", "1.5", "2.0.0"]);
});

Deno.test("`insertEntry()` refuses a published version with other contents, naming both versions", () => {
  const [one] = THREE_ENTRIES;
  const table: [string, Entry, string[]][] = [
    ["same version, other digest", { ...one!, sha256: SHA_B }, ["1.0.0", "already published"]],
    ["same version, other size", { ...one!, size: 11n }, ["1.0.0", "already published"]],
    ["equal version, other digest", entry("1.0-0", 10n, SHA_B), ["1.0-0", "1.0.0"]],
    ["equal version, same contents", { ...one!, version: "1" }, ["Version 1 equals", "1.0.0"]],
  ];
  for (const [why, added, parts] of table) {
    const error = assertTakoError(() => insertEntry(THREE_ENTRIES, added), "usage", ...parts);
    assert.ok(error.message.length > 0, why);
  }
});

Deno.test("`insertEntry()` refuses an invalid entry", () => {
  const table: [string, Entry, string][] = [
    ["empty version", entry(""), "not a valid version"],
    ["version with a space", entry("1 0"), "not a valid version"],
    ["version with a control character", entry("1\n0"), "not a valid version"],
    ["negative size", entry("1.0", -1n), "not a size"],
    ["short digest", entry("1.0", 1n, "abc"), "64 lowercase hexadecimal digits"],
    ["uppercase digest", entry("1.0", 1n, SHA_A.toUpperCase()), "64 lowercase hexadecimal digits"],
  ];
  for (const [why, added, expected] of table) {
    const error = assertTakoError(() => insertEntry([], added), "usage", expected);
    assert.ok(!hasControlCharacter(error.message), why);
  }
});

// ---------------------------------------------------------------- append-only history

Deno.test("`checkAppendOnly()` accepts the same or a longer history", () => {
  const [a, b, c] = THREE_ENTRIES;
  checkAppendOnly([], THREE_ENTRIES, SOURCE);
  checkAppendOnly(THREE_ENTRIES, THREE_ENTRIES, SOURCE);
  checkAppendOnly([a!, c!], THREE_ENTRIES, SOURCE);
  checkAppendOnly([b!], [...THREE_ENTRIES, entry("3.0")], SOURCE);
  checkAppendOnly([], [], SOURCE);
});

Deno.test("`checkAppendOnly()` rejects a removed or changed entry, naming the first", () => {
  const [a, b, c] = THREE_ENTRIES;
  const table: [string, Entry[], string[]][] = [
    ["everything removed", [], ["1.0.0", "missing"]],
    ["the newest removed", [a!, b!], ["2.0.0", "missing"]],
    ["two removed", [c!], ["1.0.0", "missing"]],
    ["respelled", [{ ...a!, version: "1.0" }, b!, c!], ["1.0.0", "missing"]],
    ["digest changed", [a!, { ...b!, sha256: SHA_A }, c!], ["1.1.0", "another size or digest"]],
    ["size changed", [a!, b!, { ...c!, size: 11n }], ["2.0.0", "another size or digest"]],
  ];
  for (const [why, next, parts] of table) {
    const error = assertTakoError(
      () => checkAppendOnly(THREE_ENTRIES, next, SOURCE),
      "integrity",
      ...parts,
    );
    assert.ok(error.message.startsWith(SOURCE + ": "), `${why}: ${error.message}`);
  }
});

// ---------------------------------------------------------------- compatible entries

/** A wildcard pattern `<prefix>.*`, built by hand from version.ts. */
function wildcard(prefix: string): Pattern {
  return {
    text: `${prefix}.*`,
    kind: "wildcard",
    matches: (version) => hasVersionPrefix(version, prefix),
    compare: compareVersions,
  };
}

Deno.test("`compatibleEntries()` lists the matching entries, newest first", () => {
  const entries = ["0.9", "1.0", "1.0.1", "1.1", "1.1-beta", "2.0"].map((v) => entry(v));
  entries.sort((x, y) => compareVersions(x.version, y.version));
  assert.deepEqual(
    compatibleEntries(entries, wildcard("1")).map((e) => e.version),
    ["1.1", "1.1-beta", "1.0.1", "1.0"],
  );
  assert.deepEqual(compatibleEntries(entries, wildcard("3")), []);
  assert.deepEqual(compatibleEntries([], wildcard("1")), []);
});

Deno.test("`compatibleEntries()` orders by the pattern's own comparison", () => {
  const exactByLength: Pattern = {
    text: "1.0",
    kind: "exact",
    matches: (version) => compareVersions(version, "1.0") === 0 || version.startsWith("2"),
    // An order unlike Tako's, to show that the pattern decides.
    compare: (x, y) => x.length - y.length,
  };
  const entries = ["1", "1.0.0", "2.0", "2.0.0.0"].map((v) => entry(v));
  assert.deepEqual(
    compatibleEntries(entries, exactByLength).map((e) => e.version),
    ["2.0.0.0", "1.0.0", "2.0", "1"],
  );
});

// ---------------------------------------------------------------- properties

const VERSION_CHARS = "0123456789.-_abz*+~ABZ!~";
const versionArb = fc.oneof(
  fc.array(fc.nat({ max: 20 }), { minLength: 1, maxLength: 4 }).map((parts) => parts.join(".")),
  fc.tuple(
    fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
    fc.constantFrom("-beta.", "_rc", "a"),
  )
    .map(([parts, suffix]) => parts.join(".") + suffix),
  fc.string({ unit: fc.constantFrom(...VERSION_CHARS), minLength: 1, maxLength: 12 }),
  fc.string({
    unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
    maxLength: 10,
  }),
  fc.bigInt({ min: 0n, max: 10n ** 30n }).map((n) => `${n}.0`),
).filter(isValidVersion);
const sha256Arb = fc.uint8Array({ minLength: 32, maxLength: 32 })
  .map((b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(""));
const entryArb = fc.record({
  version: versionArb,
  size: fc.oneof(fc.bigInt({ min: 0n, max: 1000n }), fc.bigInt({ min: 0n, max: 2n ** 100n })),
  sha256: sha256Arb,
}, { noNullPrototype: true });

/** A valid entry list: built by `insertEntry`, which skips versions that are already present. */
function validEntries(candidates: Entry[]): Entry[] {
  let entries: Entry[] = [];
  for (const candidate of candidates) {
    try {
      entries = insertEntry(entries, candidate).entries;
    } catch (e) {
      if (!(e instanceof TakoError) || e.kind !== "usage") throw e;
    }
  }
  return entries;
}

Deno.test("`signManifest()` then `verifyManifest()` round-trips any valid entry list", () => {
  fc.assert(
    fc.property(fc.array(entryArb, { maxLength: 12 }), (candidates) => {
      const entries = validEntries(candidates);
      for (let i = 1; i < entries.length; i++) {
        assert.ok(compareVersions(entries[i - 1]!.version, entries[i]!.version) < 0);
      }
      const bytes = signManifest(entries, KEY);
      assert.deepEqual(verifyManifest(bytes, [OTHER_KEY.publicKey, PUBLIC_KEY], SOURCE), entries);
      assert.equal(decoder.decode(bytes).slice(0, -89), serializeEntries(entries));
    }),
    { numRuns: scaledFuzzRuns() },
  );
});

Deno.test("`verifyManifest()` orders any two versions exactly as compareVersions does", () => {
  const versionish = fc.string({ unit: fc.constantFrom(..."000123789.-_abzAZ~"), maxLength: 10 })
    .filter(isValidVersion);
  fc.assert(
    fc.property(versionish, versionish, (a, b) => {
      const bytes = signText(signedPart(`${a} 1 ${SHA_A}`, `${b} 2 ${SHA_B}`));
      const order = compareVersions(a, b);
      if (order < 0) {
        assert.deepEqual(verifyManifest(bytes, [PUBLIC_KEY], SOURCE), [
          entry(a, 1n),
          entry(b, 2n, SHA_B),
        ]);
      } else {
        const expected = order === 0
          ? `versions ${a} and ${b} are equal`
          : `version ${b} is lower than ${a}`;
        assertTakoError(() => verifyManifest(bytes, [PUBLIC_KEY], SOURCE), "integrity", expected);
      }
    }),
    { numRuns: scaledFuzzRuns(1000) },
  );
});

Deno.test("`checkAppendOnly()` accepts every insertion and rejects every removal", () => {
  fc.assert(
    fc.property(
      fc.array(entryArb, { minLength: 1, maxLength: 8 }),
      entryArb,
      fc.nat(),
      (candidates, added, at) => {
        const entries = validEntries(candidates);
        checkAppendOnly(entries, validEntries([...entries, added]), SOURCE);
        const removed = entries.filter((_, i) => i !== at % entries.length);
        assertTakoError(
          () => checkAppendOnly(entries, removed, SOURCE),
          "integrity",
          SOURCE,
          "missing",
        );
      },
    ),
    { numRuns: scaledFuzzRuns() },
  );
});

Deno.test("`verifyManifest()` throws only TakoError on arbitrary bytes", () => {
  const manifestish = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.uint8Array({ maxLength: 200 }).map((b) =>
      new Uint8Array([...encoder.encode(MANIFEST_HEADER), ...b])
    ),
    fc.string({
      unit: fc.constantFrom(..."Tako Manifest1\n\r 0123456789abcdef=+/."),
      maxLength: 300,
    })
      .map((s) => encoder.encode(s)),
  );
  fc.assert(
    fc.property(manifestish, (bytes) => {
      onlyIntegrityErrors(() => verifyManifest(bytes, [PUBLIC_KEY], SOURCE));
    }),
    { numRuns: scaledFuzzRuns() },
  );
});

Deno.test("`verifyManifest()` rejects every mutation of a valid manifest with a TakoError", () => {
  const original = encoder.encode(THREE_ENTRY_MANIFEST);
  const mutation = fc.oneof(
    fc.tuple(fc.nat(original.length - 1), fc.integer({ min: 1, max: 255 }))
      .map(([at, x]) => original.map((b, i) => i === at ? b ^ x : b)),
    fc.tuple(fc.nat(original.length), fc.nat(original.length))
      .filter(([a, b]) => a !== b)
      .map(([a, b]) =>
        new Uint8Array([
          ...original.subarray(0, Math.min(a, b)),
          ...original.subarray(Math.max(a, b)),
        ])
      ),
    fc.tuple(fc.nat(original.length), fc.uint8Array({ minLength: 1, maxLength: 8 }))
      .map(([at, inserted]) =>
        new Uint8Array([...original.subarray(0, at), ...inserted, ...original.subarray(at)])
      ),
  );
  fc.assert(
    fc.property(mutation, (bytes) => {
      assertTakoError(() => verifyManifest(bytes, [PUBLIC_KEY], SOURCE), "integrity", SOURCE);
    }),
    { numRuns: scaledFuzzRuns() },
  );
});

Deno.test("the parser throws only TakoError on arbitrary signed text, and returns only canonical entries", () => {
  // Signing arbitrary text gets past the signature, so this reaches the entry parser itself.
  const lineArb = fc.oneof(
    fc.string({ unit: fc.constantFrom(..."01.-_a 9fA+x\t"), maxLength: 90 }),
    entryArb.map((e) => `${e.version} ${e.size} ${e.sha256}`),
  );
  const body = fc.oneof(
    fc.array(lineArb, { maxLength: 6 }).map((lines) => signedPart(...lines)),
    fc.string({ maxLength: 200 }).map((s) => MANIFEST_HEADER + s),
  );
  fc.assert(
    fc.property(body, (text) => {
      let entries: Entry[];
      try {
        entries = verifyManifest(signText(text), [PUBLIC_KEY], SOURCE);
      } catch (e) {
        if (!(e instanceof TakoError) || e.kind !== "integrity" || !e.message.startsWith(SOURCE)) {
          throw e;
        }
        return;
      }
      assert.equal(serializeEntries(entries), text);
    }),
    { numRuns: scaledFuzzRuns() },
  );
});
