/**
 * The rollout part of `tako status` (docs/safe-rollouts.md): the versions
 * fetch never installs again, the version waiting for this host's turn and a
 * switch a killed run left unjudged, as the JSON schema 1 names them. Pure.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { compatibleEntries, type Entry } from "./manifest.ts";
import { rolloutOf, waitingVersion } from "./rollout.ts";
import type { State } from "./state.ts";

/** A rejected version: when and why. */
export interface StatusRejection {
  readonly version: string;
  readonly sha256: string;
  /** ISO 8601. */
  readonly at: string;
  readonly reason: string;
}

/** A version on offer that waits for this host's turn. */
export interface StatusWaiting {
  readonly version: string;
  readonly sha256: string;
  /** When this destination first saw it (ISO 8601). */
  readonly first_seen: string;
  /** When a fetch will install it (ISO 8601); `tako fetch --now` does at once. */
  readonly eligible_at: string;
}

/** An unjudged switch: its step, the versions and when it began. */
export interface StatusPendingSwitch {
  readonly phase: "restart" | "watch" | "rollback";
  readonly to_version: string;
  readonly from_version: string | null;
  readonly since: string;
}

/** The rollout fields of a status entry; all null when the state could not be read. */
export interface RolloutReport {
  readonly rejected: readonly StatusRejection[] | null;
  readonly waiting: StatusWaiting | null;
  readonly pending_switch: StatusPendingSwitch | null;
}

/**
 * The rollout fields of a config's status entry.
 *
 * @example
 * ```ts
 * rolloutReport(undefined, undefined, undefined, undefined, undefined).rejected; // null
 * ```
 */
export function rolloutReport(
  config: Config | undefined,
  state: State | undefined,
  place: ((version: string) => number) | undefined,
  entries: readonly Entry[] | undefined,
  latestSha: string | undefined,
): RolloutReport {
  if (state === undefined) return { rejected: null, waiting: null, pending_switch: null };
  const rollout = rolloutOf(state);
  const current = entries?.findLast((e) => e.sha256 === latestSha);
  const newer = config === undefined || entries === undefined
    ? []
    : compatibleEntries(entries, config.pattern).filter((e) =>
      current === undefined || config.pattern.compare(e.version, current.version) > 0
    );
  const waiting = place === undefined || config === undefined
    ? undefined
    : waitingVersion(rollout, newer, config.rolloutSpreadMs, place);
  const pending = rollout.pending;
  return {
    rejected: rollout.rejected.map((r) => ({ ...r })),
    waiting: waiting === undefined ? null : {
      version: waiting.entry.version,
      sha256: waiting.entry.sha256,
      first_seen: waiting.firstSeen,
      eligible_at: new Date(waiting.eligibleAtMs).toISOString(),
    },
    pending_switch: pending === undefined ? null : {
      phase: pending.phase,
      to_version: pending.toVersion,
      from_version: pending.fromVersion ?? null,
      since: pending.since,
    },
  };
}
