/**
 * The one vocabulary for file errors: every failed file operation becomes a
 * runtime TakoError whose message reads "Cannot <verb> <path>: <cause>.", the
 * cause in plain words. Used through fs.ts.
 *
 * @module
 */
import { printable, TakoError } from "../core/errors.ts";

/** Plain words for the error codes that file operations meet. */
const CAUSES: Readonly<Record<string, string>> = {
  ENOENT: "no such file or directory",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EEXIST: "it already exists",
  EISDIR: "it is a directory",
  ENOTDIR: "a part of the path is not a directory",
  ENOTEMPTY: "the directory is not empty",
  ELOOP: "too many levels of symbolic links",
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EIO: "input/output error",
  EXDEV: "it is on another file system",
  EROFS: "read-only file system",
  EMFILE: "too many open files",
  ENFILE: "too many open files in the system",
  ENAMETOOLONG: "file name too long",
  EBUSY: "device or resource busy",
  EINVAL: "invalid argument",
  EFBIG: "file too large",
};

/** The cause of a failed file operation in plain words, e.g. "no space left on device (ENOSPC)". */
function causeOf(error: unknown): string {
  if (error instanceof Deno.errors.NotCapable) {
    return "Tako was not granted file access (missing --allow-read or --allow-write)";
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && /^E[A-Z]+$/.test(code)) {
    return `${CAUSES[code] ?? "system error"} (${code})`;
  }
  const message = error instanceof Error ? error.message : String(error);
  // Deno appends ": <op> '<path>'" after "(os error N)"; the path is already named.
  return printable(message.replace(/ \(os error \d+\).*$/s, "").toLowerCase(), 120);
}

/**
 * The one way to report a failed file operation: a runtime TakoError
 * "Cannot <verb> <path>: <cause>." (a TakoError passes through unchanged).
 *
 * @example
 * ```ts
 * await Deno.remove("/var/lib/app/x").catch((e) => Promise.reject(fileError("remove", "x", e)));
 * ```
 */
export function fileError(verb: string, path: string, error: unknown): TakoError {
  if (error instanceof TakoError) return error;
  return new TakoError("runtime", `Cannot ${verb} ${printable(path, 300)}: ${causeOf(error)}.`, {
    cause: error,
  });
}

/**
 * Runs `op` (a synchronous call or a promise), turning any failure into {@link fileError}.
 *
 * @example
 * ```ts
 * const info = await attempt("inspect", "/etc/tako/app", () => Deno.stat("/etc/tako/app"));
 * ```
 */
export async function attempt<T>(
  verb: string,
  path: string,
  op: () => T | Promise<T>,
): Promise<T> {
  try {
    return await op();
  } catch (e) {
    throw fileError(verb, path, e);
  }
}
