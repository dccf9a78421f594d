/**
 * Time spans as systemd.time(7) writes them: `30s`, `2min`, `1h 30min`,
 * `1.5s`, `500ms`; a bare number is seconds. Pure: text in, milliseconds out.
 *
 * @module
 */

/** Each unit systemd accepts, in milliseconds. */
const UNITS: Readonly<Record<string, number>> = {
  us: 0.001,
  usec: 0.001,
  ms: 1,
  msec: 1,
  s: 1000,
  sec: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
  w: 604_800_000,
  week: 604_800_000,
  weeks: 604_800_000,
};

/** One number with an optional unit; systemd allows blanks between them. */
const PART = /^([0-9]+(?:\.[0-9]+)?)[ \t]*([a-z]*)/;

/** The longest span accepted: far beyond any health check or rollout window. */
const MAX_MS = 366 * 86_400_000;

/**
 * Parses a time span into whole milliseconds (fractions of a millisecond are
 * rounded). Returns undefined for anything systemd would not read as a span,
 * or for a span longer than a year; callers turn that into a config error
 * naming the line.
 *
 * @example
 * ```ts
 * parseTimeSpan("1h 30min"); // 5400000
 * parseTimeSpan("15"); // 15000
 * parseTimeSpan("15 parsecs"); // undefined
 * ```
 */
export function parseTimeSpan(text: string): number | undefined {
  let rest = text.replace(/^[ \t]+|[ \t]+$/g, "");
  if (rest === "") return undefined;
  let total = 0;
  while (rest !== "") {
    const match = PART.exec(rest);
    if (match === null) return undefined;
    const unit = match[2]!;
    const scale = unit === "" ? 1000 : UNITS[unit];
    if (scale === undefined) return undefined;
    total += Number(match[1]) * scale;
    rest = rest.slice(match[0].length).replace(/^[ \t]+/, "");
  }
  const ms = Math.round(total);
  return ms <= MAX_MS ? ms : undefined;
}

/**
 * A span for messages: `1.2 s`, `350 ms`, `2 min 5 s`, `1 h 30 min`.
 *
 * @example
 * ```ts
 * formatSpan(1234); // "1.2 s"
 * ```
 */
export function formatSpan(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(Math.round(ms / 100) / 10).toString()} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return joinNonZero([Math.floor(s / 60), "min"], [s % 60, "s"]);
  const min = Math.round(s / 60);
  if (min < 1440) return joinNonZero([Math.floor(min / 60), "h"], [min % 60, "min"]);
  const h = Math.round(min / 60);
  return joinNonZero([Math.floor(h / 24), "d"], [h % 24, "h"]);
}

function joinNonZero(...parts: [number, string][]): string {
  return parts.filter(([n]) => n > 0).map(([n, unit]) => `${n} ${unit}`).join(" ");
}
