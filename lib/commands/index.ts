/**
 * `tako index`: adds chunk indexes (docs/formats.md) to the images already in
 * an origin directory, for clients to update by delta. `tako store` writes
 * the index of each image it adds; this is for images stored before that, or
 * by other tools. No key is needed: indexes are not signed.
 *
 * @module
 */
import { printable, TakoError } from "../core/errors.ts";
import { formatBytes, type Log } from "../core/log.ts";
import { acquireLock, BRIEF_LOCK_WAIT_MS } from "../shell/lock.ts";
import { originDirectory } from "../shell/origin_dir.ts";
import { listStore } from "../shell/store.ts";
import { ensureIndex } from "../shell/index_file.ts";

/** What one run did, by image count. */
export interface IndexResult {
  readonly written: number;
  readonly present: number;
  readonly tooLarge: number;
}

/**
 * Writes the missing or invalid indexes of every image in `<output>/store/`.
 * Each image is read and its digest checked; a damaged image fails the run
 * (after the others are done) and gets no index.
 */
export async function indexOrigin(output: string, log: Log): Promise<IndexResult> {
  const dir = await originDirectory(output);
  const shown = printable(dir, 300);
  // As long as store and resign wait: an index run beside a store waits for it, and says so.
  using _lock = await acquireLock(dir, BRIEF_LOCK_WAIT_MS, (message) => log.info(message));
  const counts = { written: 0, present: 0, tooLarge: 0 };
  const failures: TakoError[] = [];
  for (const image of await listStore(dir)) {
    try {
      const outcome = await ensureIndex(`${dir}/store`, image.sha256, image.size);
      if (outcome === "written") {
        counts.written++;
        log.info(`Indexed store/${image.sha256} (${formatBytes(image.size)}).`);
      } else if (outcome === "present") counts.present++;
      else {
        counts.tooLarge++;
        log.warn(
          `store/${image.sha256} is too large for a chunk index; clients download it whole.`,
        );
      }
    } catch (e) {
      if (!(e instanceof TakoError)) throw e;
      failures.push(e);
    }
  }
  log.info(
    `${shown}: ${counts.written} index(es) written, ${counts.present} already in place.`,
  );
  // Each failure is reported; the last one is thrown, so main prints it and picks the exit code.
  for (const f of failures.slice(0, -1)) log.error(f.message);
  if (failures.length > 0) throw failures[failures.length - 1];
  return counts;
}
