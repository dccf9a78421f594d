/**
 * The manifest validators kept in `.state` (lib/core/state.ts): parsed
 * defensively, used only for the very manifest they came with, and kept only
 * for configured origins.
 */
import {
  conditionalHeaders,
  EMPTY_STATE,
  type ManifestValidators,
  parseState,
  serializeState,
  type State,
  withValidators,
} from "../../../lib/core/state.ts";
import { assert } from "../../support/assert.ts";

const ORIGIN_A = "https://a.example/app";
const ORIGIN_B = "https://b.example/app/";
const SHA_ONE = "1".repeat(64);
const SHA_TWO = "2".repeat(64);
const ETAG = '"5f-18c2d"';
const DATE = "Tue, 14 Nov 2023 22:13:20 GMT";

const SAVED_A: ManifestValidators = { manifestSha256: SHA_ONE, etag: ETAG, lastModified: DATE };
const WITH_A: State = { ...EMPTY_STATE, manifestValidators: { [ORIGIN_A]: SAVED_A } };

Deno.test("`parseState()` round-trips manifest validators", () => {
  const table: State[] = [
    WITH_A,
    { ...EMPTY_STATE, manifestValidators: { [ORIGIN_A]: { ...SAVED_A, etag: undefined } } },
    {
      ...EMPTY_STATE,
      manifestValidators: {
        [ORIGIN_A]: { ...SAVED_A, lastModified: undefined },
        [ORIGIN_B]: { ...SAVED_A, manifestSha256: SHA_TWO },
      },
    },
  ];
  for (const state of table) {
    const text = serializeState(state);
    assert.deepEqual(parseState(text), state, text);
  }
});

Deno.test("`parseState()` drops damaged validators and keeps everything else", () => {
  const base = JSON.parse(serializeState({ ...WITH_A, restartPending: true }));
  const table: [string, unknown][] = [
    ["not an object", "etag"],
    ["an array", [SAVED_A]],
    ["null", null],
    ["an empty map", {}],
    ["a bad digest", { [ORIGIN_A]: { ...SAVED_A, manifestSha256: "abc" } }],
    ["an uppercase digest", { [ORIGIN_A]: { ...SAVED_A, manifestSha256: "A".repeat(64) } }],
    ["no validator at all", { [ORIGIN_A]: { manifestSha256: SHA_ONE } }],
    ["a validator with a line feed", {
      [ORIGIN_A]: { manifestSha256: SHA_ONE, etag: '"a"\nX-Evil: 1' },
    }],
    ["a validator that is too long", {
      [ORIGIN_A]: { manifestSha256: SHA_ONE, etag: "x".repeat(300) },
    }],
    ["a number for a validator", { [ORIGIN_A]: { manifestSha256: SHA_ONE, etag: 5 } }],
    ["an origin URL that is too long", { ["h".repeat(3000)]: SAVED_A }],
  ];
  for (const [name, value] of table) {
    const parsed = parseState(JSON.stringify({ ...base, manifestValidators: value }));
    assert.equal(parsed.manifestValidators, undefined, name);
    assert.equal(parsed.restartPending, true, name);
  }
  // One damaged origin does not cost the others theirs.
  const mixed = parseState(JSON.stringify({
    ...base,
    manifestValidators: { [ORIGIN_A]: SAVED_A, [ORIGIN_B]: { manifestSha256: "x", etag: ETAG } },
  }));
  assert.deepEqual(mixed.manifestValidators, { [ORIGIN_A]: SAVED_A });
});

Deno.test("`parseState()` keeps at most 64 origins' validators", () => {
  const many: Record<string, ManifestValidators> = {};
  for (let i = 0; i < 100; i++) many[`https://m${i}.example/`] = SAVED_A;
  const parsed = parseState(JSON.stringify({ manifestValidators: many }));
  assert.equal(Object.keys(parsed.manifestValidators ?? {}).length, 64);
});

Deno.test("`conditionalHeaders()` answers only for the manifest the validators came with", () => {
  const table: [string, State, string, string | undefined, unknown][] = [
    ["same manifest", WITH_A, ORIGIN_A, SHA_ONE, { etag: ETAG, lastModified: DATE }],
    ["stored manifest changed by hand", WITH_A, ORIGIN_A, SHA_TWO, undefined],
    ["no stored manifest", WITH_A, ORIGIN_A, undefined, undefined],
    ["another origin", WITH_A, ORIGIN_B, SHA_ONE, undefined],
    ["no state", EMPTY_STATE, ORIGIN_A, SHA_ONE, undefined],
    ["a damaged state", parseState("{garbage"), ORIGIN_A, SHA_ONE, undefined],
  ];
  for (const [name, state, origin, sha, expected] of table) {
    assert.deepEqual(conditionalHeaders(state, origin, sha), expected, name);
  }
});

Deno.test("`withValidators()` records the answering origin and drops what can no longer be used", () => {
  const both: State = {
    ...EMPTY_STATE,
    restartPending: true,
    manifestValidators: {
      [ORIGIN_A]: SAVED_A,
      [ORIGIN_B]: { manifestSha256: SHA_ONE, etag: '"b"', lastModified: undefined },
    },
  };
  // A serves a new manifest: B's validators belong to the old one and go.
  const fresh = withValidators(
    both,
    ORIGIN_A,
    { etag: '"new"', lastModified: undefined },
    SHA_TWO,
    [
      ORIGIN_A,
      ORIGIN_B,
    ],
  );
  assert.deepEqual(fresh.manifestValidators, {
    [ORIGIN_A]: { manifestSha256: SHA_TWO, etag: '"new"', lastModified: undefined },
  });
  assert.equal(fresh.restartPending, true, "the rest of the state is kept");

  // A confirms the same manifest (304): B's are still good and stay.
  const same = withValidators(both, ORIGIN_A, { etag: ETAG, lastModified: DATE }, SHA_ONE, [
    ORIGIN_A,
    ORIGIN_B,
  ]);
  assert.deepEqual(same.manifestValidators, both.manifestValidators);

  // B is no longer configured: its validators go.
  const dropped = withValidators(both, ORIGIN_A, { etag: ETAG, lastModified: DATE }, SHA_ONE, [
    ORIGIN_A,
  ]);
  assert.deepEqual(Object.keys(dropped.manifestValidators ?? {}), [ORIGIN_A]);

  // An origin that sends no validators loses its old ones; an empty map is left out.
  const none = withValidators(WITH_A, ORIGIN_A, undefined, SHA_ONE, [ORIGIN_A]);
  assert.equal("manifestValidators" in none, false);
  assert.deepEqual(parseState(serializeState(none)), none);

  // Unsafe header text is never recorded.
  const unsafe = withValidators(
    EMPTY_STATE,
    ORIGIN_A,
    {
      etag: '"a"\r\nX: y',
      lastModified: undefined,
    },
    SHA_ONE,
    [ORIGIN_A],
  );
  assert.equal(unsafe.manifestValidators, undefined);
});
