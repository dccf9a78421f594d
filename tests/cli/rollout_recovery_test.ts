/**
 * Black-box tests of runs killed during the health-gated switch (SPEC §6:
 * "a kill at any point leaves a state the next run completes") and of
 * `--init`, against a real systemd user manager.
 */
import { assert } from "../support/assert.ts";
import { assertOutcome, checkInvariants, entryOf, latestDigest } from "../support/publish.ts";
import { takoCommand } from "../../dev/run_tako.ts";
import {
  imageScript,
  SYSTEMD_MISSING,
  type UnitSetup,
  withUnitSetup,
} from "../support/systemd_user.ts";
import { assertRolledBack, BAD2, GOOD1, runningOn1 } from "./_rollout.ts";

const ignore = SYSTEMD_MISSING !== undefined;

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
      await u.writeConfig("HealthCheckSec=2s");
      await runningOn1(u);
      const slowCrash = { version: "2.0.0", content: imageScript("2.0.0", { crashAfterMs: 1000 }) };
      await u.fetch.publish([GOOD1, slowCrash]);
      const seen = await killWhenLogged(u, "latest is now 2.0.0", 300);
      assert.ok(!seen.includes("rejected"), seen);
      await checkInvariants(u.fetch.dest, undefined, { allowTemporaries: true });
      assert.equal(await latestDigest(u.fetch.dest), entryOf(slowCrash).sha256);

      await u.manager.waitFor("app.service", (p) => p.ActiveState === "failed");
      await assertRolledBack(u, "stopped before it judged the switch to 2.0.0");
      assertOutcome(await u.tako("fetch", u.fetch.config), 0);
      assert.equal(await latestDigest(u.fetch.dest), entryOf(GOOD1).sha256);
      await checkInvariants(u.fetch.dest);
    }),
});

Deno.test({
  name: "kill -9 during the rollback: the next run finishes it, invariants intact",
  ignore,
  fn: () =>
    withUnitSetup([GOOD1], {}, async (u) => {
      await u.writeConfig("HealthCheckSec=2s");
      await runningOn1(u);
      await u.fetch.publish([GOOD1, BAD2]);
      // The rollback's own watch of the old image lasts 2 s: the kill lands inside it.
      await killWhenLogged(u, "latest is back at 1.0.0", 300);
      await checkInvariants(u.fetch.dest, undefined, { allowTemporaries: true });
      assert.equal(await latestDigest(u.fetch.dest), entryOf(GOOD1).sha256);

      await assertRolledBack(u, "stopped while rolling back from 2.0.0");
      assertOutcome(await u.tako("fetch", u.fetch.config), 0);
      assert.equal(await latestDigest(u.fetch.dest), entryOf(GOOD1).sha256, "2.0.0 stays rejected");
      await checkInvariants(u.fetch.dest);
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
