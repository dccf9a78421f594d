import fc from "fast-check";
import { ed25519 } from "@noble/curves/ed25519";
import { decodeBase64Strict, encodeBase64 } from "../../../lib/core/base64.ts";
import { TakoError } from "../../../lib/core/errors.ts";
import {
  formatSecretKey,
  generateSecretKey,
  parseSecretKey,
  sign,
  verify,
} from "../../../lib/core/keys.ts";
import { formatPublicKey, parsePublicKey } from "../../../lib/core/public_key.ts";
import { assert, assertTakoError } from "../../support/assert.ts";
import {
  TEST_PUBLIC_KEY,
  TEST_SECRET_KEY,
  TEST_SECRET_KEY_64,
  TEST_SEED,
} from "../../support/vectors.ts";
import { hasControlCharacter, scaledFuzzRuns } from "../../support/fuzz.ts";

const bytes = (...values: number[]) => new Uint8Array(values);
const fromHex = (hex: string) => new Uint8Array(hex.match(/../g)!.map((h) => parseInt(h, 16)));
const toHex = (data: Uint8Array) =>
  Array.from(data, (b) => b.toString(16).padStart(2, "0")).join("");
const message = new TextEncoder().encode("Tako Manifest 1\n\n\n");

/** Identity point: y = 1, x = 0. */
const IDENTITY = fromHex("01" + "00".repeat(31));

/** The eight small-order points (the torsion subgroup), generated from one of order 8. */
const SMALL_ORDER_POINTS: Uint8Array[] = (() => {
  const order8 = ed25519.Point.fromHex(
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    false,
  );
  const points = [];
  let point = ed25519.Point.ZERO;
  for (let i = 0; i < 8; i++) {
    points.push(point.toBytes());
    point = point.add(order8);
  }
  return points;
})();

/** A signature that verifies for every message under a small-order key in lenient verifiers. */
const IDENTITY_FORGERY = new Uint8Array(64);
IDENTITY_FORGERY.set(IDENTITY, 0);

// ---------------------------------------------------------------- base64

Deno.test("`decodeBase64Strict()` decodes canonical standard base64", () => {
  const table: [string, number, number[]][] = [
    ["", 0, []],
    ["AA==", 1, [0]],
    ["AAE=", 2, [0, 1]],
    ["AAEC", 3, [0, 1, 2]],
    ["+/8=", 2, [0xfb, 0xff]],
    ["/w==", 1, [0xff]],
  ];
  for (const [text, length, expected] of table) {
    assert.deepEqual(decodeBase64Strict(text, length), new Uint8Array(expected), text);
    assert.equal(encodeBase64(new Uint8Array(expected)), text);
  }
});

Deno.test("`decodeBase64Strict()` rejects every deviation from the one canonical text", () => {
  const table: [string, string, number][] = [
    ["wrong length asked", "AAE=", 1],
    ["wrong length asked, longer", "AAE=", 3],
    ["missing padding", "AAE", 2],
    ["missing double padding", "AA", 1],
    ["extra padding", "AAE==", 2],
    ["padding where data belongs", "AA==", 2],
    ["padding in the middle", "A=E=", 2],
    ["non-zero padding bits, one pad", "AAF=", 2],
    ["non-zero padding bits, two pads", "AB==", 1],
    ["leading whitespace", " AAE=", 2],
    ["trailing newline", "AAE=\n", 2],
    ["inner whitespace", "AA E=", 2],
    ["url-safe minus", "-_8=", 2],
    ["non-ASCII", "AAÉ=", 2],
    ["negative length", "", -1],
    ["fractional length", "AA==", 0.5],
  ];
  for (const [why, text, length] of table) {
    assert.equal(decodeBase64Strict(text, length), undefined, why);
  }
});

Deno.test("`encodeBase64()` agrees with btoa and round-trips through strict decoding", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), (data) => {
      const text = encodeBase64(data);
      assert.equal(text, btoa(String.fromCharCode(...data)));
      assert.deepEqual(decodeBase64Strict(text, data.length), data);
    }),
    { numRuns: scaledFuzzRuns() },
  );
});

Deno.test("`decodeBase64Strict()` accepts a text only when it is the canonical encoding", () => {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n";
  const base64ish = fc.string({ unit: fc.constantFrom(...alphabet), maxLength: 16 });
  fc.assert(
    fc.property(base64ish, fc.nat({ max: 12 }), (text, length) => {
      const decoded = decodeBase64Strict(text, length);
      if (decoded !== undefined) {
        assert.equal(decoded.length, length);
        assert.equal(encodeBase64(decoded), text);
      }
    }),
    { numRuns: scaledFuzzRuns() },
  );
});

// ---------------------------------------------------------------- public keys

Deno.test("`parsePublicKey()` reads the SPEC §1 test key", () => {
  const key = parsePublicKey(TEST_PUBLIC_KEY, "test");
  assert.deepEqual(key, generateSecretKey(TEST_SEED).publicKey);
  assert.equal(formatPublicKey(key), TEST_PUBLIC_KEY);
});

Deno.test("`parsePublicKey()` rejects malformed base64 with a config error naming the place", () => {
  const table: [string, string][] = [
    ["empty", ""],
    ["one character short", TEST_PUBLIC_KEY.slice(0, 43)],
    ["padding missing", TEST_PUBLIC_KEY.slice(0, 43) + "A"],
    ["one character more", TEST_PUBLIC_KEY + "="],
    ["trailing newline", TEST_PUBLIC_KEY + "\n"],
    ["leading space", " " + TEST_PUBLIC_KEY],
    ["url-safe alphabet", TEST_PUBLIC_KEY.replace("+", "-")],
    ["non-zero padding bits", TEST_PUBLIC_KEY.replace("9k=", "9l=")],
    ["a secret key", TEST_SECRET_KEY],
    ["a signature", "A".repeat(86) + "=="],
  ];
  for (const [why, text] of table) {
    const error = assertTakoError(
      () => parsePublicKey(text, "/etc/tako/app line 2"),
      "config",
      "/etc/tako/app line 2",
      "44 characters",
    );
    assert.ok(!hasControlCharacter(error.message), why);
  }
});

Deno.test("`parsePublicKey()` never echoes control characters", () => {
  const error = assertTakoError(
    () => parsePublicKey("\x1b[31mred\x07", "app.tako line 3"),
    "config",
  );
  assert.ok(!hasControlCharacter(error.message), error.message);
});

Deno.test("the small-order points are the eight points of the torsion subgroup", () => {
  // Guards the next tests: the list is complete, distinct and really of small order.
  assert.equal(new Set(SMALL_ORDER_POINTS.map(toHex)).size, 8);
  assert.ok(SMALL_ORDER_POINTS.some((p) => toHex(p) === toHex(IDENTITY)));
  for (const point of SMALL_ORDER_POINTS) {
    assert.ok(ed25519.Point.fromBytes(point, false).isSmallOrder());
  }
});

Deno.test("`parsePublicKey()` rejects each of the eight small-order points", () => {
  for (const point of SMALL_ORDER_POINTS) {
    assertTakoError(() => parsePublicKey(encodeBase64(point), "k"), "config", "small order");
  }
  assert.equal(encodeBase64(IDENTITY), "AQ" + "A".repeat(41) + "=");
});

Deno.test("`parsePublicKey()` rejects non-canonical encodings and points off the curve", () => {
  const table: [string, string][] = [
    ["y = p, a non-canonical 0", "ed" + "ff".repeat(30) + "7f"],
    ["y = p + 1, a non-canonical identity", "ee" + "ff".repeat(30) + "7f"],
    ["y = 2^255 - 1", "ff".repeat(31) + "7f"],
    ["identity with the sign bit (x = -0)", "01" + "00".repeat(30) + "80"],
    ["not on the curve", "02" + "00".repeat(31)],
  ];
  for (const [why, hex] of table) {
    const error = assertTakoError(() => parsePublicKey(encodeBase64(fromHex(hex)), "k"), "config");
    assert.ok(error.message.includes("not a usable Ed25519 public key"), why);
  }
});

Deno.test("`parsePublicKey()` accepts a key with a small-order component, and verify() stays strict under it", () => {
  // The seed README's example key is such a point; SPEC §7 refuses only small-order keys.
  assert.equal(parsePublicKey("8+r5DKNN/cwI+h0oHxMtgdyND3S/5xDLHQu0hFUmq+g=", "k").length, 32);
  const key = generateSecretKey(TEST_SEED);
  const mixed = ed25519.Point.fromBytes(key.publicKey)
    .add(ed25519.Point.fromBytes(SMALL_ORDER_POINTS[1]!, false)).toBytes();
  assert.deepEqual(parsePublicKey(encodeBase64(mixed), "k"), mixed);
  const message = new TextEncoder().encode("Tako Manifest 1\n\n\n");
  const signature = sign(key, message);
  assert.equal(verify(signature, message, key.publicKey), true);
  assert.equal(verify(signature, message, mixed), false);
});

Deno.test("`parsePublicKey()` accepts exactly the points noble decodes strictly and finds not of small order", () => {
  const strictByNoble = (bytes: Uint8Array) => {
    try {
      return !ed25519.Point.fromBytes(bytes, false).isSmallOrder();
    } catch {
      return false;
    }
  };
  const accepted = (bytes: Uint8Array) => {
    try {
      parsePublicKey(encodeBase64(bytes), "k");
      return true;
    } catch (e) {
      if (!(e instanceof TakoError)) throw e;
      return false;
    }
  };
  // Random bytes are a point about half the time; generated keys plus a torsion
  // point, and torsion points with the sign bit, cover the edges.
  const candidates = fc.oneof(
    fc.uint8Array({ minLength: 32, maxLength: 32 }),
    fc.tuple(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat({ max: 7 })).map(
      ([seed, i]) =>
        ed25519.Point.fromBytes(generateSecretKey(seed).publicKey)
          .add(ed25519.Point.fromBytes(SMALL_ORDER_POINTS[i]!, false)).toBytes(),
    ),
    fc.tuple(fc.nat({ max: 7 }), fc.boolean()).map(([i, flip]) => {
      const point = SMALL_ORDER_POINTS[i]!.slice();
      if (flip) point[31]! ^= 0x80;
      return point;
    }),
  );
  fc.assert(
    fc.property(candidates, (bytes) => {
      assert.equal(accepted(bytes), strictByNoble(bytes), toHex(bytes));
    }),
    { numRuns: scaledFuzzRuns(500) },
  );
});

Deno.test("`parsePublicKey()` accepts every generated key", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
      const { publicKey } = generateSecretKey(seed);
      assert.deepEqual(parsePublicKey(formatPublicKey(publicKey), "k"), publicKey);
    }),
    { numRuns: scaledFuzzRuns(300) },
  );
});

Deno.test("`parsePublicKey()` throws only TakoError on arbitrary text", () => {
  const keyish = fc.oneof(
    fc.string(),
    fc.string({ unit: "binary" }),
    fc.uint8Array({ minLength: 32, maxLength: 32 }).map(encodeBase64),
    fc.string({ unit: fc.constantFrom(..."AQA=+/9zk-_ \n"), minLength: 40, maxLength: 48 }),
  );
  fc.assert(
    fc.property(keyish, (text) => {
      try {
        assert.equal(formatPublicKey(parsePublicKey(text, "k")), text);
      } catch (e) {
        if (!(e instanceof TakoError) || e.kind !== "config") throw e;
      }
    }),
    { numRuns: scaledFuzzRuns() },
  );
});

// ---------------------------------------------------------------- secret keys

Deno.test("`formatSecretKey()` writes the SPEC §1 test key, 135 characters", () => {
  const key = generateSecretKey(TEST_SEED);
  assert.equal(formatSecretKey(key), TEST_SECRET_KEY);
  assert.equal(TEST_SECRET_KEY.length, 135);
  assert.equal(formatPublicKey(key.publicKey), TEST_PUBLIC_KEY);
});

Deno.test("`parseSecretKey()` reads both the 96-byte and the older 64-byte form", () => {
  for (const text of [TEST_SECRET_KEY, TEST_SECRET_KEY_64]) {
    const key = parseSecretKey(text, "the --key option");
    assert.deepEqual(key.seed, TEST_SEED);
    assert.equal(formatPublicKey(key.publicKey), TEST_PUBLIC_KEY);
    assert.equal(formatSecretKey(key), TEST_SECRET_KEY);
  }
  assert.equal(TEST_SECRET_KEY_64.length, 7 + 88);
});

Deno.test("`parseSecretKey()` ignores surrounding whitespace such as a key file's final newline", () => {
  for (
    const text of [TEST_SECRET_KEY + "\n", TEST_SECRET_KEY + "\r\n", `  ${TEST_SECRET_KEY_64}\n`]
  ) {
    assert.deepEqual(parseSecretKey(text, "key file k.txt").seed, TEST_SEED);
  }
});

Deno.test("`parseSecretKey()` rejects bad keys with a usage error that never echoes the secret", () => {
  const encoded = TEST_SECRET_KEY.slice("SECRET+".length);
  const other = generateSecretKey(new Uint8Array(32).fill(7));
  const withKeys = (first: Uint8Array, second?: Uint8Array) => {
    const data = new Uint8Array(second === undefined ? 64 : 96);
    data.set(TEST_SEED, 0);
    data.set(first, 32);
    if (second !== undefined) data.set(second, 64);
    return "SECRET+" + encodeBase64(data);
  };
  const ours = generateSecretKey(TEST_SEED).publicKey;
  const table: [string, string, string][] = [
    ["prefix missing", encoded, "does not hold a secret key"],
    ["prefix lowercase", "secret+" + encoded, "does not hold a secret key"],
    ["a public key", TEST_PUBLIC_KEY, "does not hold a secret key"],
    ["empty", "", "does not hold a secret key"],
    ["only the prefix", "SECRET+", "not hold a valid secret key"],
    ["one character short", TEST_SECRET_KEY.slice(0, -1), "not hold a valid secret key"],
    ["one character more", TEST_SECRET_KEY + "A", "not hold a valid secret key"],
    [
      "url-safe alphabet",
      TEST_SECRET_KEY.replaceAll("+", "-").replace("SECRET-", "SECRET+"),
      "valid",
    ],
    ["inner whitespace", TEST_SECRET_KEY.slice(0, 60) + " " + TEST_SECRET_KEY.slice(61), "valid"],
    ["64-byte form, padding bits", TEST_SECRET_KEY_64.replace("2Q==", "2R=="), "valid"],
    ["another key's public key", withKeys(other.publicKey, other.publicKey), "does not belong"],
    ["third copy differs", withKeys(ours, other.publicKey), "does not belong"],
    ["second copy differs", withKeys(other.publicKey, ours), "does not belong"],
    ["64-byte form, another key", withKeys(other.publicKey), "does not belong"],
  ];
  for (const [why, text, expected] of table) {
    const error = assertTakoError(
      () => parseSecretKey(text, "TAKO_SECRET_KEY"),
      "usage",
      "TAKO_SECRET_KEY",
    );
    assert.ok(error.message.includes(expected), `${why}: ${error.message}`);
    assert.ok(!error.message.includes(encoded.slice(0, 16)), `${why} echoes the secret`);
    assert.ok(!error.message.includes(encoded.slice(40, 56)), `${why} echoes the secret`);
  }
});

Deno.test("`parseSecretKey()` throws only TakoError on arbitrary text", () => {
  const keyish = fc.oneof(
    fc.string(),
    fc.string({ unit: "binary" }),
    fc.uint8Array({ minLength: 96, maxLength: 96 }).map((b) => "SECRET+" + encodeBase64(b)),
    fc.uint8Array({ minLength: 64, maxLength: 64 }).map((b) => "SECRET+" + encodeBase64(b)),
    fc.string({ unit: fc.constantFrom(..."AQA=+/9zk-_ \n"), minLength: 80, maxLength: 130 })
      .map((s) => "SECRET+" + s),
  );
  fc.assert(
    fc.property(keyish, (text) => {
      try {
        parseSecretKey(text, "k");
      } catch (e) {
        if (!(e instanceof TakoError) || e.kind !== "usage") throw e;
      }
    }),
    { numRuns: scaledFuzzRuns() },
  );
});

Deno.test("`formatSecretKey()` and `parseSecretKey()` round-trip every key", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
      const key = generateSecretKey(seed);
      const text = formatSecretKey(key);
      assert.equal(text.length, 135);
      assert.deepEqual(parseSecretKey(text, "k"), key);
    }),
    { numRuns: scaledFuzzRuns(300) },
  );
});

// ---------------------------------------------------------------- generating, signing, verifying

Deno.test("`generateSecretKey()` derives from the seed, copies it, and is random without one", () => {
  const seed = TEST_SEED.slice();
  const key = generateSecretKey(seed);
  seed.fill(0);
  assert.deepEqual(key.seed, TEST_SEED);
  const a = generateSecretKey();
  const b = generateSecretKey();
  assert.equal(a.seed.length, 32);
  assert.notDeepEqual(a.seed, b.seed);
  assert.deepEqual(generateSecretKey(a.seed).publicKey, a.publicKey);
});

Deno.test("`generateSecretKey()` rejects a seed that is not 32 bytes", () => {
  for (const length of [0, 31, 33, 64]) {
    assertTakoError(() => generateSecretKey(new Uint8Array(length)), "usage", "32 bytes");
  }
});

Deno.test("`sign()` is deterministic and `verify()` accepts its signatures", () => {
  const key = generateSecretKey(TEST_SEED);
  const signature = sign(key, message);
  assert.equal(signature.length, 64);
  assert.deepEqual(sign(key, message), signature);
  assert.ok(verify(signature, message, key.publicKey));
});

Deno.test("`verify()` rejects another message, another key and any changed byte", () => {
  const key = generateSecretKey(TEST_SEED);
  const other = generateSecretKey(new Uint8Array(32).fill(1));
  const signature = sign(key, message);
  assert.equal(verify(signature, bytes(...message, 0), key.publicKey), false);
  assert.equal(verify(signature, message, other.publicKey), false);
  for (let i = 0; i < 64; i++) {
    for (const bit of [0x01, 0x80]) {
      const changed = signature.slice();
      changed[i]! ^= bit;
      assert.equal(verify(changed, message, key.publicKey), false, `byte ${i} bit ${bit}`);
    }
  }
});

Deno.test("`verify()` returns false for malformed input", () => {
  const key = generateSecretKey(TEST_SEED);
  const signature = sign(key, message);
  const table: [string, Uint8Array, Uint8Array][] = [
    ["short signature", signature.subarray(0, 63), key.publicKey],
    ["long signature", bytes(...signature, 0), key.publicKey],
    ["empty signature", bytes(), key.publicKey],
    ["short key", signature, key.publicKey.subarray(0, 31)],
    ["long key", signature, bytes(...key.publicKey, 0)],
    ["key off the curve", signature, fromHex("02" + "00".repeat(31))],
    ["non-canonical key", signature, fromHex("ee" + "ff".repeat(30) + "7f")],
  ];
  for (const [why, sig, publicKey] of table) {
    assert.equal(verify(sig, message, publicKey), false, why);
  }
});

Deno.test("`verify()` rejects S + L, the malleated twin of a valid signature", () => {
  const key = generateSecretKey(TEST_SEED);
  const signature = sign(key, message);
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(signature[i]!);
  s += ed25519.Point.Fn.ORDER;
  const twin = signature.slice();
  for (let i = 32; i < 64; i++, s >>= 8n) twin[i] = Number(s & 0xffn);
  assert.equal(s, 0n, "S + L still fits in 32 bytes");
  assert.equal(verify(twin, message, key.publicKey), false);
});

Deno.test("the identity forgery is accepted by a lenient verifier", () => {
  // Shows that the next test rejects a real forgery, not a signature that never verifies.
  assert.ok(ed25519.verify(IDENTITY_FORGERY, message, IDENTITY, { zip215: true }));
});

Deno.test("`verify()` rejects the identity forgery and every small-order key", () => {
  assert.equal(verify(IDENTITY_FORGERY, message, IDENTITY), false);
  assertTakoError(() => parsePublicKey(encodeBase64(IDENTITY), "k"), "config");
  for (const point of SMALL_ORDER_POINTS) {
    for (const r of SMALL_ORDER_POINTS) {
      const forgery = new Uint8Array(64);
      forgery.set(r, 0);
      assert.equal(verify(forgery, message, point), false, toHex(point));
    }
  }
});

Deno.test("`verify()` agrees with noble's strict verification", () => {
  const key = generateSecretKey(TEST_SEED);
  const keys = [key.publicKey, generateSecretKey(new Uint8Array(32).fill(9)).publicKey, IDENTITY];
  const signatureFor = fc.oneof(
    fc.uint8Array({ maxLength: 40 }).map((m) => ({ m, sig: sign(key, m) })),
    fc.tuple(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 64, maxLength: 64 }))
      .map(([m, sig]) => ({ m, sig })),
    fc.tuple(
      fc.uint8Array({ maxLength: 40 }),
      fc.nat({ max: 63 }),
      fc.integer({ min: 1, max: 255 }),
    )
      .map(([m, at, x]) => {
        const sig = sign(key, m);
        sig[at]! ^= x;
        return { m, sig };
      }),
  );
  fc.assert(
    fc.property(signatureFor, fc.constantFrom(...keys), ({ m, sig }, publicKey) => {
      assert.equal(verify(sig, m, publicKey), ed25519.verify(sig, m, publicKey, { zip215: false }));
    }),
    { numRuns: scaledFuzzRuns(500) },
  );
});
