/**
 * What the copy pump (copy.ts) and the range readers read from: a local
 * file, or an HTTP body through a BYOB reader that fills the caller's
 * buffer in place (no allocation per network chunk).
 *
 * @module
 */
import { fileError } from "./fs.ts";

/** Reads into a caller's buffer. BYOB reads hand back the (transferred) buffer holding the data. */
export interface ByteSource {
  /**
   * Whether the pump starts a read before it hashes the piece before (a file: its reads run on
   * Deno's I/O threads meanwhile). A stream's reads are served by this thread's event loop, which
   * is busy while it hashes: reading ahead took more CPU and no less time (docs/performance.md).
   */
  readonly readAhead?: boolean;
  read(
    buffer: ArrayBuffer,
    offset: number,
    max: number,
  ): Promise<{ buffer: ArrayBuffer; n: number; end: boolean }>;
  cancel(): Promise<void>;
}

/**
 * A file open for reading as a {@link ByteSource}, from its current position
 * on; read errors are runtime TakoErrors naming `path`.
 *
 * @example
 * ```ts
 * import { fileSource } from "./byte_source.ts";
 * using file = await Deno.open("image.raw");
 * const source = fileSource(file, "image.raw");
 * ```
 */
export function fileSource(file: Deno.FsFile, path: string): ByteSource {
  return {
    async read(buffer, offset, max) {
      let n: number | null;
      try {
        n = await file.read(new Uint8Array(buffer, offset, max));
      } catch (e) {
        throw fileError("read", path, e);
      }
      return n === null ? { buffer, n: 0, end: true } : { buffer, n, end: false };
    },
    cancel: () => Promise.resolve(),
    readAhead: true,
  };
}

/**
 * A stream (an HTTP body) as a {@link ByteSource}: a BYOB reader when the
 * stream supports one (it fills our buffers in place), else the default
 * reader, copying.
 *
 * @example
 * ```ts
 * import { streamSource } from "./byte_source.ts";
 * const source = streamSource(new Blob(["data"]).stream());
 * ```
 */
export function streamSource(body: ReadableStream<Uint8Array>): ByteSource {
  let byob: ReadableStreamBYOBReader;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch {
    return copyingSource(body.getReader());
  }
  return {
    async read(buffer, offset, max) {
      const { value, done } = await byob.read(new Uint8Array(buffer, offset, max));
      // A cancelled stream gives no view back; the old buffer is detached.
      if (value === undefined) {
        return { buffer: new ArrayBuffer(buffer.byteLength), n: 0, end: true };
      }
      return { buffer: value.buffer as ArrayBuffer, n: value.length, end: done };
    },
    cancel: () => byob.cancel(),
  };
}

function copyingSource(reader: ReadableStreamDefaultReader<Uint8Array>): ByteSource {
  let pending: Uint8Array = new Uint8Array(0);
  return {
    async read(buffer, offset, max) {
      if (pending.length === 0) {
        const { value, done } = await reader.read();
        if (done) return { buffer, n: 0, end: true };
        pending = value;
      }
      const n = Math.min(max, pending.length);
      new Uint8Array(buffer, offset, n).set(pending.subarray(0, n));
      pending = pending.subarray(n);
      return { buffer, n, end: false };
    },
    cancel: () => reader.cancel(),
  };
}
