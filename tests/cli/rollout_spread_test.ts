/**
 * Black-box tests of the phased rollout (RolloutSpreadSec=, SPEC §6): the
 * first image never waits, a newly seen version waits for this host's place,
 * `--now` skips the wait, and a host still waiting never installs a version
 * withdrawn with 410 meanwhile. (The spread across many hosts is a property of
 * core/rollout.ts, tested there with 10,000 machine ids.)
 */
import { createHash } from "node:crypto";
import { rolloutPlace } from "../../lib/core/rollout.ts";
import { runTako } from "../../dev/run_tako.ts";
import { assert } from "../support/assert.ts";
import { assertOutcome, type FetchSetup, latestDigest, withSetup } from "../support/publish.ts";
import { THREE_IMAGES } from "../support/vectors.ts";

const [V100, V110, V200] = THREE_IMAGES as [
  typeof THREE_IMAGES[0],
  typeof THREE_IMAGES[0],
  typeof THREE_IMAGES[0],
];

/** A machine id whose place for `version` lies in [low, high). */
function machineIdAt(version: string, low: number, high: number): string {
  for (let i = 0;; i++) {
    const id = `test-host-${i}`;
    const place = rolloutPlace(id, version, (t) => createHash("sha256").update(t).digest());
    if (place >= low && place < high) return id;
  }
}

function fetchAs(s: FetchSetup, machineId: string, ...extra: string[]) {
  return runTako(["fetch", ...extra, s.config], {
    env: { TAKO_MACHINE_ID: machineId },
    cwd: s.dir,
  });
}

Deno.test("`tako fetch` installs a first image at once and holds a new version for this host's place", async () => {
  await withSetup([V100], async (s) => {
    await s.writeConfig({ extra: ["RolloutSpreadSec=10h"] });
    const late = machineIdAt(V110.version, 0.5, 1);
    assertOutcome(await fetchAs(s, late), 0);
    assert.equal(await latestDigest(s.dest), V100.sha256, "the first image never waits");

    await s.publish([V100, V110]);
    const waiting = await fetchAs(s, late);
    assertOutcome(waiting, 0, "1.1.0 waits for this host's place in the rollout", "--now");
    const due = /installed from (\S+) \(in (\d+) h/.exec(waiting.stderr);
    assert.ok(due !== null, waiting.stderr);
    assert.ok(Number(due[2]) >= 4 && Number(due[2]) <= 10, waiting.stderr);
    assert.equal(await latestDigest(s.dest), V100.sha256);
    assert.equal(s.origin.requestsFor(`/store/${V110.sha256}`).length, 0, "not even downloaded");

    // The wait counts from the first sighting, not from each run.
    const again = await fetchAs(s, late);
    assert.ok(again.stderr.includes(`installed from ${due[1]}`), again.stderr);

    assertOutcome(await fetchAs(s, late, "--now"), 0);
    assert.equal(await latestDigest(s.dest), V110.sha256);
  });
});

Deno.test("a host still waiting never installs a version withdrawn (410) while it waited; an early host did", async () => {
  await withSetup([V100, V110], async (s) => {
    await s.writeConfig({ extra: ["RolloutSpreadSec=2s"] });
    assertOutcome(await fetchAs(s, "any"), 0);
    assert.equal(await latestDigest(s.dest), V110.sha256);

    // Another host, early in the spread, is the canary: it installs 2.0.0 at once.
    const canary = { ...s, dest: `${s.dir}/canary`, config: `${s.dir}/canary.tako` };
    await Deno.writeTextFile(
      canary.config,
      (await Deno.readTextFile(s.config)).replace(
        `Destination=${s.dest}`,
        `Destination=${canary.dest}`,
      ),
    );
    const early = machineIdAt(V200.version, 0, 0.05);
    assertOutcome(await fetchAs(canary, early), 0);
    await s.publish([V100, V110, V200]);
    assertOutcome(await fetchAs(canary, early), 0);
    // Its place is under 5 % of 2 s: at most 100 ms after it first saw 2.0.0.
    await new Promise((done) => setTimeout(done, 150));
    assertOutcome(await fetchAs(canary, early), 0);
    assert.equal(await latestDigest(canary.dest), V200.sha256);

    const late = machineIdAt(V200.version, 0.6, 0.7);
    assertOutcome(await fetchAs(s, late), 0, "2.0.0 waits");
    // The canary finds 2.0.0 bad; the publisher withdraws it.
    s.origin.behave(`/store/${V200.sha256}`, { status: 410 });
    await new Promise((done) => setTimeout(done, 1500));
    assertOutcome(await fetchAs(s, late), 0, "2.0.0 was withdrawn (410 Gone)");
    assert.equal(await latestDigest(s.dest), V110.sha256);
  });
});
