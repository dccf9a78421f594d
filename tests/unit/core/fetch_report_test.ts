import { TakoError } from "../../../lib/core/errors.ts";
import {
  dryRunText,
  type FetchEntry,
  fetchEntry,
  formatFetchJson,
} from "../../../lib/core/fetch_report.ts";
import { assert } from "../../support/assert.ts";
import { fetchJsonProblems, keyTable, validate } from "../../support/doc_schema.ts";

const OLD = {
  sha256: "81b9783a13d6822dfb3d1413ae5654228b04fa8790c5d6a5b79ba889f184cce5",
  version: "1.0.0",
};
const NEW = {
  sha256: "e8e9c3cf85d5ee8f2c2cb12083d987f0552df6cfbc6eefc639686bc8261a1c0e",
  version: "1.1.0",
};

const UPDATED: FetchEntry = {
  config: "/etc/tako/app",
  destination: "/var/lib/images/app",
  before: OLD,
  after: NEW,
  changed: true,
  bytes_downloaded: 20,
  units_restarted: ["app.service"],
  delta: null,
  rollback: null,
  error: null,
};

Deno.test("`formatFetchJson()` writes the documented schema, ASCII only", async () => {
  const failed = fetchEntry(
    "/etc/tako/\u00e9\x1b",
    { entries: [], changed: false, bytes: 0, restarted: [] },
    new TakoError("config", "bad \u2028 line"),
  );
  const rolledBack: FetchEntry = {
    ...UPDATED,
    after: OLD,
    changed: false,
    delta: { reused: 12, downloaded: 72, requests: 2 },
    rollback: { rejected: NEW, reason: "app.service failed", back_to: OLD, back_problem: null },
  };
  const text = formatFetchJson(false, [UPDATED, failed, {
    ...UPDATED,
    after: { ...NEW, version: null },
  }, rolledBack]);
  assert.ok(text.endsWith("}\n"));
  assert.ok(/^[\x20-\x7e\n]*$/.test(text), "ASCII only");
  const document = JSON.parse(text);
  assert.deepEqual(await fetchJsonProblems(document), []);
  assert.equal(document.configs[1].config, "/etc/tako/\u00e9\x1b", "escapes read back exactly");
  assert.deepEqual(document.configs[1].error, { kind: "config", message: "bad \\u{2028} line" });
  assert.equal(JSON.parse(formatFetchJson(true, [])).dry_run, true);
});

Deno.test("the documentation-driven validator finds missing, extra and mistyped keys", async () => {
  const document = JSON.parse(formatFetchJson(false, [UPDATED]));
  const broken = [
    { ...document, schema: 2 },
    { ...document, configs: [{ ...UPDATED, changed: "yes" }] },
    { ...document, configs: [{ ...UPDATED, extra: 1 }] },
    { ...document, configs: [{ ...UPDATED, before: { sha256: OLD.sha256 } }] },
    { ...document, configs: [{ ...UPDATED, units_restarted: [1] }] },
    { ...document, configs: [{ ...UPDATED, error: { kind: "oops", message: "m" } }] },
    { ...document, configs: [{ ...UPDATED, delta: { reused: 1, downloaded: 2 } }] },
    { ...document, configs: [{ ...UPDATED, rollback: { rejected: NEW, reason: "r" } }] },
    { schema: 1, configs: [] },
  ];
  for (const value of broken) {
    assert.ok((await fetchJsonProblems(value)).length > 0, JSON.stringify(value));
  }
  const table = keyTable(
    "x\n| key | type | meaning |\n| - | - | - |\n| `a` | number or null | m |\n",
    "x",
  );
  assert.deepEqual(validate({ a: null }, table), []);
  assert.deepEqual(validate({ a: "1" }, table), ["$.a: expected a number"]);
});

Deno.test("`dryRunText()` says which version, how many bytes and which units", () => {
  assert.equal(
    dryRunText(UPDATED),
    "would install 1.1.0 (e8e9c3cf85d5…) in place of 1.0.0 (81b9783a13d6…), downloading 20 bytes; would restart app.service.",
  );
  assert.equal(
    dryRunText({ ...UPDATED, before: null, bytes_downloaded: 0, units_restarted: [] }),
    "would install 1.1.0 (e8e9c3cf85d5…), with nothing to download (the image is in store/); would restart nothing.",
  );
  assert.equal(
    dryRunText({
      ...UPDATED,
      before: NEW,
      changed: false,
      bytes_downloaded: 0,
      units_restarted: [],
    }),
    "1.1.0 (e8e9c3cf85d5…) is up to date; would restart nothing.",
  );
  assert.equal(
    dryRunText({ ...UPDATED, after: null, changed: false, units_restarted: [] }),
    "no image to install; would restart nothing.",
  );
  assert.ok(!dryRunText({ ...UPDATED, after: { ...NEW, version: "1\x1b[2J" } }).includes("\x1b"));
  assert.ok(
    dryRunText({ ...UPDATED, after: OLD, changed: false }, ["1.2.0", "1.1.0\x1b"]).endsWith(
      "is up to date; would restart app.service; 1.2.0, 1.1.0\\u{1b} are rejected (never installed again).",
    ),
  );
});

Deno.test("`fetchEntry()` names digests by the newest version listing them", () => {
  const entries = [
    { version: "1.0.0", size: 10n, sha256: OLD.sha256 },
    { version: "1.0.1", size: 10n, sha256: OLD.sha256 },
    { version: "1.1.0", size: 20n, sha256: NEW.sha256 },
  ];
  const outcome = {
    destination: "/var/lib/images/app",
    entries,
    before: OLD.sha256,
    after: "ab".repeat(32),
    changed: true,
    bytes: 20,
    restarted: ["app.service"],
  };
  const entry = fetchEntry("/etc/tako/app", outcome, undefined);
  assert.deepEqual(entry.before, { sha256: OLD.sha256, version: "1.0.1" });
  assert.deepEqual(entry.after, { sha256: "ab".repeat(32), version: null });
  assert.equal(entry.error, null);
  assert.deepEqual(entry.units_restarted, ["app.service"]);
  const early = fetchEntry(
    "x",
    { entries: [], changed: false, bytes: 0, restarted: [] },
    undefined,
  );
  assert.equal(early.destination, null);
  assert.equal(early.before, null);
  assert.equal(early.delta, null);
  const delta = { sha256: NEW.sha256, size: 20, reused: 12, downloaded: 72, requests: 2 };
  const built = fetchEntry("/etc/tako/app", { ...outcome, delta }, undefined);
  assert.deepEqual(built.delta, { reused: 12, downloaded: 72, requests: 2 });
  assert.equal(built.rollback, null);
  const rollback = {
    rejected: NEW.sha256,
    rejectedVersion: "1.1.0",
    reason: "app.service failed\x1b[2J",
    backTo: OLD.sha256,
    backProblem: "app.service is not active",
  };
  const back = fetchEntry("/etc/tako/app", { ...outcome, rollback }, undefined);
  assert.deepEqual(back.rollback, {
    rejected: NEW,
    reason: "app.service failed\\u{1b}[2J",
    back_to: { sha256: OLD.sha256, version: "1.0.1" },
    back_problem: "app.service is not active",
  });
  const stays = fetchEntry(
    "x",
    { ...outcome, rollback: { ...rollback, backTo: undefined } },
    undefined,
  );
  assert.equal(stays.rollback?.back_to, null);
});
