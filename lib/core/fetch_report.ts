/**
 * What `tako fetch` did (or, with `--dry-run`, would do) for each config: the
 * {@link FetchEntry} type is the JSON schema of `fetch --json` documented in
 * docs/tako-fetch.md, and the dry run's sentence for people is made from the
 * same value. Pure.
 *
 * @module
 */
import { asciiJson } from "./ascii_json.ts";
import { type ErrorKind, printable, safeText, type TakoError } from "./errors.ts";
import type { Entry } from "./manifest.ts";
import type { DeltaRecord } from "./state.ts";
import { type RangeRefusals, withRefusal } from "./range_refusals.ts";

/** The version of the JSON schema; raised only for changes that break readers. */
export const FETCH_SCHEMA = 1;

/** An image `latest` points to: its digest and the newest version the manifest lists for it. */
export interface FetchImage {
  readonly sha256: string;
  /** null when the manifest does not list the digest. */
  readonly version: string | null;
}

/** One config's outcome; the key names are the schema's. */
export interface FetchEntry {
  /** The config path as given on the command line. */
  readonly config: string;
  /** `Destination=`, absolute; null when the config could not be read. */
  readonly destination: string | null;
  /** What `latest` pointed to before the run; null when it did not exist (or is unknown). */
  readonly before: FetchImage | null;
  /** What `latest` points to after the run (dry run: would point to); null when none. */
  readonly after: FetchImage | null;
  /** Whether `latest` moved (dry run: would move). */
  readonly changed: boolean;
  /** Image bytes received from the origins (dry run: that a fetch would download). */
  readonly bytes_downloaded: number;
  /** Units restarted (dry run: that a fetch would restart), in order. */
  readonly units_restarted: readonly string[];
  /**
   * The delta update that built the image (docs/delta.md): bytes copied from
   * local images, bytes fetched (the index included; also counted in
   * `bytes_downloaded`) and requests made; null when there was none.
   */
  readonly delta: {
    readonly reused: number;
    readonly downloaded: number;
    readonly requests: number;
  } | null;
  /** The health check that failed in this run and the rollback it caused; null when none. */
  readonly rollback: FetchRollback | null;
  /** What failed; null on success. */
  readonly error: { readonly kind: ErrorKind; readonly message: string } | null;
}

/** A switch judged unhealthy: the version rejected, why, and where `latest` went back to. */
export interface FetchRollback {
  /** The image whose switch failed; fetch never installs it again. */
  readonly rejected: { readonly sha256: string; readonly version: string };
  /** What the health check saw (the reason `status` lists for the rejection). */
  readonly reason: string;
  /** The image `latest` went back to; null when there was none and the rejected one stays. */
  readonly back_to: FetchImage | null;
  /** Why the units did not come back on `back_to`; null when they did (or there was none). */
  readonly back_problem: string | null;
}

/** The document `fetch --json` prints. */
export interface FetchDocument {
  readonly schema: typeof FETCH_SCHEMA;
  readonly dry_run: boolean;
  readonly configs: readonly FetchEntry[];
}

/** What a run found out and did, filled in as it goes (so a failure reports what it got to). */
export interface Outcome {
  /** `Destination=`, once the config is read. */
  destination?: string;
  /** The entries of the manifest in force, to name the versions of digests. */
  entries: readonly Entry[];
  /** What `latest` pointed to before, and points to after (would, in a dry run). */
  before?: string | undefined;
  after?: string | undefined;
  changed: boolean;
  /** Image bytes received (would be, in a dry run). */
  bytes: number;
  restarted: readonly string[];
  /** What the delta update that built the image cost, when one did (docs/delta.md). */
  delta?: DeltaRecord;
  /** Whether the origin a delta update asked refused multi-range (200), when it asked one. */
  multiRange?: { readonly origin: string; readonly refused: boolean };
  /** Set when a health check failed and the switch was rolled back (or could not be). */
  rollback?: RollbackRecord;
  /** Dry run: the newer compatible versions left out as rejected, newest first. */
  passedOver?: readonly string[];
}

/** What a switch reports into the outcome (shell/switch.ts). */
export type SwitchOutcome = Pick<
  Outcome,
  "before" | "after" | "changed" | "restarted" | "rollback"
>;

/** A rolled-back switch, by digest; {@link fetchEntry} names the image gone back to. */
export interface RollbackRecord {
  readonly rejected: string;
  readonly rejectedVersion: string;
  readonly reason: string;
  /** The digest `latest` went back to; undefined when there was none. */
  readonly backTo: string | undefined;
  readonly backProblem: string | undefined;
}

/**
 * The entry of one config: its outcome, and the error that ended it, if any.
 *
 * @example
 * ```ts
 * fetchEntry("/etc/tako/app", { entries: [], changed: false, bytes: 0, restarted: [] }, undefined);
 * ```
 */
export function fetchEntry(
  config: string,
  outcome: Outcome,
  error: TakoError | undefined,
): FetchEntry {
  const image = (sha256: string | undefined): FetchImage | null => {
    if (sha256 === undefined) return null;
    // Entries are in ascending version order: the last one listing the digest is the newest.
    const version = outcome.entries.findLast((e) => e.sha256 === sha256)?.version ?? null;
    return { sha256, version };
  };
  const rollback = outcome.rollback;
  return {
    config,
    destination: outcome.destination ?? null,
    before: image(outcome.before),
    after: image(outcome.after),
    changed: outcome.changed,
    bytes_downloaded: outcome.bytes,
    units_restarted: [...outcome.restarted],
    delta: outcome.delta === undefined ? null : {
      reused: outcome.delta.reused,
      downloaded: outcome.delta.downloaded,
      requests: outcome.delta.requests,
    },
    rollback: rollback === undefined ? null : {
      rejected: { sha256: rollback.rejected, version: rollback.rejectedVersion },
      reason: safeText(rollback.reason),
      back_to: image(rollback.backTo),
      back_problem: rollback.backProblem === undefined ? null : safeText(rollback.backProblem),
    },
    error: error === undefined ? null : { kind: error.kind, message: safeText(error.message) },
  };
}

/**
 * The JSON document, ending with a line feed: two-space indentation and every
 * character outside printable ASCII as a `\uXXXX` escape, as `status --json`.
 *
 * @example
 * ```ts
 * JSON.parse(formatFetchJson(false, [])); // { schema: 1, dry_run: false, configs: [] }
 * ```
 */
export function formatFetchJson(dryRun: boolean, configs: readonly FetchEntry[]): string {
  const document: FetchDocument = { schema: FETCH_SCHEMA, dry_run: dryRun, configs };
  return asciiJson(document);
}

function imageText(image: FetchImage): string {
  return image.version === null
    ? `an unlisted image (${image.sha256})`
    : `${printable(image.version)} (${image.sha256.slice(0, 12)}…)`;
}

/**
 * The dry run's sentence for one config that did not fail: which version a
 * fetch would install, how many bytes it would download, which units it would
 * restart, and which newer versions it passes over as rejected.
 *
 * @example
 * ```ts
 * declare const entry: FetchEntry;
 * dryRunText(entry); // "would install 1.1.0 (e8e9c3cf85d5…) in place of 1.0.0 (…), downloading 20 bytes; would restart app.service."
 * ```
 */
export function dryRunText(entry: FetchEntry, passedOver: readonly string[] = []): string {
  const units = entry.units_restarted.length === 0
    ? "would restart nothing"
    : `would restart ${entry.units_restarted.map((u) => printable(u)).join(" ")}`;
  const rejected = passedOver.length === 0
    ? ""
    : `; ${passedOver.map((v) => printable(v)).join(", ")} ${
      passedOver.length === 1 ? "is" : "are"
    } rejected (never installed again)`;
  const restart = units + rejected;
  if (entry.after === null) return `no image to install; ${restart}.`;
  const download = entry.bytes_downloaded === 0
    ? "with nothing to download (the image is in store/)"
    : `downloading ${entry.bytes_downloaded} bytes`;
  if (!entry.changed) return `${imageText(entry.after)} is up to date; ${restart}.`;
  const from = entry.before === null ? "" : ` in place of ${imageText(entry.before)}`;
  return `would install ${imageText(entry.after)}${from}, ${download}; ${restart}.`;
}

/**
 * The state field that records a run's delta update, if it made one (what
 * `tako status` shows as the last delta); none keeps the one recorded before.
 *
 * @example
 * ```ts
 * deltaOf(undefined); // {}: no lastDelta
 * ```
 */
export function deltaOf(delta: DeltaRecord | undefined): { lastDelta?: DeltaRecord } {
  return delta === undefined ? {} : { lastDelta: delta };
}

/**
 * `state` after a run whose delta update learned `learned` about an origin's
 * multi-range support (none: the refusals kept as they are).
 *
 * @example
 * ```ts
 * import { EMPTY_STATE } from "./state.ts";
 * const next = withMultiRange(EMPTY_STATE, { origin: "https://b", refused: true }, Date.now());
 * next.multiRangeRefused; // { "https://b": "…" }
 * ```
 */
export function withMultiRange<T extends { readonly multiRangeRefused?: RangeRefusals }>(
  state: T,
  learned: Outcome["multiRange"],
  now: number,
): T {
  if (learned === undefined) return state;
  const { multiRangeRefused: old, ...rest } = state;
  const next = withRefusal(old, learned.origin, learned.refused, now);
  return (next === undefined ? rest : { ...rest, multiRangeRefused: next }) as T;
}
