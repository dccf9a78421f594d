import { TakoError } from "../../../lib/core/errors.ts";
import { EMPTY_STATE } from "../../../lib/core/state.ts";
import { buildReport, formatStatusJson } from "../../../lib/core/status_report.ts";
import { createHash } from "node:crypto";
import { rolloutPlace, withRollout } from "../../../lib/core/rollout.ts";
import { formatStatusText } from "../../../lib/core/status_text.ts";
import { assert } from "../../support/assert.ts";
import { broken, config, healthy, ONE, ONE_ONE, TWO } from "./_status_facts.ts";

Deno.test("`buildReport()` marks each version present, latest, previous and newest compatible", async () => {
  const report = buildReport(await healthy());
  assert.deepEqual(
    report.versions?.map((v) => [v.version, v.present, v.latest, v.previous, v.newest_compatible]),
    [
      ["1.0.0", true, false, true, false],
      ["1.1.0", false, false, false, true],
      ["2.0.0", true, true, false, false],
    ],
  );
  assert.deepEqual(report.versions?.map((v) => v.compatible), [true, true, false]);
  assert.equal(report.newest_compatible, "1.1.0");
  assert.deepEqual(report.latest, {
    sha256: TWO.sha256,
    version: "2.0.0",
    present: true,
    foreign: null,
  });
  assert.deepEqual(report.previous, { sha256: ONE.sha256, version: "1.0.0", present: true });
  assert.equal(report.store_size, 20);
  assert.equal(report.restart_pending, true);
  assert.equal(report.last_success, "2024-05-01T09:00:00.000Z");
  assert.equal(report.last_failure, null);
  assert.deepEqual(report.partials, []);
  assert.deepEqual(report.problems, []);
  assert.equal(report.error, null);
});

Deno.test("`buildReport()` reports a Version= that matches nothing on offer as a problem", async () => {
  for (const pattern of ["3.*", "1.2.3"]) {
    const report = buildReport(await healthy({ config: await config(`Version=${pattern}\n`) }));
    assert.equal(report.error, null, "status itself did not fail");
    assert.equal(report.problems.length, 1, pattern);
    assert.ok(report.problems[0]!.startsWith(`no version matches Version=${pattern} (`));
    assert.ok(report.problems[0]!.endsWith("This host does not update."));
  }
  // A SemVer range over versions that are not SemVer says why.
  const semver = buildReport(
    await healthy({
      config: await config("Version=^1.4\n"),
      manifest: {
        status: "verified",
        entries: [{ ...ONE, version: "1.4" }, { ...TWO, version: "1.5" }],
      },
    }),
  );
  assert.ok(semver.problems[0]?.includes("not SemVer"), semver.problems[0]);
});

Deno.test("`buildReport()` shows the last failure, a problem only while newer than the last success", async () => {
  const failed = (time: string) =>
    healthy({
      state: {
        ...EMPTY_STATE,
        lastSuccess: "2024-05-01T09:00:00.000Z",
        lastFailure: time,
        lastFailureMessage: "Cannot reach https://o/manifest: timed out.",
      },
      partials: [{ sha256: TWO.sha256, bytes: 8 * 1024 * 1024 }],
    });
  const after = buildReport(await failed("2024-05-01T10:00:00.000Z"));
  assert.deepEqual(after.last_failure, {
    time: "2024-05-01T10:00:00.000Z",
    message: "Cannot reach https://o/manifest: timed out.",
  });
  assert.deepEqual(after.problems, [
    "the last fetch failed (2024-05-01T10:00:00.000Z): Cannot reach https://o/manifest: timed out.",
  ]);
  assert.deepEqual(after.partials, [{ sha256: TWO.sha256, bytes: 8 * 1024 * 1024 }]);
  const before = buildReport(await failed("2024-05-01T08:00:00.000Z"));
  assert.notEqual(before.last_failure, null);
  assert.deepEqual(before.problems, []);
});

Deno.test("`buildReport()` does not count a copy of the wrong size as present", async () => {
  const report = buildReport(await healthy({ store: [{ sha256: TWO.sha256, size: 9 }] }));
  const two = report.versions?.find((v) => v.version === "2.0.0");
  assert.equal(two?.present, false);
  assert.equal(two?.stored_size, 9);
});

Deno.test("`buildReport()` lists no versions and trusts none when the manifest does not verify", async () => {
  const error = new TakoError("integrity", "/var/lib/images/app/manifest: bad signature.");
  const report = buildReport(
    await healthy({ manifest: { status: "unverifiable" }, errors: [error] }),
  );
  assert.equal(report.manifest, "unverifiable");
  assert.equal(report.versions, null);
  assert.equal(report.newest_compatible, null);
  assert.equal(report.latest?.version, null);
  assert.deepEqual(report.store_images?.map((i) => i.version), [null, null]);
  assert.equal(report.store_size, 20);
  assert.deepEqual(report.error, { kind: "integrity", message: error.message });
});

Deno.test("`buildReport()` reports an absent manifest as no versions", async () => {
  const report = buildReport(await healthy({ manifest: { status: "absent" } }));
  assert.equal(report.manifest, "absent");
  assert.deepEqual(report.versions, []);
});

Deno.test("`buildReport()` reports a foreign latest and an image that latest names but is missing", async () => {
  const foreign = buildReport(
    await healthy({ latest: { kind: "foreign", detail: "a regular file" } }),
  );
  assert.deepEqual(foreign.latest, {
    sha256: null,
    version: null,
    present: false,
    foreign: "a regular file",
  });
  const missing = buildReport(await healthy({ latest: { kind: "image", sha256: ONE_ONE.sha256 } }));
  assert.equal(missing.latest?.version, "1.1.0");
  assert.equal(missing.latest?.present, false);
});

Deno.test("`buildReport()` picks the gravest of several errors", async () => {
  const report = buildReport(
    await healthy({
      errors: [new TakoError("runtime", "one"), new TakoError("integrity", "two")],
    }),
  );
  assert.deepEqual(report.error, { kind: "integrity", message: "two" });
});

Deno.test("`formatStatusJson()` writes schema 1 with snake_case names, numbers and nulls", async () => {
  const json = formatStatusJson([
    buildReport(await healthy()),
    buildReport(broken("/etc/tako/gone", new TakoError("config", "The config file is gone."))),
  ]);
  assert.ok(json.endsWith("}\n"));
  const doc = JSON.parse(json);
  assert.equal(doc.schema, 1);
  assert.equal(doc.configs.length, 2);
  const [ok, bad] = doc.configs;
  assert.deepEqual(Object.keys(ok), [
    "config",
    "destination",
    "origins",
    "pattern",
    "version_given",
    "restart_units",
    "keep_images",
    "max_store_size",
    "manifest",
    "versions",
    "newest_compatible",
    "latest",
    "previous",
    "store_images",
    "store_size",
    "restart_pending",
    "last_success",
    "last_failure",
    "bytes_downloaded",
    "partials",
    "problems",
    "rejected",
    "waiting",
    "pending_switch",
    "last_delta",
    "error",
  ]);
  assert.deepEqual(ok.origins, [
    "https://images.example.com/app",
    "https://mirror.example.com/app",
  ]);
  assert.equal(ok.pattern, "1.*");
  assert.equal(ok.version_given, true);
  assert.equal(ok.store_size, 20);
  assert.equal(ok.max_store_size, null);
  assert.deepEqual(ok.versions[1], {
    version: "1.1.0",
    size: 20,
    sha256: ONE_ONE.sha256,
    present: false,
    stored_size: null,
    latest: false,
    previous: false,
    compatible: true,
    newest_compatible: true,
  });
  assert.equal(ok.latest.version, "2.0.0");
  assert.equal(ok.error, null);
  assert.equal(bad.config, "/etc/tako/gone");
  assert.equal(bad.versions, null);
  assert.equal(bad.store_size, null);
  assert.deepEqual(bad.error, { kind: "config", message: "The config file is gone." });
});

Deno.test("`formatStatusJson()` writes sizes above 2^53 - 1 as decimal strings", async () => {
  const huge = (2n ** 60n) + 1n;
  const facts = await healthy({
    config: await config("Version=1.*\nMaxStoreSize=1048576T\n"),
    manifest: { status: "verified", entries: [{ ...ONE, size: huge }] },
  });
  const doc = JSON.parse(formatStatusJson([buildReport(facts)]));
  assert.equal(doc.configs[0].versions[0].size, huge.toString());
  assert.equal(doc.configs[0].max_store_size, (1048576n * 2n ** 40n).toString());
  const limit = JSON.parse(formatStatusJson([buildReport(
    await healthy({
      config: await config("MaxStoreSize=8191T\n"),
    }),
  )]));
  assert.equal(limit.configs[0].max_store_size, 8191 * 2 ** 40);
});

Deno.test("`formatStatusJson()` writes printable ASCII only and round-trips other text", () => {
  const path = "/etc/tako/\x1b[2Jbad\u202e\u00e9\u{1f600}\x7f";
  const json = formatStatusJson([buildReport(broken(path, new TakoError("config", "x")))]);
  assert.match(json, /^[\x20-\x7e\n]*$/);
  assert.equal(JSON.parse(json).configs[0].config, path);
});

const sha256 = (text: string) => createHash("sha256").update(text).digest();

Deno.test("`buildReport()` lists rejections, the version waiting for its turn and an unjudged switch", async () => {
  const seen = "2024-05-01T10:00:00.000Z";
  const state = withRollout(EMPTY_STATE, {
    rejected: [{ version: "2.0.0", sha256: TWO.sha256, at: seen, reason: "app.service failed" }],
    firstSeen: { [ONE_ONE.sha256]: seen },
    pending: {
      phase: "watch",
      to: ONE_ONE.sha256,
      toVersion: "1.1.0",
      from: ONE.sha256,
      fromVersion: "1.0.0",
      since: seen,
    },
  });
  const facts = await healthy({
    config: await config("Version=1.*\nRolloutSpreadSec=10h\n"),
    latest: { kind: "image", sha256: ONE.sha256 },
    state,
    place: (version: string) => rolloutPlace("host-a", version, sha256),
  });
  const report = buildReport(facts);
  assert.deepEqual(report.rejected, [
    { version: "2.0.0", sha256: TWO.sha256, at: seen, reason: "app.service failed" },
  ]);
  const due = Date.parse(seen) +
    Math.floor(10 * 3_600_000 * rolloutPlace("host-a", "1.1.0", sha256));
  assert.deepEqual(report.waiting, {
    version: "1.1.0",
    sha256: ONE_ONE.sha256,
    first_seen: seen,
    eligible_at: new Date(due).toISOString(),
  });
  assert.deepEqual(report.pending_switch, {
    phase: "watch",
    to_version: "1.1.0",
    from_version: "1.0.0",
    since: seen,
  });
  assert.ok(
    report.problems.includes(
      "the switch to 1.1.0 was interrupted before its health check ended; the next fetch finishes it.",
    ),
    report.problems.join("\n"),
  );
  // Without a machine id (or a spread) nothing can say when; without a state, nothing is known.
  assert.equal(buildReport({ ...facts, place: undefined }).waiting, null);
  const none = buildReport(await healthy({ state: undefined }));
  assert.deepEqual([none.rejected, none.waiting, none.pending_switch], [null, null, null]);
  assert.deepEqual(buildReport(await healthy()).rejected, []);
});

Deno.test("`buildReport()` shows the last delta update with its version, in JSON and text", async () => {
  const facts = await healthy();
  const lastDelta = { sha256: TWO.sha256, size: 1000, reused: 900, downloaded: 120, requests: 3 };
  const report = buildReport({ ...facts, state: { ...facts.state!, lastDelta } });
  assert.deepEqual(report.last_delta, { ...lastDelta, version: "2.0.0" });
  assert.equal(buildReport(facts).last_delta, null);
  assert.match(
    formatStatusText([report], new Date("2024-05-01T10:00:00Z")),
    /last delta {3}2\.0\.0: reused 900 B from local images, downloaded 120 B \(12\.0 %\) in 3 requests\n/,
  );
});
