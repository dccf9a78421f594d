/**
 * Re-signing a manifest for key rotation: the signed bytes stay exactly as
 * they are, only the signature line changes. Pure.
 *
 * @module
 */
import { encodeBase64 } from "./base64.ts";
import { type SecretKey, sign } from "./keys.ts";
import type { Entry } from "./manifest.ts";
import { verifyManifest } from "./manifest_signature.ts";

const LF = 0x0a;

/**
 * Verifies `bytes` under `previousKeys` (throwing the integrity error of
 * {@link verifyManifest} when it does not verify: a manifest we cannot trust
 * is never re-signed), then signs the same signed part with `key`. Like
 * signManifest, it verifies its own output before returning it.
 *
 * @example
 * ```ts
 * import type { SecretKey } from "./keys.ts";
 * declare const bytes: Uint8Array, oldPublicKey: Uint8Array, newKey: SecretKey;
 * const { manifest } = resignManifest(bytes, [oldPublicKey], newKey, "origin/manifest");
 * ```
 */
export function resignManifest(
  bytes: Uint8Array,
  previousKeys: readonly Uint8Array[],
  key: SecretKey,
  source: string,
): { manifest: Uint8Array; entries: Entry[] } {
  const entries = verifyManifest(bytes, previousKeys, source);
  // verifyManifest checked the shape: the signature is the last line, after a line feed.
  const signed = bytes.subarray(0, bytes.lastIndexOf(LF, bytes.length - 2) + 1);
  const signature = new TextEncoder().encode(encodeBase64(sign(key, signed)));
  const manifest = new Uint8Array(signed.length + signature.length + 1);
  manifest.set(signed, 0);
  manifest.set(signature, signed.length);
  manifest[manifest.length - 1] = LF;
  verifyManifest(manifest, [key.publicKey], "the manifest being re-signed");
  return { manifest, entries };
}
