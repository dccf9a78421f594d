import {
  EMPTY_STATE,
  type ImageStamp,
  parseState,
  serializeState,
  stampMatches,
  stampOf,
  type State,
  withDownloaded,
} from "../../../lib/core/state.ts";
import { assert } from "../../support/assert.ts";

const IMAGE_ONE = "81b9783a13d6822dfb3d1413ae5654228b04fa8790c5d6a5b79ba889f184cce5";
const IMAGE_TWO = "4285542ca100206c85381b7affa8d3c6b1eb89f9c3c08cf5821b23ecdbf63a79";

const STAMP: ImageStamp = {
  sha256: IMAGE_ONE,
  size: 10,
  ino: 4242,
  mtimeMs: 1_700_000_000_123,
  ctimeMs: 1_700_000_000_456,
};

const FULL: State = {
  restartPending: true,
  previous: IMAGE_TWO,
  lastSuccess: "2024-05-01T12:00:00.000Z",
  verified: STAMP,
};

Deno.test("`serializeState()` and `parseState()` round-trip", () => {
  const table: State[] = [
    EMPTY_STATE,
    FULL,
    { ...EMPTY_STATE, restartPending: true },
    { ...EMPTY_STATE, previous: IMAGE_ONE },
    { ...EMPTY_STATE, lastSuccess: "2030-12-31T23:59:59.999Z" },
    { ...FULL, verified: { ...STAMP, ino: null, mtimeMs: null, ctimeMs: null } },
    { ...FULL, verified: { ...STAMP, size: 0 } },
    { ...FULL, verified: { ...STAMP, size: Number.MAX_SAFE_INTEGER } },
    { ...FULL, lastDelta: { sha256: IMAGE_ONE, size: 10, reused: 6, downloaded: 68, requests: 2 } },
  ];
  for (const state of table) {
    const text = serializeState(state);
    assert.ok(text.endsWith("}\n"), "one JSON document ending in a line feed");
    assert.deepEqual(parseState(text), state, text);
    assert.equal(serializeState(parseState(text)), text, "serializing again gives the same text");
  }
});

Deno.test("`parseState()` gives EMPTY_STATE for a missing or damaged file", () => {
  const table: (string | undefined)[] = [
    undefined,
    "",
    " ",
    "{",
    serializeState(FULL).slice(0, 40),
    "null",
    "42",
    '"text"',
    "true",
    "[]",
    "[1, 2]",
    "{}",
    "\x00\x01\x02",
    '{"restartPending": "yes", "previous": 7, "lastSuccess": false, "verified": []}',
  ];
  for (const text of table) {
    assert.deepEqual(parseState(text), EMPTY_STATE, JSON.stringify(text));
  }
});

Deno.test("`parseState()` drops each damaged field and keeps the others", () => {
  const base = JSON.parse(serializeState(FULL));
  const table: [string, unknown, Partial<State>][] = [
    ["restartPending", 1, { restartPending: false }],
    ["restartPending", "true", { restartPending: false }],
    ["previous", IMAGE_TWO.toUpperCase(), { previous: undefined }],
    ["previous", IMAGE_TWO.slice(1), { previous: undefined }],
    ["previous", `../../${IMAGE_TWO}`, { previous: undefined }],
    ["previous", null, { previous: undefined }],
    ["lastSuccess", "yesterday", { lastSuccess: undefined }],
    ["lastSuccess", 1_700_000_000_000, { lastSuccess: undefined }],
    ["verified", null, { verified: undefined }],
    ["verified", "stamp", { verified: undefined }],
    ["verified", { ...STAMP, sha256: "x" }, { verified: undefined }],
    ["verified", { ...STAMP, size: -1 }, { verified: undefined }],
    ["verified", { ...STAMP, size: 1.5 }, { verified: undefined }],
    ["verified", { ...STAMP, size: "10" }, { verified: undefined }],
    ["verified", { ...STAMP, size: 2 ** 53 }, { verified: undefined }],
    // A stamp field that is not a finite number becomes null, which never matches.
    ["verified", { ...STAMP, ino: "4242" }, { verified: { ...STAMP, ino: null } }],
    ["verified", { ...STAMP, mtimeMs: undefined }, { verified: { ...STAMP, mtimeMs: null } }],
    ["verified", { ...STAMP, ctimeMs: [1] }, { verified: { ...STAMP, ctimeMs: null } }],
  ];
  for (const [field, value, change] of table) {
    const text = JSON.stringify({ ...base, [field]: value });
    assert.deepEqual(
      parseState(text),
      { ...FULL, ...change },
      `${field}: ${JSON.stringify(value)}`,
    );
  }
});

Deno.test("`parseState()` ignores unknown fields", () => {
  const text = JSON.stringify({ ...JSON.parse(serializeState(FULL)), future: { x: 1 } });
  assert.deepEqual(parseState(text), FULL);
});

Deno.test("`stampOf()` takes size, inode and times from a file's info", () => {
  const info = {
    size: 10,
    ino: 4242,
    mtime: new Date(1_700_000_000_123),
    ctime: new Date(1_700_000_000_456),
  };
  assert.deepEqual(stampOf(IMAGE_ONE, info), STAMP);
  assert.deepEqual(stampOf(IMAGE_ONE, { size: 10, ino: null, mtime: null }), {
    sha256: IMAGE_ONE,
    size: 10,
    ino: null,
    mtimeMs: null,
    ctimeMs: null,
  });
});

Deno.test("`stampOf()` of a real file matches a second stat until the file changes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tako-state-" });
  try {
    const path = `${dir}/image`;
    await Deno.writeTextFile(path, "image one\n");
    const before = stampOf(IMAGE_ONE, await Deno.stat(path));
    assert.ok(stampMatches(before, stampOf(IMAGE_ONE, await Deno.stat(path))));
    // Same size, other contents: mtime moves (Deno reports ctime in whole seconds only).
    await new Promise((resolve) => setTimeout(resolve, 20));
    await Deno.writeTextFile(path, "image 0ne\n");
    const after = stampOf(IMAGE_ONE, await Deno.stat(path));
    assert.equal(after.size, before.size);
    assert.ok(!stampMatches(before, after));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`stampMatches()` needs every field equal and known", () => {
  assert.ok(stampMatches(STAMP, { ...STAMP }));
  assert.ok(!stampMatches(undefined, STAMP), "no stamp recorded");
  const table: [string, Partial<ImageStamp>][] = [
    ["sha256", { sha256: IMAGE_TWO }],
    ["size", { size: 11 }],
    ["ino", { ino: 4243 }],
    ["mtimeMs", { mtimeMs: STAMP.mtimeMs! + 1 }],
    ["ctimeMs", { ctimeMs: STAMP.ctimeMs! + 1 }],
    ["ino", { ino: null }],
    ["mtimeMs", { mtimeMs: null }],
    ["ctimeMs", { ctimeMs: null }],
  ];
  for (const [field, change] of table) {
    assert.ok(!stampMatches({ ...STAMP, ...change }, STAMP), `recorded ${field} differs`);
    assert.ok(!stampMatches(STAMP, { ...STAMP, ...change }), `current ${field} differs`);
  }
  const unknown = { ...STAMP, ino: null, mtimeMs: null, ctimeMs: null };
  assert.ok(!stampMatches(unknown, unknown), "unknown fields never match, even each other");
});

Deno.test("`parseState()` drops a damaged delta record", () => {
  const good = { sha256: IMAGE_ONE, size: 10, reused: 6, downloaded: 68, requests: 2 };
  for (
    const bad of [null, 5, { ...good, sha256: "x" }, { ...good, reused: -1 }, {
      ...good,
      requests: 1.5,
    }]
  ) {
    const text = JSON.stringify({ ...FULL, lastDelta: bad });
    assert.deepEqual(parseState(text), FULL, text);
  }
});

Deno.test("`parseState()` keeps the last failure's time and bounded message, and drops bad ones", () => {
  const failed = {
    ...EMPTY_STATE,
    lastFailure: "2024-05-01T11:00:00.000Z",
    lastFailureMessage: "Cannot reach https://o/manifest: timed out.",
  };
  assert.deepEqual(parseState(serializeState(failed)), failed);
  const bad = parseState(JSON.stringify({ lastFailure: "yesterday", lastFailureMessage: "x" }));
  assert.equal(bad.lastFailure, undefined);
  assert.equal(bad.lastFailureMessage, undefined);
  const long = parseState(
    JSON.stringify({ lastFailure: failed.lastFailure, lastFailureMessage: "x".repeat(2001) }),
  );
  assert.equal(long.lastFailure, failed.lastFailure);
  assert.equal(long.lastFailureMessage, undefined);
});

Deno.test("`parseState()` keeps the metrics' download counter when well-formed", () => {
  const state = parseState(JSON.stringify({ downloadedBytes: 1234 }));
  assert.equal(state.downloadedBytes, 1234);
  for (const downloadedBytes of [-1, 1.5, "12", null]) {
    const damaged = parseState(JSON.stringify({ downloadedBytes }));
    assert.ok(!("downloadedBytes" in damaged), String(downloadedBytes));
  }
  assert.deepEqual(parseState(serializeState(state)), state);
});

Deno.test("`withDownloaded()` adds to the counter, caps it, and ignores nothing downloaded", () => {
  assert.equal(withDownloaded(EMPTY_STATE, 20).downloadedBytes, 20);
  assert.equal(withDownloaded(withDownloaded(EMPTY_STATE, 20), 5).downloadedBytes, 25);
  assert.equal(withDownloaded(EMPTY_STATE, 0), EMPTY_STATE);
  const huge = withDownloaded({ ...EMPTY_STATE, downloadedBytes: Number.MAX_SAFE_INTEGER - 1 }, 10);
  assert.equal(huge.downloadedBytes, Number.MAX_SAFE_INTEGER);
});
