/**
 * The fixture of the http tests: an origin directory with a manifest and
 * three images served on 127.0.0.1, and a store/ to download into.
 */
import { createHash } from "node:crypto";
import { assert } from "../../support/assert.ts";
import { type OriginOptions, startOrigin, type TestOrigin } from "../../support/origin_server.ts";
import { fetchManifestIfChanged, type NetOptions } from "../../../lib/shell/http.ts";
import { downloadResumable } from "../../../lib/shell/partial.ts";

export const MIB = 1024 * 1024;
/** Short limits so that stalls end the tests quickly. */
export const NET: NetOptions = { connectTimeoutMs: 300, idleTimeoutMs: 300, maxRedirects: 5 };
export const MANIFEST_CAP = { ...NET, maxBytes: 64 * 1024 };

export const MANIFEST = new TextEncoder().encode("Tako Manifest 1\n1.0.0 1000 …\nsignature\n");
/** Deterministic bytes that do not compress, so gzip makes them longer. */
export function noise(length: number, seed = 1): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export const SMALL = noise(1000);
/** Larger than the copy pump's two 4 MiB buffers, so both are filled and reused. */
export const BIG = noise(17 * MIB + 3, 7);
export const EMPTY = new Uint8Array(0);
export const IMAGES = [SMALL, BIG, EMPTY];
/** A digest with no file behind it, for behaviours that invent the body. */
export const PHANTOM = "ab".repeat(32);

export interface Fixture {
  readonly dir: string;
  readonly origin: TestOrigin;
  /** The store/ directory images are downloaded into. */
  readonly store: string;
}

/** An origin directory with MANIFEST and IMAGES served on 127.0.0.1, and a store/ to download into. */
export async function withOrigin(
  fn: (f: Fixture) => Promise<void>,
  options: OriginOptions = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tako-http-test-" });
  try {
    await Deno.mkdir(`${dir}/origin/store`, { recursive: true });
    await Deno.mkdir(`${dir}/dest/store`, { recursive: true });
    await Deno.writeFile(`${dir}/origin/manifest`, MANIFEST);
    for (const image of IMAGES) await Deno.writeFile(`${dir}/origin/store/${sha256(image)}`, image);
    const origin = await startOrigin(`${dir}/origin`, options);
    try {
      await fn({ dir, origin, store: `${dir}/dest/store` });
    } finally {
      await origin.close();
    }
    assert.deepEqual(origin.errors, [], "the test origin had unexpected errors");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The manifest bytes of an unconditional request. */
export async function fetchManifest(
  origin: string,
  options: NetOptions & { maxBytes: number },
): Promise<Uint8Array> {
  const answer = await fetchManifestIfChanged(origin, options);
  assert.ok(!answer.notModified, "no 304 without validators");
  return answer.bytes;
}

/** Downloads `sha256` (of `size` bytes) from `origin` into the fixture's store/, as fetch does. */
export function downloadImage(
  f: Fixture,
  origin: string,
  digest: string,
  size: number,
  net: NetOptions = NET,
  onProgress?: (received: number, total: number) => void,
): Promise<void> {
  return downloadResumable({
    storeDir: f.store,
    origin,
    sha256: digest,
    size,
    net,
    ...(onProgress && { onProgress }),
  });
}

export function download(
  f: Fixture,
  image: Uint8Array,
  onProgress?: (received: number, total: number) => void,
): Promise<void> {
  return downloadImage(f, f.origin.url, sha256(image), image.length, NET, onProgress);
}

/** The downloaded image. */
export function stored(f: Fixture, image: Uint8Array | string): Promise<Uint8Array> {
  return Deno.readFile(`${f.store}/${typeof image === "string" ? image : sha256(image)}`);
}

/** What store/ holds: nothing after a refused download, partials included. */
export async function storeNames(f: Fixture): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(f.store))).map((e) => e.name).sort();
}
