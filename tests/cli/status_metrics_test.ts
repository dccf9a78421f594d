/**
 * Black-box test of `tako status --prometheus` after real fetches against the
 * test origin: the output parses as the Prometheus text format (the strict
 * parser of tests/support, and promtool where installed) and says what the
 * fetches did.
 *
 * @module
 */
import { join } from "node:path";
import { assert } from "../support/assert.ts";
import { parsePrometheusText } from "../support/prometheus_text.ts";
import { assertOutcome, sha256Hex, withSetup } from "../support/publish.ts";

const IMAGES = [
  { version: "1.0.0", content: "version one\n" },
  { version: "1.1.0", content: "version one point one\n" },
];
const bytes = (text: string) => new TextEncoder().encode(text).length;

async function promtoolCheck(text: string): Promise<string | undefined> {
  try {
    const child = new Deno.Command("promtool", {
      args: ["check", "metrics"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(text));
    await writer.close();
    const out = await child.output();
    return out.success ? "" : new TextDecoder().decode(out.stderr) || "failed";
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

Deno.test("`status --prometheus` reports the fetches: version, times, bytes, pending update", async () => {
  await withSetup(IMAGES, async (setup) => {
    await setup.writeConfig({ version: "1.0.0" });
    assertOutcome(await setup.fetch(), 0);
    await setup.writeConfig();
    // A failing image download: the manifest offering 1.1.0 is stored, latest stays 1.0.0.
    setup.origin.behave(`/store/${sha256Hex(IMAGES[1]!.content)}`, { status: 500 });
    const failed = await setup.fetch();
    assert.equal(failed.code, 1, failed.stderr);

    const result = await setup.run(["status", "--prometheus", setup.config]);
    assert.equal(result.code, 0, result.stderr);
    const metrics = parsePrometheusText(result.stdout);
    const value = (name: string) => {
      const samples = metrics.get(name)?.samples ?? [];
      assert.ok(samples.every((s) => s.labels.config === setup.config), name);
      return samples[0]?.value;
    };
    assert.deepEqual(metrics.get("tako_image_info")?.samples[0]?.labels, {
      config: setup.config,
      version: "1.0.0",
      sha256: sha256Hex(IMAGES[0]!.content),
    });
    const now = Date.now() / 1000;
    const success = value("tako_last_success_timestamp_seconds")!;
    const failure = value("tako_last_failure_timestamp_seconds")!;
    assert.ok(success <= failure && failure <= now && now - success < 120, `${success} ${failure}`);
    assert.equal(value("tako_downloaded_bytes_total"), bytes(IMAGES[0]!.content));
    assert.equal(value("tako_update_pending"), 1);
    assert.equal(value("tako_restart_pending"), 0);
    assert.equal(value("tako_store_bytes"), bytes(IMAGES[0]!.content));
    assert.equal(value("tako_status_ok"), 1);
    const promtool = await promtoolCheck(result.stdout);
    if (promtool !== undefined) assert.equal(promtool, "", promtool);

    // The download succeeds: the counter grows, nothing is pending any more.
    setup.origin.clear();
    assertOutcome(await setup.fetch(), 0);
    const after = parsePrometheusText(
      (await setup.run(["status", "--prometheus", setup.config])).stdout,
    );
    const total = after.get("tako_downloaded_bytes_total")?.samples[0]?.value;
    assert.equal(total, bytes(IMAGES[0]!.content) + bytes(IMAGES[1]!.content));
    assert.equal(after.get("tako_update_pending")?.samples[0]?.value, 0);
    assert.equal(after.get("tako_image_info")?.samples[0]?.labels.version, "1.1.0");
  });
});

Deno.test("`status --prometheus` still describes a config it cannot read, with status_ok 0", async () => {
  await withSetup(IMAGES, async (setup) => {
    const missing = join(setup.dir, "missing.tako");
    const result = await setup.run(["status", "--prometheus", missing]);
    assert.equal(result.code, 3, result.stderr);
    const metrics = parsePrometheusText(result.stdout);
    assert.deepEqual(metrics.get("tako_status_ok")?.samples, [
      { name: "tako_status_ok", labels: { config: missing }, value: 0 },
    ]);
    assert.deepEqual(metrics.get("tako_image_info")?.samples, []);
  });
});
