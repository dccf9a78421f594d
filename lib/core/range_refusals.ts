/**
 * Which origins refused multi-range requests (docs/delta.md), kept in the
 * state file (`multiRangeRefused`, docs/formats.md): per origin URL as
 * configured, when it last answered a multi-range request with 200. For
 * {@link REFUSAL_DAYS} after that, delta updates ask it for single ranges
 * only, so that an S3 bucket does not cost an aborted answer on every run;
 * then multi-range is tried again, in case the origin changed. Pure.
 *
 * @module
 */

/** Origin URL → when it refused (ISO 8601). */
export type RangeRefusals = Readonly<Record<string, string>>;

/** How long a refusal holds: a week costs an S3 origin one aborted answer a week. */
export const REFUSAL_DAYS = 7;
const REFUSAL_MS = REFUSAL_DAYS * 24 * 3600 * 1000;
/** More origins than any config lists: a bound on what a damaged file can make us keep. */
const MAX_ORIGINS = 64;
const MAX_ORIGIN_CHARS = 2048;

/** The refusals of a state file's value; anything malformed is left out. */
export function parseRefusals(value: unknown): RangeRefusals | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const out: Record<string, string> = {};
  let count = 0;
  for (const [origin, at] of Object.entries(value)) {
    if (origin.length > MAX_ORIGIN_CHARS || typeof at !== "string") continue;
    if (Number.isNaN(Date.parse(at))) continue;
    if (++count > MAX_ORIGINS) break;
    out[origin] = at;
  }
  return count === 0 ? undefined : out;
}

/**
 * Whether `origin` refused multi-range within the last {@link REFUSAL_DAYS}
 * before `now` (a date in the future, from a clock set back, holds too).
 *
 * @example
 * ```ts
 * const now = Date.parse("2026-01-10T00:00:00Z");
 * refusedMultiRange({ "https://b": "2026-01-05T00:00:00Z" }, "https://b", now); // true
 * refusedMultiRange({ "https://b": "2026-01-01T00:00:00Z" }, "https://b", now); // false
 * ```
 */
export function refusedMultiRange(
  refusals: RangeRefusals | undefined,
  origin: string,
  now: number,
): boolean {
  const at = refusals?.[origin];
  return at !== undefined && now - Date.parse(at) < REFUSAL_MS;
}

/**
 * The refusals after a run: `origin` refused at `now` when `refused` is
 * true, forgotten when it served multi-range (`refused` false); refusals
 * past their time are dropped. Undefined when none is left.
 *
 * @example
 * ```ts
 * withRefusal(undefined, "https://b", true, Date.parse("2026-01-10T00:00:00Z"));
 * // { "https://b": "2026-01-10T00:00:00.000Z" }
 * ```
 */
export function withRefusal(
  refusals: RangeRefusals | undefined,
  origin: string,
  refused: boolean,
  now: number,
): RangeRefusals | undefined {
  const out: Record<string, string> = {};
  for (const [o, at] of Object.entries(refusals ?? {})) {
    if (o !== origin && refusedMultiRange(refusals, o, now)) out[o] = at;
  }
  if (refused) out[origin] = new Date(now).toISOString();
  return Object.keys(out).length === 0 ? undefined : out;
}
