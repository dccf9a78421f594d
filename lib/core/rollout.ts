/**
 * Rollout decisions (SPEC §6 step 6 and "A version is installed only if"):
 * each host's stable place in a phased rollout, which candidate versions are
 * eligible now, and the switch state machine that a killed run's successor
 * completes. Pure: the shell reads the facts, this says what to do.
 *
 * @module
 */
import type { Entry } from "./manifest.ts";
import {
  bounded,
  EMPTY_ROLLOUT,
  isEmptyRollout,
  MAX_FIRST_SEEN,
  MAX_REJECTED,
  type PendingSwitch,
  type Rejection,
  type RolloutState,
} from "./rollout_state.ts";
import type { State } from "./state.ts";
import { printable } from "./errors.ts";
import { formatSpan } from "./timespan.ts";

/**
 * This host's place in the rollout of `version`, in [0, 1): from SHA-256 of
 * the machine id and the version, so that each host keeps its place across
 * runs, a fleet spreads evenly, and a host early for one version is not
 * always early.
 *
 * `sha256` is given by the shell, which loads a hash only when a spread
 * needs one (a periodic check with nothing to do loads none).
 *
 * @example
 * ```ts
 * import { createHash } from "node:crypto";
 * const sha256 = (text: string) => createHash("sha256").update(text).digest();
 * const f = rolloutPlace("3d1219c7c4c5404aaa1f6d2a48adfda4", "1.2.0", sha256); // 0 <= f < 1
 * ```
 */
export function rolloutPlace(machineId: string, version: string, sha256: Sha256): number {
  const digest = sha256(`tako-rollout\0${machineId}\0${version}`);
  const view = new DataView(digest.buffer, digest.byteOffset, digest.byteLength);
  // The first 53 bits, as a fraction: exactly representable, and strictly below 1.
  const high = view.getUint32(0); // 32 bits
  const low = view.getUint32(4) >>> 11; // the next 21 bits
  return (high * 2 ** 21 + low) / 2 ** 53;
}

/** SHA-256 of UTF-8 text. */
export type Sha256 = (text: string) => Uint8Array;

/** The rollout part of a state, never undefined. */
export function rolloutOf(state: State): RolloutState {
  return state.rollout ?? EMPTY_ROLLOUT;
}

/** The state with this rollout part (left out when it holds nothing). */
export function withRollout(state: State, rollout: RolloutState): State {
  const { rollout: _old, ...rest } = state;
  return isEmptyRollout(rollout) ? rest : { ...rest, rollout };
}

/** Whether fetch must never install this entry again. */
export function isRejected(rollout: RolloutState, sha256: string): boolean {
  return rollout.rejected.some((r) => r.sha256 === sha256);
}

/** The rollout part with this entry rejected (once; the oldest drop off beyond the bound). */
export function reject(rollout: RolloutState, rejection: Rejection): RolloutState {
  const others = rollout.rejected.filter((r) => r.sha256 !== rejection.sha256);
  const kept: Rejection = {
    ...rejection,
    version: bounded(rejection.version, "version"),
    reason: bounded(rejection.reason, "reason"),
  };
  return { ...rollout, rejected: [...others, kept].slice(-MAX_REJECTED) };
}

/**
 * The rollout part without the rejections of `version` (matched by its
 * spelling or its digest); undefined when it rejects no such version.
 */
export function clearRejection(
  rollout: RolloutState,
  version: string,
): RolloutState | undefined {
  const kept = rollout.rejected.filter((r) => r.version !== version && r.sha256 !== version);
  return kept.length === rollout.rejected.length ? undefined : { ...rollout, rejected: kept };
}

/** What the phased rollout says about one candidate. */
export interface Eligibility {
  readonly entry: Entry;
  /** When it may be installed (ms since the epoch); at or before `now`: now. */
  readonly eligibleAtMs: number;
}

/** How a run may treat the spread: `immediate` for a first image or `--now`. */
export interface SpreadInput {
  readonly spreadMs: number;
  /** This host's place for a version, in [0, 1) ({@link rolloutPlace} with its machine id). */
  readonly place: (version: string) => number;
  readonly nowMs: number;
  readonly immediate: boolean;
}

/**
 * Notes the first sighting of each candidate (now, unless seen before) and
 * forgets sightings of versions no longer among the candidates, which could
 * never matter again.
 */
export function noteFirstSeen(
  rollout: RolloutState,
  candidates: readonly Entry[],
  nowIso: string,
): RolloutState {
  const firstSeen: Record<string, string> = {};
  for (const c of candidates.slice(0, MAX_FIRST_SEEN)) {
    firstSeen[c.sha256] = rollout.firstSeen[c.sha256] ?? nowIso;
  }
  return { ...rollout, firstSeen };
}

/**
 * Splits the candidates (newest first) into those this host may install now,
 * in order, and the newest one still waiting for its place in the spread.
 * Rejected versions are left out entirely.
 */
export function eligibleCandidates(
  rollout: RolloutState,
  candidates: readonly Entry[],
  spread: SpreadInput,
): { eligible: Entry[]; waiting: Eligibility | undefined } {
  const eligible: Entry[] = [];
  let waiting: Eligibility | undefined;
  for (const entry of candidates) {
    if (isRejected(rollout, entry.sha256)) continue;
    const at = eligibleAt(rollout, entry, spread);
    if (at <= spread.nowMs) eligible.push(entry);
    else waiting ??= { entry, eligibleAtMs: at };
  }
  return { eligible, waiting };
}

/** What fetch may choose from, after the rollout rules. */
export interface PhasedOffer {
  /** The candidates this host may install now, newest first. */
  readonly eligible: Entry[];
  /** The newest candidate still waiting for this host's place, if any. */
  readonly waiting: Eligibility | undefined;
  /** Whether a newer candidate was held back (waiting or rejected). */
  readonly heldBack: boolean;
  /** The rollout part with this run's first sightings noted. */
  readonly rollout: RolloutState;
}

/**
 * The rollout rules over fetch's candidates (newest first): notes first
 * sightings, leaves out rejected versions and those whose place in the
 * spread has not come.
 */
export function phaseOffer(
  rollout: RolloutState,
  candidates: readonly Entry[],
  spread: SpreadInput,
): PhasedOffer {
  const noted = noteFirstSeen(rollout, candidates, new Date(spread.nowMs).toISOString());
  const { eligible, waiting } = eligibleCandidates(noted, candidates, spread);
  return { eligible, waiting, heldBack: eligible.length < candidates.length, rollout: noted };
}

/** The log line for a version that waits for this host's turn. */
export function waitingSentence(waiting: Eligibility, nowMs: number): string {
  return `${
    printable(waiting.entry.version)
  } waits for this host's place in the rollout; it will be installed from ${
    new Date(waiting.eligibleAtMs).toISOString()
  } (in ${formatSpan(waiting.eligibleAtMs - nowMs)}; --now installs it at once).`;
}

function eligibleAt(rollout: RolloutState, entry: Entry, spread: SpreadInput): number {
  if (spread.immediate || spread.spreadMs <= 0) return spread.nowMs;
  const seen = rollout.firstSeen[entry.sha256];
  const seenMs = seen === undefined ? spread.nowMs : Date.parse(seen);
  return seenMs + Math.floor(spread.spreadMs * spread.place(entry.version));
}

/**
 * For status: the newest of `candidates` (newest first) that a fetch has
 * seen, that is not rejected, with when this host may install it. Undefined
 * when nothing newer has been seen or there is no spread.
 */
export function waitingVersion(
  rollout: RolloutState,
  candidates: readonly Entry[],
  spreadMs: number,
  place: (version: string) => number,
): { entry: Entry; firstSeen: string; eligibleAtMs: number } | undefined {
  if (spreadMs <= 0) return undefined;
  for (const entry of candidates) {
    const firstSeen = rollout.firstSeen[entry.sha256];
    if (firstSeen === undefined || isRejected(rollout, entry.sha256)) continue;
    const eligibleAtMs = eligibleAt(rollout, entry, {
      spreadMs,
      place,
      nowMs: 0,
      immediate: false,
    });
    return { entry, firstSeen, eligibleAtMs };
  }
  return undefined;
}

/** What a run must do first about a switch that an earlier run left unjudged. */
export type Recovery =
  /** No switch was pending. */
  | { readonly kind: "none" }
  /** The switch never moved `latest`: forget it. */
  | { readonly kind: "forget" }
  /** `latest` moved, the units may not have been restarted: restart, watch, judge. */
  | { readonly kind: "restart"; readonly pending: PendingSwitch }
  /** The units were restarted onto the new image: watch them and judge. */
  | { readonly kind: "watch"; readonly pending: PendingSwitch }
  /** The new image was rejected: finish going back to `from`. */
  | { readonly kind: "rollback"; readonly pending: PendingSwitch };

/**
 * What to do about the pending switch, given where `latest` points now. A
 * rollback in progress is always finished; a switch whose `latest` is
 * elsewhere than its target was overtaken (by hand, or before it moved).
 */
export function recoveryOf(rollout: RolloutState, latest: string | undefined): Recovery {
  const pending = rollout.pending;
  if (pending === undefined) return { kind: "none" };
  if (pending.phase === "rollback") return { kind: "rollback", pending };
  if (latest !== pending.to) return { kind: "forget" };
  return { kind: pending.phase, pending };
}

/** The rollout part with a switch at this phase (or none). */
export function withPending(
  rollout: RolloutState,
  pending: PendingSwitch | undefined,
): RolloutState {
  if (pending === undefined) return { ...rollout, pending };
  const fromVersion = pending.fromVersion === undefined
    ? undefined
    : bounded(pending.fromVersion, "version");
  return {
    ...rollout,
    pending: { ...pending, toVersion: bounded(pending.toVersion, "version"), fromVersion },
  };
}

/**
 * Where a rollback goes: the image `latest` pointed to before, unless it is
 * rejected, missing or the current one. Undefined: nowhere to go.
 */
export function rollbackTarget(
  state: State,
  current: string | undefined,
  present: (sha256: string) => boolean,
): string | undefined {
  const previous = state.previous;
  if (previous === undefined || previous === current) return undefined;
  if (isRejected(rolloutOf(state), previous) || !present(previous)) return undefined;
  return previous;
}
