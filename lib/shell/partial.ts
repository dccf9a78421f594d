/**
 * Resumable image downloads. An image is downloaded into `store/.partial-<sha256>`,
 * a name that is never final, with a small record beside it
 * (`store/.partial-<sha256>.json`: the signed size, the origin URL and the
 * validator that a later `If-Range` may send). A download that breaks off
 * (network drop, timeout, kill, reboot) leaves that partial file behind, and
 * the next run asks the origin only for the rest (`Range` + `If-Range`) after
 * re-hashing the kept part. (What was received but not yet written when the
 * download broke off, at most one of origin.ts's buffers, is fetched again.) An origin that ignores Range answers with the whole
 * image, which is then written from byte 0 into the same file. The digest is
 * always checked over the whole image, and a resumed download whose digest
 * does not match is done again in full at once: a wrong partial costs one more
 * download, never a wrong image.
 *
 * Partial files are created exclusively (O_CREAT|O_EXCL) and an existing one is
 * only opened when it is a regular file with one link, checked again on the
 * open descriptor, so a planted symbolic or hard link is never written through.
 *
 * Call everything here while holding the destination's lock.
 *
 * @module
 */
import type { Hash } from "node:crypto";
import { join } from "node:path";
import { printable, TakoError } from "../core/errors.ts";
import { requireDigest } from "../core/digest.ts";
import {
  attempt,
  commitTemp,
  fileError,
  hashOpenFile,
  readFileCapped,
  writeFileAtomic,
} from "./fs.ts";
import { downloadImage, type ImageOptions, originUrl } from "./origin.ts";
import { BACKGROUND_FLUSH_EVERY, flushHandle } from "./stream_copy.ts";

/** Prefix of partial downloads (and their records) in `store/`. */
export const PARTIAL_PREFIX = ".partial-";

/**
 * A broken-off download is kept only from this size on: below it, a fresh
 * download costs about what re-hashing the kept part and a second request do.
 */
export const MIN_RESUME_BYTES = 1024 * 1024;

/** A partial file untouched for longer is not resumed (its origin has long moved on). */
export const PARTIAL_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000;

const RECORD_SUFFIX = ".json";
const MAX_RECORD_BYTES = 4096;
const HEADER_VALUE = /^[\x20-\x7e]{1,256}$/;

/** What the record beside a partial file says about it. */
export interface PartialRecord {
  /** The signed size of the image. */
  readonly size: number;
  /** The image URL whose answer the partial data came from. */
  readonly url: string;
  /** The validator to send as If-Range to that URL; undefined: none was offered. */
  readonly validator: string | undefined;
}

/** Options of {@link downloadResumable}: those of `downloadImage`, plus notices. */
export interface ResumableOptions extends Omit<ImageOptions, "resume" | "onFullBody"> {
  /** Told when a kept partial download is continued, with the byte it continues at. */
  readonly onResume?: (offset: number) => void;
  /** Told when a resumed download is thrown away and done again in full, with the reason. */
  readonly onRestart?: (reason: string) => void;
  /** The clock, for the age of a partial file; default Date.now. */
  readonly now?: () => number;
}

/**
 * The record beside a partial file, from its text; undefined when it is
 * missing or damaged (the partial is then not resumed). Pure.
 *
 * @example
 * ```ts
 * parsePartialRecord('{"size":10,"url":"http://o/store/ab…","validator":"\\"e1\\""}');
 * ```
 */
export function parsePartialRecord(text: string | undefined): PartialRecord | undefined {
  if (text === undefined) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof raw !== "object" || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  if (typeof r.size !== "number" || !Number.isSafeInteger(r.size) || r.size < 0) return undefined;
  if (typeof r.url !== "string" || r.url.length > 4000) return undefined;
  const validator = typeof r.validator === "string" && HEADER_VALUE.test(r.validator)
    ? r.validator
    : undefined;
  return { size: r.size, url: r.url, validator };
}

/** The record's file text. Pure. */
export function serializePartialRecord(record: PartialRecord): string {
  return JSON.stringify(record) + "\n";
}

/** `store/.partial-<sha256>` of a store directory. */
export function partialPath(storeDir: string, sha256: string): string {
  return join(storeDir, PARTIAL_PREFIX + sha256);
}

function recordPath(storeDir: string, sha256: string): string {
  return partialPath(storeDir, sha256) + RECORD_SUFFIX;
}

/**
 * Downloads `<origin>/store/<sha256>` into `storeDir/<sha256>`: continues a
 * kept partial download when there is a consistent one, else starts one;
 * checks size and digest over the whole image; flushes it and gives it its
 * final name (mode 0444). On a network failure a partial of at least
 * {@link MIN_RESUME_BYTES} is kept (flushed) for the next run; on an integrity
 * failure, or a smaller partial, nothing is kept.
 *
 * @example
 * ```ts
 * import type { Log } from "../core/log.ts";
 * declare const dest: string, origin: string, size: number, log: Log;
 * declare const entry: { sha256: string }, net: ResumableOptions;
 * await downloadResumable(`${dest}/store`, origin, entry.sha256, size, {
 *   ...net,
 *   onResume: (at) => log.info(`resuming at byte ${at}`),
 * });
 * ```
 */
export async function downloadResumable(
  storeDir: string,
  origin: string,
  sha256: string,
  size: number,
  options: ResumableOptions,
): Promise<void> {
  requireDigest(sha256);
  const path = partialPath(storeDir, sha256);
  const url = originUrl(origin, `store/${sha256}`);
  const file = await openPartial(path);
  const temp = { path, file };
  try {
    const info = await attempt("inspect", path, () => file.stat());
    const kept = await resumablePart(storeDir, sha256, size, url, file, info, options.now);
    if (kept !== undefined && kept.offset === size) {
      // Complete already (killed before its rename): no request is needed if it checks out.
      if (kept.hash.digest("hex") === sha256) return await commit(storeDir, sha256, temp);
      options.onRestart?.(`${printable(path, 300)} holds ${size} bytes without the digest.`);
    }
    const resumable = kept !== undefined && kept.offset < size ? kept : undefined;
    if (resumable !== undefined) options.onResume?.(resumable.offset);
    else if (info.size > 0) await emptyPartial(file, path);
    const answer = { full: false };
    try {
      await fetchInto(storeDir, sha256, size, url, origin, temp, options, resumable, answer);
    } catch (e) {
      const resumed = resumable !== undefined && !answer.full;
      if (!resumed || !(e instanceof TakoError) || e.kind !== "integrity") throw e;
      // The kept part was wrong, or the origin served the range badly: once more, whole.
      options.onRestart?.(e.message);
      await emptyPartial(file, path);
      await fetchInto(storeDir, sha256, size, url, origin, temp, options, undefined, answer);
    }
    await commit(storeDir, sha256, temp);
  } catch (e) {
    await leave(storeDir, sha256, temp, e);
    throw e;
  }
}

/** A kept part that may be continued: its length and the hash of exactly those bytes. */
interface KeptPart {
  readonly offset: number;
  readonly hash: Hash;
  readonly validator: string | undefined;
}

/**
 * The part of an existing partial file worth continuing: its record must be
 * readable and for this image's size, the file no longer than the image,
 * at least {@link MIN_RESUME_BYTES} long and not older than
 * {@link PARTIAL_MAX_AGE_MS}. Hashes the kept bytes, leaving the file
 * positioned after them. The validator is offered only to the URL it came from.
 */
async function resumablePart(
  storeDir: string,
  sha256: string,
  size: number,
  url: string,
  file: Deno.FsFile,
  info: Deno.FileInfo,
  now: () => number = Date.now,
): Promise<KeptPart | undefined> {
  if (info.size < MIN_RESUME_BYTES || info.size > size) return undefined;
  if (info.mtime === null || now() - info.mtime.getTime() > PARTIAL_MAX_AGE_MS) return undefined;
  const record = await readRecord(storeDir, sha256);
  if (record === undefined || record.size !== size) return undefined;
  const path = partialPath(storeDir, sha256);
  await attempt("read", path, () => file.seek(0, Deno.SeekMode.Start));
  const { hash, size: hashed } = await hashOpenFile(file, path, info.size);
  if (hashed < info.size) return undefined;
  return { offset: info.size, hash, validator: record.url === url ? record.validator : undefined };
}

/** One request: the rest of the image after `kept`, or all of it (then `answer.full` is set). */
async function fetchInto(
  storeDir: string,
  sha256: string,
  size: number,
  url: string,
  origin: string,
  temp: { path: string; file: Deno.FsFile },
  options: ResumableOptions,
  kept: KeptPart | undefined,
  answer: { full: boolean },
): Promise<void> {
  const { onResume: _r, onRestart: _s, now: _n, ...imageOptions } = options;
  const remaining = size - (kept?.offset ?? 0);
  using flusher = remaining > BACKGROUND_FLUSH_EVERY
    ? await flushHandle(temp.path, temp.file)
    : undefined;
  await downloadImage(origin, sha256, size, temp.file, {
    fileName: temp.path,
    ...imageOptions,
    ...(flusher === undefined
      ? {}
      : { backgroundFlush: { file: flusher, everyBytes: BACKGROUND_FLUSH_EVERY } }),
    // Resuming, an answer in full empties the file first; otherwise it is empty already.
    ...(kept === undefined
      ? {}
      : { resume: { offset: kept.offset, hash: kept.hash, ifRange: kept.validator } }),
    onFullBody: async (validator) => {
      answer.full = true;
      // Written before any byte of the answer it describes; useless for a partial never kept.
      if (size >= MIN_RESUME_BYTES) await writeRecord(storeDir, sha256, { size, url, validator });
    },
  });
}

/** Gives the partial file its final name and drops its record. */
async function commit(
  storeDir: string,
  sha256: string,
  temp: { path: string; file: Deno.FsFile },
): Promise<void> {
  await commitTemp(temp, join(storeDir, sha256));
  await removeQuietly(recordPath(storeDir, sha256));
}

/**
 * After a failure: keeps a partial worth resuming when the failure was the
 * network's or the disk's (flushed, so that a reboot keeps it too), removes it
 * otherwise. Never throws.
 */
async function leave(
  storeDir: string,
  sha256: string,
  temp: { path: string; file: Deno.FsFile },
  error: unknown,
): Promise<void> {
  let keep = error instanceof TakoError && error.kind === "runtime";
  try {
    if (keep) keep = (await temp.file.stat()).size >= MIN_RESUME_BYTES;
    if (keep) await temp.file.syncData();
  } catch {
    keep = false;
  }
  try {
    temp.file.close();
  } catch { /* already closed by a failed commit */ }
  if (keep) return;
  await removeQuietly(temp.path);
  await removeQuietly(recordPath(storeDir, sha256));
}

/**
 * Opens `path` for reading and writing: creates it exclusively when absent;
 * an existing one must be a regular file with a single link, and the opened
 * descriptor must be that same file.
 */
async function openPartial(path: string): Promise<Deno.FsFile> {
  const create = () => Deno.open(path, { read: true, write: true, createNew: true, mode: 0o600 });
  try {
    return await create();
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw fileError("create", path, e);
  }
  const before = await attempt("inspect", path, () => Deno.lstat(path));
  if (!before.isFile || before.nlink !== 1) {
    // Not something Tako made: a partial is a private regular file.
    await attempt("remove", path, () => Deno.remove(path));
    return await attempt("create", path, create);
  }
  const file = await attempt("open", path, () => Deno.open(path, { read: true, write: true }));
  try {
    const opened = await file.stat();
    if (opened.ino !== before.ino || opened.dev !== before.dev || opened.nlink !== 1) {
      throw new TakoError("runtime", `${printable(path, 300)} changed while it was being opened.`);
    }
  } catch (e) {
    file.close();
    throw fileError("inspect", path, e);
  }
  return file;
}

async function emptyPartial(file: Deno.FsFile, path: string): Promise<void> {
  await attempt("truncate", path, async () => {
    await file.truncate(0);
    await file.seek(0, Deno.SeekMode.Start);
  });
}

async function readRecord(storeDir: string, sha256: string): Promise<PartialRecord | undefined> {
  try {
    const bytes = await readFileCapped(recordPath(storeDir, sha256), MAX_RECORD_BYTES);
    return parsePartialRecord(bytes === undefined ? undefined : new TextDecoder().decode(bytes));
  } catch {
    return undefined; // unreadable: the partial is simply not resumed
  }
}

async function writeRecord(storeDir: string, sha256: string, record: PartialRecord): Promise<void> {
  const bytes = new TextEncoder().encode(serializePartialRecord(record));
  await writeFileAtomic(storeDir, PARTIAL_PREFIX + sha256 + RECORD_SUFFIX, bytes, 0o600);
}

/**
 * Removes the partial downloads (and records) in `storeDir` except those of
 * `keep`; returns how many names were removed. Directories are left alone.
 *
 * @example
 * ```ts
 * declare const dest: string;
 * await dropPartials(`${dest}/store`); // after the chosen image is in place
 * ```
 */
export async function dropPartials(storeDir: string, keep?: string): Promise<number> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(storeDir));
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

async function removeQuietly(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch { /* already gone, or nothing more we can do */ }
}
