/**
 * The local store (SPEC §6 invariants, §7 "Files"): everything that touches a
 * destination directory, written so that a crash at any point leaves every
 * final name complete.
 *
 * Layout of a destination:
 *
 *     store/<sha256>   images, mode 0444
 *     manifest         the last verified manifest, mode 0444
 *     latest           relative symlink to store/<sha256>
 *     .lock            flock(2) target that serialises runs
 *     .state           small JSON file written through writeFileAtomic
 *     .tmp-*           temporaries, inside the directory they are renamed in
 *
 * Every failure is a `TakoError("runtime")` whose message names the path and
 * the cause in plain words.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { printable, TakoError } from "../core/errors.ts";

/** Prefix of every temporary name; {@link cleanTemporaries} removes what carries it. */
export const TEMP_PREFIX = ".tmp-";

const STORE = "store";
const LATEST = "latest";
const LOCK = ".lock";
const MANIFEST = "manifest";
const DIGEST = /^[0-9a-f]{64}$/;
const LATEST_TARGET = /^store\/([0-9a-f]{64})$/;
const HASH_CHUNK = 4 * 1024 * 1024;
const READ_CHUNK = 64 * 1024;
const LOCK_POLL_MS = 100;
const TEMP_ATTEMPTS = 3;

// ---------------------------------------------------------------------------
// Errors

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

/** Shows a path safely in a message (it may hold any byte). */
function shown(path: string): string {
  return printable(path, 300);
}

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

/** A runtime TakoError: "cannot <action> <path>: <cause>." */
function ioError(action: string, path: string, error: unknown): TakoError {
  if (error instanceof TakoError) return error;
  return new TakoError("runtime", `cannot ${action} ${shown(path)}: ${causeOf(error)}.`, {
    cause: error,
  });
}

/** Runs `op`, turning any failure into {@link ioError}. */
async function attempt<T>(action: string, path: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (e) {
    throw ioError(action, path, e);
  }
}

function isNotFound(error: unknown): boolean {
  return error instanceof Deno.errors.NotFound;
}

/** lstat that answers undefined for a missing path. */
async function lstatOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.lstat(path);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw ioError("inspect", path, e);
  }
}

/** A short description of what a path is, for messages. */
function kindOf(info: Deno.FileInfo): string {
  if (info.isSymlink) return "a symbolic link";
  if (info.isDirectory) return "a directory";
  if (info.isFile) return "a regular file";
  return "a special file";
}

function requireDigest(sha256: string): void {
  if (!DIGEST.test(sha256)) {
    throw new TakoError(
      "runtime",
      `"${printable(sha256)}" is not a SHA-256 digest (expected 64 lowercase hex digits).`,
    );
  }
}

// ---------------------------------------------------------------------------
// Directories

/** Flushes a directory's entries (new, renamed or removed names) to disk. */
async function syncDirectory(path: string): Promise<void> {
  await attempt("flush directory", path, async () => {
    using dir = await Deno.open(path, { read: true });
    await dir.sync();
  });
}

/**
 * Creates the destination (its parent must exist) and `store/`, and refuses a
 * destination whose fixed names are not what they should be: `store/` must be a
 * real directory (not a symbolic link), `latest` absent or a symbolic link,
 * `manifest` absent or a regular file. The destination itself may be a symbolic
 * link to a directory: it is the administrator's configured path.
 *
 * @example
 * ```ts
 * await prepareDestination("/var/lib/tako/app");
 * ```
 */
export async function prepareDestination(dir: string): Promise<void> {
  await ensureDestinationDirectory(dir);
  const store = join(dir, STORE);
  let storeInfo = await lstatOrUndefined(store);
  if (storeInfo === undefined) {
    // A concurrent first run may create it between the lstat and the mkdir: then check what is there.
    if (await mkdirUnlessExists(store)) await syncDirectory(dir);
    storeInfo = await lstatOrUndefined(store);
  }
  if (storeInfo === undefined || !storeInfo.isDirectory || storeInfo.isSymlink) {
    throw storeInfo === undefined
      ? new TakoError("runtime", `${shown(store)} vanished while it was being created.`)
      : refused(store, storeInfo, "a directory");
  }
  const latest = join(dir, LATEST);
  const latestInfo = await lstatOrUndefined(latest);
  if (latestInfo !== undefined && !latestInfo.isSymlink) {
    throw refused(latest, latestInfo, "a symbolic link to store/<sha256>");
  }
  const manifest = join(dir, MANIFEST);
  const manifestInfo = await lstatOrUndefined(manifest);
  if (manifestInfo !== undefined && (!manifestInfo.isFile || manifestInfo.isSymlink)) {
    throw refused(manifest, manifestInfo, "a regular file");
  }
}

async function ensureDestinationDirectory(dir: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (e) {
    if (!isNotFound(e)) throw ioError("inspect", dir, e);
    await createDestination(dir);
    return;
  }
  if (!info.isDirectory) {
    throw new TakoError(
      "runtime",
      `Destination ${shown(dir)} is ${kindOf(info)}; expected a directory.`,
    );
  }
}

/** mkdir that answers false when the name exists already (whatever it is); other failures throw. */
async function mkdirUnlessExists(path: string): Promise<boolean> {
  try {
    await Deno.mkdir(path, { mode: 0o755 });
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return false;
    throw ioError("create", path, e);
  }
}

async function createDestination(dir: string): Promise<void> {
  const parent = dirname(dir);
  try {
    await Deno.mkdir(dir, { mode: 0o755 });
  } catch (e) {
    // A concurrent first run created it first: fine if it is a directory now.
    if (
      e instanceof Deno.errors.AlreadyExists &&
      (await Deno.stat(dir).catch(() => undefined))?.isDirectory
    ) {
      return;
    }
    if (isNotFound(e)) {
      throw new TakoError(
        "runtime",
        `cannot create destination ${shown(dir)}: its parent directory ${
          shown(parent)
        } does not exist.`,
        { cause: e },
      );
    }
    throw ioError("create destination", dir, e);
  }
  await syncDirectory(parent);
}

function refused(path: string, info: Deno.FileInfo, expected: string): TakoError {
  return new TakoError(
    "runtime",
    `${shown(path)} is ${
      kindOf(info)
    }; expected ${expected}. Remove it by hand if it is not needed.`,
  );
}

// ---------------------------------------------------------------------------
// Lock

/** A held lock on a destination; release it exactly when the run is done. */
export interface Lock {
  /** Unlocks and closes the lock file; calling it again does nothing. */
  release(): void;
}

/**
 * Takes an exclusive flock(2) on `<dir>/.lock`, polling until `waitMs` has
 * passed, then fails with a TakoError tagged "busy". The lock file is never
 * opened through a symbolic link.
 *
 * @example
 * ```ts
 * const lock = await acquireLock("/var/lib/tako/app", 60_000);
 * try { ... } finally { lock.release(); }
 * ```
 */
export async function acquireLock(dir: string, waitMs: number): Promise<Lock> {
  const path = join(dir, LOCK);
  const file = await openLockFile(path);
  try {
    const deadline = Date.now() + Math.max(0, waitMs);
    while (!(await attempt("lock", path, () => file.tryLock(true)))) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new TakoError(
          "runtime",
          `${shown(dir)} is busy: another tako run holds ${shown(path)} (waited ${
            formatSeconds(waitMs)
          }).`,
          { tag: "busy" },
        );
      }
      await sleep(Math.min(LOCK_POLL_MS, left));
    }
  } catch (e) {
    file.close();
    throw e;
  }
  return heldLock(file);
}

function heldLock(file: Deno.FsFile): Lock {
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      // Closing the only descriptor drops the flock even if unlocking failed.
      try {
        file.unlockSync();
      } catch { /* closed below anyway */ }
      try {
        file.close();
      } catch { /* already closed */ }
    },
  };
}

/**
 * Opens `.lock`, creating it exclusively when absent. An existing name must be
 * a regular file: a planted symbolic link would make us create or touch a file
 * outside the destination.
 */
async function openLockFile(path: string): Promise<Deno.FsFile> {
  try {
    return await Deno.open(path, { read: true, write: true, createNew: true, mode: 0o644 });
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw ioError("create lock file", path, e);
  }
  const before = await lstatOrUndefined(path);
  if (before === undefined || !before.isFile) {
    throw new TakoError(
      "runtime",
      `Lock file ${shown(path)} is ${
        before === undefined ? "gone" : kindOf(before)
      }; expected a regular file.`,
    );
  }
  const file = await attempt("open lock file", path, () => Deno.open(path, { read: true }));
  const opened = await attempt("inspect", path, () => file.stat());
  if (opened.ino !== before.ino || opened.dev !== before.dev) {
    file.close();
    throw new TakoError("runtime", `Lock file ${shown(path)} changed while it was being opened.`);
  }
  return file;
}

function formatSeconds(ms: number): string {
  return `${Math.round(Math.max(0, ms) / 100) / 10} s`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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
export async function readFileCapped(
  path: string,
  maxBytes: number,
): Promise<Uint8Array | undefined> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw ioError("read", path, e);
  }
  requireRegular(path, info);
  requireAtMost(path, info.size, maxBytes);
  return await attempt("read", path, async () => {
    using file = await Deno.open(path, { read: true });
    requireRegular(path, await file.stat());
    return await readUpTo(file, path, maxBytes);
  });
}

function requireRegular(path: string, info: Deno.FileInfo): void {
  if (!info.isFile) {
    throw new TakoError("runtime", `${shown(path)} is ${kindOf(info)}; expected a regular file.`);
  }
}

function requireAtMost(path: string, size: number, maxBytes: number): void {
  if (size > maxBytes) {
    throw new TakoError(
      "runtime",
      `${shown(path)} is larger than the limit of ${maxBytes} bytes.`,
    );
  }
}

/** Reads to the end, refusing more than `maxBytes` (the file may grow while read). */
async function readUpTo(file: Deno.FsFile, path: string, maxBytes: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const buffer = new Uint8Array(READ_CHUNK);
    const n = await file.read(buffer);
    if (n === null) break;
    total += n;
    requireAtMost(path, total, maxBytes);
    chunks.push(buffer.subarray(0, n));
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/**
 * SHA-256 (lowercase hex) and size of a regular file, read 4 MiB at a time.
 *
 * @example
 * ```ts
 * const { sha256, size } = await hashFile("image.raw");
 * ```
 */
export async function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  // stat before open: opening a FIFO would block.
  requireRegular(path, await attempt("read", path, () => Deno.stat(path)));
  return await attempt("read", path, async () => {
    using file = await Deno.open(path, { read: true });
    requireRegular(path, await file.stat());
    const hash = createHash("sha256");
    const buffer = new Uint8Array(HASH_CHUNK);
    let size = 0;
    for (;;) {
      const n = await file.read(buffer);
      if (n === null) break;
      hash.update(buffer.subarray(0, n));
      size += n;
    }
    return { sha256: hash.digest("hex"), size };
  });
}

// ---------------------------------------------------------------------------
// Temporaries and atomic writes

/** A temporary file being written; finish it with {@link commitTemp} or {@link discardTemp}. */
export interface TempFile {
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
 * await writeAll(temp.file, chunk, temp.path);
 * ```
 */
export async function writeAll(writer: Writer, bytes: Uint8Array, path: string): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    let n: number;
    try {
      n = await writer.write(bytes.subarray(offset));
    } catch (e) {
      throw ioError("write", path, e);
    }
    if (n <= 0) {
      throw new TakoError("runtime", `cannot write ${shown(path)}: the write made no progress.`);
    }
    offset += n;
  }
}

/**
 * Creates `dir/.tmp-<random>` exclusively with mode 0600 (O_CREAT|O_EXCL never
 * follows a planted symbolic link), open for reading and writing.
 *
 * @example
 * ```ts
 * const temp = await createTemp("/var/lib/tako/app/store");
 * ```
 */
export async function createTemp(dir: string): Promise<TempFile> {
  for (let i = 1;; i++) {
    const path = join(dir, TEMP_PREFIX + randomHex());
    try {
      return { path, file: await openExclusive(path) };
    } catch (e) {
      // A random name that exists already is a collision or a trap: pick another.
      if (e instanceof Deno.errors.AlreadyExists && i < TEMP_ATTEMPTS) continue;
      throw ioError("create a temporary file in", dir, e);
    }
  }
}

/**
 * The exclusive-create step of {@link createTemp} at a given path: fails when
 * anything, a symbolic link included, already has that name. Exported for tests.
 */
export async function createTempAt(path: string): Promise<TempFile> {
  return { path, file: await attempt("create temporary file", path, () => openExclusive(path)) };
}

function openExclusive(path: string): Promise<Deno.FsFile> {
  return Deno.open(path, { read: true, write: true, createNew: true, mode: 0o600 });
}

function randomHex(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Publishes a fully written temporary as `finalPath` with mode 0444: flushes
 * its data (fdatasync), closes it, makes it read-only, renames it and flushes
 * the directory. On failure the temporary is removed and the error thrown.
 *
 * @example
 * ```ts
 * await commitTemp(temp, `/var/lib/tako/app/store/${sha256}`);
 * ```
 */
export async function commitTemp(temp: TempFile, finalPath: string): Promise<void> {
  await commitWithMode(temp, finalPath, 0o444);
}

async function commitWithMode(temp: TempFile, finalPath: string, mode: number): Promise<void> {
  try {
    await attempt("flush", temp.path, () => temp.file.syncData());
    closeQuietly(temp.file);
    // chmod, not the creation mode: the umask does not apply to it.
    await attempt("set the mode of", temp.path, () => Deno.chmod(temp.path, mode));
    await attempt(
      `rename ${shown(temp.path)} to`,
      finalPath,
      () => Deno.rename(temp.path, finalPath),
    );
  } catch (e) {
    await discardTemp(temp);
    throw e;
  }
  await syncDirectory(dirname(finalPath));
}

/**
 * Closes (if still open) and removes a temporary; never throws.
 *
 * @example
 * ```ts
 * try { ... } catch (e) { await discardTemp(temp); throw e; }
 * ```
 */
export async function discardTemp(temp: TempFile): Promise<void> {
  closeQuietly(temp.file);
  try {
    await Deno.remove(temp.path);
  } catch { /* already gone, or nothing more we can do */ }
}

function closeQuietly(file: Deno.FsFile): void {
  try {
    file.close();
  } catch { /* already closed */ }
}

/**
 * Atomically replaces `dir/name` with `bytes` and gives it `mode` whatever the
 * umask: exclusive temporary in `dir`, every byte written, fdatasync, chmod,
 * rename, directory flushed. The temporary is removed on any failure.
 *
 * @example
 * ```ts
 * await writeFileAtomic("/var/lib/tako/app", "manifest", bytes, 0o444);
 * ```
 */
export async function writeFileAtomic(
  dir: string,
  name: string,
  bytes: Uint8Array,
  mode: number,
): Promise<void> {
  const temp = await createTemp(dir);
  try {
    await writeAll(temp.file, bytes, temp.path);
  } catch (e) {
    await discardTemp(temp);
    throw e;
  }
  await commitWithMode(temp, join(dir, name), mode);
}

// ---------------------------------------------------------------------------
// latest

/** `latest` exists but is not a link to `store/<sha256>`. */
export interface ForeignLatest {
  readonly foreign: true;
  /** What it is instead, safe to print: e.g. `a symbolic link to "/etc/x"`. */
  readonly detail: string;
}

/**
 * What `latest` points to: the digest when it is a symbolic link whose target
 * is exactly `store/<64 lowercase hex>` (whether that file exists is not
 * checked here), undefined when `latest` is absent, and a
 * {@link ForeignLatest} for anything else.
 *
 * @example
 * ```ts
 * const current = await readLatest(dir);
 * if (typeof current === "object") log(`latest is ${current.detail}; it will be replaced`);
 * ```
 */
export async function readLatest(dir: string): Promise<string | undefined | ForeignLatest> {
  const path = join(dir, LATEST);
  const info = await lstatOrUndefined(path);
  if (info === undefined) return undefined;
  if (!info.isSymlink) return { foreign: true, detail: kindOf(info) };
  const target = await attempt("read link", path, () => Deno.readLink(path));
  const match = LATEST_TARGET.exec(target);
  if (match?.[1] !== undefined) return match[1];
  return { foreign: true, detail: `a symbolic link to "${printable(target)}"` };
}

/**
 * Points `latest` at `store/<sha256>` (a relative link) atomically: a new link
 * under a temporary name renamed over the old one, which is never removed
 * first; then the directory is flushed. The image must be present. Returns
 * whether the target changed.
 *
 * @example
 * ```ts
 * if (await pointLatest(dir, sha256)) await restartUnits();
 * ```
 */
export async function pointLatest(dir: string, sha256: string): Promise<boolean> {
  requireDigest(sha256);
  const image = join(dir, STORE, sha256);
  const imageInfo = await lstatOrUndefined(image);
  if (imageInfo === undefined || !imageInfo.isFile) {
    throw new TakoError(
      "runtime",
      `cannot point latest at ${shown(image)}: it is ${
        imageInfo === undefined ? "missing" : kindOf(imageInfo)
      }, not a stored image.`,
    );
  }
  const target = `${STORE}/${sha256}`;
  const latest = join(dir, LATEST);
  if (await currentLinkTarget(latest) === target) return false;
  const temp = join(dir, TEMP_PREFIX + randomHex());
  await attempt("create link", temp, () => Deno.symlink(target, temp));
  try {
    await attempt("replace", latest, () => Deno.rename(temp, latest));
  } catch (e) {
    await Deno.remove(temp).catch(() => {});
    throw e;
  }
  await syncDirectory(dir);
  return true;
}

/** The target of the link at `path`, or undefined when it is absent or not a link. */
async function currentLinkTarget(path: string): Promise<string | undefined> {
  const info = await lstatOrUndefined(path);
  if (info === undefined || !info.isSymlink) return undefined;
  return await attempt("read link", path, () => Deno.readLink(path));
}

// ---------------------------------------------------------------------------
// Housekeeping

/**
 * Removes stale temporaries (`.tmp-*` files and links) in `dir` and
 * `dir/store`; returns how many. Call only while holding the lock, or a
 * concurrent run's download would vanish.
 *
 * @example
 * ```ts
 * const removed = await cleanTemporaries(dir);
 * ```
 */
export async function cleanTemporaries(dir: string): Promise<number> {
  return await cleanIn(dir) + await cleanIn(join(dir, STORE));
}

async function cleanIn(dir: string): Promise<number> {
  const entries = await listEntries(dir);
  let removed = 0;
  for (const entry of entries) {
    // Directories are never ours: leave them to the administrator.
    if (!entry.name.startsWith(TEMP_PREFIX) || entry.isDirectory) continue;
    const path = join(dir, entry.name);
    try {
      await Deno.remove(path);
      removed++;
    } catch (e) {
      if (!isNotFound(e)) throw ioError("remove stale temporary", path, e);
    }
  }
  if (removed > 0) await syncDirectory(dir);
  return removed;
}

/** The entries of a directory; none when it does not exist. */
async function listEntries(dir: string): Promise<Deno.DirEntry[]> {
  try {
    return await Array.fromAsync(Deno.readDir(dir));
  } catch (e) {
    if (isNotFound(e)) return [];
    throw ioError("list", dir, e);
  }
}

/**
 * The images in `store/`: regular files named by exactly 64 lowercase hex
 * digits, with their sizes, sorted by digest. Everything else is ignored.
 *
 * @example
 * ```ts
 * const total = (await listStore(dir)).reduce((sum, image) => sum + image.size, 0);
 * ```
 */
export async function listStore(dir: string): Promise<{ sha256: string; size: number }[]> {
  const store = join(dir, STORE);
  const images: { sha256: string; size: number }[] = [];
  for (const entry of await listEntries(store)) {
    if (!DIGEST.test(entry.name) || !entry.isFile) continue;
    const info = await lstatOrUndefined(join(store, entry.name));
    if (info?.isFile) images.push({ sha256: entry.name, size: info.size });
  }
  return images.sort((a, b) => (a.sha256 < b.sha256 ? -1 : a.sha256 > b.sha256 ? 1 : 0));
}

/**
 * Removes `store/<sha256>` (pruning, or dropping a damaged copy) and flushes
 * `store/`. An image that is already gone is not an error.
 *
 * @example
 * ```ts
 * await removeImage(dir, sha256);
 * ```
 */
export async function removeImage(dir: string, sha256: string): Promise<void> {
  requireDigest(sha256);
  const store = join(dir, STORE);
  const path = join(store, sha256);
  try {
    await Deno.remove(path);
  } catch (e) {
    if (isNotFound(e)) return;
    throw ioError("remove", path, e);
  }
  await syncDirectory(store);
}
