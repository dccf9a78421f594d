import { TakoError } from "../../../lib/core/errors.ts";
import type { Entry } from "../../../lib/core/manifest.ts";
import { EMPTY_STATE } from "../../../lib/core/state.ts";
import { buildReport } from "../../../lib/core/status_report.ts";
import { formatStatusText } from "../../../lib/core/status_text.ts";
import { assert } from "../../support/assert.ts";
import { broken, config, hasControl, healthy, NOW, TWO } from "./_status_facts.ts";

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

Deno.test("`formatStatusText()` gives the age of the last fetch in coarse units", async () => {
  const cases: [string, string][] = [
    ["2024-05-01T11:59:30.000Z", "just now"],
    ["2024-05-01T11:15:00.000Z", "45 min ago"],
    ["2024-04-30T13:00:00.000Z", "23 h ago"],
    ["2024-04-21T12:00:00.000Z", "10 d ago"],
    ["2024-05-01T13:00:00.000Z", "in the future: check the clock"],
  ];
  for (const [iso, age] of cases) {
    const state = { ...EMPTY_STATE, lastSuccess: iso };
    const text = formatStatusText([buildReport(await healthy({ state }))], NOW);
    assert.ok(text.includes(`  last fetch   ${iso} (${age})\n`), text);
  }
});

Deno.test("`formatStatusText()` shows the last failure, partial downloads and problems", async () => {
  const report = buildReport(
    await healthy({
      config: await config("Version=3.*\n"),
      state: {
        ...EMPTY_STATE,
        lastSuccess: "2024-05-01T09:00:00.000Z",
        lastFailure: "2024-05-01T11:00:00.000Z",
        lastFailureMessage: "Cannot reach https://o/: reset.",
      },
      partials: [{ sha256: TWO.sha256, bytes: 8 * 1024 * 1024 }],
    }),
  );
  const text = formatStatusText([report], NOW);
  assert.match(text, /^ {2}last failure 2024-05-01T11:00:00\.000Z \(1 h ago\): Cannot reach/m);
  assert.ok(text.includes(`  partial      store/${TWO.sha256.slice(0, 12)}… 8.0 MiB kept`), text);
  assert.match(text, /^ {2}problem {6}no version matches Version=3\.\* /m);
  assert.match(text, /^ {2}problem {6}the last fetch failed \(2024-05-01T11:00:00\.000Z\)/m);
});

Deno.test("`formatStatusText()` shows rejections and the version waiting for this host's turn", async () => {
  const seen = "2024-05-01T10:00:00.000Z";
  const entry = buildReport(await healthy());
  const text = formatStatusText([{
    ...entry,
    rejected: [{
      version: "2.0.0",
      sha256: "a".repeat(64),
      at: seen,
      reason: "app.service failed",
    }],
    waiting: {
      version: "1.1.0",
      sha256: "b".repeat(64),
      first_seen: seen,
      eligible_at: "2024-05-01T14:30:00.000Z",
    },
  }], NOW);
  for (
    const expected of [
      "  rejected     2.0.0 (2024-05-01T10:00:00.000Z (2 h ago)): app.service failed",
      "  waiting      1.1.0: this host's turn in the rollout comes from 2024-05-01T14:30:00.000Z (in 2 h 30 min)",
    ]
  ) {
    assert.ok(
      text.split("\n").includes(expected),
      `missing ${JSON.stringify(expected)} in\n${text}`,
    );
  }
  const due = formatStatusText([{
    ...entry,
    waiting: {
      version: "1.1.0",
      sha256: "b".repeat(64),
      first_seen: seen,
      eligible_at: seen,
    },
  }], NOW);
  assert.ok(due.includes("comes at the next fetch"), due);
});
