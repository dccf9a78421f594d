/**
 * The SHA-256 digests that name images and manifests: 64 lowercase hex digits.
 *
 * A malformed digest is always an integrity error: every digest Tako handles
 * comes from a signed manifest, an origin or a file in a destination, so one
 * that is not well-formed is data not to be trusted (docs/exit-codes.md).
 *
 * @module
 */
import { printable, TakoError } from "./errors.ts";

/** A SHA-256 digest as Tako writes it: exactly 64 lowercase hex digits. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Refuses anything but 64 lowercase hex digits (a digest becomes a file name
 * in `store/`, so this also keeps `../` out).
 *
 * @example
 * ```ts
 * requireDigest("81b9783a13d6822dfb3d1413ae5654228b04fa8790c5d6a5b79ba889f184cce5");
 * ```
 */
export function requireDigest(sha256: string): void {
  if (!SHA256_HEX.test(sha256)) {
    throw new TakoError(
      "integrity",
      `"${printable(sha256)}" is not a SHA-256 digest; expected 64 lowercase hexadecimal digits.`,
    );
  }
}
