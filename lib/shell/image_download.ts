/**
 * A full download of one image from the origins in order (SPEC §6 Mirrors),
 * resumable through `store/.partial-<sha256>`, with the progress line and the
 * count of bytes received for `fetch --json` and the metrics.
 *
 * @module
 */
import { printable, shownUrl } from "../core/errors.ts";
import * as plan from "../core/fetch_plan.ts";
import { originUrl } from "../core/http_policy.ts";
import type { Entry } from "../core/manifest.ts";
import { basename } from "../core/path.ts";
import { fromOrigins, type Source } from "./fetch_inputs.ts";
import { downloadResumable } from "./partial.ts";

/** What a download needs beyond the origins: where to count the bytes it received. */
export interface DownloadRun extends Source {
  readonly outcome: { bytes: number };
}

/**
 * Downloads `entry` into `store/` of the run's destination, from the first
 * origin that serves it; throws the combined failures of all of them.
 *
 * @example
 * ```ts
 * import type { Entry } from "../core/manifest.ts";
 * declare const run: DownloadRun, entry: Entry;
 * await downloadImage(run, entry);
 * ```
 */
export function downloadImage(run: DownloadRun, entry: Entry): Promise<void> {
  const { log, where } = run;
  const size = plan.downloadSize(entry);
  const label = printable(entry.version);
  // Bytes received in this run, from the progress reports (which count a resumed part too).
  let reported = 0;
  const received = (total: number) => {
    run.outcome.bytes += total >= reported ? total - reported : total;
    reported = total;
  };
  return fromOrigins(run, async (origin) => {
    const url = shownUrl(originUrl(origin, `store/${entry.sha256}`));
    log.info(`${where}: downloading ${label} (${size} bytes) from ${url}.`);
    try {
      // Into store/.partial-<sha256>: a broken-off download is continued by the next run.
      await downloadResumable({
        storeDir: `${run.dest}/store`,
        origin,
        sha256: entry.sha256,
        size,
        net: run.net,
        // The progress line names the config's file and the version, fitted to the terminal.
        onProgress: (bytes: number, total: number) => {
          received(bytes);
          log.progress(`${printable(basename(run.config.file), 40)} ${label}`, bytes, total);
        },
        onResume: (offset) => {
          reported = offset;
          log.info(`${where}: resuming ${label} at byte ${offset}.`);
        },
        onRestart: (reason) => log.warn(`${where}: ${reason} Downloading ${label} in full.`),
      });
    } finally {
      log.endProgress();
    }
  });
}
