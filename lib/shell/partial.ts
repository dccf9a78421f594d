/**
 * Resumable image downloads. An image is downloaded into `store/.partial-<sha256>`,
 * a name that is never final, with a small record beside it
 * (`store/.partial-<sha256>.json`, see core/partial_record.ts). A download
 * that breaks off (network drop, timeout, kill, reboot) leaves that partial
 * file behind, and the next run asks the origin only for the rest (`Range` +
 * `If-Range`) after re-hashing the kept part. (What was received but not yet
 * written when the download broke off, at most one of the copy pump's
 * buffers, is fetched again.) An origin that ignores Range answers with the
 * whole image, which is then written from byte 0 into the same file. The
 * digest is always checked over the whole image, and a resumed download whose
 * digest does not match is done again in full at once: a wrong partial costs
 * one more download, never a wrong image.
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
import { join } from "../core/path.ts";
import { requireDigest } from "../core/digest.ts";
import { printable, TakoError } from "../core/errors.ts";
import { checkReceived, originUrl } from "../core/http_policy.ts";
import {
  parsePartialRecord,
  type PartialRecord,
  serializePartialRecord,
} from "../core/partial_record.ts";
import { copyHashing, flushHandle } from "./copy.ts";
import {
  attempt,
  commitTemp,
  fileError,
  hashOpenFile,
  readFileCapped,
  writeFileAtomic,
} from "./fs.ts";
import { type NetOptions, requestImage } from "./http.ts";
import { keepPrivate, keepPrivateIfPresent, PRIVATE_MODE } from "./private_mode.ts";
import { PARTIAL_PREFIX } from "./partial_files.ts";

const RECORD_SUFFIX = ".json";
const MAX_RECORD_BYTES = 4096;
/**
 * A broken-off download is kept only from this size on: below it, a fresh
 * download costs about what re-hashing the kept part and a second request do.
 */
const MIN_RESUME_BYTES = 1024 * 1024;
/** A partial file untouched for longer is not resumed (its origin has long moved on). */
const PARTIAL_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000;

/** What {@link downloadResumable} downloads, from where, and whom it tells. */
export interface DownloadRequest {
  /** The destination's `store/` directory. */
  readonly storeDir: string;
  readonly origin: string;
  readonly sha256: string;
  /** The signed size. */
  readonly size: number;
  readonly net: NetOptions;
  /** Told as bytes arrive, counting a kept part (throttling is the caller's business). */
  readonly onProgress?: (received: number, total: number) => void;
  /** Told when a kept partial download is continued, with the byte it continues at. */
  readonly onResume?: (offset: number) => void;
  /** Told when a resumed download is thrown away and done again in full, with the reason. */
  readonly onRestart?: (reason: string) => void;
  /** The clock, for the age of a partial file; default Date.now. */
  readonly now?: () => number;
}

/**
 * Downloads `<origin>/store/<sha256>` into `storeDir/<sha256>`: continues a
 * kept partial download when there is a consistent one, else starts one;
 * checks size and digest over the whole image; flushes it and gives it its
 * final name (mode 0444). On a network failure a partial of at least 1 MiB
 * is kept (flushed) for the next run; on an integrity failure, or a smaller
 * partial, nothing is kept.
 *
 * @example
 * ```ts
 * import { downloadResumable } from "./partial.ts";
 * import { DEFAULT_NET_OPTIONS } from "./http.ts";
 * await downloadResumable({
 *   storeDir: "/var/lib/tako/app/store",
 *   origin: "https://images.example.com/app",
 *   sha256: "ab".repeat(32),
 *   size: 1024,
 *   net: DEFAULT_NET_OPTIONS,
 *   onResume: (at) => console.log(`resuming at byte ${at}`),
 * });
 * ```
 */
export async function downloadResumable(request: DownloadRequest): Promise<void> {
  const { sha256, size } = request;
  requireDigest(sha256);
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new TakoError(
      "integrity",
      `Image size ${size} is not a whole number of bytes this client can handle.`,
    );
  }
  const url = originUrl(request.origin, `store/${sha256}`);
  const part = await PartialDownload.open(request.storeDir, sha256);
  try {
    const kept = await part.kept(size, url, request.now ?? Date.now);
    if (kept !== undefined && kept.offset === size) {
      // Complete already (killed before its rename): no request is needed if it checks out.
      if (kept.hash.digest("hex") === sha256) return await part.commit();
      request.onRestart?.(`${printable(part.path, 300)} holds ${size} bytes without the digest.`);
    }
    const resumable = kept !== undefined && kept.offset < size ? kept : undefined;
    if (resumable === undefined) await part.reset();
    else {
      request.onResume?.(resumable.offset);
      await part.continueAt(resumable.offset);
    }
    try {
      await fetchOnce(part, request, url, resumable);
    } catch (e) {
      if (part.offset === 0 || !(e instanceof TakoError) || e.kind !== "integrity") throw e;
      // The kept part was wrong, or the origin served the range badly: once more, whole.
      request.onRestart?.(e.message);
      await part.reset();
      await fetchOnce(part, request, url, undefined);
    }
    await part.commit();
  } catch (e) {
    await part.abandon(e);
    throw e;
  }
}

/**
 * One request: the rest of the image after `kept`, or all of it. A whole
 * answer empties the file first and writes the record describing it before
 * any of its bytes.
 */
async function fetchOnce(
  part: PartialDownload,
  request: DownloadRequest,
  url: string,
  kept: KeptPart | undefined,
): Promise<void> {
  const { size, sha256, onProgress } = request;
  const resume = kept && { offset: kept.offset, ifRange: kept.validator };
  await using answer = await requestImage(request.origin, sha256, size, {
    net: request.net,
    resume,
  });
  // A partial answer continues where `part` was positioned for `kept`.
  let offset = 0;
  if (answer.kind === "partial") {
    offset = answer.offset;
  } else {
    // Useless for a partial never kept.
    const record = size >= MIN_RESUME_BYTES
      ? { size, url, validator: answer.validator }
      : undefined;
    await part.reset(record);
  }
  using flusher = await flushHandle(part.path, part.file, answer.length);
  const { received, hash } = await copyHashing(answer.body, {
    file: part.file,
    path: part.path,
    flusher,
  }, {
    ...(offset > 0 && kept !== undefined && { hash: kept.hash }),
    // One byte more than expected shows a body that is too long.
    limit: answer.length + 1,
    ...(onProgress && { onProgress: (n: number) => onProgress(Math.min(offset + n, size), size) }),
  });
  const actual = hash.digest("hex");
  checkReceived(answer.url, { size, sha256 }, { received: offset + received, actual, offset });
}

/** A kept part that may be continued: its length and the hash of exactly those bytes. */
interface KeptPart {
  readonly offset: number;
  readonly hash: Hash;
  readonly validator: string | undefined;
}

/** `store/.partial-<sha256>` open for reading and writing, with its record. */
class PartialDownload {
  /** The bytes of earlier data the download in progress continues (0: from the start). */
  offset = 0;

  private constructor(
    readonly storeDir: string,
    readonly sha256: string,
    readonly path: string,
    readonly file: Deno.FsFile,
  ) {}

  /**
   * Opens the partial file: creates it exclusively when absent; an existing
   * one must be a regular file with a single link, and the opened descriptor
   * must be that same file.
   */
  static async open(storeDir: string, sha256: string): Promise<PartialDownload> {
    const path = join(storeDir, PARTIAL_PREFIX + sha256);
    const create = () =>
      Deno.open(path, { read: true, write: true, createNew: true, mode: PRIVATE_MODE });
    const made = (file: Deno.FsFile) => new PartialDownload(storeDir, sha256, path, file);
    try {
      return made(await create());
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw fileError("create", path, e);
    }
    const before = await attempt("inspect", path, () => Deno.lstat(path));
    if (!before.isFile || before.nlink !== 1) {
      // Not something Tako made: a partial is a private regular file.
      await attempt("remove", path, () => Deno.remove(path));
      return made(await attempt("create", path, create));
    }
    const file = await attempt("open", path, () => Deno.open(path, { read: true, write: true }));
    try {
      const opened = await file.stat();
      if (opened.ino !== before.ino || opened.dev !== before.dev || opened.nlink !== 1) {
        throw new TakoError(
          "runtime",
          `${printable(path, 300)} changed while it was being opened.`,
        );
      }
      await keepPrivate(path, opened);
    } catch (e) {
      file.close();
      throw fileError("inspect", path, e);
    }
    return made(file);
  }

  get #recordName(): string {
    return PARTIAL_PREFIX + this.sha256 + RECORD_SUFFIX;
  }

  /**
   * The part worth continuing: the record must be readable and for this
   * image's size, the file no longer than the image, at least 1 MiB long
   * and not older than a week. Hashes the kept bytes, leaving the file
   * positioned after them. The validator is offered only to the URL it came
   * from.
   */
  async kept(size: number, url: string, now: () => number): Promise<KeptPart | undefined> {
    const info = await attempt("inspect", this.path, () => this.file.stat());
    if (info.size < MIN_RESUME_BYTES || info.size > size) return undefined;
    if (info.mtime === null || now() - info.mtime.getTime() > PARTIAL_MAX_AGE_MS) return undefined;
    const record = await this.#readRecord();
    if (record === undefined || record.size !== size) return undefined;
    const hash = await this.#hashKept(info.size);
    if (hash === undefined) return undefined;
    return {
      offset: info.size,
      hash,
      validator: record.url === url ? record.validator : undefined,
    };
  }

  /** Continues after the first `offset` bytes of the file. */
  async continueAt(offset: number): Promise<void> {
    await attempt("write", this.path, () => this.file.seek(offset, Deno.SeekMode.Start));
    this.offset = offset;
  }

  /** Empties the file; with `record`, writes that record (before any byte it describes). */
  async reset(record?: PartialRecord): Promise<void> {
    await attempt("truncate", this.path, async () => {
      await this.file.truncate(0);
      await this.file.seek(0, Deno.SeekMode.Start);
    });
    this.offset = 0;
    if (record === undefined) return;
    const bytes = new TextEncoder().encode(serializePartialRecord(record));
    await writeFileAtomic(this.storeDir, this.#recordName, bytes, PRIVATE_MODE);
  }

  /** Gives the partial file its final name (flushed, mode 0444) and drops its record. */
  async commit(): Promise<void> {
    await commitTemp(this, join(this.storeDir, this.sha256));
    await removeQuietly(join(this.storeDir, this.#recordName));
  }

  /**
   * After a failure: keeps a partial worth resuming when the failure was the
   * network's or the disk's (flushed, so that a reboot keeps it too), removes
   * it otherwise. Never throws.
   */
  async abandon(error: unknown): Promise<void> {
    let keep = error instanceof TakoError && error.kind === "runtime";
    try {
      if (keep) keep = (await this.file.stat()).size >= MIN_RESUME_BYTES;
      if (keep) await this.file.syncData();
    } catch {
      keep = false;
    }
    try {
      this.file.close();
    } catch { /* already closed by a failed commit */ }
    if (keep) return;
    await removeQuietly(this.path);
    await removeQuietly(join(this.storeDir, this.#recordName));
  }

  async #readRecord(): Promise<PartialRecord | undefined> {
    try {
      await keepPrivateIfPresent(join(this.storeDir, this.#recordName));
      const bytes = await readFileCapped(join(this.storeDir, this.#recordName), MAX_RECORD_BYTES);
      return parsePartialRecord(bytes === undefined ? undefined : new TextDecoder().decode(bytes));
    } catch {
      return undefined; // unreadable: the partial is simply not resumed
    }
  }

  /** The hash of the first `length` bytes; undefined if the file is shorter. */
  async #hashKept(length: number): Promise<Hash | undefined> {
    await attempt("read", this.path, () => this.file.seek(0, Deno.SeekMode.Start));
    const { hash, size } = await hashOpenFile(this.file, this.path, length);
    return size === length ? hash : undefined;
  }
}

async function removeQuietly(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch { /* already gone, or nothing more we can do */ }
}
