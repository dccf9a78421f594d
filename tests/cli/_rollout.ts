/** Images and checks shared by the health-gated switch tests (real systemd user manager). */
import { assert } from "../support/assert.ts";
import { assertOutcome, checkInvariants, entryOf, latestDigest } from "../support/publish.ts";
import { imageScript, type UnitSetup } from "../support/systemd_user.ts";

export const EXIT_RUNTIME = 1;

export const GOOD1 = { version: "1.0.0", content: imageScript("1.0.0") };
export const BAD2 = { version: "2.0.0", content: imageScript("2.0.0", { crashAfterMs: 100 }) };
export const GOOD2 = { version: "2.0.0", content: imageScript("2.0.0") };
export const GOOD3 = { version: "3.0.0", content: imageScript("3.0.0") };

/** Installs 1.0.0 and starts app.service on it. */
export async function runningOn1(u: UnitSetup): Promise<{ version: string; pid: number }> {
  assertOutcome(await u.tako("fetch", u.fetch.config), 0, "app.service is stopped");
  await u.manager.systemctl("start", "app.service");
  const running = await u.running();
  assert.equal(running?.version, "1.0.0");
  return running!;
}

/** A crashing 2.0.0 is rolled back: the message, latest, the unit, and the rejection. */
export async function assertRolledBack(u: UnitSetup, ...parts: string[]): Promise<void> {
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
