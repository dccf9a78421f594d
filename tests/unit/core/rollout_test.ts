import { createHash } from "node:crypto";
import type { Entry } from "../../../lib/core/manifest.ts";
import {
  clearRejection,
  eligibleCandidates,
  isRejected,
  noteFirstSeen,
  recoveryOf,
  reject,
  rollbackTarget,
  rolloutOf,
  rolloutPlace,
  withPending,
  withRollout,
} from "../../../lib/core/rollout.ts";
import { EMPTY_ROLLOUT, type PendingSwitch } from "../../../lib/core/rollout_state.ts";
import { EMPTY_STATE, parseState, serializeState } from "../../../lib/core/state.ts";
import { assert } from "../../support/assert.ts";

const A = "a".repeat(64);
const B = "b".repeat(64);
const C = "c".repeat(64);
const V1: Entry = { version: "1.0.0", size: 1n, sha256: A };
const V2: Entry = { version: "2.0.0", size: 1n, sha256: B };
const V3: Entry = { version: "3.0.0", size: 1n, sha256: C };
const HOUR = 3_600_000;
const T0 = Date.parse("2030-01-01T00:00:00.000Z");

const sha256 = (text: string) => createHash("sha256").update(text).digest();
const placeOf = (id: string, version: string) => rolloutPlace(id, version, sha256);

function machineIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) => i.toString(16).padStart(32, "0"));
}

Deno.test("`rolloutPlace()` spreads 10,000 machine ids evenly over [0, 1)", () => {
  const places = machineIds(10_000).map((id) => placeOf(id, "1.2.0")).sort((a, b) => a - b);
  assert.ok(places[0]! >= 0 && places.at(-1)! < 1);
  // Quantiles of a uniform sample of 10,000 lie within ±0.02 of their rank (over 4 sigma).
  for (const q of [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]) {
    const value = places[Math.floor(q * places.length)]!;
    assert.ok(Math.abs(value - q) < 0.02, `quantile ${q} is ${value}`);
  }
  // Ten equal buckets each hold about a tenth.
  const buckets = new Array(10).fill(0);
  for (const p of places) buckets[Math.floor(p * 10)]++;
  for (const n of buckets) assert.ok(n > 880 && n < 1120, `buckets ${buckets}`);
});

Deno.test("`rolloutPlace()` is stable for an id and version, and differs between versions", () => {
  const ids = machineIds(1000);
  for (const id of ids) assert.equal(placeOf(id, "1.2.0"), placeOf(id, "1.2.0"));
  // The documented formula (docs/safe-rollouts.md), computed independently: a host keeps its
  // place across Tako releases.
  assert.equal(placeOf("3d1219c7c4c5404aaa1f6d2a48adfda4", "1.2.0"), 0.8351198237352778);
  // A host early for one version is not always early: the places of two versions are uncorrelated.
  const early = ids.filter((id) => placeOf(id, "1.2.0") < 0.1);
  const alsoEarly = early.filter((id) => placeOf(id, "1.3.0") < 0.1);
  assert.ok(alsoEarly.length < early.length / 3, `${alsoEarly.length} of ${early.length}`);
});

Deno.test("`eligibleCandidates()` holds a newly seen version until this host's place has come", () => {
  const id = "0".repeat(32);
  const spread = {
    spreadMs: 10 * HOUR,
    place: (v: string) => placeOf(id, v),
    nowMs: T0,
    immediate: false,
  };
  const place = placeOf(id, V2.version);
  const seen = noteFirstSeen(EMPTY_ROLLOUT, [V2], new Date(T0).toISOString());
  const due = T0 + Math.floor(10 * HOUR * place);

  const waiting = eligibleCandidates(seen, [V2], spread);
  assert.deepEqual(waiting.eligible, []);
  assert.deepEqual(waiting.waiting, { entry: V2, eligibleAtMs: due });
  assert.deepEqual(eligibleCandidates(seen, [V2], { ...spread, nowMs: due - 1 }).eligible, []);
  assert.deepEqual(eligibleCandidates(seen, [V2], { ...spread, nowMs: due }).eligible, [V2]);
  // --now and a first image never wait; nor does a config without RolloutSpreadSec=.
  assert.deepEqual(eligibleCandidates(seen, [V2], { ...spread, immediate: true }).eligible, [V2]);
  assert.deepEqual(eligibleCandidates(seen, [V2], { ...spread, spreadMs: 0 }).eligible, [V2]);
});

Deno.test("`noteFirstSeen()` keeps the first sighting and forgets versions no longer on offer", () => {
  const first = noteFirstSeen(EMPTY_ROLLOUT, [V2, V1], "2030-01-01T00:00:00.000Z");
  const later = noteFirstSeen(first, [V3, V2], "2030-01-02T00:00:00.000Z");
  assert.deepEqual(later.firstSeen, {
    [C]: "2030-01-02T00:00:00.000Z",
    [B]: "2030-01-01T00:00:00.000Z",
  });
});

Deno.test("`eligibleCandidates()` never offers a rejected version; a newer one is eligible", () => {
  const spread = { spreadMs: 0, place: () => 0.5, nowMs: T0, immediate: false };
  const rejected = reject(EMPTY_ROLLOUT, {
    version: "2.0.0",
    sha256: B,
    at: "2030-01-01T00:00:00.000Z",
    reason: "app.service failed",
  });
  assert.ok(isRejected(rejected, B));
  assert.deepEqual(eligibleCandidates(rejected, [V2, V1], spread).eligible, [V1]);
  assert.deepEqual(eligibleCandidates(rejected, [V3, V2, V1], spread).eligible, [V3, V1]);
  // Rejecting again keeps one record; clearing by version or digest removes it.
  assert.equal(reject(rejected, rejected.rejected[0]!).rejected.length, 1);
  assert.deepEqual(clearRejection(rejected, "2.0.0")?.rejected, []);
  assert.deepEqual(clearRejection(rejected, B)?.rejected, []);
  assert.equal(clearRejection(rejected, "9.9.9"), undefined);
});

const PENDING: PendingSwitch = {
  phase: "restart",
  to: B,
  toVersion: "2.0.0",
  from: A,
  fromVersion: "1.0.0",
  since: "2030-01-01T00:00:00.000Z",
};

Deno.test("`recoveryOf()` finishes what a killed run left: restart, watch or rollback", () => {
  const at = (phase: PendingSwitch["phase"]) => withPending(EMPTY_ROLLOUT, { ...PENDING, phase });
  assert.deepEqual(recoveryOf(EMPTY_ROLLOUT, A), { kind: "none" });
  // Killed before latest moved: nothing happened.
  assert.deepEqual(recoveryOf(at("restart"), A), { kind: "forget" });
  assert.deepEqual(recoveryOf(at("restart"), B), { kind: "restart", pending: PENDING });
  assert.deepEqual(recoveryOf(at("watch"), B), {
    kind: "watch",
    pending: { ...PENDING, phase: "watch" },
  });
  // latest moved by hand since: that switch is over.
  assert.deepEqual(recoveryOf(at("watch"), C), { kind: "forget" });
  // A rollback is finished wherever latest points (it may already be back).
  for (const latest of [A, B]) {
    assert.deepEqual(recoveryOf(at("rollback"), latest), {
      kind: "rollback",
      pending: { ...PENDING, phase: "rollback" },
    });
  }
});

Deno.test("`rollbackTarget()` is the previous image unless it is rejected, missing or current", () => {
  const state = { ...EMPTY_STATE, previous: A };
  const present = () => true;
  assert.equal(rollbackTarget(state, B, present), A);
  assert.equal(rollbackTarget(state, A, present), undefined);
  assert.equal(rollbackTarget(state, B, () => false), undefined);
  assert.equal(rollbackTarget(EMPTY_STATE, B, present), undefined);
  const rejected = withRollout(
    state,
    reject(EMPTY_ROLLOUT, { version: "1.0.0", sha256: A, at: PENDING.since, reason: "x" }),
  );
  assert.equal(rollbackTarget(rejected, B, present), undefined);
});

Deno.test("the rollout part of `.state` round-trips and is left out when empty", () => {
  const rollout = {
    rejected: [{ version: "2.0.0", sha256: B, at: PENDING.since, reason: "app.service failed" }],
    firstSeen: { [C]: PENDING.since },
    pending: { ...PENDING, phase: "watch" as const },
  };
  const state = withRollout({ ...EMPTY_STATE, previous: A }, rollout);
  assert.deepEqual(parseState(serializeState(state)), state);
  assert.deepEqual(rolloutOf(parseState(serializeState(state))), rollout);
  const first = withPending(rollout, { ...PENDING, from: undefined, fromVersion: undefined });
  assert.deepEqual(rolloutOf(parseState(serializeState(withRollout(EMPTY_STATE, first)))), first);
  assert.equal("rollout" in withRollout(state, EMPTY_ROLLOUT), false);
  assert.equal(
    serializeState(withRollout(EMPTY_STATE, EMPTY_ROLLOUT)),
    serializeState(EMPTY_STATE),
  );
});

Deno.test("a damaged rollout part of `.state` is dropped item by item, never trusted", () => {
  const text = JSON.stringify({
    rollout: {
      rejected: [
        { version: "2.0.0", sha256: B, at: PENDING.since, reason: "ok" },
        { version: "3.0.0", sha256: "C".repeat(64), at: PENDING.since, reason: "bad digest" },
        { version: "", sha256: C, at: PENDING.since, reason: "empty version" },
        "junk",
      ],
      firstSeen: { [A]: "not a time", [B]: PENDING.since, "../x": PENDING.since },
      pending: { ...PENDING, phase: "explode" },
    },
  });
  assert.deepEqual(rolloutOf(parseState(text)), {
    rejected: [{ version: "2.0.0", sha256: B, at: PENDING.since, reason: "ok" }],
    firstSeen: { [B]: PENDING.since },
    pending: undefined,
  });
  for (const junk of ["null", "[]", '"x"', "{}", '{"rejected": 5}']) {
    assert.deepEqual(rolloutOf(parseState(`{"rollout": ${junk}}`)), EMPTY_ROLLOUT, junk);
  }
});
