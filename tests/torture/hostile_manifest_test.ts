/**
 * Hostile manifests and keys, end to end (SPEC §2, §7 "Verify, then parse",
 * "Strict Ed25519"): every non-canonical form, validly signed by the
 * configured key and also signed by another key, is served by the origin to a
 * destination that holds 1.0.0. Tako must refuse it with an integrity error
 * (exit 4) before storing anything, keep the stored manifest and `latest`,
 * never echo a control character, and succeed on the next run once the origin
 * is healthy. Strange but valid versions (`/`, `..`, 64 KiB long, huge digit
 * runs) are accepted and never used as paths; small-order and non-canonical
 * keys are refused when the config is loaded (exit 3) with nothing touched.
 */
import { ed25519 } from "@noble/curves/ed25519";
import { encodeBase64 } from "../../lib/core/base64.ts";
import { assert } from "../support/assert.ts";
import {
  addImageFile,
  assertOutcome,
  checkInvariants,
  type FetchSetup,
  type ImageSpec,
  latestDigest,
  OTHER_KEY,
  sha256Hex,
  signRaw,
  TEST_KEY,
  withSetup,
  writeManifest,
} from "../support/publish.ts";
import { TEST_PUBLIC_KEY } from "../support/vectors.ts";
import { compareVersions } from "../../lib/core/version.ts";
import { assertCleanFailure, copyTree, snapshotTree, temporariesIn, TORTURE } from "./support.ts";

const V1: ImageSpec = { version: "1.0.0", content: "image one\n" };
const V2: ImageSpec = { version: "2.0.0", content: "image two\n" };
const V1_SHA = sha256Hex("image one\n");
const V2_SHA = sha256Hex("image two\n");
const HEADER = "Tako Manifest 1\n\n";
const LINE1 = `1.0.0 10 ${V1_SHA}\n`;

/** A signed part with 1.0.0 and one more line, as given. */
const withLine = (line: string) => `${HEADER}${LINE1}${line}\n\n`;

/** Validly signed manifests that break SPEC §2 or §7: [name, signed part]. */
const NON_CANONICAL: readonly (readonly [string, string])[] = [
  ["size +10", withLine(`2.0.0 +10 ${V2_SHA}`)],
  ["size 010", withLine(`2.0.0 010 ${V2_SHA}`)],
  ["size 0xa", withLine(`2.0.0 0xa ${V2_SHA}`)],
  ["size 1e1", withLine(`2.0.0 1e1 ${V2_SHA}`)],
  ["size 10.0", withLine(`2.0.0 10.0 ${V2_SHA}`)],
  ["size -10", withLine(`2.0.0 -10 ${V2_SHA}`)],
  ["an empty size", withLine(`2.0.0  ${V2_SHA}`)],
  ["uppercase hex", withLine(`2.0.0 10 ${V2_SHA.toUpperCase()}`)],
  ["short hex", withLine(`2.0.0 10 ${V2_SHA.slice(1)}`)],
  ["long hex", withLine(`2.0.0 10 ${V2_SHA}0`)],
  ["a fourth field", withLine(`2.0.0 10 ${V2_SHA} extra`)],
  ["an empty version", withLine(` 10 ${V2_SHA}`)],
  ["two spaces", withLine(`2.0.0  10 ${V2_SHA}`)],
  ["a tab", withLine(`2.0.0\t10 ${V2_SHA}`)],
  ["a trailing space", withLine(`2.0.0 10 ${V2_SHA} `)],
  ["a control character in the version", withLine(`2.0.0\x1b[31m 10 ${V2_SHA}`)],
  ["a NUL in the version", withLine(`2.0.0\x00 10 ${V2_SHA}`)],
  ["a non-ASCII version", withLine(`2.0.0-é 10 ${V2_SHA}`)],
  ["a version equal to 1.0.0 spelled 1.0-0", withLine(`1.0-0 10 ${V2_SHA}`)],
  ["versions out of order", `${HEADER}${`2.0.0 10 ${V2_SHA}\n`}${LINE1}\n`],
  [
    "1.9007199254740993 before 1.9007199254740992",
    `${HEADER}1.9007199254740993 10 ${V1_SHA}\n1.9007199254740992 10 ${V2_SHA}\n\n`,
  ],
  ["a missing blank line", `${HEADER}${LINE1}`],
  ["an extra blank line", `${HEADER}\n${LINE1}\n`],
  ["a CR LF line end", `${HEADER}${LINE1.replace("\n", "\r\n")}\n`],
  ["another header", `Tako Manifest 2\n\n${LINE1}\n`],
];

/** Manifests whose signature part is wrong: [name, bytes]. */
function badSignatures(): readonly (readonly [string, Uint8Array])[] {
  const good = signRaw(withLine(`2.0.0 10 ${V2_SHA}`));
  const text = new TextDecoder().decode(good);
  const sigAt = text.lastIndexOf("\n", text.length - 2) + 1;
  const signed = text.slice(0, sigAt);
  const sig = text.slice(sigAt, -1);
  const bytes = Uint8Array.from(atob(sig), (c) => c.charCodeAt(0));
  // S + L: the same signature with a non-canonical scalar (malleability).
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(bytes[i]!);
  s += L;
  const malleable = bytes.slice();
  for (let i = 32; i < 64; i++) {
    malleable[i] = Number(s & 0xffn);
    s >>= 8n;
  }
  const enc = (t: string) => new TextEncoder().encode(t);
  // "==" padding: the last data character carries 4 unused bits; set one.
  const last = sig[85]!;
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const paddingBits = alphabet[alphabet.indexOf(last) | 1]!;
  assert.match(sig, /[+/]/);
  return [
    ["signed by another key", signRaw(withLine(`2.0.0 10 ${V2_SHA}`), OTHER_KEY)],
    ["with a non-canonical signature scalar (S + L)", enc(`${signed}${encodeBase64(malleable)}\n`)],
    [
      "with padding bits set in the signature's base64",
      enc(`${signed}${sig.slice(0, 85)}${paddingBits}==\n`),
    ],
    ["with the signature's padding missing", enc(`${signed}${sig.slice(0, 86)}\n`)],
    // The test key's signature of this text holds a '+' or '/' (checked below).
    [
      "with the URL-safe base64 alphabet",
      enc(`${signed}${sig.replaceAll("+", "-").replaceAll("/", "_")}\n`),
    ],
    ["with a space in the signature", enc(`${signed}${sig.slice(0, 40)} ${sig.slice(40)}\n`)],
    [
      "with the identity forgery (R = identity, S = 0)",
      enc(`${signed}${encodeBase64(forgery())}\n`),
    ],
    ["with bytes after the signature", enc(`${text}x`)],
    ["without its final line feed", good.slice(0, -1)],
    ["unsigned", enc(`${signed}`)],
  ];
}

function forgery(): Uint8Array {
  const sig = new Uint8Array(64);
  sig[0] = 1; // R = the identity point (y = 1), S = 0
  return sig;
}

let template: Promise<string> | undefined;

/** A destination holding 1.0.0 (made once per process, copied for each test). */
async function installOne(s: FetchSetup): Promise<void> {
  template ??= (async () => {
    await s.publish([V1]);
    assertOutcome(await s.fetch(), 0);
    const dir = await Deno.makeTempDir({ prefix: "tako-manifest-template-" });
    await copyTree(s.dest, `${dir}/dest`);
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    return `${dir}/dest`;
  })();
  await copyTree(await template, s.dest);
  await addImageFile(s.originDir, V2.content);
  s.origin.clear();
}

/** Serves `manifest`, expects exit 4 with everything kept, then a healthy run that succeeds. */
async function refusedEndToEnd(s: FetchSetup, manifest: Uint8Array): Promise<void> {
  const stored = await Deno.readFile(`${s.dest}/manifest`);
  const origin = await snapshotTree(s.originDir);
  await writeManifest(s.originDir, manifest);
  const result = await s.fetch();
  assertCleanFailure(result, [4]);
  assert.deepEqual(
    await Deno.readFile(`${s.dest}/manifest`),
    stored,
    "the stored manifest changed",
  );
  assert.equal(await latestDigest(s.dest), V1_SHA);
  await checkInvariants(s.dest);
  assert.deepEqual(await temporariesIn(s.dest), []);
  assert.equal(
    s.origin.requests.filter((r) => r.path.startsWith("/store/")).length,
    0,
    "an image was requested",
  );
  const after = await snapshotTree(s.originDir);
  delete after["./manifest"];
  delete origin["./manifest"];
  assert.deepEqual(after, origin);

  await s.publish([V1, V2]);
  assertOutcome(await s.fetch(), 0);
  assert.equal(await latestDigest(s.dest), V2_SHA);
}

Deno.test("the control: the canonical form of the same manifest, validly signed, is accepted", async () => {
  await withSetup([V1], async (s) => {
    await installOne(s);
    await writeManifest(s.originDir, signRaw(withLine(`2.0.0 10 ${V2_SHA}`)));
    assertOutcome(await s.fetch(), 0);
    assert.equal(await latestDigest(s.dest), V2_SHA);
  });
});

for (const [i, [name, signedPart]] of NON_CANONICAL.entries()) {
  // make test: every fourth form (the unit tests have them all); make torture: all.
  Deno.test({
    name: `a hostile manifest with ${name}, validly signed, is refused end to end (exit 4)`,
    ignore: !TORTURE && i % 4 !== 0,
  }, async () => {
    await withSetup([V1], async (s) => {
      await installOne(s);
      await refusedEndToEnd(s, signRaw(signedPart, TEST_KEY));
    });
  });
}

Deno.test("hostile manifests of every non-canonical form, signed by another key, are refused (exit 4)", async () => {
  await withSetup([V1], async (s) => {
    await installOne(s);
    // make test: every fifth form; make torture: all.
    for (const [name, signedPart] of NON_CANONICAL.filter((_, i) => TORTURE || i % 5 === 0)) {
      await writeManifest(s.originDir, signRaw(signedPart, OTHER_KEY));
      const result = await s.fetch();
      assertCleanFailure(result, [4]);
      assert.equal(await latestDigest(s.dest), V1_SHA, name);
      await checkInvariants(s.dest);
    }
  });
});

for (const [i, [name, bytes]] of badSignatures().entries()) {
  // make test: every other signature (tests/unit/core has each form); make torture: all.
  Deno.test({
    name: `a hostile manifest ${name} is refused end to end (exit 4)`,
    ignore: !TORTURE && i % 2 === 1,
  }, async () => {
    await withSetup([V1], async (s) => {
      await installOne(s);
      await refusedEndToEnd(s, bytes);
    });
  });
}

// ---------------------------------------------------------------------------
// Strange but valid: accepted, and never a path

Deno.test("versions with '/', '..' and 64 KiB of text are accepted and never used as paths", async () => {
  await withSetup([V1], async (s) => {
    const outside = `${s.dir}/outside`;
    await Deno.mkdir(outside);
    await Deno.writeTextFile(`${outside}/keep`, "not Tako's\n");
    const before = await snapshotTree(outside);
    const long = "9." + "1".repeat(64 * 1024);
    const versions = ["../../outside/keep", "0.9/../../../../../../tmp/tako-evil", long];
    const images = versions.map((version, i) => ({ version, content: `strange ${i}\n` }));
    images.sort((a, b) => compareVersions(a.version, b.version));
    await s.publish(images);
    const result = await s.fetch();
    assertOutcome(result, 0);
    assert.ok(result.stderr.split("\n").every((l) => l.length < 2000), "a log line echoes 64 KiB");
    assert.equal(await latestDigest(s.dest), sha256Hex(images.at(-1)!.content));
    assert.deepEqual(await snapshotTree(outside), before);
    assert.equal(await Deno.lstat("/tmp/tako-evil").catch(() => undefined), undefined);
    await checkInvariants(s.dest);
    const names = (await Array.fromAsync(Deno.readDir(`${s.dest}/store`))).map((e) => e.name);
    assert.ok(names.every((n) => /^[0-9a-f]{64}$/.test(n)), names.join(", "));
  });
});

Deno.test("1.9007199254740993 orders above 1.9007199254740992 end to end", async () => {
  await withSetup([
    { version: "1.9007199254740992", content: "lower\n" },
    { version: "1.9007199254740993", content: "higher\n" },
  ], async (s) => {
    assertOutcome(await s.fetch(), 0);
    assert.equal(await latestDigest(s.dest), sha256Hex("higher\n"));
  });
});

for (
  const [name, size] of [["2^53+1", "9007199254740993"], ["2^64", "18446744073709551616"]] as const
) {
  Deno.test(`a signed size of ${name} is read exactly and refused before any download (exit 4)`, async () => {
    await withSetup([V1], async (s) => {
      await installOne(s);
      await writeManifest(s.originDir, signRaw(withLine(`2.0.0 ${size} ${V2_SHA}`)));
      const result = await s.fetch();
      assertCleanFailure(result, [4]);
      assert.ok(
        result.stderr.includes(size),
        `the exact size ${size} is not named:\n${result.stderr}`,
      );
      assert.equal(s.origin.requests.filter((r) => r.path.startsWith("/store/")).length, 0);
      assert.equal(await latestDigest(s.dest), V1_SHA);
      await checkInvariants(s.dest);
    });
  });
}

// ---------------------------------------------------------------------------
// Keys refused when the config is loaded

const hex = (h: string) => Uint8Array.from(h.match(/../g)!, (b) => parseInt(b, 16));

/** The eight small-order points, and non-canonical encodings of small-order points. */
const WEAK_KEYS: readonly (readonly [string, string])[] = (() => {
  const order8 = ed25519.Point.fromHex(
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
  );
  const points: [string, string][] = [];
  let p = order8;
  for (let i = 1; i <= 8; i++) {
    points.push([`the small-order point ${i}·T8`, encodeBase64(p.toBytes())]);
    p = p.add(order8);
  }
  points.push([
    "y = p + 1 (a non-canonical identity)",
    encodeBase64(hex("ee" + "ff".repeat(30) + "7f")),
  ]);
  points.push(["y = p (a non-canonical y = 0)", encodeBase64(hex("ed" + "ff".repeat(30) + "7f"))]);
  points.push(["the identity with the sign bit", encodeBase64(hex("01" + "00".repeat(30) + "80"))]);
  return points;
})();

const BAD_KEY_TEXT: readonly (readonly [string, string])[] = [
  ["padding bits set", TEST_PUBLIC_KEY.slice(0, 42) + "l="],
  ["padding missing", TEST_PUBLIC_KEY.slice(0, 43)],
  ["a space inside", TEST_PUBLIC_KEY.slice(0, 20) + " " + TEST_PUBLIC_KEY.slice(20, 43)],
  ["the URL-safe alphabet", TEST_PUBLIC_KEY.replaceAll("+", "-")],
  ["33 bytes", encodeBase64(new Uint8Array(33).fill(7))],
];

for (const [i, [name, key]] of [...WEAK_KEYS, ...BAD_KEY_TEXT].entries()) {
  Deno.test({
    name: `a PublicKey= with ${name} is refused on loading (exit 3), nothing touched`,
    // make test: every other key; make torture: all.
    ignore: !TORTURE && i % 2 === 1,
  }, async () => {
    await withSetup([V1], async (s) => {
      // The forged manifest a lenient verifier would accept under a small-order key.
      await writeManifest(
        s.originDir,
        new TextEncoder().encode(`${HEADER}${LINE1}\n${encodeBase64(forgery())}\n`),
      );
      await s.writeConfig({ publicKeys: [TEST_PUBLIC_KEY, key] });
      const result = await s.fetch();
      assertCleanFailure(result, [3]);
      assert.match(result.stderr, /line \d+/);
      assert.equal(
        await Deno.lstat(s.dest).catch(() => undefined),
        undefined,
        "the destination was created",
      );
      assert.equal(s.origin.requests.length, 0, "the origin was contacted");
    });
  });
}
