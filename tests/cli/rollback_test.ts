/**
 * Black-box tests of `tako rollback` against a real systemd user manager:
 * offline, back to the previous image, the units restarted and checked, the
 * version rolled back from rejected; `--clear` undoes a rejection.
 */
import { assert } from "../support/assert.ts";
import { assertOutcome, checkInvariants, entryOf, latestDigest } from "../support/publish.ts";
import { imageScript, SYSTEMD_MISSING, withUnitSetup } from "../support/systemd_user.ts";

const ignore = SYSTEMD_MISSING !== undefined;
const EXIT_RUNTIME = 1;

const V1 = { version: "1.0.0", content: imageScript("1.0.0") };
const V2 = { version: "2.0.0", content: imageScript("2.0.0") };

Deno.test({
  name:
    "`tako rollback` goes back to the previous image with the origin unreachable, and rejects the newer",
  ignore,
  fn: () =>
    withUnitSetup([V1], {}, async (u) => {
      assertOutcome(await u.tako("fetch", u.fetch.config), 0);
      await u.manager.systemctl("start", "app.service");
      await u.fetch.publish([V1, V2]);
      assertOutcome(await u.tako("fetch", u.fetch.config), 0);
      assert.equal((await u.running())?.version, "2.0.0");
      await u.fetch.origin.close();

      assertOutcome(
        await u.tako("rollback", u.fetch.config),
        0,
        "rolled back from 2.0.0 to 1.0.0",
        "tako rollback --clear 2.0.0",
      );
      assert.equal(await latestDigest(u.fetch.dest), entryOf(V1).sha256);
      assert.equal((await u.running())?.version, "1.0.0");
      await checkInvariants(u.fetch.dest);

      // Nothing older to go back to: a clear error, and nothing changes.
      const again = await u.tako("rollback", u.fetch.config);
      assertOutcome(again, EXIT_RUNTIME, "no previous image to roll back to from 1.0.0");
      assert.equal(await latestDigest(u.fetch.dest), entryOf(V1).sha256);

      // status names the rejection; --clear undoes it.
      const status = await u.tako("status", "--json", u.fetch.config);
      assert.equal(status.code, 0, status.stderr);
      const report = JSON.parse(status.stdout);
      assert.deepEqual(report.configs[0].rejected.map((r: { version: string }) => r.version), [
        "2.0.0",
      ]);
      assertOutcome(
        await u.tako("rollback", "--clear", "2.0.0", u.fetch.config),
        0,
        "2.0.0 is no longer rejected",
      );
      assertOutcome(
        await u.tako("rollback", "--clear", "2.0.0", u.fetch.config),
        EXIT_RUNTIME,
        "2.0.0 is not rejected",
      );
    }),
});
