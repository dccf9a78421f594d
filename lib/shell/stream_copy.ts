/**
 * Copying a large local file while hashing it, at the speed of the disk: the
 * copy behind `tako store`. One pass over the data (SHA-256 of each buffer as
 * it goes by), two 8 MiB buffers so that reading one overlaps writing the
 * other, and a background fdatasync every 64 MiB through a second handle of
 * the target, so the caller's final flush finds little left (see
 * docs/performance.md for the measurements behind each choice).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { attempt, fileError, writeAll } from "./fs.ts";

const BUFFER_SIZE = 8 * 1024 * 1024;
/** Bytes written between background flushes. */
export const BACKGROUND_FLUSH_EVERY = 64 * 1024 * 1024;

/**
 * A read-only second handle of the file open as `file` at `path`, for
 * flushing it while `file` writes: Deno runs the operations of one handle one
 * at a time, so an fdatasync through `file` would hold up its writes (the
 * kernel would not). Undefined when it cannot be had or is another file (the
 * name was replaced meanwhile). Close it when done (`using` works).
 *
 * @example
 * ```ts
 * declare const temp: { path: string; file: Deno.FsFile };
 * using flusher = await flushHandle(temp.path, temp.file);
 * ```
 */
export async function flushHandle(
  path: string,
  file: Deno.FsFile,
): Promise<Deno.FsFile | undefined> {
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
 * Copies `source` (from its current position to its end) into `target` (an
 * empty file at `targetPath`, open for writing), hashing in the same pass;
 * returns the SHA-256 (lowercase hex) and the length. Flushes in the
 * background as it goes but not at the end: the caller's commit does that.
 * Errors are runtime TakoErrors naming the file that failed.
 *
 * @example
 * ```ts
 * import { commitTemp, type TempFile } from "./fs.ts";
 * declare const source: Deno.FsFile, imagePath: string, temp: TempFile, dir: string;
 * const { sha256, size } = await copyHashing(source, imagePath, temp.file, temp.path);
 * await commitTemp(temp, `${dir}/store/${sha256}`);
 * ```
 */
export async function copyHashing(
  source: Deno.FsFile,
  sourceName: string,
  target: Deno.FsFile,
  targetPath: string,
): Promise<{ sha256: string; size: number }> {
  const big =
    (await attempt("read", sourceName, () => source.stat())).size > BACKGROUND_FLUSH_EVERY;
  using flusher = big ? await flushHandle(targetPath, target) : undefined;
  const hash = createHash("sha256");
  const buffers = [new Uint8Array(BUFFER_SIZE), new Uint8Array(BUFFER_SIZE)];
  const flush = new BackgroundFlush(flusher, targetPath);
  let writing: Promise<void> = Promise.resolve();
  let size = 0;
  let failure: unknown;
  try {
    for (let which = 0;; which ^= 1) {
      // This buffer's last write was awaited before the other buffer's write began.
      const buffer = buffers[which]!;
      const filled = await fill(source, buffer, sourceName);
      if (filled > 0) {
        const data = buffer.subarray(0, filled);
        hash.update(data);
        await writing;
        writing = writeAll(target, data, targetPath).then(() => flush.wrote(data.length));
        // A failed write surfaces at the next await; until then it must not count as unhandled.
        writing.catch(() => {});
        size += filled;
      }
      if (filled < buffer.length) break;
    }
  } catch (e) {
    failure = e;
  }
  // Never return with a write or flush in flight: the caller closes or removes the file next.
  try {
    await writing;
  } catch (e) {
    failure ??= e;
  }
  try {
    await flush.finish();
  } catch (e) {
    failure ??= e;
  }
  if (failure !== undefined) throw failure;
  return { sha256: hash.digest("hex"), size };
}

/** Reads until `buffer` is full or the file ends; returns the count. */
async function fill(file: Deno.FsFile, buffer: Uint8Array, name: string): Promise<number> {
  let filled = 0;
  while (filled < buffer.length) {
    const n = await attempt("read", name, () => file.read(buffer.subarray(filled)));
    if (n === null) break;
    filled += n;
  }
  return filled;
}

/** An fdatasync started after every BACKGROUND_FLUSH_EVERY bytes, one at a time. */
class BackgroundFlush {
  #unflushed = 0;
  #running: Promise<void> | undefined;
  #failure: unknown;

  constructor(
    readonly handle: { syncData(): Promise<void> } | undefined,
    readonly name: string,
  ) {}

  wrote(bytes: number): void {
    this.#unflushed += bytes;
    if (this.handle === undefined || this.#running !== undefined) return;
    if (this.#unflushed < BACKGROUND_FLUSH_EVERY) return;
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
    if (this.#failure !== undefined) {
      throw fileError("flush", this.name, this.#failure);
    }
  }
}
