/**
 * The text of `tako status` for people, rendered from the same
 * {@link StatusEntry} values as the JSON: per config a few labelled lines and
 * a table of the stored manifest's versions. Pure; untrusted text goes
 * through `printable()`.
 *
 * @module
 */
import { printable, shownUrl } from "./errors.ts";
import { formatBytes } from "./log.ts";
import { imageCount } from "./prune_plan.ts";
import type { StatusDelta, StatusEntry, StatusImage, StatusVersion } from "./status_report.ts";
import { deltaSummary } from "./delta_plan.ts";
import { formatSpan } from "./timespan.ts";

/** Above this many versions the text table shows only the rows that matter. */
const MAX_TEXT_ROWS = 20;
/** Length of the digest prefix in the text table. */
const SHORT_DIGEST = 12;

/**
 * The text for people: per config a few labelled lines and a table of the
 * stored manifest's versions, configs separated by a blank line. `now` dates
 * the last fetch ("3 h ago").
 *
 * @example
 * ```ts
 * import { buildReport, type StatusFacts } from "./status_report.ts";
 * declare const facts: StatusFacts;
 * console.log(formatStatusText([buildReport(facts)], new Date()));
 * ```
 */
export function formatStatusText(reports: readonly StatusEntry[], now: Date): string {
  return reports.map((r) => formatOne(r, now)).join("\n");
}

function formatOne(r: StatusEntry, now: Date): string {
  const lines = [printable(r.config, 300)];
  const field = (label: string, value: string) => lines.push(`  ${label.padEnd(13)}${value}`);
  if (r.error !== null) field("error", r.error.message);
  if (r.destination !== null) field("destination", printable(r.destination, 300));
  r.origins?.forEach((origin, i) => field(i === 0 ? "origin" : "", shownUrl(origin)));
  if (r.pattern !== null) field("pattern", patternText(r));
  if (r.manifest !== null) field("manifest", manifestText(r));
  if (r.latest !== null || r.manifest !== null) field("latest", latestText(r));
  if (r.newest_compatible !== null) {
    field("newest", `${printable(r.newest_compatible)} (compatible)`);
  }
  if (r.store_images !== null) field("store", storeText(r));
  if (r.restart_units !== null) field("restart", restartText(r));
  if (r.last_success !== null || r.restart_pending !== null) {
    field("last fetch", r.last_success === null ? "never" : timeText(r.last_success, now));
  }
  if (r.last_failure !== null) {
    field("last failure", `${timeText(r.last_failure.time, now)}: ${r.last_failure.message}`);
  }
  for (const partial of r.partials ?? []) {
    field("partial", `store/${shortDigest(partial.sha256)} ${formatBytes(partial.bytes)} kept`);
  }
  for (const problem of r.problems) field("problem", problem);
  for (const [i, x] of (r.rejected ?? []).entries()) {
    field(
      i === 0 ? "rejected" : "",
      `${printable(x.version)} (${timeText(x.at, now)}): ${printable(x.reason, 300)}`,
    );
  }
  if (r.waiting !== null) {
    const at = Date.parse(r.waiting.eligible_at);
    const when = at <= now.getTime()
      ? "at the next fetch"
      : `from ${r.waiting.eligible_at} (in ${formatSpan(at - now.getTime())})`;
    field(
      "waiting",
      `${printable(r.waiting.version)}: this host's turn in the rollout comes ${when}`,
    );
  }
  if (r.last_delta !== null) field("last delta", deltaText(r.last_delta));
  const table = versionTable(r);
  if (table.length > 0) lines.push("", ...table.map((row) => `  ${row}`));
  return lines.join("\n") + "\n";
}

function deltaText(d: StatusDelta): string {
  const name = d.version === null ? d.sha256.slice(0, SHORT_DIGEST) : printable(d.version);
  return deltaSummary(name, d);
}

function patternText(r: StatusEntry): string {
  const pattern = printable(r.pattern ?? "", 200);
  return r.version_given === false ? `${pattern} (no Version= given: any version)` : pattern;
}

function manifestText(r: StatusEntry): string {
  switch (r.manifest) {
    case "verified": {
      const n = r.versions?.length ?? 0;
      return `verified, ${n === 1 ? "1 version" : `${n} versions`}`;
    }
    case "absent":
      return "none yet";
    case "unverifiable":
      return "does not verify under the configured PublicKey= (not trusted)";
    case null:
      return "unknown";
  }
}

function latestText(r: StatusEntry): string {
  const latest = r.latest;
  if (latest === null) return "none";
  if (latest.foreign !== null) return `${latest.foreign}, not a link into store/`;
  return refText(latest);
}

function refText(ref: StatusImage): string {
  const name = ref.version === null
    ? "an image the manifest does not list"
    : printable(ref.version);
  return `${name} (store/${shortDigest(ref.sha256 ?? "")}${ref.present ? "" : ", missing"})`;
}

function storeText(r: StatusEntry): string {
  const images = r.store_images ?? [];
  const size = formatBytes(Number(r.store_size ?? 0));
  const count = imageCount(images.length);
  const limits = [
    r.keep_images === null ? undefined : `KeepImages=${r.keep_images}`,
    r.max_store_size === null ? undefined : `MaxStoreSize=${formatBytes(Number(r.max_store_size))}`,
  ].filter((l) => l !== undefined);
  return `${count}, ${size}` + (limits.length > 0 ? ` (limits: ${limits.join(", ")})` : "");
}

function restartText(r: StatusEntry): string {
  const units = r.restart_units ?? [];
  if (units.length === 0) return "no Restart= units";
  const list = units.map((u) => printable(u, 255)).join(" ");
  return r.restart_pending ? `pending for ${list}` : `done (${list})`;
}

/** "2024-05-01T12:00:00.000Z (3 h ago)". */
function timeText(iso: string, now: Date): string {
  const then = Date.parse(iso);
  const shown = printable(iso, 40);
  if (Number.isNaN(then)) return shown;
  const seconds = Math.round((now.getTime() - then) / 1000);
  if (seconds < 0) return `${shown} (in the future: check the clock)`;
  return `${shown} (${agoText(seconds)})`;
}

function agoText(seconds: number): string {
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 2 * 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

function shortDigest(sha256: string): string {
  return sha256.length > SHORT_DIGEST ? `${sha256.slice(0, SHORT_DIGEST)}…` : sha256;
}

/** Rows of the table: manifest versions (newest last) and images the manifest does not list. */
function versionTable(r: StatusEntry): string[] {
  const rows: string[][] = [];
  let hidden = 0;
  const versions = r.versions ?? [];
  for (const v of versions) {
    const marks = versionMarks(v);
    const matters = v.present || v.latest || v.previous || v.newest_compatible;
    if (versions.length > MAX_TEXT_ROWS && !matters) {
      hidden++;
      continue;
    }
    rows.push([
      printable(v.version, 60),
      formatBytes(Number(v.size)),
      storedText(v),
      shortDigest(v.sha256),
      marks.join(", "),
    ]);
  }
  const listed = new Set(versions.map((v) => v.sha256));
  for (const image of r.store_images ?? []) {
    if (listed.has(image.sha256)) continue;
    const marks = [
      r.manifest === "verified" || r.manifest === "absent"
        ? "not in the manifest"
        : "version unknown",
    ];
    if (r.latest?.sha256 === image.sha256) marks.push("latest");
    if (r.previous?.sha256 === image.sha256) marks.push("previous");
    rows.push(["-", formatBytes(image.size), "yes", shortDigest(image.sha256), marks.join(", ")]);
  }
  if (rows.length === 0) return [];
  const table = alignColumns([["VERSION", "SIZE", "STORED", "DIGEST", "NOTES"], ...rows]);
  if (hidden > 0) {
    table.push(`(${hidden} older or other versions not shown: none of them is stored)`);
  }
  return table;
}

function versionMarks(v: StatusVersion): string[] {
  const marks: string[] = [];
  if (v.latest) marks.push("latest");
  if (v.previous) marks.push("previous");
  if (v.newest_compatible) marks.push("newest compatible");
  else if (!v.compatible) marks.push("incompatible");
  return marks;
}

function storedText(v: StatusVersion): string {
  if (v.present) return "yes";
  return v.stored_size === null ? "-" : `wrong size (${v.stored_size} B)`;
}

/** Pads every column but the last to its widest cell. */
function alignColumns(rows: readonly string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => widths[i] = Math.max(widths[i] ?? 0, [...cell].length));
  }
  return rows.map((row) =>
    row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i]!)).join("  ")
      .trimEnd()
  );
}
