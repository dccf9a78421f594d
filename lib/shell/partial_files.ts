/**
 * The names of partial downloads in a destination's `store/`
 * (`.partial-<sha256>` and its record `.partial-<sha256>.json`, see
 * partial.ts): listing them for `tako status` and dropping them once the
 * chosen image is in place. Apart from the download itself, so that a run
 * that downloads nothing loads none of it.
 *
 * @module
 */
import { join } from "../core/path.ts";
import { SHA256_HEX } from "../core/digest.ts";
import { fileError } from "./fs.ts";

/** Prefix of partial downloads (and their records) in `store/`. */
export const PARTIAL_PREFIX = ".partial-";

/**
 * Removes the partial downloads (and records) in `storeDir` except those of
 * `keep`; returns how many names were removed. Directories are left alone.
 *
 * @example
 * ```ts
 * import { dropPartials } from "./partial_files.ts";
 * await dropPartials("/var/lib/tako/app/store"); // after the chosen image is in place
 * ```
 */
export async function dropPartials(storeDir: string, keep?: string): Promise<number> {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(storeDir)];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return 0;
    throw fileError("list", storeDir, e);
  }
  let removed = 0;
  for (const entry of entries) {
    if (!entry.name.startsWith(PARTIAL_PREFIX) || entry.isDirectory) continue;
    if (keep !== undefined && entry.name.startsWith(PARTIAL_PREFIX + keep)) continue;
    const path = join(storeDir, entry.name);
    try {
      await Deno.remove(path);
      removed++;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw fileError("remove", path, e);
    }
  }
  return removed;
}

/**
 * The partial downloads kept in `storeDir` (for `tako status`): each image's
 * digest and the bytes kept so far, by digest. Read-only; a missing directory
 * holds none.
 *
 * @example
 * ```ts
 * await listPartials("/var/lib/tako/app/store"); // [{ sha256: "81b9…", bytes: 8388608 }]
 * ```
 */
export async function listPartials(
  storeDir: string,
): Promise<{ sha256: string; bytes: number }[]> {
  const found: { sha256: string; bytes: number }[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(storeDir)];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return found;
    throw fileError("list", storeDir, e);
  }
  for (const entry of entries) {
    const sha256 = entry.name.slice(PARTIAL_PREFIX.length);
    if (!entry.isFile || !entry.name.startsWith(PARTIAL_PREFIX) || !SHA256_HEX.test(sha256)) {
      continue;
    }
    const info = await Deno.lstat(join(storeDir, entry.name)).catch(() => undefined);
    if (info?.isFile) found.push({ sha256, bytes: info.size });
  }
  return found.sort((a, b) => a.sha256 < b.sha256 ? -1 : 1);
}
