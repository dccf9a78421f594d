/**
 * Black-box tests of the health-gated switch (SPEC §6 step 6) against a real
 * systemd user manager: restarts by the rules, the watch, the automatic
 * rollback and rejection, and runs killed in the middle of it.
 */
import { assert } from "../support/assert.ts";
import { assertOutcome, entryOf, latestDigest } from "../support/publish.ts";
import {
  type AppUnitSpec,
  imageScript,
  SYSTEMD_MISSING,
  withUnitSetup,
} from "../support/systemd_user.ts";
import {
  assertRolledBack,
  BAD2,
  EXIT_RUNTIME,
  GOOD1,
  GOOD2,
  GOOD3,
  runningOn1,
} from "./_rollout.ts";

const ignore = SYSTEMD_MISSING !== undefined;

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

Deno.test({
  name:
    "a first image that fails its check stays (a host keeps an image), rejected, until a newer one replaces it",
  ignore,
  fn: () =>
    withUnitSetup([BAD2], {}, async (u) => {
      // The unit failed for want of an image: the first fetch restarts it.
      await u.manager.systemctl("start", "app.service");
      await u.manager.waitFor("app.service", (p) => p.ActiveState === "failed");
      assertOutcome(
        await u.tako("fetch", u.fetch.config),
        EXIT_RUNTIME,
        "2.0.0 is rejected: app.service failed",
        "no earlier image to go back to",
      );
      assert.equal(await latestDigest(u.fetch.dest), entryOf(BAD2).sha256);
      assertOutcome(await u.tako("fetch", u.fetch.config), 0);

      // A rollback never goes to a rejected image: a second bad version stays too, rejected.
      const bad3 = { version: "3.0.0", content: imageScript("3.0.0", { crashAfterMs: 100 }) };
      await u.fetch.publish([BAD2, bad3]);
      assertOutcome(
        await u.tako("fetch", u.fetch.config),
        EXIT_RUNTIME,
        "3.0.0 is rejected",
        "no earlier image to go back to",
      );
      assert.equal(await latestDigest(u.fetch.dest), entryOf(bad3).sha256);

      const good4 = { version: "4.0.0", content: imageScript("4.0.0") };
      await u.fetch.publish([BAD2, bad3, good4]);
      assertOutcome(await u.tako("fetch", u.fetch.config), 0, "healthy");
      assert.equal((await u.running())?.version, "4.0.0");
    }),
});
