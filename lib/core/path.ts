/**
 * POSIX paths, as node:path's posix functions compute them (the tests hold
 * them to node:path): Tako's own few lines instead of node:path, whose Node
 * compatibility layer took about 5 ms of every run to load, a sixth of the
 * periodic check (docs/performance.md).
 *
 * @module
 */

/** Removes `.` and empty segments and resolves `..`, keeping a leading `/`. */
function normalize(path: string): string {
  const absolute = path.startsWith("/");
  const segments: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      if (segments.length > 0 && segments.at(-1) !== "..") segments.pop();
      else if (!absolute) segments.push("..");
      continue;
    }
    segments.push(segment);
  }
  const body = segments.join("/");
  return absolute ? `/${body}` : body === "" ? "." : body;
}

/**
 * Joins path segments and normalizes the result (a trailing `/` is kept, as
 * node:path keeps it).
 *
 * @example
 * ```ts
 * join("/var/lib/tako/app", "store", "x"); // "/var/lib/tako/app/store/x"
 * ```
 */
export function join(...parts: string[]): string {
  const joined = parts.filter((part) => part !== "").join("/");
  if (joined === "") return ".";
  const normalized = normalize(joined);
  return joined.endsWith("/") && normalized !== "/" ? `${normalized}/` : normalized;
}

/**
 * The directory part of a path: everything before its last segment.
 *
 * @example
 * ```ts
 * dirname("/var/lib/tako/app/.state"); // "/var/lib/tako/app"
 * ```
 */
export function dirname(path: string): string {
  if (path === "") return ".";
  const rooted = path.startsWith("/");
  // The slash before the last segment; slashes at the very end do not count.
  let end = -1;
  let inTrailingSlashes = true;
  for (let i = path.length - 1; i >= 1; i--) {
    if (path[i] === "/") {
      if (!inTrailingSlashes) {
        end = i;
        break;
      }
    } else {
      inTrailingSlashes = false;
    }
  }
  if (end === -1) return rooted ? "/" : ".";
  if (rooted && end === 1) return "//";
  return path.slice(0, end);
}

/**
 * The last segment of a path (trailing slashes ignored).
 *
 * @example
 * ```ts
 * basename("/etc/tako/app.tako"); // "app.tako"
 * ```
 */
export function basename(path: string): string {
  let end = path.length;
  while (end > 0 && path[end - 1] === "/") end--;
  return path.slice(path.lastIndexOf("/", end - 1) + 1, end);
}

/**
 * `path` as an absolute, normalized path, relative to `cwd` (an absolute
 * path) unless it is absolute already; no trailing `/`.
 *
 * @example
 * ```ts
 * resolve("/etc/tako", "../images/app"); // "/etc/images/app"
 * ```
 */
export function resolve(cwd: string, path: string): string {
  return normalize(path.startsWith("/") ? path : `${cwd}/${path}`);
}
