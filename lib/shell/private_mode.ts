/**
 * Tako's private files — `.lock`, `.state`, partial downloads and their
 * records — are mode 0600: a file that other users can open for reading is
 * one they can flock(2), and a held lock stalls every run on that
 * destination. New ones are created 0600; one left wider by an older Tako or
 * by hand is narrowed when Tako next opens it.
 *
 * @module
 */
import { attempt } from "./fs.ts";

/** The mode of every private file. */
export const PRIVATE_MODE = 0o600;

/**
 * Narrows `path` to {@link PRIVATE_MODE} when `info` (its lstat, or the stat
 * of a descriptor already checked to be that file) shows group or other bits.
 * Returns whether the mode was changed.
 *
 * @example
 * ```ts
 * await keepPrivate("/var/lib/tako/app/.lock", await Deno.lstat("/var/lib/tako/app/.lock"));
 * ```
 */
export async function keepPrivate(path: string, info: Deno.FileInfo): Promise<boolean> {
  if (!info.isFile || info.mode === null || (info.mode & 0o077) === 0) return false;
  await attempt("set the mode of", path, () => Deno.chmodSync(path, PRIVATE_MODE));
  return true;
}

/**
 * {@link keepPrivate} for a path that may be missing or not a regular file (left alone then).
 *
 * @example
 * ```ts
 * await keepPrivateIfPresent("/var/lib/tako/app/.state");
 * ```
 */
export async function keepPrivateIfPresent(path: string): Promise<boolean> {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch {
    return false;
  }
  return await keepPrivate(path, info);
}
