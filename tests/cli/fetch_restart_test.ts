/**
 * Black-box tests of `tako fetch` restarting units through systemctl (SPEC §4
 * Restart= and RestartUnit=, §6 step 6): the wiring to a stand-in `systemctl`
 * on PATH that records its arguments, and its failure as exit code 1.
 */
import { assert } from "../support/assert.ts";
import { assertOutcome, checkInvariants, latestDigest, withSetup } from "../support/publish.ts";
import { THREE_IMAGES } from "../support/vectors.ts";

const [V100] = THREE_IMAGES as [typeof THREE_IMAGES[0]];
const EXIT_RUNTIME = 1;

// Restart decisions are tested in process (tests/unit/commands/fetch_test.ts);
// these check the wiring to a real systemctl program on PATH.
Deno.test("`tako fetch` restarts the units of Restart= and RestartUnit= in one systemctl call", async () => {
  await withSetup([V100], async (s) => {
    await s.writeConfig({ restart: ["a.service"], restartUnit: ["b.service"] });
    assertOutcome(await s.fetch(), 0, "a.service");
    assert.deepEqual(await s.systemctl.calls(), ["restart -- a.service b.service"]);
    assertOutcome(await s.fetch(), 0);
    assert.deepEqual(await s.systemctl.calls(), ["restart -- a.service b.service"]);
  });
});

Deno.test("`tako fetch` with a failing systemctl exits 1, keeps the image and retries next run", async () => {
  await withSetup([V100], async (s) => {
    await s.writeConfig({ restart: ["app.service"] });
    await s.systemctl.setFailing(true);
    assertOutcome(
      await s.fetch(),
      EXIT_RUNTIME,
      s.config,
      "systemctl",
      "app.service",
      "Unit not found",
    );
    assert.equal(await latestDigest(s.dest), V100.sha256);
    await checkInvariants(s.dest);
    await s.systemctl.setFailing(false);
    assertOutcome(await s.fetch(), 0);
    assert.deepEqual(await s.systemctl.calls(), ["restart -- app.service"]);
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
