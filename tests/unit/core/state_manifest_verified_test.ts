/**
 * The record in `.state` of the stored manifest's verification (core/state.ts):
 * parsed defensively, and trusted only for the very bytes it names under a
 * config that still lists every key it names.
 */
import {
  EMPTY_STATE,
  isManifestTrusted,
  parseState,
  serializeState,
  type State,
  withManifestVerified,
} from "../../../lib/core/state.ts";
import { parsePublicKey } from "../../../lib/core/public_key.ts";
import { assert } from "../../support/assert.ts";

const SHA_ONE = "1".repeat(64);
const SHA_TWO = "2".repeat(64);
const KEY_A = "l0D28J2fiIXvWPbeZP7wkaq+dB55Gl2ysigl9mQH29k=";
const KEY_B = "8+r5DKNN/cwI+h0oHxMtgdyND3S/5xDLHQu0hFUmq+g=";

const BYTES_A = parsePublicKey(KEY_A, "KEY_A");
const BYTES_B = parsePublicKey(KEY_B, "KEY_B");
const RECORDED: State = withManifestVerified(EMPTY_STATE, SHA_ONE, [BYTES_A]);

Deno.test("`withManifestVerified()` records the digest and the keys, and `parseState()` reads them back", () => {
  assert.deepEqual(RECORDED.manifestVerified, { sha256: SHA_ONE, publicKeys: [KEY_A] });
  const two = withManifestVerified(RECORDED, SHA_TWO, [BYTES_A, BYTES_B]);
  assert.deepEqual(two.manifestVerified, { sha256: SHA_TWO, publicKeys: [KEY_A, KEY_B] });
  for (const state of [RECORDED, two]) {
    assert.deepEqual(parseState(serializeState(state)), state);
  }
});

Deno.test("`isManifestTrusted()` holds only for the same bytes under a config listing every recorded key", () => {
  const table: [string, State, string, string[], boolean][] = [
    ["the same bytes and keys", RECORDED, SHA_ONE, [KEY_A], true],
    ["a key added (rotation begins)", RECORDED, SHA_ONE, [KEY_A, KEY_B], true],
    ["other bytes", RECORDED, SHA_TWO, [KEY_A], false],
    ["the recorded key dropped", RECORDED, SHA_ONE, [KEY_B], false],
    ["no key at all", RECORDED, SHA_ONE, [], false],
    [
      "one of two recorded keys dropped",
      withManifestVerified(EMPTY_STATE, SHA_ONE, [BYTES_A, BYTES_B]),
      SHA_ONE,
      [KEY_A],
      false,
    ],
    ["no record", EMPTY_STATE, SHA_ONE, [KEY_A], false],
  ];
  for (const [why, state, sha256, keys, expected] of table) {
    assert.equal(isManifestTrusted(state, sha256, keys), expected, why);
  }
});

Deno.test("`parseState()` drops a damaged verification record and keeps the rest", () => {
  const damaged: unknown[] = [
    null,
    "yes",
    { sha256: SHA_ONE },
    { sha256: SHA_ONE, publicKeys: [] },
    { sha256: SHA_ONE, publicKeys: KEY_A },
    { sha256: SHA_ONE, publicKeys: [KEY_A, 7] },
    { sha256: SHA_ONE, publicKeys: ["not a key"] },
    { sha256: SHA_ONE, publicKeys: [`${KEY_A}\n`] },
    { sha256: "AB".repeat(32), publicKeys: [KEY_A] },
    { sha256: "../../etc", publicKeys: [KEY_A] },
    { sha256: SHA_ONE, publicKeys: Array(65).fill(KEY_A) },
  ];
  for (const record of damaged) {
    const text = JSON.stringify({ restartPending: true, manifestVerified: record });
    const state = parseState(text);
    assert.equal(state.manifestVerified, undefined, JSON.stringify(record));
    assert.equal(state.restartPending, true);
    assert.equal(isManifestTrusted(state, SHA_ONE, [KEY_A]), false);
  }
});
