/**
 * What `tako status` reports, from facts gathered by `commands/status.ts`: per
 * config one {@link StatusEntry}, whose type is the JSON schema 1 documented in
 * docs/tako-status.md, built once here. The JSON is that value written out;
 * the text for people (status_text.ts) is rendered from the same value. Pure:
 * facts in, value and text out.
 *
 * Nothing printed carries a raw control character: untrusted text goes
 * through `printable()`, and the JSON escapes every character outside
 * printable ASCII.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { type ErrorKind, safeText, type TakoError } from "./errors.ts";
import { asciiJson } from "./ascii_json.ts";
import { maskUrl } from "./secrets.ts";
import { patternProblem } from "./offer.ts";
import { compatibleEntries, type Entry } from "./manifest.ts";
import type { State } from "./state.ts";
import {
  rolloutReport,
  type StatusPendingSwitch,
  type StatusRejection,
  type StatusWaiting,
} from "./status_rollout.ts";

/** The version of the JSON schema; raised only for changes that break readers. */
const STATUS_SCHEMA = 1;

/** What the stored manifest turned out to be. */
export type ManifestFacts =
  | { readonly status: "verified"; readonly entries: readonly Entry[] }
  | { readonly status: "absent" }
  | { readonly status: "unverifiable" };

/** What `latest` is. */
export type LatestFacts =
  | { readonly kind: "absent" }
  | { readonly kind: "image"; readonly sha256: string }
  /** Not a link to `store/<sha256>`; `detail` is safe to print. */
  | { readonly kind: "foreign"; readonly detail: string };

/** Everything gathered about one config; undefined = could not be found out. */
export interface StatusFacts {
  /** The config path as given on the command line. */
  readonly configPath: string;
  readonly config: Config | undefined;
  /** The destination, resolved against the working directory. */
  readonly destination: string | undefined;
  readonly manifest: ManifestFacts | undefined;
  /** The images in `store/`: regular files named by their digest. */
  readonly store: readonly { readonly sha256: string; readonly size: number }[] | undefined;
  /** Partial downloads in `store/`: the image's digest and the bytes kept. */
  readonly partials: readonly StatusPartial[] | undefined;
  readonly latest: LatestFacts | undefined;
  readonly state: State | undefined;
  /** This host's place for a version in RolloutSpreadSec=, when needed and known. */
  readonly place?: ((version: string) => number) | undefined;
  /** What went wrong, in any order; the report shows the gravest. */
  readonly errors: readonly TakoError[];
}

/** A size in bytes: a number up to 2^53 − 1, a decimal string above (every JSON reader holds it). */
export type Size = number | string;

/** The JSON document of `tako status --json`. */
export interface StatusDocument {
  readonly schema: typeof STATUS_SCHEMA;
  readonly configs: readonly StatusEntry[];
}

/** One config's entry; null = unknown or not applicable (see `error`). */
export interface StatusEntry {
  readonly config: string;
  readonly destination: string | null;
  readonly origins: readonly string[] | null;
  /** `Version=` as written, "*" when absent. */
  readonly pattern: string | null;
  readonly version_given: boolean | null;
  readonly restart_units: readonly string[] | null;
  readonly keep_images: number | null;
  readonly max_store_size: Size | null;
  readonly manifest: ManifestFacts["status"] | null;
  /** The stored manifest's entries, oldest first; [] when absent; null unless verified or absent. */
  readonly versions: readonly StatusVersion[] | null;
  readonly newest_compatible: string | null;
  /** null when `latest` is absent or unknown. */
  readonly latest: StatusLatest | null;
  /** The image latest pointed to before its last change; kept by pruning. */
  readonly previous: StatusImage | null;
  /** Our images in `store/`, by digest. */
  readonly store_images: readonly StatusStored[] | null;
  /** Their total size in bytes. */
  readonly store_size: Size | null;
  readonly restart_pending: boolean | null;
  /** ISO 8601 time of the last successful fetch. */
  readonly last_success: string | null;
  /** The last fetch that failed under the destination's lock, and why. */
  readonly last_failure: { readonly time: string; readonly message: string } | null;
  /** Partial downloads kept for resuming, by digest. */
  readonly partials: readonly StatusPartial[] | null;
  /**
   * What needs an operator although this status run did not fail: a Version=
   * that matches none of the versions on offer, a last fetch that failed after
   * the last success. Empty when all is well; the monitoring recipe checks it.
   */
  readonly problems: readonly string[];
  /** Image bytes fetch has downloaded into the destination, ever; null when none is recorded. */
  readonly bytes_downloaded: number | null;
  /** Versions fetch never installs again (failed health check or `tako rollback`), oldest first. */
  readonly rejected: readonly StatusRejection[] | null;
  /** The newest version waiting for this host's place in RolloutSpreadSec=, if any. */
  readonly waiting: StatusWaiting | null;
  /** A switch an earlier run left unjudged (killed); the next fetch finishes it. */
  readonly pending_switch: StatusPendingSwitch | null;
  /** The last image built by a delta update, and what it cost; null when none is recorded. */
  readonly last_delta: StatusDelta | null;
  /** The gravest error met while gathering, or null. */
  readonly error: { readonly kind: ErrorKind; readonly message: string } | null;
}

/** A partial download: the image it is for and how many bytes are kept. */
export interface StatusPartial {
  readonly sha256: string;
  readonly bytes: number;
}

/** One entry of the stored manifest, with what the destination holds of it. */
export interface StatusVersion {
  readonly version: string;
  readonly size: Size;
  readonly sha256: string;
  /** `store/<sha256>` exists with the listed size. */
  readonly present: boolean;
  /** Size of `store/<sha256>` when it exists; differs from `size` for a damaged copy. */
  readonly stored_size: number | null;
  readonly latest: boolean;
  readonly previous: boolean;
  /** `Version=` matches it. */
  readonly compatible: boolean;
  /** The newest version that `Version=` matches. */
  readonly newest_compatible: boolean;
}

/** An image the state names. */
export interface StatusImage {
  /** null when `latest` is not a link into `store/`. */
  readonly sha256: string | null;
  /** null when not listed in a verified manifest. */
  readonly version: string | null;
  /** The file is in `store/`. */
  readonly present: boolean;
}

/** `latest`: an image, or what it is instead. */
export interface StatusLatest extends StatusImage {
  /** What `latest` is when it is not a link into `store/`, else null. */
  readonly foreign: string | null;
}

/** A delta update (docs/delta.md): bytes copied from local images and fetched, requests. */
export interface StatusDelta {
  readonly sha256: string;
  /** null when not listed in a verified manifest. */
  readonly version: string | null;
  readonly size: number;
  readonly reused: number;
  /** Bytes fetched, the index included. */
  readonly downloaded: number;
  readonly requests: number;
}

/** An image of `store/` and the newest manifest version with its digest. */
export interface StatusStored {
  readonly sha256: string;
  readonly size: number;
  /** null when the manifest does not list it or is not trusted. */
  readonly version: string | null;
}

/** Graver errors first: integrity, config, usage, runtime (as their exit codes rank them). */
const GRAVITY: Readonly<Record<ErrorKind, number>> = {
  internal: 5,
  integrity: 4,
  config: 3,
  usage: 2,
  runtime: 1,
};

// ---------------------------------------------------------------------------
// Facts → entry

/**
 * Builds the entry of one config from its facts: marks each manifest version
 * as present, latest, previous and (newest) compatible, and adds up the store.
 *
 * @example
 * ```ts
 * const entry = buildReport({
 *   configPath: "/etc/tako/app",
 *   config: undefined,
 *   destination: undefined,
 *   manifest: undefined,
 *   store: undefined,
 *   partials: undefined,
 *   latest: undefined,
 *   state: undefined,
 *   errors: [],
 * });
 * entry.newest_compatible; // null
 * ```
 */
export function buildReport(facts: StatusFacts): StatusEntry {
  const { config, manifest, store, latest, state } = facts;
  const entries = manifest?.status === "verified" ? manifest.entries : undefined;
  const stored = new Map((store ?? []).map((image) => [image.sha256, image.size]));
  const latestSha = latest?.kind === "image" ? latest.sha256 : undefined;
  const previousSha = state?.previous;
  const newest = entries === undefined || config === undefined
    ? undefined
    : compatibleEntries(entries, config.pattern)[0];
  // Digest → the newest version listing it (entries come oldest first).
  const versionOf = new Map((entries ?? []).map((entry) => [entry.sha256, entry.version]));
  const isPresent = (sha256: string, size: bigint) => stored.get(sha256) === Number(size);

  const versions = manifest?.status === "absent" ? [] : entries?.map((entry): StatusVersion => ({
    version: entry.version,
    size: sizeOf(entry.size),
    sha256: entry.sha256,
    present: isPresent(entry.sha256, entry.size),
    stored_size: stored.get(entry.sha256) ?? null,
    latest: entry.sha256 === latestSha,
    previous: entry.sha256 === previousSha,
    compatible: config?.pattern.matches(entry.version) ?? false,
    newest_compatible: entry === newest,
  })) ?? null;

  const image = (sha256: string): StatusImage => ({
    sha256,
    version: versionOf.get(sha256) ?? null,
    present: stored.has(sha256),
  });
  return {
    config: facts.configPath,
    destination: facts.destination ?? null,
    // Passwords masked: status output goes to monitoring and logs.
    origins: config?.origins.map(maskUrl) ?? null,
    pattern: config?.pattern.text ?? null,
    version_given: config?.versionGiven ?? null,
    restart_units: config?.restartUnits ?? null,
    keep_images: config?.keepImages ?? null,
    max_store_size: config?.maxStoreSize === undefined ? null : sizeOf(config.maxStoreSize),
    manifest: manifest?.status ?? null,
    versions,
    newest_compatible: newest?.version ?? null,
    latest: latestOf(latest, image),
    previous: previousSha === undefined || state === undefined ? null : image(previousSha),
    store_images: store === undefined ? null : store.map((stored) => ({
      sha256: stored.sha256,
      size: stored.size,
      version: versionOf.get(stored.sha256) ?? null,
    })),
    store_size: store === undefined
      ? null
      : sizeOf(store.reduce((sum, stored) => sum + BigInt(stored.size), 0n)),
    restart_pending: state?.restartPending ?? null,
    last_success: state?.lastSuccess ?? null,
    last_failure: state?.lastFailure === undefined ? null : {
      time: state.lastFailure,
      message: safeText(state.lastFailureMessage ?? "(no message recorded)"),
    },
    bytes_downloaded: state?.downloadedBytes ?? null,
    partials: facts.partials ?? null,
    problems: problemsOf(config, entries, state),
    ...rolloutReport(facts.config, facts.state, facts.place, entries, latestSha),
    last_delta: state?.lastDelta === undefined
      ? null
      : { ...state.lastDelta, version: versionOf.get(state.lastDelta.sha256) ?? null },
    error: gravest(facts.errors),
  };
}

/** The entry's `problems`: conditions monitoring must see, in words. */
function problemsOf(
  config: Config | undefined,
  entries: readonly Entry[] | undefined,
  state: State | undefined,
): string[] {
  const problems: string[] = [];
  const noMatch = config === undefined || entries === undefined
    ? undefined
    : patternProblem(config.pattern, entries);
  if (noMatch !== undefined) problems.push(`${noMatch} This host does not update.`);
  const failure = state?.lastFailure;
  const success = state?.lastSuccess === undefined ? NaN : Date.parse(state.lastSuccess);
  if (failure !== undefined && !(Date.parse(failure) <= success)) {
    const why = state?.lastFailureMessage;
    problems.push(
      `the last fetch failed (${failure})${why === undefined ? "." : `: ${safeText(why)}`}`,
    );
  }
  const pending = state?.rollout?.pending;
  if (pending !== undefined) {
    problems.push(
      `the switch to ${
        safeText(pending.toVersion)
      } was interrupted before its health check ended; the next fetch finishes it.`,
    );
  }
  return problems;
}

function sizeOf(bytes: bigint): Size {
  return bytes <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(bytes) : bytes.toString();
}

function latestOf(
  latest: LatestFacts | undefined,
  image: (sha256: string) => StatusImage,
): StatusLatest | null {
  switch (latest?.kind) {
    case undefined:
    case "absent":
      return null;
    case "image":
      return { ...image(latest.sha256), foreign: null };
    case "foreign":
      return { sha256: null, version: null, present: false, foreign: latest.detail };
  }
}

function gravest(errors: readonly TakoError[]): StatusEntry["error"] {
  const worst = errors.reduce<TakoError | undefined>(
    (best, e) => best === undefined || GRAVITY[e.kind] > GRAVITY[best.kind] ? e : best,
    undefined,
  );
  return worst === undefined ? null : { kind: worst.kind, message: safeText(worst.message) };
}

// ---------------------------------------------------------------------------
// JSON

/**
 * The JSON document of schema 1 (docs/tako-status.md), ending with a line
 * feed: the entries as they are, with every character outside printable
 * ASCII written as a `\uXXXX` escape.
 *
 * @example
 * ```ts
 * declare const facts: StatusFacts;
 * JSON.parse(formatStatusJson([buildReport(facts)])).schema; // 1
 * ```
 */
export function formatStatusJson(configs: readonly StatusEntry[]): string {
  const document: StatusDocument = { schema: STATUS_SCHEMA, configs };
  return asciiJson(document);
}
