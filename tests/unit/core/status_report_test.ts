import { type Config, parseConfig } from "../../../lib/core/config.ts";
import { TakoError } from "../../../lib/core/errors.ts";
import type { Entry } from "../../../lib/core/manifest.ts";
import { EMPTY_STATE, type State } from "../../../lib/core/state.ts";
import {
  buildReport,
  formatStatusJson,
  formatStatusText,
  safeText,
  type StatusFacts,
  timeText,
} from "../../../lib/core/status_report.ts";
import { TEST_PUBLIC_KEY, THREE_IMAGES } from "../../support/vectors.ts";
import { assert } from "../../support/assert.ts";

const [ONE, ONE_ONE, TWO] = THREE_IMAGES.map((i) => ({
  version: i.version,
  size: i.size,
  sha256: i.sha256,
})) as [Entry, Entry, Entry];
const ENTRIES: readonly Entry[] = [ONE, ONE_ONE, TWO];
const NOW = new Date("2024-05-01T12:00:00.000Z");

async function config(extra = "Version=1.*\n"): Promise<Config> {
  return await parseConfig(
    "Origin=https://images.example.com/app\n" +
      "Origin=https://mirror.example.com/app\n" +
      `PublicKey=${TEST_PUBLIC_KEY}\n` +
      "Destination=/var/lib/images/app\n" +
      "Restart=app.service\n" +
      extra,
    "/etc/tako/app",
  );
}

/** Facts of a healthy destination: 1.0.0 (previous) and 2.0.0 (latest) stored. */
async function healthy(overrides: Partial<StatusFacts> = {}): Promise<StatusFacts> {
  const state: State = {
    ...EMPTY_STATE,
    previous: ONE.sha256,
    lastSuccess: "2024-05-01T09:00:00.000Z",
    restartPending: true,
  };
  return {
    configPath: "/etc/tako/app",
    config: await config(),
    destination: "/var/lib/images/app",
    manifest: { status: "verified", entries: ENTRIES },
    store: [{ sha256: TWO.sha256, size: 10 }, { sha256: ONE.sha256, size: 10 }],
    latest: { kind: "image", sha256: TWO.sha256 },
    state,
    errors: [],
    ...overrides,
  };
}

/** Whether text holds a control character other than the line feed. */
function hasControl(text: string): boolean {
  return [...text].some((ch) => {
    const code = ch.codePointAt(0)!;
    return (code < 0x20 && code !== 0x0a) || (code >= 0x7f && code < 0xa0);
  });
}

/** Facts of a config that could not be read. */
function broken(path: string, error: TakoError): StatusFacts {
  return {
    configPath: path,
    config: undefined,
    destination: undefined,
    manifest: undefined,
    store: undefined,
    latest: undefined,
    state: undefined,
    errors: [error],
  };
}

Deno.test("`buildReport()` marks each version present, latest, previous and newest compatible", async () => {
  const report = buildReport(await healthy());
  assert.deepEqual(
    report.versions?.map((v) => [v.version, v.present, v.latest, v.previous, v.newestCompatible]),
    [
      ["1.0.0", true, false, true, false],
      ["1.1.0", false, false, false, true],
      ["2.0.0", true, true, false, false],
    ],
  );
  assert.deepEqual(report.versions?.map((v) => v.compatible), [true, true, false]);
  assert.equal(report.newestCompatible, "1.1.0");
  assert.deepEqual(report.latest, {
    sha256: TWO.sha256,
    version: "2.0.0",
    present: true,
    foreign: null,
  });
  assert.deepEqual(report.previous, { sha256: ONE.sha256, version: "1.0.0", present: true });
  assert.equal(report.storeSize, 20n);
  assert.equal(report.restartPending, true);
  assert.equal(report.lastSuccess, "2024-05-01T09:00:00.000Z");
  assert.equal(report.error, null);
});

Deno.test("`buildReport()` does not count a copy of the wrong size as present", async () => {
  const report = buildReport(await healthy({ store: [{ sha256: TWO.sha256, size: 9 }] }));
  const two = report.versions?.find((v) => v.version === "2.0.0");
  assert.equal(two?.present, false);
  assert.equal(two?.storedSize, 9);
});

Deno.test("`buildReport()` lists no versions and trusts none when the manifest does not verify", async () => {
  const error = new TakoError("integrity", "/var/lib/images/app/manifest: bad signature.");
  const report = buildReport(
    await healthy({ manifest: { status: "unverifiable" }, errors: [error] }),
  );
  assert.equal(report.manifest, "unverifiable");
  assert.equal(report.versions, null);
  assert.equal(report.newestCompatible, null);
  assert.equal(report.latest?.version, null);
  assert.deepEqual(report.storeImages?.map((i) => i.version), [null, null]);
  assert.equal(report.storeSize, 20n);
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

Deno.test("`formatStatusText()` shows the config, its settings and a table of versions", async () => {
  const text = formatStatusText([buildReport(await healthy())], NOW);
  const lines = text.split("\n");
  assert.equal(lines[0], "/etc/tako/app");
  for (
    const expected of [
      "  destination  /var/lib/images/app",
      "  origin       https://images.example.com/app",
      "               https://mirror.example.com/app",
      "  pattern      1.*",
      "  manifest     verified, 3 versions",
      "  latest       2.0.0 (store/4285542ca100…)",
      "  newest       1.1.0 (compatible)",
      "  store        2 images, 20 B",
      "  restart      pending for app.service",
      "  last fetch   2024-05-01T09:00:00.000Z (3 h ago)",
      "  VERSION  SIZE  STORED  DIGEST         NOTES",
      "  1.0.0    10 B  yes     81b9783a13d6…  previous",
      "  1.1.0    20 B  -       e8e9c3cf85d5…  newest compatible",
      "  2.0.0    10 B  yes     4285542ca100…  latest, incompatible",
    ]
  ) {
    assert.ok(lines.includes(expected), `missing line ${JSON.stringify(expected)} in\n${text}`);
  }
  assert.ok(text.endsWith("\n"));
});

Deno.test("`formatStatusText()` says when Version= is absent and lists the limits", async () => {
  const facts = await healthy({ config: await config("KeepImages=3\nMaxStoreSize=10G\n") });
  const text = formatStatusText([buildReport(facts)], NOW);
  assert.ok(text.includes("  pattern      * (no Version= given: any version)\n"), text);
  assert.ok(
    text.includes("  store        2 images, 20 B (limits: KeepImages=3, MaxStoreSize=10.0 GiB)\n"),
    text,
  );
});

Deno.test("`formatStatusText()` shows an error and escapes control characters", () => {
  const path = "/etc/tako/\x1b[2Jx";
  const text = formatStatusText(
    [buildReport(broken(path, new TakoError("config", `The config file ${path} does not exist.`)))],
    NOW,
  );
  assert.ok(!hasControl(text), JSON.stringify(text));
  assert.ok(text.startsWith("/etc/tako/\\u{1b}[2Jx\n"), text);
  assert.ok(
    text.includes("  error        The config file /etc/tako/\\u{1b}[2Jx does not exist.\n"),
  );
});

Deno.test("`formatStatusText()` lists images the manifest does not list", async () => {
  const stray = "0".repeat(64);
  const text = formatStatusText(
    [buildReport(await healthy({ store: [{ sha256: stray, size: 5 }] }))],
    NOW,
  );
  assert.ok(text.includes("  -        5 B   yes     000000000000…  not in the manifest\n"), text);
});

Deno.test("`formatStatusText()` shortens a long manifest to the rows that matter", async () => {
  const entries: Entry[] = [];
  for (let i = 0; i < 30; i++) {
    entries.push({ version: `0.${i}`, size: 1n, sha256: i.toString(16).padStart(64, "0") });
  }
  const facts = await healthy({
    config: await config("Version=0.*\n"),
    manifest: { status: "verified", entries },
    store: [{ sha256: entries[3]!.sha256, size: 1 }],
    latest: { kind: "image", sha256: entries[3]!.sha256 },
    state: EMPTY_STATE,
  });
  const text = formatStatusText([buildReport(facts)], NOW);
  assert.ok(text.includes("  0.3 "), text);
  assert.ok(text.includes("  0.29 "), text);
  assert.ok(!text.includes("  0.10 "), text);
  assert.ok(text.includes("(28 older or other versions not shown: none of them is stored)"), text);
});

Deno.test("`timeText()` gives the age of a time in coarse units", () => {
  const cases: [string, string][] = [
    ["2024-05-01T11:59:30.000Z", "just now"],
    ["2024-05-01T11:15:00.000Z", "45 min ago"],
    ["2024-04-30T13:00:00.000Z", "23 h ago"],
    ["2024-04-21T12:00:00.000Z", "10 d ago"],
    ["2024-05-01T13:00:00.000Z", "in the future: check the clock"],
  ];
  for (const [iso, age] of cases) assert.equal(timeText(iso, NOW), `${iso} (${age})`);
});

Deno.test("`safeText()` escapes control and bidirectional characters and keeps the rest", () => {
  assert.equal(safeText("a\x1b[2Jb\nc\u202e…é"), "a\\u{1b}[2Jb\\u{a}c\\u{202e}…é");
});
