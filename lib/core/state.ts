/**
 * The small record Tako keeps beside a destination's images (`.state`):
 * what the last run saw, so the next run can retry a failed restart, keep
 * the previous image for a quick rollback, skip re-hashing an image that
 * has not been touched since it was verified and ask each origin for its
 * manifest only if it changed. Pure: text in, value out.
 *
 * A missing or damaged state file is never an error: it only costs work
 * (a restart that is not retried, one re-hash), never safety.
 *
 * @module
 */
import { SHA256_HEX } from "./digest.ts";
import { formatPublicKey } from "./public_key.ts";
import { parseRefusals, type RangeRefusals } from "./range_refusals.ts";
import { isEmptyRollout, parseRolloutState, type RolloutState } from "./rollout_state.ts";

/** File-system identity of an image at the moment its digest was checked. */
export interface ImageStamp {
  readonly sha256: string;
  readonly size: number;
  readonly ino: number | null;
  readonly mtimeMs: number | null;
  readonly ctimeMs: number | null;
}

/** What `.state` holds. */
export interface State {
  /** The units have not yet been restarted onto the current `latest`. */
  readonly restartPending: boolean;
  /** The digest `latest` pointed to before its last change: kept by pruning. */
  readonly previous: string | undefined;
  /** When the last fetch succeeded (ISO 8601). */
  readonly lastSuccess: string | undefined;
  /** The image whose digest was last checked, and how it looked on disk then. */
  readonly verified: ImageStamp | undefined;
  /**
   * Per origin URL (as configured): the validators it sent with the manifest
   * that is stored now, for a conditional request (`If-None-Match`,
   * `If-Modified-Since`) on the next run.
   */
  readonly manifestValidators?: Readonly<Record<string, ManifestValidators>>;
  /** Rejected versions, first sightings and a switch in progress (absent: none). */
  readonly rollout?: RolloutState;
  /** When the last fetch that failed under the lock ended (ISO 8601). */
  readonly lastFailure?: string;
  /** Its message as printed (secrets already masked), at most {@link MAX_FAILURE_CHARS}. */
  readonly lastFailureMessage?: string;
  /** Image bytes fetch has received into this destination, ever (a counter for the metrics). */
  readonly downloadedBytes?: number;
  /**
   * The stored manifest as it was when its signature verified: its SHA-256
   * and the config's public keys (base64) at the time, one of which it
   * verified under. A later run that finds the very same bytes under a
   * config still listing all those keys need not verify them again
   * ({@link isManifestTrusted}).
   */
  readonly manifestVerified?: ManifestVerified;
  /** The last image built by a delta update (docs/delta.md), and what it cost. */
  readonly lastDelta?: DeltaRecord;
  /** Origins that answered a multi-range request with 200, and when (core/range_refusals.ts). */
  readonly multiRangeRefused?: RangeRefusals;
}

/** What `.state` records of the stored manifest's verification. */
export interface ManifestVerified {
  readonly sha256: string;
  /** The config's PublicKey= values (base64) when the manifest verified under one of them. */
  readonly publicKeys: readonly string[];
}

/** What a delta update cost: the image's digest and size, bytes reused and fetched, requests. */
export interface DeltaRecord {
  readonly sha256: string;
  readonly size: number;
  readonly reused: number;
  /** Bytes fetched, the index included. */
  readonly downloaded: number;
  readonly requests: number;
}

/** The longest failure message kept: the log's bound on a message. */
export const MAX_FAILURE_CHARS = 2000;

/** What an origin said about its manifest, and which manifest that was. */
export interface ManifestValidators {
  /** SHA-256 (lowercase hex) of the manifest bytes the origin sent with these validators. */
  readonly manifestSha256: string;
  /** The ETag header, as sent. */
  readonly etag: string | undefined;
  /** The Last-Modified header, as sent. */
  readonly lastModified: string | undefined;
}

/** The request headers a conditional manifest request sends. */
export interface ConditionalHeaders {
  readonly etag: string | undefined;
  readonly lastModified: string | undefined;
}

/** The name of the state file inside the destination. */
export const STATE_FILE = ".state";

/** The state of a destination that has none yet. */
export const EMPTY_STATE: State = {
  restartPending: false,
  previous: undefined,
  lastSuccess: undefined,
  verified: undefined,
};

/** A public key as `formatPublicKey` writes it: 32 bytes of standard base64. */
const PUBLIC_KEY_BASE64 = /^[A-Za-z0-9+/]{43}=$/;
/** More keys than any config lists: a bound on what a damaged file can make us keep. */
const MAX_RECORDED_KEYS = 64;
/** A header value that is safe to send back: printable ASCII, bounded. */
const HEADER_VALUE = /^[\x20-\x7e]{1,256}$/;
/** More origins than any config lists: a bound on what a damaged file can make us keep. */
const MAX_VALIDATED_ORIGINS = 64;
const MAX_ORIGIN_CHARS = 2048;

function optionalNumber(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function parseStamp(value: unknown): ImageStamp | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.sha256 !== "string" || !SHA256_HEX.test(v.sha256)) return undefined;
  if (typeof v.size !== "number" || !Number.isSafeInteger(v.size) || v.size < 0) return undefined;
  return {
    sha256: v.sha256,
    size: v.size,
    ino: optionalNumber(v.ino),
    mtimeMs: optionalNumber(v.mtimeMs),
    ctimeMs: optionalNumber(v.ctimeMs),
  };
}

function parseDeltaRecord(value: unknown): DeltaRecord | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.sha256 !== "string" || !SHA256_HEX.test(v.sha256)) return undefined;
  const count = (n: unknown) => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
  if (![v.size, v.reused, v.downloaded, v.requests].every(count)) return undefined;
  const { size, reused, downloaded, requests } = v as Record<string, number>;
  return {
    sha256: v.sha256,
    size: size!,
    reused: reused!,
    downloaded: downloaded!,
    requests: requests!,
  };
}

function optionalHeader(value: unknown): string | undefined {
  return typeof value === "string" && HEADER_VALUE.test(value) ? value : undefined;
}

function parseValidators(value: unknown): ManifestValidators | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.manifestSha256 !== "string" || !SHA256_HEX.test(v.manifestSha256)) return undefined;
  const etag = optionalHeader(v.etag);
  const lastModified = optionalHeader(v.lastModified);
  if (etag === undefined && lastModified === undefined) return undefined;
  return { manifestSha256: v.manifestSha256, etag, lastModified };
}

function parseValidatorMap(value: unknown): Record<string, ManifestValidators> | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const map: Record<string, ManifestValidators> = {};
  let count = 0;
  for (const [origin, raw] of Object.entries(value)) {
    if (origin.length > MAX_ORIGIN_CHARS) continue;
    const validators = parseValidators(raw);
    if (validators === undefined) continue;
    if (++count > MAX_VALIDATED_ORIGINS) break;
    map[origin] = validators;
  }
  return count === 0 ? undefined : map;
}

function parseManifestVerified(value: unknown): ManifestVerified | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.sha256 !== "string" || !SHA256_HEX.test(v.sha256)) return undefined;
  const keys = v.publicKeys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > MAX_RECORDED_KEYS) {
    return undefined;
  }
  if (!keys.every((k) => typeof k === "string" && PUBLIC_KEY_BASE64.test(k))) return undefined;
  return { sha256: v.sha256, publicKeys: keys };
}

/** Reads state text; anything unreadable yields {@link EMPTY_STATE} field by field. */
export function parseState(text: string | undefined): State {
  if (text === undefined) return EMPTY_STATE;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return EMPTY_STATE;
  }
  if (typeof raw !== "object" || raw === null) return EMPTY_STATE;
  const r = raw as Record<string, unknown>;
  const validators = parseValidatorMap(r.manifestValidators);
  const rollout = parseRolloutState(r.rollout);
  const failure = isoTime(r.lastFailure);
  const message = typeof r.lastFailureMessage === "string" &&
      r.lastFailureMessage.length <= MAX_FAILURE_CHARS
    ? r.lastFailureMessage
    : undefined;
  const downloaded = r.downloadedBytes;
  const manifestVerified = parseManifestVerified(r.manifestVerified);
  const lastDelta = parseDeltaRecord(r.lastDelta);
  const refused = parseRefusals(r.multiRangeRefused);
  return {
    restartPending: r.restartPending === true,
    previous: typeof r.previous === "string" && SHA256_HEX.test(r.previous)
      ? r.previous
      : undefined,
    lastSuccess: isoTime(r.lastSuccess),
    verified: parseStamp(r.verified),
    ...(validators === undefined ? {} : { manifestValidators: validators }),
    ...(isEmptyRollout(rollout) ? {} : { rollout }),
    ...(failure === undefined ? {} : { lastFailure: failure }),
    ...(failure === undefined || message === undefined ? {} : { lastFailureMessage: message }),
    ...(typeof downloaded === "number" && Number.isSafeInteger(downloaded) && downloaded >= 0
      ? { downloadedBytes: downloaded }
      : {}),
    ...(manifestVerified === undefined ? {} : { manifestVerified }),
    ...(lastDelta === undefined ? {} : { lastDelta }),
    ...(refused === undefined ? {} : { multiRangeRefused: refused }),
  };
}

function isoTime(value: unknown): string | undefined {
  return typeof value === "string" && !Number.isNaN(Date.parse(value)) ? value : undefined;
}

/**
 * The state after a fetch received `bytes` of images: the counter grows
 * (capped at 2^53 − 1, where a JSON number stops being exact).
 *
 * @example
 * ```ts
 * withDownloaded(EMPTY_STATE, 20).downloadedBytes; // 20
 * ```
 */
export function withDownloaded(state: State, bytes: number): State {
  if (bytes <= 0) return state;
  const total = Math.min((state.downloadedBytes ?? 0) + bytes, Number.MAX_SAFE_INTEGER);
  return { ...state, downloadedBytes: total };
}

/** State → file text. */
export function serializeState(state: State): string {
  return JSON.stringify(state, null, 2) + "\n";
}

/** The stamp of a file as `Deno.stat` describes it. */
export function stampOf(
  sha256: string,
  info: { size: number; ino: number | null; mtime: Date | null; ctime?: Date | null },
): ImageStamp {
  return {
    sha256,
    size: info.size,
    ino: info.ino,
    mtimeMs: info.mtime?.getTime() ?? null,
    ctimeMs: info.ctime?.getTime() ?? null,
  };
}

/**
 * Whether a file still looks exactly as when its digest was checked. Any
 * write changes ctime, which no user-space call can set back; a missing
 * field never matches. (Deno 2.9 reports ctime in whole seconds, so within
 * one second only mtime, in milliseconds, tells writes apart.)
 */
export function stampMatches(a: ImageStamp | undefined, b: ImageStamp): boolean {
  return a !== undefined && a.sha256 === b.sha256 && a.size === b.size && a.ino !== null &&
    a.ino === b.ino && a.mtimeMs !== null && a.mtimeMs === b.mtimeMs && a.ctimeMs !== null &&
    a.ctimeMs === b.ctimeMs;
}

/**
 * The validators to send to `origin` for a conditional manifest request, or
 * undefined when there are none for the manifest stored now (SHA-256
 * `storedSha256`, undefined when there is no verified stored manifest): a
 * validator is only ever used for the very manifest it came with, so a
 * manifest replaced or removed by hand, or a damaged state, means a full GET.
 *
 * @example
 * ```ts
 * declare const state: State, stored: Uint8Array, sha256: (bytes: Uint8Array) => string;
 * const headers = conditionalHeaders(state, "https://images.example.com/app", sha256(stored));
 * ```
 */
export function conditionalHeaders(
  state: State,
  origin: string,
  storedSha256: string | undefined,
): ConditionalHeaders | undefined {
  const saved = state.manifestValidators?.[origin];
  if (saved === undefined || storedSha256 === undefined) return undefined;
  if (saved.manifestSha256 !== storedSha256) return undefined;
  return { etag: saved.etag, lastModified: saved.lastModified };
}

/**
 * The state after a run that stored the manifest with SHA-256 `storedSha256`,
 * which `origin` served (or confirmed with 304) along with `validators`
 * (undefined: it sent none worth keeping). Other origins' validators are kept
 * only while they belong to that same manifest and are still configured
 * (`origins`); the rest could never be used again.
 *
 * @example
 * ```ts
 * import type { Config } from "./config.ts";
 * declare let next: State;
 * declare const origin: string, bytes: Uint8Array, config: Config;
 * declare const answer: { validators: Parameters<typeof withValidators>[2] };
 * declare const sha256: (bytes: Uint8Array) => string;
 * next = withValidators(next, origin, answer.validators, sha256(bytes), config.origins);
 * ```
 */
export function withValidators(
  state: State,
  origin: string,
  validators: ConditionalHeaders | undefined,
  storedSha256: string,
  origins: readonly string[],
): State {
  const map: Record<string, ManifestValidators> = {};
  for (const [url, saved] of Object.entries(state.manifestValidators ?? {})) {
    if (url !== origin && origins.includes(url) && saved.manifestSha256 === storedSha256) {
      map[url] = saved;
    }
  }
  const etag = optionalHeader(validators?.etag);
  const lastModified = optionalHeader(validators?.lastModified);
  if (etag !== undefined || lastModified !== undefined) {
    map[origin] = { manifestSha256: storedSha256, etag, lastModified };
  }
  const { manifestValidators: _old, ...rest } = state;
  return Object.keys(map).length === 0 ? rest : { ...rest, manifestValidators: map };
}

/**
 * Whether the stored manifest, whose bytes have SHA-256 `sha256`, need not
 * be verified again under `publicKeys` (the config's, base64): `.state`
 * records that these very bytes verified under one of a set of keys that the
 * config still lists in full, so verifying them again could only give the
 * same answer. Anything else (no record, other bytes, a key dropped from the
 * config, a damaged state) means verifying. The reasoning, and why a record
 * anyone could write is no weaker than the stored manifest itself, is in
 * docs/performance.md.
 *
 * @example
 * ```ts
 * declare const state: State, storedSha256: string, configKeys: string[];
 * if (!isManifestTrusted(state, storedSha256, configKeys)) console.log("verify it");
 * ```
 */
export function isManifestTrusted(
  state: State,
  sha256: string,
  publicKeys: readonly string[],
): boolean {
  const record = state.manifestVerified;
  return record !== undefined && record.sha256 === sha256 &&
    record.publicKeys.every((key) => publicKeys.includes(key));
}

/**
 * The state after the manifest with SHA-256 `sha256` verified under one of
 * `publicKeys` (the config's) and was stored.
 *
 * @example
 * ```ts
 * declare const state: State, sha256: string, configKeys: Uint8Array[];
 * const next = withManifestVerified(state, sha256, configKeys);
 * ```
 */
export function withManifestVerified(
  state: State,
  sha256: string,
  publicKeys: readonly Uint8Array[],
): State {
  return { ...state, manifestVerified: { sha256, publicKeys: publicKeys.map(formatPublicKey) } };
}
