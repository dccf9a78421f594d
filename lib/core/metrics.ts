/**
 * `tako status --prometheus`: the Prometheus text exposition format (0.0.4),
 * as node_exporter's textfile collector reads it. One family per metric, each
 * with HELP and TYPE, then one sample per config labelled `config="<path>"`.
 * An unknown value (no fetch recorded yet, say) leaves its sample out rather
 * than inventing a zero. Pure.
 *
 * @module
 */
import { printable } from "./errors.ts";
import type { StatusEntry } from "./status_report.ts";

/** What the metrics say about one config; null means unknown (the sample is left out). */
export interface ConfigMetrics {
  /** The config path as given on the command line. */
  readonly config: string;
  /** The image `latest` points to: its digest and its newest listed version (null when unlisted). */
  readonly installed: { readonly sha256: string; readonly version: string | null } | null;
  /** ISO 8601 times of the last successful and the last failed fetch. */
  readonly lastSuccess: string | null;
  readonly lastFailure: string | null;
  /** Image bytes downloaded by fetches into this destination, ever (a counter). */
  readonly downloadedBytes: number | null;
  /** The stored manifest offers a newer compatible version than the installed one. */
  readonly updatePending: boolean | null;
  /** The units have not yet been restarted onto `latest`. */
  readonly restartPending: boolean | null;
  /** Total size of the images in store/. */
  readonly storeBytes: number | null;
  /** How many versions fetch never installs again (docs/safe-rollouts.md). */
  readonly rejectedVersions: number | null;
  /** ISO 8601 time of the latest rejection; null when none (or unknown). */
  readonly lastRejection: string | null;
  /** The version waiting for this host's place in RolloutSpreadSec=, and when it will be installed. */
  readonly waiting: { readonly version: string; readonly eligibleAt: string } | null;
  /** Whether status met no error for this config. */
  readonly ok: boolean;
}

interface Family {
  readonly name: string;
  readonly type: "gauge" | "counter";
  readonly help: string;
  /** The sample of one config: its extra labels and value, or null to leave it out. */
  readonly sample: (m: ConfigMetrics) => { labels?: [string, string][]; value: number } | null;
}

const flag = (value: boolean | null) => value === null ? null : { value: value ? 1 : 0 };
const number = (value: number | null) => value === null ? null : { value };
const seconds = (iso: string | null) => {
  const ms = iso === null ? NaN : Date.parse(iso);
  return Number.isNaN(ms) ? null : { value: ms / 1000 };
};

const FAMILIES: readonly Family[] = [
  {
    name: "tako_image_info",
    type: "gauge",
    help: "The image latest points to (value 1): its version and SHA-256 as labels.",
    sample: (m) =>
      m.installed === null ? null : {
        labels: [["version", m.installed.version ?? ""], ["sha256", m.installed.sha256]],
        value: 1,
      },
  },
  {
    name: "tako_last_success_timestamp_seconds",
    type: "gauge",
    help: "When the last successful fetch ended, in seconds since the epoch.",
    sample: (m) => seconds(m.lastSuccess),
  },
  {
    name: "tako_last_failure_timestamp_seconds",
    type: "gauge",
    help: "When the last failed fetch ended, in seconds since the epoch.",
    sample: (m) => seconds(m.lastFailure),
  },
  {
    name: "tako_downloaded_bytes_total",
    type: "counter",
    help: "Image bytes downloaded into this destination by fetch.",
    sample: (m) => number(m.downloadedBytes),
  },
  {
    name: "tako_update_pending",
    type: "gauge",
    help: "1 when the stored manifest offers a newer compatible version than the installed one.",
    sample: (m) => flag(m.updatePending),
  },
  {
    name: "tako_restart_pending",
    type: "gauge",
    help: "1 when the Restart= units have not yet been restarted onto latest.",
    sample: (m) => flag(m.restartPending),
  },
  {
    name: "tako_store_bytes",
    type: "gauge",
    help: "Total size of the images in store/.",
    sample: (m) => number(m.storeBytes),
  },
  {
    name: "tako_rejected_versions",
    type: "gauge",
    help: "How many versions fetch never installs again (a health check failed, or tako rollback).",
    sample: (m) => number(m.rejectedVersions),
  },
  {
    name: "tako_last_rejection_timestamp_seconds",
    type: "gauge",
    help: "When the latest of the rejected versions was rejected, in seconds since the epoch.",
    sample: (m) => seconds(m.lastRejection),
  },
  {
    name: "tako_rollout_eligible_timestamp_seconds",
    type: "gauge",
    help: "When fetch will install the version waiting for this host's turn (version label).",
    sample: (m) => {
      const at = m.waiting === null ? null : seconds(m.waiting.eligibleAt);
      return at === null ? null : { labels: [["version", m.waiting!.version]], value: at.value };
    },
  },
  {
    name: "tako_status_ok",
    type: "gauge",
    help: "1 when tako status found no error for this config (see its stderr otherwise).",
    sample: (m) => flag(m.ok),
  },
];

/**
 * A label value in the exposition format: backslash, double quote and line
 * feed escaped as the format asks, and every other control or non-ASCII
 * character shown as printable() shows it, so no raw control byte is written.
 */
export function labelValue(text: string): string {
  return printable(text, Number.MAX_SAFE_INTEGER)
    .replaceAll("\\", "\\\\")
    .replaceAll('"', '\\"');
}

/** A sample value: integers as integers, other numbers as JavaScript writes them. */
function formatValue(value: number): string {
  return Number.isFinite(value) ? String(value) : value > 0 ? "+Inf" : value < 0 ? "-Inf" : "NaN";
}

/**
 * The metrics of these configs, ending with a line feed. A family with no
 * sample is still described (HELP and TYPE), so a dashboard sees the name.
 *
 * @example
 * ```ts
 * declare const configs: ConfigMetrics[];
 * formatMetrics(configs); // "# HELP tako_image_info ...\n# TYPE tako_image_info gauge\n..."
 * ```
 */
export function formatMetrics(configs: readonly ConfigMetrics[]): string {
  const lines: string[] = [];
  for (const family of FAMILIES) {
    lines.push(`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} ${family.type}`);
    for (const config of configs) {
      const sample = family.sample(config);
      if (sample === null) continue;
      const labels = [["config", config.config], ...(sample.labels ?? [])]
        .map(([name, value]) => `${name}="${labelValue(value!)}"`).join(",");
      lines.push(`${family.name}{${labels}} ${formatValue(sample.value)}`);
    }
  }
  return lines.join("\n") + "\n";
}

/**
 * The metrics of one `tako status` entry. An update is pending when the
 * newest compatible version that is not rejected (fetch never installs a
 * rejected one) comes after the installed one in the manifest
 * (whose entries are in ascending version order), or nothing is installed.
 *
 * @example
 * ```ts
 * import type { StatusEntry } from "./status_report.ts";
 * declare const entry: StatusEntry;
 * formatMetrics([metricsOf(entry)]);
 * ```
 */
export function metricsOf(entry: StatusEntry): ConfigMetrics {
  const versions = entry.versions ?? [];
  const rejected = new Set((entry.rejected ?? []).map((r) => r.sha256));
  const newest = versions.findLastIndex((v) => v.compatible && !rejected.has(v.sha256));
  const installed = versions.findLastIndex((v) => v.latest);
  const latest = entry.latest;
  return {
    config: entry.config,
    installed: latest?.sha256 == null ? null : { sha256: latest.sha256, version: latest.version },
    lastSuccess: entry.last_success,
    lastFailure: entry.last_failure?.time ?? null,
    downloadedBytes: entry.bytes_downloaded,
    updatePending: entry.versions === null ? null : newest >= 0 && newest > installed,
    restartPending: entry.restart_pending,
    // A size beyond 2^53 − 1 comes as a decimal string; a float is what Prometheus keeps anyway.
    storeBytes: entry.store_size === null ? null : Number(entry.store_size),
    rejectedVersions: entry.rejected?.length ?? null,
    lastRejection: latestTime((entry.rejected ?? []).map((r) => r.at)),
    waiting: entry.waiting === null
      ? null
      : { version: entry.waiting.version, eligibleAt: entry.waiting.eligible_at },
    ok: entry.error === null,
  };
}

/** The latest of these ISO 8601 times (unreadable ones left out); null when there is none. */
function latestTime(times: readonly string[]): string | null {
  const readable = times.filter((t) => !Number.isNaN(Date.parse(t)));
  return readable.reduce<string | null>(
    (max, t) => max === null || Date.parse(t) > Date.parse(max) ? t : max,
    null,
  );
}
