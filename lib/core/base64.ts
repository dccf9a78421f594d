/**
 * Standard base64 (RFC 4648 §4, alphabet `A-Z a-z 0-9 + /`, `=` padding) for
 * keys and signatures. Decoding is strict: a text decodes only when it is the
 * one canonical encoding of bytes of the expected length, so that every key
 * and signature has exactly one spelling (SPEC §7).
 *
 * @module
 */

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const PAD = 0x3d; // "="

/** Value of each ASCII code in the alphabet, -1 for every other code. */
const VALUES: Int8Array = (() => {
  const values = new Int8Array(128).fill(-1);
  for (let i = 0; i < ALPHABET.length; i++) values[ALPHABET.charCodeAt(i)] = i;
  return values;
})();

/** The value of the character at `index`, or -1 when it is not in the alphabet. */
function valueAt(text: string, index: number): number {
  const code = text.charCodeAt(index);
  return code < 128 ? VALUES[code]! : -1;
}

/**
 * Decodes standard base64 into exactly `length` bytes; `undefined` on any
 * deviation: another length, whitespace, the URL-safe alphabet, missing or
 * extra `=`, or non-zero padding bits.
 *
 * @example
 * ```ts
 * decodeBase64Strict("AAE=", 2); // Uint8Array [0, 1]
 * decodeBase64Strict("AAF=", 2); // undefined: padding bits set
 * decodeBase64Strict("AAE", 2); // undefined: padding missing
 * ```
 */
export function decodeBase64Strict(text: string, length: number): Uint8Array | undefined {
  if (!Number.isSafeInteger(length) || length < 0) return undefined;
  if (text.length !== Math.ceil(length / 3) * 4) return undefined;
  const padding = (3 - (length % 3)) % 3;
  const dataChars = text.length - padding;
  for (let i = dataChars; i < text.length; i++) {
    if (text.charCodeAt(i) !== PAD) return undefined;
  }
  const bytes = new Uint8Array(length);
  let out = 0;
  let bits = 0;
  let bitCount = 0;
  for (let i = 0; i < dataChars; i++) {
    const value = valueAt(text, i);
    if (value < 0) return undefined;
    bits = ((bits << 6) | value) & 0xffffff;
    bitCount += 6;
    if (bitCount >= 8) {
      bitCount -= 8;
      bytes[out++] = (bits >> bitCount) & 0xff;
    }
  }
  // The bits left over after the last byte must be zero, or two texts would decode alike.
  if ((bits & ((1 << bitCount) - 1)) !== 0) return undefined;
  return bytes;
}

/**
 * Encodes bytes as standard base64 with `=` padding.
 *
 * @example
 * ```ts
 * encodeBase64(new Uint8Array([0, 1])); // "AAE="
 * ```
 */
export function encodeBase64(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const b0 = bytes[i]!;
    const b1 = bytes[i + 1];
    const b2 = bytes[i + 2];
    const group = (b0 << 16) | ((b1 ?? 0) << 8) | (b2 ?? 0);
    text += ALPHABET[group >> 18]! + ALPHABET[(group >> 12) & 63]!;
    text += b1 === undefined
      ? "=="
      : ALPHABET[(group >> 6) & 63]! + (b2 === undefined ? "=" : ALPHABET[group & 63]!);
  }
  return text;
}
