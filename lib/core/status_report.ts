/**
 * What `tako status` shows, from facts gathered by `status.ts`: a report per
 * config, as a compact text for people and as JSON (schema 1, documented in
 * docs/tako-status.md) for programs. Pure: facts in, text out.
 *
 * Nothing printed carries a raw control character: untrusted text goes
 * through `printable()`, and the JSON escapes every character outside
 * printable ASCII.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { type ErrorKind, printable, type TakoError } from "./errors.ts";
import { formatBytes } from "./log.ts";
import { compatibleEntries, type Entry } from "./manifest.ts";
import type { State } from "./state.ts";

/** The version of the JSON schema; raised only for changes that break readers. */
export const STATUS_SCHEMA = 1;

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

/** An image in `store/`: a regular file named by its digest. */
export interface StoredImage {
  readonly sha256: string;
  readonly size: number;
}

/** Everything gathered about one config; undefined = could not be found out. */
export interface StatusFacts {
  /** The config path as given on the command line. */
  readonly configPath: string;
  readonly config: Config | undefined;
  /** The destination, resolved against the working directory. */
  readonly destination: string | undefined;
  readonly manifest: ManifestFacts | undefined;
  readonly store: readonly StoredImage[] | undefined;
  readonly latest: LatestFacts | undefined;
  readonly state: State | undefined;
  /** What went wrong, in any order; the report shows the gravest. */
  readonly errors: readonly TakoError[];
}

/** One entry of the stored manifest, with what the destination holds of it. */
export interface VersionRow {
  readonly version: string;
  readonly size: bigint;
  readonly sha256: string;
  /** `store/<sha256>` exists with the listed size. */
  readonly present: boolean;
  /** Size of `store/<sha256>` when it exists; differs from `size` for a damaged copy. */
  readonly storedSize: number | null;
  readonly latest: boolean;
  readonly previous: boolean;
  /** `Version=` matches it. */
  readonly compatible: boolean;
  /** The newest version that `Version=` matches. */
  readonly newestCompatible: boolean;
}

/** An image of `store/` and the newest manifest version with its digest. */
export interface StoreRow {
  readonly sha256: string;
  readonly size: number;
  /** null when the manifest does not list it or is not trusted. */
  readonly version: string | null;
}

/** An image a link or the state names. */
export interface ImageRef {
  /** null when `latest` is not a link into `store/`. */
  readonly sha256: string | null;
  /** null when not listed in a verified manifest. */
  readonly version: string | null;
  /** The file is in `store/`. */
  readonly present: boolean;
}

/** `latest`: an image reference, or what it is instead. */
export interface LatestRef extends ImageRef {
  /** What `latest` is when it is not a link into `store/`, else null. */
  readonly foreign: string | null;
}

/** The report of one config; null = unknown (see `error`). */
export interface StatusReport {
  readonly config: string;
  readonly destination: string | null;
  readonly origins: readonly string[] | null;
  /** `Version=` as written, "*" when absent. */
  readonly pattern: string | null;
  readonly versionGiven: boolean | null;
  readonly restartUnits: readonly string[] | null;
  readonly keepImages: number | null;
  readonly maxStoreSize: bigint | null;
  readonly manifest: ManifestFacts["status"] | null;
  /** The stored manifest's entries, oldest first; null unless it verified or is absent. */
  readonly versions: readonly VersionRow[] | null;
  readonly newestCompatible: string | null;
  /** null when `latest` is absent or unknown. */
  readonly latest: LatestRef | null;
  /** The image latest pointed to before its last change; kept by pruning. */
  readonly previous: ImageRef | null;
  /** Our images in `store/`, by digest. */
  readonly storeImages: readonly StoreRow[] | null;
  /** Their total size in bytes. */
  readonly storeSize: bigint | null;
  readonly restartPending: boolean | null;
  /** ISO 8601 time of the last successful fetch. */
  readonly lastSuccess: string | null;
  /** The gravest error met while gathering, or null. */
  readonly error: { readonly kind: ErrorKind; readonly message: string } | null;
}

/** Above this many versions the text table shows only the rows that matter. */
const MAX_TEXT_ROWS = 20;
/** Length of the digest prefix in the text table. */
const SHORT_DIGEST = 12;
/** Graver errors first: integrity, config, usage, runtime (as their exit codes rank them). */
const GRAVITY: Readonly<Record<ErrorKind, number>> = {
  integrity: 4,
  config: 3,
  usage: 2,
  runtime: 1,
};

// ---------------------------------------------------------------------------
// Facts → report

/**
 * Builds the report of one config from its facts: marks each manifest version
 * as present, latest, previous and (newest) compatible, and adds up the store.
 *
 * @example
 * ```ts
 * const report = buildReport(facts);
 * report.newestCompatible; // "2.0.0"
 * ```
 */
export function buildReport(facts: StatusFacts): StatusReport {
  const { config, manifest, store, latest, state } = facts;
  const entries = manifest?.status === "verified" ? manifest.entries : undefined;
  const stored = new Map((store ?? []).map((image) => [image.sha256, image.size]));
  const latestSha = latest?.kind === "image" ? latest.sha256 : undefined;
  const previousSha = state?.previous;
  const newest = entries === undefined || config === undefined
    ? undefined
    : compatibleEntries(entries, config.pattern)[0];
  const versionOf = newestVersionByDigest(entries ?? []);
  const isPresent = (sha256: string, size: bigint) => stored.get(sha256) === Number(size);

  const versions = manifest?.status === "absent" ? [] : entries?.map((entry): VersionRow => ({
    version: entry.version,
    size: entry.size,
    sha256: entry.sha256,
    present: isPresent(entry.sha256, entry.size),
    storedSize: stored.get(entry.sha256) ?? null,
    latest: entry.sha256 === latestSha,
    previous: entry.sha256 === previousSha,
    compatible: config?.pattern.matches(entry.version) ?? false,
    newestCompatible: entry === newest,
  })) ?? null;

  const ref = (sha256: string): ImageRef => ({
    sha256,
    version: versionOf.get(sha256) ?? null,
    present: stored.has(sha256),
  });
  return {
    config: facts.configPath,
    destination: facts.destination ?? null,
    origins: config?.origins ?? null,
    pattern: config?.pattern.text ?? null,
    versionGiven: config?.versionGiven ?? null,
    restartUnits: config?.restartUnits ?? null,
    keepImages: config?.keepImages ?? null,
    maxStoreSize: config?.maxStoreSize ?? null,
    manifest: manifest?.status ?? null,
    versions,
    newestCompatible: newest?.version ?? null,
    latest: latestRef(latest, ref),
    previous: previousSha === undefined || state === undefined ? null : ref(previousSha),
    storeImages: store === undefined ? null : store.map((image) => ({
      sha256: image.sha256,
      size: image.size,
      version: versionOf.get(image.sha256) ?? null,
    })),
    storeSize: store === undefined
      ? null
      : store.reduce((sum, image) => sum + BigInt(image.size), 0n),
    restartPending: state?.restartPending ?? null,
    lastSuccess: state?.lastSuccess ?? null,
    error: gravest(facts.errors),
  };
}

/** Digest → the newest version listing it (entries come oldest first). */
function newestVersionByDigest(entries: readonly Entry[]): Map<string, string> {
  return new Map(entries.map((entry) => [entry.sha256, entry.version]));
}

function latestRef(
  latest: LatestFacts | undefined,
  ref: (sha256: string) => ImageRef,
): LatestRef | null {
  switch (latest?.kind) {
    case undefined:
    case "absent":
      return null;
    case "image":
      return { ...ref(latest.sha256), foreign: null };
    case "foreign":
      return { sha256: null, version: null, present: false, foreign: latest.detail };
  }
}

function gravest(errors: readonly TakoError[]): StatusReport["error"] {
  const worst = errors.reduce<TakoError | undefined>(
    (best, e) => best === undefined || GRAVITY[e.kind] > GRAVITY[best.kind] ? e : best,
    undefined,
  );
  return worst === undefined ? null : { kind: worst.kind, message: safeText(worst.message) };
}

/**
 * Escapes control characters and invisible bidirectional marks, keeping any
 * other text (messages are Tako's own sentences, which may quote a path).
 *
 * @example
 * ```ts
 * safeText("a\x1b[2Jb"); // "a\\u{1b}[2Jb"
 * ```
 */
export function safeText(text: string): string {
  return text.replace(
    /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu,
    (ch) => `\\u{${ch.codePointAt(0)!.toString(16)}}`,
  );
}

// ---------------------------------------------------------------------------
// JSON

/**
 * The JSON document of schema 1 (docs/tako-status.md), ending with a line
 * feed. Sizes are numbers up to 2^53 − 1 and decimal strings above; every
 * character outside printable ASCII is written as a `\uXXXX` escape.
 *
 * @example
 * ```ts
 * JSON.parse(formatStatusJson([report])).schema; // 1
 * ```
 */
export function formatStatusJson(reports: readonly StatusReport[]): string {
  const document = { schema: STATUS_SCHEMA, configs: reports.map(toJson) };
  const text = JSON.stringify(document, (_key, value) => bigintToJson(value), 2);
  // Strings are escaped by JSON.stringify except printable Unicode and DEL; escape those too.
  return text.replace(/[^\x20-\x7e\n]/g, (ch) => {
    return `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`;
  }) + "\n";
}

function bigintToJson(value: unknown): unknown {
  if (typeof value !== "bigint") return value;
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
}

/** The report with the schema's snake_case names, in a stable key order. */
function toJson(r: StatusReport): Record<string, unknown> {
  return {
    config: r.config,
    destination: r.destination,
    origins: r.origins,
    pattern: r.pattern,
    version_given: r.versionGiven,
    restart_units: r.restartUnits,
    keep_images: r.keepImages,
    max_store_size: r.maxStoreSize,
    manifest: r.manifest,
    versions: r.versions?.map((v) => ({
      version: v.version,
      size: v.size,
      sha256: v.sha256,
      present: v.present,
      stored_size: v.storedSize,
      latest: v.latest,
      previous: v.previous,
      compatible: v.compatible,
      newest_compatible: v.newestCompatible,
    })) ?? null,
    newest_compatible: r.newestCompatible,
    latest: r.latest,
    previous: r.previous,
    store_images: r.storeImages,
    store_size: r.storeSize,
    restart_pending: r.restartPending,
    last_success: r.lastSuccess,
    error: r.error,
  };
}

// ---------------------------------------------------------------------------
// Text

/**
 * The text for people: per config a few labelled lines and a table of the
 * stored manifest's versions, configs separated by a blank line. `now` dates
 * the last fetch ("3 h ago").
 *
 * @example
 * ```ts
 * stdout(formatStatusText(reports, new Date()));
 * ```
 */
export function formatStatusText(reports: readonly StatusReport[], now: Date): string {
  return reports.map((r) => formatOne(r, now)).join("\n");
}

function formatOne(r: StatusReport, now: Date): string {
  const lines = [shownPath(r.config)];
  const field = (label: string, value: string) => lines.push(`  ${label.padEnd(13)}${value}`);
  if (r.error !== null) field("error", r.error.message);
  if (r.destination !== null) field("destination", shownPath(r.destination));
  r.origins?.forEach((origin, i) => field(i === 0 ? "origin" : "", printable(origin, 300)));
  if (r.pattern !== null) field("pattern", patternText(r));
  if (r.manifest !== null) field("manifest", manifestText(r));
  if (r.latest !== null || r.manifest !== null) field("latest", latestText(r));
  if (r.newestCompatible !== null) field("newest", `${printable(r.newestCompatible)} (compatible)`);
  if (r.storeImages !== null) field("store", storeText(r));
  if (r.restartUnits !== null) field("restart", restartText(r));
  if (r.lastSuccess !== null || r.restartPending !== null) {
    field("last fetch", r.lastSuccess === null ? "never" : timeText(r.lastSuccess, now));
  }
  const table = versionTable(r);
  if (table.length > 0) lines.push("", ...table.map((row) => `  ${row}`));
  return lines.join("\n") + "\n";
}

function shownPath(path: string): string {
  return printable(path, 300);
}

function patternText(r: StatusReport): string {
  const pattern = printable(r.pattern ?? "", 200);
  return r.versionGiven === false ? `${pattern} (no Version= given: any version)` : pattern;
}

function manifestText(r: StatusReport): string {
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

function latestText(r: StatusReport): string {
  const latest = r.latest;
  if (latest === null) return "none";
  if (latest.foreign !== null) return `${latest.foreign}, not a link into store/`;
  return refText(latest);
}

function refText(ref: ImageRef): string {
  const name = ref.version === null
    ? "an image the manifest does not list"
    : printable(ref.version);
  return `${name} (store/${shortDigest(ref.sha256 ?? "")}${ref.present ? "" : ", missing"})`;
}

function storeText(r: StatusReport): string {
  const images = r.storeImages ?? [];
  const size = formatBytes(Number(r.storeSize ?? 0n));
  const count = images.length === 1 ? "1 image" : `${images.length} images`;
  const limits = [
    r.keepImages === null ? undefined : `KeepImages=${r.keepImages}`,
    r.maxStoreSize === null ? undefined : `MaxStoreSize=${formatBytes(Number(r.maxStoreSize))}`,
  ].filter((l) => l !== undefined);
  return `${count}, ${size}` + (limits.length > 0 ? ` (limits: ${limits.join(", ")})` : "");
}

function restartText(r: StatusReport): string {
  const units = r.restartUnits ?? [];
  if (units.length === 0) return "no Restart= units";
  const list = units.map((u) => printable(u, 255)).join(" ");
  return r.restartPending ? `pending for ${list}` : `done (${list})`;
}

/** "2024-05-01T12:00:00.000Z (3 h ago)". */
export function timeText(iso: string, now: Date): string {
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
function versionTable(r: StatusReport): string[] {
  const rows: string[][] = [];
  let hidden = 0;
  const versions = r.versions ?? [];
  for (const v of versions) {
    const marks = versionMarks(v);
    const matters = v.present || v.latest || v.previous || v.newestCompatible;
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
  for (const image of r.storeImages ?? []) {
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

function versionMarks(v: VersionRow): string[] {
  const marks: string[] = [];
  if (v.latest) marks.push("latest");
  if (v.previous) marks.push("previous");
  if (v.newestCompatible) marks.push("newest compatible");
  else if (!v.compatible) marks.push("incompatible");
  return marks;
}

function storedText(v: VersionRow): string {
  if (v.present) return "yes";
  return v.storedSize === null ? "-" : `wrong size (${v.storedSize} B)`;
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
