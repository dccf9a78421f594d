/**
 * Files, written so that a crash at any point leaves every final name
 * complete: capped reads, hashing, temporaries that remove themselves unless
 * committed, atomic replacement. Every failure is a TakoError whose message
 * reads "Cannot <verb> <path>: <cause>." (file_error.ts, passed on from here).
 *
 * Metadata (stat, open, rename, chmod, directory listings and flushes) and
 * small files read or written whole go through Deno's synchronous calls: each
 * of Deno's asynchronous file calls is a round trip through its blocking
 * thread pool, about 70 µs against 17 µs on the main thread, and the periodic
 * check makes dozens of them (docs/performance.md). Image data (hashing,
 * copying, the flush of a downloaded image) stays asynchronous. None of these
 * calls waits on another process: the lock is polled (lock.ts).
 *
 * @module
 */
import type { Hash } from "node:crypto";
import { concatBytes, toHex } from "../core/bytes.ts";
import { dirname, join } from "../core/path.ts";
import { printable, TakoError } from "../core/errors.ts";
import { attempt, fileError } from "./file_error.ts";

// The one vocabulary for file errors, for every module that does file I/O.
export { attempt, fileError };

/** Prefix of every temporary name; the destination's housekeeping removes what carries it. */
export const TEMP_PREFIX = ".tmp-";

const HASH_CHUNK = 4 * 1024 * 1024;
const READ_CHUNK = 64 * 1024;
const TEMP_ATTEMPTS = 3;

/** lstat that answers undefined for a missing path. */
// deno-lint-ignore require-await
export async function lstatOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return Deno.lstatSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw fileError("inspect", path, e);
  }
}

/** A short description of what a path is, for messages: "a symbolic link", "a directory", … */
export function kindOf(info: Deno.FileInfo): string {
  if (info.isSymlink) return "a symbolic link";
  if (info.isDirectory) return "a directory";
  if (info.isFile) return "a regular file";
  return "a special file";
}

/** Flushes a directory's entries (new, renamed or removed names) to disk. */
// deno-lint-ignore require-await
export async function syncDirectory(path: string): Promise<void> {
  syncDirectoryNow(path);
}

function syncDirectoryNow(path: string): void {
  try {
    using dir = Deno.openSync(path, { read: true });
    dir.syncSync();
  } catch (e) {
    throw fileError("flush directory", path, e);
  }
}

// ---------------------------------------------------------------------------
// Reading and hashing

/**
 * Reads a regular file of at most `maxBytes` bytes (following symbolic links);
 * undefined when it does not exist. Refuses a larger file before reading it
 * all, and anything that is not a regular file (a FIFO would block).
 *
 * @example
 * ```ts
 * const bytes = await readFileCapped("/var/lib/tako/app/manifest", 16 * 1024 * 1024);
 * ```
 */
// deno-lint-ignore require-await
export async function readFileCapped(
  path: string,
  maxBytes: number,
): Promise<Uint8Array | undefined> {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw fileError("read", path, e);
  }
  requireRegular(path, info);
  requireAtMost(path, info.size, maxBytes);
  try {
    using file = Deno.openSync(path, { read: true });
    requireRegular(path, file.statSync());
    return readUpTo(file, path, maxBytes, info.size);
  } catch (e) {
    throw fileError("read", path, e);
  }
}

function requireRegular(path: string, info: Deno.FileInfo): void {
  if (!info.isFile) {
    throw new TakoError(
      "runtime",
      `${printable(path, 300)} is ${kindOf(info)}; expected a regular file.`,
    );
  }
}

function requireAtMost(path: string, size: number, maxBytes: number): void {
  if (size > maxBytes) {
    throw new TakoError(
      "runtime",
      `${printable(path, 300)} is larger than the limit of ${maxBytes} bytes.`,
    );
  }
}

/**
 * Reads to the end, refusing more than `maxBytes` (the file may grow while
 * read); `expected` is its size when it was looked at, up to `maxBytes`:
 * into one buffer of that size and a byte more, not pieces and their copy
 * (a chunk index of 4 GiB is 6 MiB); in pieces on only when it has grown.
 */
function readUpTo(
  file: Deno.FsFile,
  path: string,
  maxBytes: number,
  expected: number,
): Uint8Array {
  const first = new Uint8Array(Math.min(expected, maxBytes) + 1);
  let total = 0;
  while (total < first.length) {
    const n = file.readSync(first.subarray(total));
    if (n === null) return first.subarray(0, total);
    total += n;
  }
  requireAtMost(path, total, maxBytes);
  const chunks: Uint8Array[] = [first];
  for (;;) {
    const buffer = new Uint8Array(READ_CHUNK);
    const n = file.readSync(buffer);
    if (n === null) break;
    total += n;
    requireAtMost(path, total, maxBytes);
    chunks.push(buffer.subarray(0, n));
  }
  return concatBytes(chunks, total);
}

/**
 * SHA-256 (lowercase hex) and size of a regular file, read 4 MiB at a time;
 * at most `maxBytes` are read (a file that should have N bytes is hashed with
 * N + 1, so that a longer one shows as longer without being read to its end).
 *
 * @example
 * ```ts
 * const { sha256, size } = await hashFile("image.raw");
 * ```
 */
export async function hashFile(
  path: string,
  maxBytes = Infinity,
): Promise<{ sha256: string; size: number }> {
  // stat before open: opening a FIFO would block.
  requireRegular(path, await attempt("read", path, () => Deno.stat(path)));
  using file = await attempt("read", path, () => Deno.open(path, { read: true }));
  requireRegular(path, await attempt("read", path, () => file.stat()));
  const { hash, size } = await hashOpenFile(file, path, maxBytes);
  return { sha256: hash.digest("hex"), size };
}

/**
 * Hashes an open file from where it stands to its end, or only its next
 * `length` bytes; answers the running hash (to be continued or finished) and
 * how many bytes it took in, fewer than `length` when the file is shorter.
 *
 * @example
 * ```ts
 * using file = await Deno.open("store/.partial-x", { read: true });
 * const { hash, size } = await hashOpenFile(file, "store/.partial-x", 1024);
 * ```
 */
export async function hashOpenFile(
  file: Deno.FsFile,
  path: string,
  length = Infinity,
  /** Also shown each piece read, in order (a chunk index is built in the same pass). */
  onData?: (piece: Uint8Array) => void,
): Promise<{ hash: Hash; size: number }> {
  // Loaded on first use: most runs hash no file (docs/performance.md, start-up).
  const { createHash } = await import("node:crypto");
  return await attempt("read", path, async () => {
    const hash = createHash("sha256");
    const buffer = new Uint8Array(Math.min(HASH_CHUNK, Math.max(1, length)));
    let size = 0;
    while (size < length) {
      const n = await file.read(buffer.subarray(0, Math.min(buffer.length, length - size)));
      if (n === null) break;
      hash.update(buffer.subarray(0, n));
      onData?.(buffer.subarray(0, n));
      size += n;
    }
    return { hash, size };
  });
}

// ---------------------------------------------------------------------------
// Temporaries and atomic writes

/**
 * A temporary file being written. Give it its final name with
 * {@link commitTemp}; whatever happens otherwise, `await using` closes and
 * removes it when the scope ends.
 */
export interface TempFile extends AsyncDisposable {
  readonly path: string;
  readonly file: Deno.FsFile;
}

/** Anything that writes like `Deno.FsFile.write`: may write fewer bytes than asked. */
export interface Writer {
  write(bytes: Uint8Array): Promise<number>;
}

/**
 * Writes all of `bytes`, looping on short writes (a full disk first answers
 * with a short count, then fails). Errors name `path`.
 *
 * @example
 * ```ts
 * await using temp = await createTemp("/var/lib/tako/app/store");
 * await writeAll(temp.file, new Uint8Array(8), temp.path);
 * ```
 */
export async function writeAll(writer: Writer, bytes: Uint8Array, path: string): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    offset += progress(
      await attempt("write", path, () => writer.write(bytes.subarray(offset))),
      path,
    );
  }
}

/** A write's count, refused when it made no progress (a write loop would spin). */
function progress(n: number, path: string): number {
  if (n <= 0) {
    throw new TakoError(
      "runtime",
      `Cannot write ${printable(path, 300)}: the write made no progress.`,
    );
  }
  return n;
}

/**
 * Creates `dir/.tmp-<random>` exclusively with mode 0600 (O_CREAT|O_EXCL never
 * follows a planted symbolic link), open for reading and writing. A name that
 * exists already (a collision or a trap) is never used: another is drawn.
 *
 * @example
 * ```ts
 * await using temp = await createTemp("/var/lib/tako/app/store");
 * await commitTemp(temp, "/var/lib/tako/app/store/image");
 * ```
 */
// deno-lint-ignore require-await
export async function createTemp(dir: string): Promise<TempFile> {
  for (let i = 1;; i++) {
    const path = tempName(dir);
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(path, { read: true, write: true, createNew: true, mode: 0o600 });
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists && i < TEMP_ATTEMPTS) continue;
      throw fileError("create a temporary file in", dir, e);
    }
    const temp: TempFile = {
      path,
      file,
      async [Symbol.asyncDispose]() {
        // A committed temporary's name belongs to its final file now: leave it alone.
        if (finished.has(temp)) return;
        finished.add(temp);
        closeQuietly(file);
        await Deno.remove(path).catch(() => {});
      },
    };
    return temp;
  }
}

/** Temporaries that were committed or removed: disposing of them does nothing. */
const finished = new WeakSet<object>();

/** A fresh temporary name in `dir`: `dir/.tmp-<16 random hex digits>`. */
export function tempName(dir: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return join(dir, TEMP_PREFIX + toHex(bytes));
}

/**
 * Publishes a fully written temporary as `finalPath` with `mode` (default
 * 0444) whatever the umask: flushes its data (fdatasync), closes it, sets the
 * mode, renames it and flushes the directory. On failure the temporary is
 * removed and the error thrown.
 *
 * @example
 * ```ts
 * await using temp = await createTemp("/var/lib/tako/app/store");
 * await commitTemp(temp, "/var/lib/tako/app/store/image");
 * ```
 */
export async function commitTemp(
  temp: { readonly path: string; readonly file: Deno.FsFile },
  finalPath: string,
  mode = 0o444,
): Promise<void> {
  // An image's flush takes as long as the disk needs: off the main thread.
  await publishTemp(temp, finalPath, mode, () => temp.file.syncData());
}

/** commitTemp's steps, with the temporary's data flushed by `flush`. */
async function publishTemp(
  temp: { readonly path: string; readonly file: Deno.FsFile },
  finalPath: string,
  mode: number,
  flush: () => Promise<void> | void,
): Promise<void> {
  try {
    await attempt("flush", temp.path, flush);
    closeQuietly(temp.file);
    // chmod, not the creation mode: the umask does not apply to it.
    await attempt(
      "set the mode of",
      temp.path,
      () => Deno.chmodSync(temp.path, mode),
    );
    await attempt(
      `rename ${printable(temp.path, 300)} to`,
      finalPath,
      () => Deno.renameSync(temp.path, finalPath),
    );
  } catch (e) {
    closeQuietly(temp.file);
    try {
      Deno.removeSync(temp.path);
    } catch { /* gone already */ }
    finished.add(temp);
    throw e;
  }
  finished.add(temp);
  syncDirectoryNow(dirname(finalPath));
}

function closeQuietly(file: Deno.FsFile): void {
  try {
    file.close();
  } catch { /* already closed */ }
}

/**
 * Atomically replaces `dir/name` with `bytes` (or its pieces, one after
 * another) and gives it `mode` whatever the
 * umask: exclusive temporary in `dir`, every byte written, fdatasync, chmod,
 * rename, directory flushed. The temporary is removed on any failure.
 *
 * @example
 * ```ts
 * await writeFileAtomic("/var/lib/tako/app", "manifest", new Uint8Array(), 0o444);
 * ```
 */
export async function writeFileAtomic(
  dir: string,
  name: string,
  bytes: Uint8Array | Iterable<Uint8Array>,
  mode: number,
): Promise<void> {
  await using temp = await createTemp(dir);
  // Bytes in memory are small (a manifest, `.state`, an index in pieces): written and flushed
  // on the main thread.
  for (const piece of bytes instanceof Uint8Array ? [bytes] : bytes) {
    for (let offset = 0; offset < piece.length;) {
      const rest = piece.subarray(offset);
      offset += progress(
        await attempt("write", temp.path, () => temp.file.writeSync(rest)),
        temp.path,
      );
    }
  }
  await publishTemp(temp, join(dir, name), mode, () => temp.file.syncDataSync());
}
