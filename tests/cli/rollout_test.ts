/**
 * Black-box tests of the health-gated switch (SPEC §6 step 6) against a real
 * systemd user manager: restarts by the rules, the watch, the automatic
 * rollback and rejection, and runs killed in the middle of it.
 */
import { assert } from "../support/assert.ts";
import { assertOutcome, checkInvariants, entryOf, latestDigest } from "../support/publish.ts";
import { takoCommand } from "../../dev/run_tako.ts";
import {
  type AppUnitSpec,
  imageScript,
  SYSTEMD_MISSING,
  type UnitSetup,
  withUnitSetup,
} from "../support/systemd_user.ts";

const ignore = SYSTEMD_MISSING !== undefined;
const EXIT_RUNTIME = 1;

const GOOD1 = { version: "1.0.0", content: imageScript("1.0.0") };
const BAD2 = { version: "2.0.0", content: imageScript("2.0.0", { crashAfterMs: 100 }) };
const GOOD2 = { version: "2.0.0", content: imageScript("2.0.0") };
const GOOD3 = { version: "3.0.0", content: imageScript("3.0.0") };

/** Installs 1.0.0 and starts app.service on it. */
async function runningOn1(u: UnitSetup): Promise<{ version: string; pid: number }> {
  assertOutcome(await u.tako("fetch", u.fetch.config), 0, "app.service is stopped");
  await u.manager.systemctl("start", "app.service");
  const running = await u.running();
  assert.equal(running?.version, "1.0.0");
  return running!;
}

Deno.test({
  name:
    "`tako fetch` restarts a running unit onto the new image; an unchanged fetch restarts nothing",
  ignore,
  fn: () =>
    withUnitSetup([GOOD1], {}, async (u) => {
      const before = await runningOn1(u);
      await u.fetch.publish([GOOD1, GOOD2]);
      assertOutcome(await u.tako("fetch", u.fetch.config), 0, "healthy for 1 s");
      const after = await u.running();
      assert.equal(after?.version, "2.0.0");
      assert.notEqual(after?.pid, before.pid, "a new main process");

      assertOutcome(await u.tako("fetch", u.fetch.config), 0);
      assert.deepEqual(await u.running(), after, "nothing restarted");
      assert.equal((await u.manager.starts()).length, 2);
    }),
});

Deno.test({
  name: "`tako fetch` leaves a unit the admin stopped stopped, and says so",
  ignore,
  fn: () =>
    withUnitSetup([GOOD1], {}, async (u) => {
      await runningOn1(u);
      await u.manager.systemctl("stop", "app.service");
      await u.fetch.publish([GOOD1, GOOD2]);
      assertOutcome(await u.tako("fetch", u.fetch.config), 0, "app.service is stopped");
      assert.equal((await u.manager.show("app.service")).ActiveState, "inactive");
      assert.equal(await latestDigest(u.fetch.dest), entryOf(GOOD2).sha256);
    }),
});

Deno.test({
  name: "`tako fetch` names a unit that does not exist and keeps the current image",
  ignore,
  fn: () =>
    withUnitSetup([GOOD1], {}, async (u) => {
      await runningOn1(u);
      await u.fetch.writeConfig({
        restart: ["app.service nope.service"],
        extra: ["UnitScope=user", "HealthCheckSec=1s"],
      });
      await u.fetch.publish([GOOD1, GOOD2]);
      assertOutcome(
        await u.tako("fetch", u.fetch.config),
        EXIT_RUNTIME,
        "nope.service",
        "not-found",
      );
      assert.equal(await latestDigest(u.fetch.dest), entryOf(GOOD1).sha256);
    }),
});

/** A crashing 2.0.0 is rolled back: the message, latest, the unit, and the rejection. */
async function assertRolledBack(u: UnitSetup, ...parts: string[]): Promise<void> {
  const result = await u.tako("fetch", u.fetch.config);
  assertOutcome(
    result,
    EXIT_RUNTIME,
    "2.0.0 is rejected: ",
    "rolled back to 1.0.0; see journalctl --user -u app.service.",
    ...parts,
  );
  assert.equal(await latestDigest(u.fetch.dest), entryOf(GOOD1).sha256);
  assert.equal((await u.running())?.version, "1.0.0", "the old image runs again");
  await checkInvariants(u.fetch.dest);
}

Deno.test({
  name:
    "a crashing image is rolled back and rejected; the next run keeps away from it; a newer one installs",
  ignore,
  fn: () =>
    withUnitSetup([GOOD1], {}, async (u) => {
      await runningOn1(u);
      await u.fetch.publish([GOOD1, BAD2]);
      await assertRolledBack(
        u,
        "rejected: app.service failed",
        "after the restart (Result=exit-code)",
      );
      const starts = (await u.manager.starts()).length;

      assertOutcome(await u.tako("fetch", u.fetch.config), 0);
      assert.equal(await latestDigest(u.fetch.dest), entryOf(GOOD1).sha256, "not reinstalled");
      assert.equal((await u.manager.starts()).length, starts, "nothing restarted");

      await u.fetch.publish([GOOD1, BAD2, GOOD3]);
      assertOutcome(await u.tako("fetch", u.fetch.config), 0, "healthy");
      assert.equal((await u.running())?.version, "3.0.0");
    }),
});

const VARIANTS: Partial<AppUnitSpec>[] = [
  { type: "exec" },
  { type: "simple", restart: "on-failure" },
  { type: "exec", restart: "on-failure" },
];
for (const unit of VARIANTS) {
  Deno.test({
    name: `a crashing image is rolled back with Type=${unit.type} and Restart=${
      unit.restart ?? "no"
    }`,
    ignore,
    fn: () =>
      withUnitSetup([GOOD1], unit, async (u) => {
        await runningOn1(u);
        await u.fetch.publish([GOOD1, BAD2]);
        await assertRolledBack(u, "rejected: app.service ", "after the restart");
      }),
  });
}

Deno.test({
  name: "a failing HealthCommand= rolls back, with its last output lines in the log",
  ignore,
  fn: () =>
    withUnitSetup([GOOD1], {}, async (u) => {
      const check = `${u.fetch.dir}/check.sh`;
      // Healthy on 1.0.0, not on 2.0.0: the check asks which version runs.
      await Deno.writeTextFile(
        check,
        `#!/bin/sh\ntail -n 1 '${u.manager.record}' | grep -q '^1\\.' && exit 0\necho "version 2 answers 500"\nexit 1\n`,
        { mode: 0o755 },
      );
      await u.writeConfig(`HealthCommand=${check} --quiet`);
      await runningOn1(u);
      await u.fetch.publish([GOOD1, GOOD2]);
      await assertRolledBack(
        u,
        "rejected: HealthCommand=",
        "exited with code 1",
        "version 2 answers 500",
      );
    }),
});

/** Starts `tako fetch`, kills it with SIGKILL once stderr shows `marker`, and waits for it. */
async function killWhenLogged(u: UnitSetup, marker: string, delayMs: number): Promise<string> {
  const child = (await takoCommand(["fetch", u.fetch.config], {
    env: u.manager.env,
    cwd: u.fetch.dir,
  })).spawn();
  let seen = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stderr) {
    seen += decoder.decode(chunk);
    if (seen.includes(marker)) break;
  }
  await new Promise((done) => setTimeout(done, delayMs));
  child.kill("SIGKILL");
  await child.status;
  await child.stdout.cancel();
  return seen;
}

Deno.test({
  name: "kill -9 during the watch: the next run judges the switch, rolls back, invariants intact",
  ignore,
  fn: () =>
    withUnitSetup([GOOD1], {}, async (u) => {
      await u.writeConfig("HealthCheckSec=3s");
      await runningOn1(u);
      const slowCrash = { version: "2.0.0", content: imageScript("2.0.0", { crashAfterMs: 1000 }) };
      await u.fetch.publish([GOOD1, slowCrash]);
      const seen = await killWhenLogged(u, "latest is now 2.0.0", 300);
      assert.ok(!seen.includes("rejected"), seen);
      await checkInvariants(u.fetch.dest);
      assert.equal(await latestDigest(u.fetch.dest), entryOf(slowCrash).sha256);

      await u.manager.waitFor("app.service", (p) => p.ActiveState === "failed");
      await assertRolledBack(u, "stopped before it judged the switch to 2.0.0");
      assertOutcome(await u.tako("fetch", u.fetch.config), 0);
      assert.equal(await latestDigest(u.fetch.dest), entryOf(GOOD1).sha256);
    }),
});

Deno.test({
  name: "kill -9 during the rollback: the next run finishes it, invariants intact",
  ignore,
  fn: () =>
    withUnitSetup([GOOD1], {}, async (u) => {
      await u.writeConfig("HealthCheckSec=3s");
      await runningOn1(u);
      await u.fetch.publish([GOOD1, BAD2]);
      // The rollback's own watch of the old image lasts 3 s: the kill lands inside it.
      await killWhenLogged(u, "latest is back at 1.0.0", 300);
      await checkInvariants(u.fetch.dest);
      assert.equal(await latestDigest(u.fetch.dest), entryOf(GOOD1).sha256);

      await assertRolledBack(u, "stopped while rolling back from 2.0.0");
      assertOutcome(await u.tako("fetch", u.fetch.config), 0);
      assert.equal(await latestDigest(u.fetch.dest), entryOf(GOOD1).sha256, "2.0.0 stays rejected");
    }),
});

Deno.test({
  name: "`tako fetch --init` never restarts, watches or rolls back",
  ignore,
  fn: () =>
    withUnitSetup([GOOD1], {}, async (u) => {
      const before = await runningOn1(u);
      await u.fetch.publish([GOOD1, BAD2]);
      await u.manager.systemctl("stop", "app.service");
      const dir = u.fetch.dest;
      // Not provisioned as far as --init can tell: it does the full fetch, without restarts.
      await Deno.remove(`${dir}/latest`);
      assertOutcome(await u.tako("fetch", "--init", u.fetch.config), 0);
      assert.equal(await latestDigest(dir), entryOf(BAD2).sha256);
      assert.equal((await u.manager.show("app.service")).ActiveState, "inactive");
      assert.equal((await u.manager.starts()).length, 1, `only ${before.version} ever started`);
    }),
});
