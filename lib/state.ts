/**
 * The small record Tako keeps beside a destination's images (`.state`):
 * what the last run saw, so the next run can retry a failed restart, keep
 * the previous image for a quick rollback and skip re-hashing an image that
 * has not been touched since it was verified. Pure: text in, value out.
 *
 * A missing or damaged state file is never an error: it only costs work
 * (a restart that is not retried, one re-hash), never safety.
 *
 * @module
 */

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

const HEX64 = /^[0-9a-f]{64}$/;

function optionalNumber(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function parseStamp(value: unknown): ImageStamp | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.sha256 !== "string" || !HEX64.test(v.sha256)) return undefined;
  if (typeof v.size !== "number" || !Number.isSafeInteger(v.size) || v.size < 0) return undefined;
  return {
    sha256: v.sha256,
    size: v.size,
    ino: optionalNumber(v.ino),
    mtimeMs: optionalNumber(v.mtimeMs),
    ctimeMs: optionalNumber(v.ctimeMs),
  };
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
  return {
    restartPending: r.restartPending === true,
    previous: typeof r.previous === "string" && HEX64.test(r.previous) ? r.previous : undefined,
    lastSuccess: typeof r.lastSuccess === "string" && !Number.isNaN(Date.parse(r.lastSuccess))
      ? r.lastSuccess
      : undefined,
    verified: parseStamp(r.verified),
  };
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
