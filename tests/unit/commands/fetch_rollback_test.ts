/**
 * `fetchEach()` in this process with the service-manager stand-in and a real
 * HealthCommand= script that fails on one image: the `--json` entry of a run
 * whose health check fails says what was rejected, why, and where `latest`
 * went back to (docs/tako-fetch.md), and the dry run after it passes over
 * the rejected version. tests/cli/rollout_test.ts checks the
 * rollback itself against a real systemd.
 */
import { fetchEach } from "../../../lib/commands/fetch.ts";
import { createLog } from "../../../lib/core/log.ts";
import { formatFetchJson } from "../../../lib/core/fetch_report.ts";
import { DEFAULT_NET_OPTIONS } from "../../../lib/shell/http.ts";
import { assert } from "../../support/assert.ts";
import { fetchJsonProblems } from "../../support/doc_schema.ts";
import { entryOf, latestDigest, withSetup, writeConfig } from "../../support/publish.ts";

const GOOD = { version: "1.0.0", content: "image one\n" };
const BAD = { version: "2.0.0", content: "image two: crash\n" };

Deno.test("a fetch whose health check fails reports the rollback and the rejected version", async () => {
  await withSetup([GOOD], async (s) => {
    // Unhealthy exactly when latest is an image that says "crash".
    const check = `${s.dir}/check.sh`;
    await Deno.writeTextFile(check, `#!/bin/sh\n! grep -q crash "$1"\n`);
    await Deno.chmod(check, 0o755);
    const config = (dest: string) =>
      writeConfig(`${s.dir}/${dest}.tako`, {
        origins: [s.origin.url],
        destination: `${s.dir}/${dest}`,
        restart: ["app.service"],
        extra: [`HealthCommand=${check} ${s.dir}/${dest}/latest`],
      });
    const lines: string[] = [];
    const ctx = {
      log: createLog({
        verbosity: "normal",
        journal: false,
        terminal: false,
        write: (t) => lines.push(t),
      }),
      net: DEFAULT_NET_OPTIONS,
      services: s.services,
      lockWaitMs: 0,
      now: () => new Date(),
    };
    const mode = { init: false, dryRun: false };
    const app = await config("app");
    const first = await fetchEach([app], mode, ctx);
    assert.deepEqual(first.failures, []);
    assert.equal(first.entries[0]!.rollback, null);

    await s.publish([GOOD, BAD]);
    const good = entryOf(GOOD).sha256;
    const bad = entryOf(BAD).sha256;
    const fresh = await config("fresh");
    const { entries, failures } = await fetchEach([app, fresh], mode, ctx);
    assert.equal(failures.length, 2);
    const [back, stays] = entries as [typeof entries[0], typeof entries[0]];
    assert.deepEqual(back.rollback?.rejected, { sha256: bad, version: "2.0.0" });
    assert.ok(back.rollback?.reason.includes("HealthCommand="), back.rollback?.reason);
    assert.deepEqual(back.rollback?.back_to, { sha256: good, version: "1.0.0" });
    assert.equal(back.rollback?.back_problem, null);
    assert.deepEqual([back.before?.sha256, back.after?.sha256, back.changed], [good, good, false]);
    assert.deepEqual(back.units_restarted, ["app.service"]);
    assert.ok(back.error?.message.includes("rolled back to 1.0.0"), back.error?.message);
    assert.equal(await latestDigest(`${s.dir}/app`), good);

    // A first image that fails has nothing to go back to: it stays, rejected.
    assert.deepEqual(stays.rollback?.rejected, { sha256: bad, version: "2.0.0" });
    assert.equal(stays.rollback?.back_to, null);
    assert.deepEqual([stays.before, stays.after?.sha256, stays.changed], [null, bad, true]);
    assert.deepEqual(await fetchJsonProblems(JSON.parse(formatFetchJson(false, entries))), []);

    // The dry run passes over the rejected version, and says so.
    lines.length = 0;
    const dry = await fetchEach([app], { init: false, dryRun: true }, ctx);
    assert.deepEqual([dry.failures, dry.entries[0]!.after?.sha256], [[], good]);
    assert.ok(
      lines.join("").includes("; 2.0.0 is rejected (never installed again)."),
      lines.join(""),
    );
  });
});
