import {
  type ConfigMetrics,
  formatMetrics,
  labelValue,
  metricsOf,
} from "../../../lib/core/metrics.ts";
import type { StatusEntry, StatusVersion } from "../../../lib/core/status_report.ts";
import { assert } from "../../support/assert.ts";
import { runProgram } from "../../support/program.ts";
import { parsePrometheusText } from "../../support/prometheus_text.ts";

const SHA = "e8e9c3cf85d5ee8f2c2cb12083d987f0552df6cfbc6eefc639686bc8261a1c0e";

const FULL: ConfigMetrics = {
  config: "/etc/tako/app",
  installed: { sha256: SHA, version: "1.1.0" },
  lastSuccess: "2024-05-01T09:00:00.000Z",
  lastFailure: "2024-05-01T08:45:00.500Z",
  downloadedBytes: 123456789,
  updatePending: true,
  restartPending: false,
  storeBytes: 30,
  rejectedVersions: 2,
  lastRejection: "2024-05-01T08:30:00.000Z",
  waiting: { version: "1.2.0", eligibleAt: "2024-05-01T10:00:00.000Z" },
  ok: true,
};

const UNKNOWN: ConfigMetrics = {
  config: '/etc/tako/we"ird\\name\n\x1b[2J',
  installed: null,
  lastSuccess: null,
  lastFailure: null,
  downloadedBytes: null,
  updatePending: null,
  restartPending: null,
  storeBytes: null,
  rejectedVersions: null,
  lastRejection: null,
  waiting: null,
  ok: false,
};

/** promtool, when installed (Debian's prometheus package), as a second opinion. */
async function promtool(text: string): Promise<{ code: number; output: string } | undefined> {
  const out = await runProgram("promtool", ["check", "metrics"], { stdin: text });
  return out === undefined ? undefined : { code: out.code, output: out.stdout + out.stderr };
}

Deno.test("`formatMetrics()` writes the Prometheus text format, one family per metric", async () => {
  const text = formatMetrics([FULL, UNKNOWN]);
  const families = parsePrometheusText(text);
  const value = (name: string, config = FULL.config) =>
    families.get(name)?.samples.find((s) => s.labels.config === config)?.value;
  assert.deepEqual(families.get("tako_image_info")?.samples, [
    {
      name: "tako_image_info",
      labels: { config: FULL.config, version: "1.1.0", sha256: SHA },
      value: 1,
    },
  ]);
  assert.equal(value("tako_last_success_timestamp_seconds"), 1714554000);
  assert.equal(value("tako_last_failure_timestamp_seconds"), 1714553100.5);
  assert.equal(value("tako_downloaded_bytes_total"), 123456789);
  assert.equal(families.get("tako_downloaded_bytes_total")?.type, "counter");
  assert.equal(value("tako_update_pending"), 1);
  assert.equal(value("tako_restart_pending"), 0);
  assert.equal(value("tako_store_bytes"), 30);
  assert.equal(value("tako_status_ok"), 1);
  assert.equal(value("tako_rejected_versions"), 2);
  assert.equal(value("tako_last_rejection_timestamp_seconds"), 1714552200);
  assert.deepEqual(families.get("tako_rollout_eligible_timestamp_seconds")?.samples, [
    {
      name: "tako_rollout_eligible_timestamp_seconds",
      labels: { config: FULL.config, version: "1.2.0" },
      value: 1714557600,
    },
  ]);
  for (const [name, family] of families) {
    assert.ok(family.help !== undefined && family.type !== undefined, name);
  }
  // Unknown values are left out, not reported as zero; the error is still visible.
  const unknownConfig = families.get("tako_status_ok")!.samples[1]!.labels.config!;
  assert.equal(value("tako_status_ok", unknownConfig), 0);
  assert.equal(value("tako_store_bytes", unknownConfig), undefined);
  assert.equal(value("tako_rejected_versions", unknownConfig), undefined);
  assert.equal(families.get("tako_image_info")!.samples.length, 1);

  const checked = await promtool(text);
  if (checked !== undefined) assert.equal(checked.code, 0, checked.output);
});

Deno.test("`labelValue()` escapes quotes and backslashes and never writes a control byte", () => {
  assert.equal(labelValue('a"b\\c'), 'a\\"b\\\\c');
  const escaped = labelValue("x\ny\x1b[2J\u00e9");
  // deno-lint-ignore no-control-regex -- looking for control characters is the point
  assert.ok(!/[\x00-\x1f\x7f-\uffff]/.test(escaped), escaped);
  const text = formatMetrics([UNKNOWN]);
  const config = parsePrometheusText(text).get("tako_status_ok")!.samples[0]!.labels.config!;
  assert.ok(config.startsWith('/etc/tako/we"ird\\name'), config);
});

Deno.test("the test parser refuses what the format refuses", () => {
  const bad = [
    "tako_x 1", // no final line feed
    "# TYPE tako_x gauge\n# TYPE tako_x gauge\ntako_x 1\n",
    "tako_x 1\n# TYPE tako_x gauge\n",
    'tako_x{a="1"} 1\ntako_y 1\ntako_x{a="2"} 1\n',
    "tako_x 1\ntako_x 2\n",
    'tako_x{a="\\t"} 1\n',
    "tako_x one\n",
    "# TYPE tako_x counter\ntako_x 1\n",
    "tako-x 1\n",
    'tako_x{a="1} 1\n',
  ];
  for (const text of bad) {
    let refused = false;
    try {
      parsePrometheusText(text);
    } catch {
      refused = true;
    }
    assert.ok(refused, JSON.stringify(text));
  }
});

function version(name: string, extra: Partial<StatusVersion> = {}): StatusVersion {
  return {
    version: name,
    size: 10,
    sha256: name.replaceAll(".", "").padEnd(64, "0"),
    present: false,
    stored_size: null,
    latest: false,
    previous: false,
    compatible: true,
    newest_compatible: false,
    ...extra,
  };
}

const ENTRY: StatusEntry = {
  config: "/etc/tako/app",
  destination: "/var/lib/images/app",
  origins: ["https://images.example.com/app"],
  pattern: "1.*",
  version_given: true,
  restart_units: [],
  keep_images: null,
  max_store_size: null,
  manifest: "verified",
  versions: [
    version("1.0.0", { latest: true, present: true }),
    version("1.1.0", { newest_compatible: true }),
    version("2.0.0", { compatible: false }),
  ],
  newest_compatible: "1.1.0",
  latest: { sha256: version("1.0.0").sha256, version: "1.0.0", present: true, foreign: null },
  previous: null,
  store_images: [],
  store_size: "9007199254740993",
  restart_pending: true,
  last_success: "2024-05-01T09:00:00.000Z",
  last_failure: null,
  bytes_downloaded: 10,
  partials: [],
  problems: [],
  rejected: [],
  waiting: null,
  pending_switch: null,
  last_delta: null,
  error: null,
};

Deno.test("`metricsOf()` reads a status entry: installed image, pending update, sizes", () => {
  const m = metricsOf(ENTRY);
  assert.deepEqual(m.installed, { sha256: version("1.0.0").sha256, version: "1.0.0" });
  assert.equal(m.updatePending, true);
  assert.equal(m.restartPending, true);
  assert.equal(m.storeBytes, 9007199254740992, "a decimal string becomes a float");
  assert.equal(m.downloadedBytes, 10);
  assert.equal(m.lastFailure, null);
  assert.equal(m.ok, true);
  // Installed is the newest compatible one: nothing pending; nor when 2.0.0 (incompatible) runs.
  const current = {
    ...ENTRY,
    versions: [version("1.0.0"), version("1.1.0", { latest: true, newest_compatible: true })],
  };
  assert.equal(metricsOf(current).updatePending, false);
  const ahead = {
    ...ENTRY,
    versions: [version("1.1.0", { newest_compatible: true }), version("2.0.0", { latest: true })],
  };
  assert.equal(metricsOf(ahead).updatePending, false);
  // Nothing installed yet, a compatible version on offer: pending. Unknown manifest: unknown.
  assert.equal(
    metricsOf({
      ...current,
      versions: [version("1.1.0", { newest_compatible: true })],
      latest: null,
    }).updatePending,
    true,
  );
  assert.equal(metricsOf({ ...ENTRY, versions: null }).updatePending, null);
  const foreign = {
    ...ENTRY,
    latest: { sha256: null, version: null, present: false, foreign: "a regular file" },
  };
  assert.equal(metricsOf(foreign).installed, null);
  assert.equal(metricsOf({ ...ENTRY, error: { kind: "integrity", message: "m" } }).ok, false);
  const failed = { ...ENTRY, last_failure: { time: "2024-05-01T08:45:00.000Z", message: "m" } };
  assert.equal(metricsOf(failed).lastFailure, "2024-05-01T08:45:00.000Z");
});

Deno.test("`metricsOf()` counts rejected versions and reads the waiting version", () => {
  assert.deepEqual(
    [metricsOf(ENTRY).rejectedVersions, metricsOf(ENTRY).lastRejection, metricsOf(ENTRY).waiting],
    [0, null, null],
  );
  const rejection = (version: string, at: string) => ({
    version,
    sha256: version.padEnd(64, "0"),
    at,
    reason: "app.service failed",
  });
  const rejected = {
    ...ENTRY,
    rejected: [
      rejection("1.2.0", "2024-05-02T10:00:00.000Z"),
      rejection("1.1.0", "2024-05-01T10:00:00.000+05:00"),
      rejection("1.0.5", "not a time"),
    ],
    waiting: {
      version: "1.3.0",
      sha256: "13".padEnd(64, "0"),
      first_seen: "2024-05-02T11:00:00.000Z",
      eligible_at: "2024-05-02T12:00:00.000Z",
    },
  };
  const m = metricsOf(rejected);
  assert.equal(m.rejectedVersions, 3);
  assert.equal(m.lastRejection, "2024-05-02T10:00:00.000Z");
  assert.deepEqual(m.waiting, { version: "1.3.0", eligibleAt: "2024-05-02T12:00:00.000Z" });
  // 1.1.0 is newer than the installed 1.0.0; once rejected, fetch will not install it.
  assert.equal(metricsOf(ENTRY).updatePending, true);
  const newerRejected = rejection("1.1.0", "2024-05-02T10:00:00.000Z");
  const held = { ...ENTRY, rejected: [{ ...newerRejected, sha256: version("1.1.0").sha256 }] };
  assert.equal(metricsOf(held).updatePending, false);
  // A destination that could not be read: unknown, so the sample is left out.
  assert.equal(metricsOf({ ...ENTRY, rejected: null }).rejectedVersions, null);
});
