/**
 * Reading a manifest with the work it needs and no more (docs/performance.md,
 * "The periodic check"): its SHA-256 through WebCrypto, which is part of
 * Deno's runtime (node:crypto costs about 14 ms to load), and the curve
 * library loaded only when a signature must really be verified (about 9 ms
 * more, and 11 ms for its first verification). A stored manifest that
 * `.state` records as verified, byte for byte, under keys the config still
 * lists is parsed without verifying it again.
 *
 * @module
 */
import { toHex } from "../core/bytes.ts";
import { type Entry, parseEntries, splitManifest } from "../core/manifest.ts";
import { formatPublicKey } from "../core/public_key.ts";
import { isManifestTrusted, type State } from "../core/state.ts";

/**
 * SHA-256 of bytes in memory, as 64 lowercase hex digits.
 *
 * @example
 * ```ts
 * await sha256Hex(new TextEncoder().encode("")); // "e3b0c442…b855"
 * ```
 */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  return toHex(digest);
}

/** verifyManifest (core/manifest_signature.ts), loading the curve library on first use. */
async function verifyManifestBytes(
  bytes: Uint8Array,
  publicKeys: readonly Uint8Array[],
  source: string,
): Promise<Entry[]> {
  const { verifyManifest } = await import("../core/manifest_signature.ts");
  return verifyManifest(bytes, publicKeys, source);
}

/**
 * A manifest as an origin sent it: its SHA-256 and its entries, verified
 * under `publicKeys` (errors as verifyManifest's, starting with `source`).
 *
 * @example
 * ```ts
 * declare const bytes: Uint8Array, publicKey: Uint8Array;
 * const { sha256, entries } = await verifiedManifest(bytes, [publicKey], "https://example.com/app/manifest");
 * ```
 */
export async function verifiedManifest(
  bytes: Uint8Array,
  publicKeys: readonly Uint8Array[],
  source: string,
): Promise<{ sha256: string; entries: Entry[] }> {
  const entries = await verifyManifestBytes(bytes, publicKeys, source);
  return { sha256: await sha256Hex(bytes), entries };
}

/**
 * The entries of a destination's stored manifest (`bytes`, SHA-256
 * `sha256`): parsed alone when `state` records that these bytes verified
 * under keys that `publicKeys` (the config's) all still include, verified
 * under `publicKeys` otherwise. Errors as verifyManifest's, starting with
 * `source`.
 *
 * @example
 * ```ts
 * import type { State } from "../core/state.ts";
 * declare const bytes: Uint8Array, publicKey: Uint8Array, state: State;
 * const entries = await storedManifestEntries(bytes, await sha256Hex(bytes), [publicKey], state, "manifest");
 * ```
 */
export async function storedManifestEntries(
  bytes: Uint8Array,
  sha256: string,
  publicKeys: readonly Uint8Array[],
  state: State,
  source: string,
): Promise<Entry[]> {
  if (isManifestTrusted(state, sha256, publicKeys.map(formatPublicKey))) {
    return parseEntries(splitManifest(bytes, source).signed, source);
  }
  return await verifyManifestBytes(bytes, publicKeys, source);
}
