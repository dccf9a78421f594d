/**
 * What `.state` remembers for safe rollouts: the versions rejected by a
 * health check or a rollback, when each newer version was first seen (for a
 * phased rollout), and the switch in progress, so that a run killed during a
 * switch, its watch or its rollback is finished by the next run. Pure.
 *
 * @module
 */
import { SHA256_HEX } from "./digest.ts";

/** A version that failed its health check or was rolled back from; fetch never installs it again. */
export interface Rejection {
  readonly version: string;
  readonly sha256: string;
  /** When it was rejected (ISO 8601). */
  readonly at: string;
  /** What was seen, as one sentence without a full stop (printable text). */
  readonly reason: string;
}

/**
 * The steps of a switch of `latest`, each written to `.state` before it is
 * taken:
 * - `restart`: `latest` is being moved to `to`; the units have not been
 *   restarted onto it yet;
 * - `watch`: the units were restarted onto `to`; the verdict is pending;
 * - `rollback`: `to` is rejected; `latest` goes back to `from` and the units
 *   are restarted onto it.
 */
export type SwitchPhase = "restart" | "watch" | "rollback";

/** A switch whose verdict is not in yet. */
export interface PendingSwitch {
  readonly phase: SwitchPhase;
  /** The image switched to, and its version. */
  readonly to: string;
  readonly toVersion: string;
  /** The image `latest` pointed to before (the rollback target), if any. */
  readonly from: string | undefined;
  readonly fromVersion: string | undefined;
  /** When the switch began (ISO 8601). */
  readonly since: string;
}

/** The rollout part of `.state`. */
export interface RolloutState {
  readonly rejected: readonly Rejection[];
  /** Digest → when this destination first saw that version in a verified manifest (ISO 8601). */
  readonly firstSeen: Readonly<Record<string, string>>;
  readonly pending: PendingSwitch | undefined;
}

export const EMPTY_ROLLOUT: RolloutState = { rejected: [], firstSeen: {}, pending: undefined };

/** Bounds on what a damaged or hostile file can make us keep. */
export const MAX_REJECTED = 32;
export const MAX_FIRST_SEEN = 128;
const MAX_VERSION_CHARS = 256;
const MAX_REASON_CHARS = 300;

/**
 * A text cut to what `.state` keeps (versions there are for messages only;
 * digests identify images), so that a long one never makes a record unreadable.
 */
export function bounded(text: string, kind: "version" | "reason"): string {
  const max = kind === "version" ? MAX_VERSION_CHARS : MAX_REASON_CHARS;
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
const PHASES: readonly string[] = ["restart", "watch", "rollback"];

function isDigest(value: unknown): value is string {
  return typeof value === "string" && SHA256_HEX.test(value);
}

function isTime(value: unknown): value is string {
  return typeof value === "string" && value.length <= 40 && !Number.isNaN(Date.parse(value));
}

function isText(value: unknown, max: number): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= max;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Record<string, unknown>
    : undefined;
}

function parseRejection(value: unknown): Rejection | undefined {
  const v = record(value);
  if (v === undefined || !isDigest(v.sha256) || !isTime(v.at)) return undefined;
  if (!isText(v.version, MAX_VERSION_CHARS) || !isText(v.reason, MAX_REASON_CHARS)) {
    return undefined;
  }
  return { version: v.version, sha256: v.sha256, at: v.at, reason: v.reason };
}

function parsePending(value: unknown): PendingSwitch | undefined {
  const v = record(value);
  if (v === undefined || typeof v.phase !== "string" || !PHASES.includes(v.phase)) return undefined;
  if (!isDigest(v.to) || !isText(v.toVersion, MAX_VERSION_CHARS) || !isTime(v.since)) {
    return undefined;
  }
  const from = isDigest(v.from) && isText(v.fromVersion, MAX_VERSION_CHARS) ? v.from : undefined;
  return {
    phase: v.phase as SwitchPhase,
    to: v.to,
    toVersion: v.toVersion,
    from,
    fromVersion: from === undefined ? undefined : v.fromVersion as string,
    since: v.since,
  };
}

/** Reads the rollout part of a parsed `.state`; anything damaged is dropped item by item. */
export function parseRolloutState(value: unknown): RolloutState {
  const v = record(value);
  if (v === undefined) return EMPTY_ROLLOUT;
  const rejected = Array.isArray(v.rejected)
    ? v.rejected.slice(-MAX_REJECTED).map(parseRejection).filter((r) => r !== undefined)
    : [];
  const firstSeen: Record<string, string> = {};
  const seen = record(v.firstSeen) ?? {};
  for (const [digest, at] of Object.entries(seen).slice(0, MAX_FIRST_SEEN)) {
    if (isDigest(digest) && isTime(at)) firstSeen[digest] = at;
  }
  return { rejected, firstSeen, pending: parsePending(v.pending) };
}

/** Whether nothing is remembered (then `.state` leaves the part out). */
export function isEmptyRollout(r: RolloutState): boolean {
  return r.rejected.length === 0 && Object.keys(r.firstSeen).length === 0 &&
    r.pending === undefined;
}
