/**
 * Tako secret keys (SPEC §1), `SECRET+` followed by base64 of the seed and the
 * public key, and Ed25519 signing and verification. Verification is RFC 8032
 * strict (SPEC §7): non-canonical encodings and small-order public keys never
 * verify, so no universal forgery exists. Public keys are read by
 * public_key.ts, which needs no curve library.
 *
 * @module
 */
import { ed25519 } from "@noble/curves/ed25519";
import { createHash } from "node:crypto";
import { decodeBase64Strict, encodeBase64 } from "./base64.ts";
import { equalBytes } from "./bytes.ts";
import { TakoError } from "./errors.ts";

/** A signing key: the 32-byte seed and the public key derived from it. */
export interface SecretKey {
  readonly seed: Uint8Array;
  readonly publicKey: Uint8Array;
}

const KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;
const SECRET_PREFIX = "SECRET+";
/** Base64 length of the current secret key form: seed, public key, public key. */
const SECRET_CHARS = 128;
/** Base64 length of the older secret key form: seed, public key. */
const OLD_SECRET_CHARS = 88;

/**
 * Parses a secret key: `SECRET+` and base64 of 96 bytes (seed, public key,
 * public key) or of the older 64 bytes (seed, public key). Surrounding
 * whitespace, such as a key file's final newline, is ignored. Throws a usage
 * error naming `where` (never echoing the secret) when the prefix is missing,
 * the base64 is malformed or an embedded public key does not belong to the
 * seed.
 *
 * @example
 * ```ts
 * const key = parseSecretKey(Deno.env.get("TAKO_SECRET_KEY") ?? "", "TAKO_SECRET_KEY");
 * ```
 */
export function parseSecretKey(text: string, where: string): SecretKey {
  const trimmed = text.trim();
  if (!trimmed.startsWith(SECRET_PREFIX)) {
    throw new TakoError(
      "usage",
      `${where} does not hold a secret key; expected 'SECRET+' followed by base64, as printed by 'tako gen-key'.`,
    );
  }
  const encoded = trimmed.slice(SECRET_PREFIX.length);
  const byteLength = encoded.length === SECRET_CHARS
    ? 3 * KEY_BYTES
    : encoded.length === OLD_SECRET_CHARS
    ? 2 * KEY_BYTES
    : 0;
  const bytes = byteLength === 0 ? undefined : decodeBase64Strict(encoded, byteLength);
  if (bytes === undefined) {
    throw new TakoError(
      "usage",
      `${where} does not hold a valid secret key; expected 'SECRET+' followed by ${SECRET_CHARS} characters of standard base64.`,
    );
  }
  const key = generateSecretKey(bytes.subarray(0, KEY_BYTES));
  for (let offset = KEY_BYTES; offset < bytes.length; offset += KEY_BYTES) {
    if (!equalBytes(bytes.subarray(offset, offset + KEY_BYTES), key.publicKey)) {
      throw new TakoError(
        "usage",
        `${where} holds a damaged secret key: its embedded public key does not belong to its seed.`,
      );
    }
  }
  return key;
}

/**
 * Formats a secret key in the current 96-byte form: `SECRET+` and 128
 * characters of base64, 135 characters in all.
 */
export function formatSecretKey(key: SecretKey): string {
  const bytes = new Uint8Array(3 * KEY_BYTES);
  bytes.set(key.seed, 0);
  bytes.set(key.publicKey, KEY_BYTES);
  bytes.set(key.publicKey, 2 * KEY_BYTES);
  return SECRET_PREFIX + encodeBase64(bytes);
}

/**
 * Makes a secret key from a 32-byte seed, or from a fresh random seed when
 * none is given.
 *
 * @example
 * ```ts
 * const key = generateSecretKey();
 * console.log(formatSecretKey(key));
 * ```
 */
export function generateSecretKey(seed?: Uint8Array): SecretKey {
  if (seed !== undefined && seed.length !== KEY_BYTES) {
    throw new TakoError(
      "usage",
      `A secret key seed must be ${KEY_BYTES} bytes, not ${seed.length}.`,
    );
  }
  // Copy so that the key never shares memory with the caller's buffer.
  const ownSeed = seed === undefined
    ? crypto.getRandomValues(new Uint8Array(KEY_BYTES))
    : seed.slice();
  return { seed: ownSeed, publicKey: ed25519.getPublicKey(ownSeed) };
}

/** Signs `message` (deterministic Ed25519: the same key and bytes give the same signature). */
export function sign(key: SecretKey, message: Uint8Array): Uint8Array {
  return ed25519.sign(message, key.seed);
}

/**
 * Verifies an Ed25519 signature with RFC 8032 strict rules: canonical
 * encodings only (y < p, S < L), no small-order public key, and the
 * cofactored equation [8][S]B = [8]R + [8][k]A. Returns false, never throws,
 * for malformed input.
 *
 * This is noble's `verify` with `zip215: false`, step for step (the tests
 * hold the two to the same answers), except that SHA-512 runs natively:
 * noble's JavaScript SHA-512 alone takes over 100 ms for a 100,000-entry
 * manifest, most of the time budget for reading one.
 *
 * @example
 * ```ts
 * declare const key: SecretKey, message: Uint8Array;
 * verify(sign(key, message), message, key.publicKey); // true
 * ```
 */
export function verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_BYTES || publicKey.length !== KEY_BYTES) return false;
  const { Point } = ed25519;
  const encodedR = signature.subarray(0, KEY_BYTES);
  const s = littleEndian(signature.subarray(KEY_BYTES));
  if (s >= Point.Fn.ORDER) return false;
  let a, r;
  try {
    a = Point.fromBytes(publicKey, false);
    r = Point.fromBytes(encodedR, false);
  } catch {
    return false;
  }
  if (a.isSmallOrder()) return false;
  const digest = createHash("sha512").update(encodedR).update(publicKey).update(message).digest();
  const k = littleEndian(digest) % Point.Fn.ORDER;
  const sB = Point.BASE.multiplyUnsafe(s);
  return r.add(a.multiplyUnsafe(k)).subtract(sB).clearCofactor().is0();
}

/** The unsigned little-endian integer that `bytes` encode. */
function littleEndian(bytes: Uint8Array): bigint {
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]!);
  return value;
}
