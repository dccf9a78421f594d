/**
 * Black-box tests of `tako fetch` restarting units (SPEC §4 Restart= and
 * RestartUnit=, §6 step 6): only when `latest` changes, in one systemctl call,
 * and retried by the next run after a failure. A stand-in `systemctl` on PATH
 * records its arguments.
 */
import { runTako } from "../../dev/run_tako.ts";
import { assert } from "../support/assert.ts";
import { assertOutcome, checkInvariants, latestDigest, withSetup } from "../support/publish.ts";
import { THREE_IMAGES } from "../support/vectors.ts";

const [V100, V110, V200] = THREE_IMAGES as [
  typeof THREE_IMAGES[0],
  typeof THREE_IMAGES[0],
  typeof THREE_IMAGES[0],
];
const EXIT_RUNTIME = 1;

const SPELLINGS: { name: string; restart: string[]; restartUnit: string[] }[] = [
  { name: "Restart= and RestartUnit=", restart: ["a.service"], restartUnit: ["b.service"] },
  { name: "two units on one Restart= line", restart: ["a.service b.service"], restartUnit: [] },
  { name: "RestartUnit= twice", restart: [], restartUnit: ["a.service", "b.service"] },
];

for (const { name, restart, restartUnit } of SPELLINGS) {
  Deno.test(`\`tako fetch\` restarts the units of ${name} in one systemctl call`, async () => {
    await withSetup([V100], async (s) => {
      await s.writeConfig({ restart, restartUnit });
      assertOutcome(await s.fetch(), 0, "a.service");
      assert.deepEqual(await s.systemctl.calls(), ["restart -- a.service b.service"]);
    });
  });
}

Deno.test("`tako fetch` restarts units only when latest changes", async () => {
  await withSetup([V100], async (s) => {
    await s.writeConfig({ restart: ["a.service"], restartUnit: ["b.service"] });
    assertOutcome(await s.fetch(), 0);
    assert.deepEqual(await s.systemctl.calls(), ["restart -- a.service b.service"]);

    assertOutcome(await s.fetch(), 0);
    assert.deepEqual(await s.systemctl.calls(), ["restart -- a.service b.service"]);

    await s.publish([V100, V110]);
    assertOutcome(await s.fetch(), 0);
    assert.deepEqual(await s.systemctl.calls(), [
      "restart -- a.service b.service",
      "restart -- a.service b.service",
    ]);
  });
});

Deno.test("`tako fetch` without Restart= runs no systemctl", async () => {
  await withSetup([V100], async (s) => {
    assertOutcome(await s.fetch(), 0);
    assert.deepEqual(await s.systemctl.calls(), []);
  });
});

Deno.test("`tako fetch` with a failing systemctl keeps the new image and retries next run", async () => {
  await withSetup([V100], async (s) => {
    await s.writeConfig({ restart: ["app.service"] });
    assertOutcome(await s.fetch(), 0);
    await s.publish([V100, V200]);
    await s.systemctl.setFailing(true);

    const failed = await s.fetch();
    assertOutcome(failed, EXIT_RUNTIME, s.config, "systemctl", "app.service", "Unit not found");
    assert.equal(await latestDigest(s.dest), V200.sha256);
    await checkInvariants(s.dest);

    // Still failing: still retried, still failing.
    assertOutcome(await s.fetch(), EXIT_RUNTIME, "systemctl");
    assert.deepEqual(await s.systemctl.calls(), ["restart -- app.service"]);

    await s.systemctl.setFailing(false);
    assertOutcome(await s.fetch(), 0);
    assert.deepEqual(await s.systemctl.calls(), [
      "restart -- app.service",
      "restart -- app.service",
    ]);

    // Done: the next run restarts nothing.
    assertOutcome(await s.fetch(), 0);
    assert.equal((await s.systemctl.calls()).length, 2);
    assert.equal(await latestDigest(s.dest), V200.sha256);
  });
});

Deno.test("`tako fetch` retries a pending restart even when no compatible version is on offer", async () => {
  await withSetup([V100], async (s) => {
    await s.writeConfig({ restart: ["app.service"] });
    await s.systemctl.setFailing(true);
    assertOutcome(await s.fetch(), EXIT_RUNTIME, "systemctl");
    await s.systemctl.setFailing(false);
    await s.writeConfig({ restart: ["app.service"], version: "3.*" });

    assertOutcome(await s.fetch(), 0, "3.*");
    assert.deepEqual(await s.systemctl.calls(), ["restart -- app.service"]);
    assert.equal(await latestDigest(s.dest), V100.sha256);
  });
});

Deno.test("`tako fetch` names the exit code of a failing systemctl", async () => {
  await withSetup([V100], async (s) => {
    await s.writeConfig({ restart: ["app.service"] });
    await Deno.writeTextFile(`${s.systemctl.bin}/systemctl`, "#!/bin/sh\nexit 5\n");
    const result = await s.fetch();
    assertOutcome(result, EXIT_RUNTIME, "systemctl", "exit code 5");
    assert.equal(await latestDigest(s.dest), V100.sha256);
    await checkInvariants(s.dest);
  });
});

Deno.test("`tako fetch` with no systemctl on PATH fails with a clear message", async () => {
  await withSetup([V100], async (s) => {
    await s.writeConfig({ restart: ["app.service"] });
    await Deno.remove(`${s.systemctl.bin}/systemctl`);
    const result = await runTako(["fetch", s.config], { env: { PATH: s.systemctl.bin } });
    assertOutcome(result, EXIT_RUNTIME, "systemctl", "app.service");
    assert.equal(await latestDigest(s.dest), V100.sha256);
    await checkInvariants(s.dest);
  });
});

Deno.test("`tako fetch --init` never restarts, even with a restart pending", async () => {
  await withSetup([V100], async (s) => {
    await s.writeConfig({ restart: ["app.service"] });
    assertOutcome(await s.fetch(), 0);
    await s.publish([V100, V110]);
    await s.systemctl.setFailing(true);
    assertOutcome(await s.fetch(), EXIT_RUNTIME, "systemctl");
    await s.systemctl.setFailing(false);

    // --init never restarts (the unit is starting), even with a restart pending.
    assertOutcome(await s.fetch("--init"), 0);
    assert.deepEqual(await s.systemctl.calls(), ["restart -- app.service"]);

    // A later normal run succeeds (restarting again, if at all, is harmless).
    assertOutcome(await s.fetch(), 0);
    assert.ok((await s.systemctl.calls()).length <= 2);
  });
});
