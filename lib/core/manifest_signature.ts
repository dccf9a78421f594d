/**
 * The signature of a manifest (SPEC §2, §7): signing a list of entries, and
 * verifying a manifest's exact bytes before its entries are parsed. Apart from
 * the format (manifest.ts) because it loads the curve library, which the
 * periodic check of an unchanged origin does without.
 *
 * @module
 */
import { encodeBase64 } from "./base64.ts";
import { type SecretKey, sign, verify } from "./keys.ts";
import {
  type Entry,
  parseEntries,
  rejectedManifest,
  serializeEntries,
  splitManifest,
} from "./manifest.ts";

const LF = 0x0a;
const encoder = new TextEncoder();

/**
 * Verifies a manifest and returns its entries (SPEC §2, §7). The file must be
 * at most MAX_MANIFEST_BYTES; its signature must verify under at least one of
 * `publicKeys` (key rotation); only then are the entries parsed, and they
 * must be in canonical form, in ascending version order and pairwise unequal.
 * Throws a TakoError of kind "integrity" whose message starts with `source`
 * for anything else, and never anything other than TakoError.
 *
 * @example
 * ```ts
 * declare const bytes: Uint8Array, publicKey: Uint8Array;
 * const entries = verifyManifest(bytes, [publicKey], "https://example.com/app/manifest");
 * ```
 */
export function verifyManifest(
  bytes: Uint8Array,
  publicKeys: readonly Uint8Array[],
  source: string,
  /** How the failure names `publicKeys`; `tako store` has no config. */
  keysName = "the configured public key(s)",
): Entry[] {
  const { signed, signature } = splitManifest(bytes, source);
  if (!publicKeys.some((key) => verify(signature, signed, key))) {
    throw rejectedManifest(bytes, source, `the signature does not verify under ${keysName}.`);
  }
  return parseEntries(signed, source);
}

/**
 * Writes and signs a whole manifest. Like minisign, it verifies its own
 * output before returning, so a wrong key or an invalid entry list (unsorted,
 * equal versions, a malformed field) throws instead of being published.
 *
 * @example
 * ```ts
 * import type { SecretKey } from "./keys.ts";
 * import type { Entry } from "./manifest.ts";
 * declare const entries: Entry[], key: SecretKey;
 * await Deno.writeFile("manifest", signManifest(entries, key));
 * ```
 */
export function signManifest(entries: readonly Entry[], key: SecretKey): Uint8Array {
  const signed = encoder.encode(serializeEntries(entries));
  const signature = encodeBase64(sign(key, signed));
  const bytes = new Uint8Array(signed.length + signature.length + 1);
  bytes.set(signed, 0);
  bytes.set(encoder.encode(signature), signed.length);
  bytes[bytes.length - 1] = LF;
  verifyManifest(bytes, [key.publicKey], "the manifest being signed");
  return bytes;
}
