/**
 * Reading a stored manifest (shell/manifest_read.ts): verified under the
 * config's keys unless `.state` records these very bytes as verified under
 * keys the config still lists; then only parsed.
 */
import { EMPTY_STATE, withManifestVerified } from "../../../lib/core/state.ts";
import { sha256Hex, storedManifestEntries } from "../../../lib/shell/manifest_read.ts";
import { assert, assertRejectsTako } from "../../support/assert.ts";
import { OTHER_KEY, sha256Hex as referenceSha256, TEST_KEY } from "../../support/publish.ts";
import { ONE_ENTRY, ONE_ENTRY_MANIFEST } from "../../support/vectors.ts";

const manifest = new TextEncoder().encode(ONE_ENTRY_MANIFEST);
const keys = [TEST_KEY.publicKey];

/** The same manifest with one byte of its signature changed: structurally sound, not genuine. */
function forged(): Uint8Array {
  const bytes = manifest.slice();
  const at = bytes.length - 10;
  bytes[at] = bytes[at] === 0x41 ? 0x42 : 0x41;
  return bytes;
}

Deno.test("`sha256Hex()` gives the lowercase hex SHA-256 of bytes, as node:crypto does", async () => {
  const cases: [string, string][] = [
    ["", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
    ["abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
  ];
  for (const [text, digest] of cases) {
    assert.equal(await sha256Hex(new TextEncoder().encode(text)), digest);
  }
  for (const bytes of [new Uint8Array(0), manifest, forged()]) {
    assert.equal(await sha256Hex(bytes), referenceSha256(bytes));
  }
});

Deno.test("`storedManifestEntries()` verifies a manifest that .state does not vouch for", async () => {
  const sha256 = await sha256Hex(manifest);
  assert.deepEqual(
    await storedManifestEntries(manifest, sha256, keys, EMPTY_STATE, "manifest"),
    [ONE_ENTRY],
  );
  const bad = forged();
  const badSha256 = await sha256Hex(bad);
  await assertRejectsTako(
    () => storedManifestEntries(bad, badSha256, keys, EMPTY_STATE, "manifest"),
    "integrity",
    "does not verify",
  );
});

Deno.test("`storedManifestEntries()` parses without verifying the very bytes .state recorded as verified", async () => {
  // The forged signature shows that no verification ran: .state is as much
  // Tako's own local record as the stored manifest is (docs/performance.md).
  const bad = forged();
  const sha256 = await sha256Hex(bad);
  const state = withManifestVerified(EMPTY_STATE, sha256, keys);
  assert.deepEqual(await storedManifestEntries(bad, sha256, keys, state, "manifest"), [ONE_ENTRY]);
});

Deno.test("`storedManifestEntries()` verifies again when the bytes or the keys differ from the record", async () => {
  const bad = forged();
  const sha256 = await sha256Hex(bad);
  const cases = [
    // Recorded for the genuine bytes, not these.
    withManifestVerified(EMPTY_STATE, await sha256Hex(manifest), keys),
    // Recorded under a key this config no longer lists.
    withManifestVerified(EMPTY_STATE, sha256, [OTHER_KEY.publicKey]),
  ];
  for (const state of cases) {
    await assertRejectsTako(
      () => storedManifestEntries(bad, sha256, keys, state, "manifest"),
      "integrity",
      "does not verify",
    );
  }
});
