/**
 * Puts `store/<sha256>` of an entry in place from the origins: by delta when
 * the origin has the image's chunk index and the host other images
 * (delta_download.ts), else by a full download (image_download.ts, loaded
 * only then), after which the image's index is kept beside it for the next
 * update (kept_index.ts).
 *
 * @module
 */
import type { Entry } from "../core/manifest.ts";
import { type DeltaRun, updateByDelta } from "./delta_download.ts";
import type { DownloadRun } from "./image_download.ts";
import { keepOriginIndex } from "./kept_index.ts";

/**
 * Builds or downloads `store/<sha256>` of `entry`; throws what the full
 * download throws.
 *
 * @example
 * ```ts
 * import type { Entry } from "../core/manifest.ts";
 * import type { DeltaRun } from "./delta_download.ts";
 * import type { DownloadRun } from "./image_download.ts";
 * declare const run: DeltaRun & DownloadRun, entry: Entry;
 * await updateImage(run, entry);
 * ```
 */
export async function updateImage(run: DeltaRun & DownloadRun, entry: Entry): Promise<void> {
  const delta = await updateByDelta(run, entry);
  if (delta.done) return;
  const { downloadImage } = await import("./image_download.ts");
  await downloadImage(run, entry);
  await keepOriginIndex(run, entry, delta);
}
