/**
 * The one hashing copy pump behind every large copy: an image downloaded by
 * `tako fetch` (an HTTP body, see http.ts) and an image copied by `tako store`
 * (a local file, byte_source.ts `fileSource`). One pass over the data: each chunk is
 * hashed (node:crypto) as it arrives, and each buffer written whole while the
 * next one fills (from a file, its first read is started before the full
 * buffer's last piece is hashed), so reading, hashing and writing overlap;
 * one write in flight at a time, looping
 * on short write counts (a full disk first answers with one); and an
 * fdatasync every {@link FLUSH_EVERY} bytes in the background through a second
 * handle of the target, so that the caller's final flush finds little left.
 * docs/performance.md has the measurements behind each choice.
 *
 * @module
 */
import type { Hash } from "node:crypto";
import type { ByteSource } from "./byte_source.ts";
import { fileError, writeAll, type Writer } from "./fs.ts";

/**
 * The size of each buffer: 1 MiB. Whole-buffer writes make a copy fast (per
 * network chunk of ~60 KiB, a 1 GiB fetch took 3.6 s; with whole buffers
 * 1.5 s), but on the 2-core machines measured 4 MiB writes cost the kernel two to four
 * times the system time of 1 MiB ones (`dd bs=4M` 1.2–3.3 s against 0.4 s per
 * GiB; `tako store` of 1 GiB 3.6–4.2 s with 4 MiB buffers, 1.8–2.2 s with
 * 1 MiB; docs/performance.md "Buffer size").
 */
const BUFFER_SIZE = 1024 * 1024;
/**
 * Bytes written between two background flushes: often enough that the final
 * flush of a 1 GiB image took 0–40 ms instead of 0.6–0.7 s, seldom enough that
 * the flushes cost nothing measurable.
 */
const FLUSH_EVERY = 64 * 1024 * 1024;

/** Something to fdatasync: a second handle of the target ({@link flushHandle}). */
export interface Flusher {
  syncData(): Promise<void>;
}

/** Where a copy goes. */
export interface CopyTarget {
  /** The file written, at its current position (writes may be short). */
  readonly file: Writer;
  /** Its path, for messages. */
  readonly path: string;
  /** A second handle of the file for background flushes; none: no background flush. */
  readonly flusher?: Flusher | undefined;
}

/** Options of {@link copyHashing}. */
export interface CopyOptions {
  /** The hash to continue (it has seen what the target holds already); default a new SHA-256. */
  readonly hash?: Hash;
  /** Read at most this many bytes (default: to the end of the source). */
  readonly limit?: number;
  /** Told the bytes read so far after every read. */
  readonly onProgress?: (received: number) => void;
  /**
   * Shown each piece read, in order, right after the hash took it in (`tako
   * store` builds the chunk index in the same pass); the view is valid only
   * during the call.
   */
  readonly onData?: (piece: Uint8Array) => void;
}

/**
 * A read-only second handle of the file open as `file` at `path`, for
 * flushing it while `file` writes: Deno runs the operations of one handle one
 * at a time, so an fdatasync through `file` would hold up its writes (the
 * kernel would not). Undefined when `expectedBytes` leave nothing to flush in
 * the background, or when no such handle can be had or it is another file
 * (the name was replaced meanwhile). Close it when done (`using` works).
 *
 * @example
 * ```ts
 * import { flushHandle } from "./copy.ts";
 * using file = await Deno.open("/tmp/copy", { write: true, create: true });
 * using flusher = await flushHandle("/tmp/copy", file, 1 << 30);
 * ```
 */
export async function flushHandle(
  path: string,
  file: Deno.FsFile,
  expectedBytes: number,
): Promise<Deno.FsFile | undefined> {
  if (expectedBytes <= FLUSH_EVERY) return undefined;
  let handle: Deno.FsFile | undefined;
  try {
    handle = await Deno.open(path, { read: true });
    const [a, b] = await Promise.all([handle.stat(), file.stat()]);
    if (a.ino === b.ino && a.dev === b.dev) return handle;
  } catch { /* then there is no background flush; the final one does it all */ }
  handle?.close();
  return undefined;
}

/**
 * Copies `source` into `target`, hashing in the same pass, until the source
 * ends or `limit` bytes were read; returns the count read and the hash, which
 * has seen everything it had seen before plus the bytes copied (not digested
 * yet, so that it can go on). Waits for the last write
 * and background flush but does not flush at the end: the caller's commit
 * does. Errors are runtime TakoErrors naming the file (or URL) that failed.
 *
 * @example
 * ```ts
 * import { fileSource } from "./byte_source.ts";
 * import { copyHashing } from "./copy.ts";
 * using from = await Deno.open("image.raw");
 * using to = await Deno.open("/tmp/copy", { write: true, create: true });
 * const { hash } = await copyHashing(fileSource(from, "image.raw"), { file: to, path: "/tmp/copy" });
 * const sha256 = hash.digest("hex");
 * ```
 */
export async function copyHashing(
  source: ByteSource,
  target: CopyTarget,
  options: CopyOptions = {},
): Promise<{ received: number; hash: Hash }> {
  const limit = options.limit ?? Infinity;
  const bufferSize = Math.max(1, Math.min(BUFFER_SIZE, limit));
  // One being written and one being filled and hashed; a third being read into ahead.
  const count = source.readAhead ? 3 : 2;
  const buffers = Array.from({ length: count }, () => new ArrayBuffer(bufferSize));
  // Loaded on first use: the periodic check copies nothing (docs/performance.md).
  const hash = options.hash ?? (await import("node:crypto")).createHash("sha256");
  const flush = new BackgroundFlush(target.flusher, target.path);
  let writing: Promise<void> = Promise.resolve();
  let ahead: ReturnType<ByteSource["read"]> | undefined;
  let received = 0;
  let end = false;
  let failure: unknown;
  try {
    for (let which = 0; !end && received < limit; which = (which + 1) % count) {
      // Before this buffer is filled again, its previous write finished: the write after it
      // was only started once that one was awaited.
      let buffer = buffers[which]!;
      const want = Math.min(bufferSize, limit - received);
      let filled = 0;
      while (filled < want) {
        const got = await (ahead ?? source.read(buffer, filled, want - filled));
        ahead = undefined;
        buffer = got.buffer;
        if (got.end) {
          end = true;
          break;
        }
        const piece = new Uint8Array(buffer, filled, got.n);
        filled += got.n;
        received += got.n;
        if (count === 3 && filled === want && received < limit) {
          // This buffer is full: the next one's first read runs while this piece is hashed.
          const next = buffers[(which + 1) % count]!;
          ahead = source.read(next, 0, Math.min(bufferSize, limit - received));
          ahead.catch(() => {}); // awaited in the next round, or below after a failure
        }
        // Hashed as it arrives, not once the buffer is full: a fetch body's reads run on this
        // thread, and while a whole buffer is hashed (3 ms) the sender fills the socket's buffer
        // and stalls; a chunk at a time, the next one arrives while this one is hashed.
        hash.update(piece);
        options.onData?.(piece);
        options.onProgress?.(received);
      }
      buffers[which] = buffer;
      if (filled === 0) continue;
      const data = new Uint8Array(buffer, 0, filled);
      await writing;
      writing = writeAll(target.file, data, target.path).then(() => flush.wrote(filled));
      // A failed write surfaces at the next await; until then it must not count as unhandled.
      writing.catch(() => {});
    }
  } catch (e) {
    failure = e;
  }
  // A read ahead is still in flight only after a failure; the caller closes the source next.
  await ahead?.catch(() => {});
  // Never return with a write or flush in flight: the caller closes or removes the file next.
  try {
    await writing;
  } catch (e) {
    failure ??= e; // when a read failed first, that error is the one to report
  }
  try {
    await flush.finish();
  } catch (e) {
    failure ??= e;
  }
  if (failure !== undefined) throw failure;
  return { received, hash };
}

/**
 * An fdatasync started after every FLUSH_EVERY bytes, one at a time. The
 * kernel would otherwise keep the whole copy in dirty pages until the
 * caller's final flush, which then writes it all while nothing else happens;
 * flushing as we go overlaps the disk with the source, and bounds what a
 * crash can lose of a partial download.
 */
class BackgroundFlush {
  #unflushed = 0;
  #running: Promise<void> | undefined;
  #failure: unknown;

  constructor(readonly handle: Flusher | undefined, readonly path: string) {}

  wrote(bytes: number): void {
    this.#unflushed += bytes;
    if (this.handle === undefined || this.#running !== undefined) return;
    if (this.#unflushed < FLUSH_EVERY) return;
    this.#unflushed = 0;
    this.#running = this.handle.syncData().then(
      () => {
        this.#running = undefined;
      },
      (e) => {
        this.#failure ??= e;
        this.#running = undefined;
      },
    );
  }

  async finish(): Promise<void> {
    await this.#running;
    if (this.#failure !== undefined) throw fileError("flush", this.path, this.#failure);
  }
}
