/**
 * Tako public keys (SPEC §1): Ed25519 public keys as 44 characters of
 * base64, accepted only when they encode a canonical point that is not of
 * small order (SPEC §7: under a small-order key one signature verifies for
 * every message).
 *
 * The point check is done here with BigInt arithmetic rather than with
 * @noble/curves, which keys.ts uses to sign and verify: every run of every
 * command reads its config, and loading noble costs about 9 ms, a quarter of
 * the periodic check's whole budget when the stored manifest need not be
 * verified again (docs/performance.md). The tests hold this check to noble's
 * `Point.fromBytes(bytes, false)` and `isSmallOrder()`.
 *
 * @module
 */
import { decodeBase64Strict, encodeBase64 } from "./base64.ts";
import { printable, TakoError } from "./errors.ts";

const KEY_BYTES = 32;
/** Base64 length of a public key. */
const PUBLIC_KEY_CHARS = 44;
/** The field prime 2^255 - 19. */
const P = 2n ** 255n - 19n;
/** The curve constant d = -121665 / 121666 mod p. */
const D = 37095705934669439343138083508754565189542113879843219016388785533085940283555n;
/** A square root of -1 mod p. */
const SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752n;

const mod = (a: bigint) => ((a % P) + P) % P;

function power(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
  }
  return result;
}

/**
 * Decodes a point as RFC 8032 §5.1.3 does, strictly: y < p, x recovered
 * from the curve equation, and no "negative zero" (x = 0 with the sign bit
 * set). Undefined when the bytes encode no point.
 */
function decodePoint(bytes: Uint8Array): { x: bigint; y: bigint } | undefined {
  let y = 0n;
  for (let i = KEY_BYTES - 1; i >= 0; i--) y = (y << 8n) | BigInt(bytes[i]!);
  const sign = y >> 255n;
  y &= (1n << 255n) - 1n;
  if (y >= P) return undefined;
  const y2 = (y * y) % P;
  const u = mod(y2 - 1n);
  const v = mod(D * y2 + 1n);
  const v3 = (v * v % P) * v % P;
  let x = (u * v3 % P) * power(u * (v3 * v3 % P) * v, (P - 5n) / 8n) % P;
  const vx2 = v * x % P * x % P;
  if (vx2 !== u) {
    if (vx2 !== mod(-u)) return undefined;
    x = x * SQRT_M1 % P;
  }
  if (x === 0n && sign === 1n) return undefined;
  return { x, y };
}

/** Whether [8]P is the identity: P lies in the torsion subgroup (doubling in extended coordinates, a = -1). */
function isSmallOrder(point: { x: bigint; y: bigint }): boolean {
  let [x, y, z] = [point.x, point.y, 1n];
  for (let i = 0; i < 3; i++) {
    const a = x * x % P;
    const b = y * y % P;
    const c = 2n * z * z % P;
    const e = mod((x + y) * (x + y) - a - b);
    const g = mod(b - a);
    const f = mod(g - c);
    const h = mod(-a - b);
    [x, y, z] = [e * f % P, g * h % P, f * g % P];
  }
  return x === 0n && y === z;
}

/**
 * Whether `bytes` encode an Ed25519 point that is canonical and not of small
 * order. A point with a small-order component (the seed README's example key
 * is one) is accepted, as SPEC §7 asks: no real signer has such a key, and
 * strict verification still refuses every signature its owner could not
 * have made.
 */
function isStrictPublicKey(bytes: Uint8Array): boolean {
  const point = decodePoint(bytes);
  return point !== undefined && !isSmallOrder(point);
}

/**
 * Parses a public key: 44 characters of strict base64 encoding a canonical
 * Ed25519 point that is not of small order. Throws a config error naming
 * `where` otherwise.
 *
 * @example
 * ```ts
 * parsePublicKey("l0D28J2fiIXvWPbeZP7wkaq+dB55Gl2ysigl9mQH29k=", "/etc/tako/app line 2");
 * ```
 */
export function parsePublicKey(text: string, where: string): Uint8Array {
  const bytes = decodeBase64Strict(text, KEY_BYTES);
  if (bytes === undefined) {
    // Quoted only at a public key's length: a longer text may be part of a secret key.
    const found = text.length === PUBLIC_KEY_CHARS
      ? `'${printable(text)}'`
      : `a text of ${text.length} characters`;
    throw new TakoError(
      "config",
      `${where}: ${found} is not a public key; expected ${PUBLIC_KEY_CHARS} characters of standard base64, such as the public key that 'tako gen-key' prints.`,
    );
  }
  if (!isStrictPublicKey(bytes)) {
    throw new TakoError(
      "config",
      `${where}: '${
        printable(text)
      }' is not a usable Ed25519 public key (non-canonical or of small order, which would accept forged signatures).`,
    );
  }
  return bytes;
}

/**
 * Formats a public key as 44 characters of base64.
 *
 * @example
 * ```ts
 * formatPublicKey(new Uint8Array(32).fill(1)); // "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
 * ```
 */
export function formatPublicKey(publicKey: Uint8Array): string {
  return encodeBase64(publicKey);
}
