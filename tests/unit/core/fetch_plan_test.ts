/**
 * The decisions of `tako fetch` (lib/core/fetch_plan.ts), table-driven and
 * without I/O: the never-downgrade floor, the candidates in 410-fallback
 * order, the "no compatible version" messages, combining origins' failures
 * and the `.state` transitions around the latest swap and the restart.
 */
import { printable, TakoError } from "../../../lib/core/errors.ts";
import {
  combineFailures,
  downloadSize,
  isWithdrawn,
  noCompatibleVersion,
  planOffer,
  restartFailed,
  restartsUnits,
  runNotes,
  stateAfterSuccess,
  stateAfterSwap,
  stateBeforeSwap,
  takeManifest,
  type Verified,
} from "../../../lib/core/fetch_plan.ts";
import { generateSecretKey } from "../../../lib/core/keys.ts";
import { signManifest, verifyManifest } from "../../../lib/core/manifest_signature.ts";
import { sha256Hex as sha256Of } from "../../support/publish.ts";
import type { Entry } from "../../../lib/core/manifest.ts";
import { parsePattern } from "../../../lib/core/pattern.ts";
import { EMPTY_STATE, type State } from "../../../lib/core/state.ts";
import { assert, assertTakoError } from "../../support/assert.ts";
import { TEST_SEED } from "../../support/vectors.ts";

function entry(version: string, digit: string): Entry {
  return { version, size: 3n, sha256: digit.repeat(64) };
}

const V100 = entry("1.0.0", "a");
const V110 = entry("1.1.0", "b");
const V120 = entry("1.2.0", "c");
const V200 = entry("2.0.0", "d");
const ENTRIES = [V100, V110, V120, V200];

Deno.test("`planOffer()` sets the never-downgrade floor and lists the candidates newest first", async () => {
  const cases: {
    name: string;
    pattern: string;
    entries?: Entry[];
    current: string | undefined;
    floor: string | undefined;
    candidates: string[];
  }[] = [
    {
      name: "no image yet: every match, no floor",
      pattern: "1.*",
      current: undefined,
      floor: undefined,
      candidates: ["1.2.0", "1.1.0", "1.0.0"],
    },
    {
      name: "the current image matches: nothing below it",
      pattern: "1.*",
      current: V110.sha256,
      floor: "1.1.0",
      candidates: ["1.2.0", "1.1.0"],
    },
    {
      name: "the current image no longer matches: no floor, the pattern decides",
      pattern: "1.0.*",
      current: V200.sha256,
      floor: undefined,
      candidates: ["1.0.0"],
    },
    {
      name: "the current image is not listed: no floor",
      pattern: "*",
      current: "e".repeat(64),
      floor: undefined,
      candidates: ["2.0.0", "1.2.0", "1.1.0", "1.0.0"],
    },
    {
      name: "one image under two versions: the newer one is the floor",
      pattern: "*",
      entries: [V100, { ...V110, sha256: V100.sha256 }, V200],
      current: V100.sha256,
      floor: "1.1.0",
      candidates: ["2.0.0", "1.1.0"],
    },
    {
      name: "nothing matches",
      pattern: "3.*",
      current: V100.sha256,
      floor: undefined,
      candidates: [],
    },
  ];
  for (const c of cases) {
    const offer = planOffer(c.entries ?? ENTRIES, await parsePattern(c.pattern), c.current);
    assert.equal(offer.floor?.version, c.floor, c.name);
    assert.deepEqual(offer.candidates.map((e) => e.version), c.candidates, c.name);
  }
});

Deno.test("`planOffer()` names the current entry even when the pattern left it out", async () => {
  const offer = planOffer(ENTRIES, await parsePattern("1.0.*"), V200.sha256);
  assert.equal(offer.current?.version, "2.0.0");
  assert.equal(offer.floor, undefined);
});

Deno.test("`noCompatibleVersion()` says why nothing was chosen and names the newest on offer", async () => {
  const pattern = await parsePattern("3.*");
  // Nothing matched (no candidates), or every candidate was withdrawn (down to the floor).
  const NONE_MATCH = { floor: undefined, candidates: [] };
  const many = [1, 2, 3, 4, 5, 6, 7].map((n) => entry(`0.${n}`, "f"));
  const cases: [string, string][] = [
    [
      noCompatibleVersion(pattern, ENTRIES, NONE_MATCH),
      "no version matches Version=3.* (newest on offer: 2.0.0, 1.2.0, 1.1.0, 1.0.0).",
    ],
    [
      noCompatibleVersion(pattern, [], NONE_MATCH),
      "no version matches Version=3.* (the manifest lists no versions).",
    ],
    [
      noCompatibleVersion(pattern, many, NONE_MATCH),
      "no version matches Version=3.* (newest on offer: 0.7, 0.6, 0.5, 0.4, 0.3).",
    ],
    [
      noCompatibleVersion(pattern, [V100], { floor: undefined, candidates: [V100] }),
      "every version that matches Version=3.* is withdrawn (newest on offer: 1.0.0).",
    ],
    [
      noCompatibleVersion(pattern, [V100], { floor: V100, candidates: [V100] }),
      "every version that matches Version=3.* from the current 1.0.0 up is withdrawn, " +
      "and latest never moves to a lower version (newest on offer: 1.0.0).",
    ],
    [
      noCompatibleVersion(pattern, [entry("1.0\x1b[31m", "a")], NONE_MATCH),
      // The one printable() shows untrusted text; no raw control byte gets through.
      `no version matches Version=3.* (newest on offer: ${printable("1.0\x1b[31m")}).`,
    ],
  ];
  for (const [actual, expected] of cases) assert.equal(actual, expected);
});

Deno.test("`combineFailures()` keeps the last message and the gravest kind; gone only when all are", () => {
  const gone = new TakoError("runtime", "a: 410 Gone.", { tag: "gone" });
  const missing = new TakoError("runtime", "b: 404 Not Found.");
  const forged = new TakoError("integrity", "c: bad signature.");
  const cases: {
    failures: TakoError[];
    kind: string;
    message: string;
    gone: boolean;
  }[] = [
    { failures: [missing], kind: "runtime", message: "b: 404 Not Found.", gone: false },
    { failures: [gone], kind: "runtime", message: "a: 410 Gone.", gone: true },
    {
      failures: [gone, gone],
      kind: "runtime",
      message: "all 2 origins failed; the last: a: 410 Gone.",
      gone: true,
    },
    {
      failures: [gone, missing],
      kind: "runtime",
      message: "all 2 origins failed; the last: b: 404 Not Found.",
      gone: false,
    },
    {
      failures: [forged, missing],
      kind: "integrity",
      message: "all 2 origins failed; the last: b: 404 Not Found.",
      gone: false,
    },
  ];
  for (const c of cases) {
    const combined = combineFailures(c.failures);
    assert.equal(combined.kind, c.kind, c.message);
    assert.equal(combined.message, c.message);
    assert.equal(isWithdrawn(combined), c.gone, c.message);
  }
  assert.throws(() => combineFailures([]), RangeError);
});

Deno.test("`isWithdrawn()` is true only for a TakoError tagged gone", () => {
  assert.equal(isWithdrawn(new TakoError("runtime", "x", { tag: "gone" })), true);
  assert.equal(isWithdrawn(new TakoError("runtime", "x", { tag: "busy" })), false);
  assert.equal(isWithdrawn(new TakoError("runtime", "x")), false);
  assert.equal(isWithdrawn(new Error("gone")), false);
});

Deno.test("`downloadSize()` refuses a size above 2^53 - 1", () => {
  assert.equal(downloadSize({ ...V100, size: 9007199254740991n }), 9007199254740991);
  assertTakoError(
    () => downloadSize({ ...V100, size: 9007199254740992n }),
    "integrity",
    "1.0.0 claims 9007199254740992 bytes, more than Tako can store.",
  );
});

Deno.test("`restartsUnits()` is false under --init and without units", () => {
  assert.equal(restartsUnits(false, ["a.service"]), true);
  assert.equal(restartsUnits(true, ["a.service"]), false);
  assert.equal(restartsUnits(false, []), false);
});

const A = V100.sha256;
const B = V200.sha256;
const OLD = "9".repeat(64);

Deno.test("`stateBeforeSwap()` records the pending restart and the previous image before latest moves", () => {
  const base: State = { ...EMPTY_STATE, previous: OLD, restartPending: false };
  const cases: {
    name: string;
    chosen: string;
    current: string | undefined;
    restarts: boolean;
    expected: Partial<State> | undefined;
  }[] = [
    { name: "latest stays", chosen: A, current: A, restarts: true, expected: undefined },
    {
      name: "latest moves, with units",
      chosen: B,
      current: A,
      restarts: true,
      expected: { previous: A, restartPending: true },
    },
    {
      name: "latest moves, no units",
      chosen: B,
      current: A,
      restarts: false,
      expected: { previous: A, restartPending: false },
    },
    {
      name: "first image: the previous one stays",
      chosen: B,
      current: undefined,
      restarts: true,
      expected: { previous: OLD, restartPending: true },
    },
  ];
  for (const c of cases) {
    const saved = stateBeforeSwap(base, c.chosen, c.current, c.restarts);
    assert.deepEqual(
      saved,
      c.expected === undefined ? undefined : { ...base, ...c.expected },
      c.name,
    );
  }
});

Deno.test("`stateAfterSwap()` keeps a pending restart until one succeeds", () => {
  const cases: {
    name: string;
    pending: boolean;
    current: string | undefined;
    changed: boolean;
    restarts: boolean;
    expected: Partial<State>;
  }[] = [
    {
      name: "moved: restart, previous is the old latest",
      pending: false,
      current: A,
      changed: true,
      restarts: true,
      expected: { previous: A, restartPending: true },
    },
    {
      name: "unchanged, nothing pending: no restart",
      pending: false,
      current: A,
      changed: false,
      restarts: true,
      expected: { previous: OLD, restartPending: false },
    },
    {
      name: "unchanged, a restart pending from before: retried",
      pending: true,
      current: A,
      changed: false,
      restarts: true,
      expected: { previous: OLD, restartPending: true },
    },
    {
      name: "--init or no units: never pending",
      pending: true,
      current: A,
      changed: true,
      restarts: false,
      expected: { previous: A, restartPending: false },
    },
    {
      name: "first image: previous stays",
      pending: false,
      current: undefined,
      changed: true,
      restarts: true,
      expected: { previous: OLD, restartPending: true },
    },
  ];
  for (const c of cases) {
    const base: State = { ...EMPTY_STATE, previous: OLD, restartPending: c.pending };
    assert.deepEqual(
      stateAfterSwap(base, c.current, c.changed, c.restarts),
      { ...base, ...c.expected },
      c.name,
    );
  }
});

Deno.test("`stateAfterSuccess()` clears the pending restart and stamps the time", () => {
  const state: State = { ...EMPTY_STATE, previous: A, restartPending: true };
  assert.deepEqual(stateAfterSuccess(state, new Date(Date.UTC(2026, 0, 2, 3, 4, 5))), {
    ...state,
    restartPending: false,
    lastSuccess: "2026-01-02T03:04:05.000Z",
  });
});

Deno.test("`restartFailed()` says the image stays and the next run retries", () => {
  const cases: [unknown, string][] = [
    [new Error("systemctl failed with exit code 5"), "systemctl failed with exit code 5."],
    [new Error("Unit not found."), "Unit not found."],
    ["plain text", "plain text."],
  ];
  for (const [cause, sentence] of cases) {
    const e = restartFailed("1.2.0", cause);
    assert.equal(e.kind, "runtime");
    assert.equal(
      e.message,
      `1.2.0 is in place, but the restart failed: ${sentence} The next run retries it.`,
    );
    assert.equal(e.cause, cause);
  }
});

Deno.test("`takeManifest()` keeps the stored manifest on 304 and takes fresh bytes that keep the history", () => {
  const key = generateSecretKey(TEST_SEED);
  const oldBytes = signManifest([V100, V110], key);
  const stored: Verified = { bytes: oldBytes, sha256: sha256Of(oldBytes), entries: [V100, V110] };
  const sent = { etag: '"v1"', lastModified: undefined };
  const url = "http://127.0.0.1:1/app/manifest";
  const asked = { origin: "http://127.0.0.1:1/app", url, sent };
  /** Fresh bytes as the caller hands them over: verified, with their digest. */
  const freshAnswer = (entries: Entry[]) => {
    const bytes = signManifest(entries, key);
    const verified = verifyManifest(bytes, [key.publicKey], url);
    return { notModified: false, bytes, sha256: sha256Of(bytes), entries: verified } as const;
  };

  // 304: the stored manifest stays in force, with the validators that were sent.
  assert.deepEqual(takeManifest({ notModified: true }, asked, stored), {
    ...stored,
    origin: asked.origin,
    validators: sent,
  });
  // A 304 is only possible after a conditional request for a stored manifest.
  const noneSent = { ...asked, sent: undefined };
  const unconditional: [Verified | undefined, Parameters<typeof takeManifest>[1]][] = [
    [undefined, asked], // no stored manifest
    [stored, noneSent], // no validators sent
  ];
  for (const [s, a] of unconditional) {
    assertTakoError(
      () => takeManifest({ notModified: true }, a, s),
      "runtime",
      `${url} answered 304 to an unconditional request.`,
    );
  }

  // Fresh bytes that append to the history are taken, with their digest and validators.
  const grown = {
    ...freshAnswer([V100, V110, V200]),
    validators: { etag: '"v2"', lastModified: undefined },
  };
  assert.deepEqual(takeManifest(grown, asked, stored), {
    bytes: grown.bytes,
    sha256: sha256Of(grown.bytes),
    entries: [V100, V110, V200],
    origin: asked.origin,
    validators: grown.validators,
  });
  // Refused: a history that drops a version (a rollback).
  assertTakoError(
    () => takeManifest({ ...freshAnswer([V100, V200]), validators: undefined }, asked, stored),
    "integrity",
    "1.1.0",
  );
  // A first fetch takes any history (that verified).
  assert.deepEqual(
    takeManifest({ ...freshAnswer([V200]), validators: undefined }, asked, undefined).entries,
    [V200],
  );
});

Deno.test("`runNotes()` trusts a first contact only once verified, and names a re-anchored history", () => {
  const given = { versionGiven: true };
  assert.deepEqual(runNotes(given, "/d", undefined, undefined), [
    "first fetch into /d; trusting the origin's signed history.",
  ]);
  const anchored = runNotes(given, "/d", undefined, { sha256: "a".repeat(64), size: 1n });
  assert.equal(anchored.length, 1);
  assert.ok(anchored[0]!.includes("lists the image latest points to"), anchored[0]);
  assert.ok(!anchored[0]!.includes("trusting"));
  const stored = { bytes: new Uint8Array(), sha256: "b".repeat(64), entries: [] };
  assert.deepEqual(runNotes({ versionGiven: false }, "/d", stored, undefined), [
    "no Version= given; any version is accepted.",
  ]);
});
