/**
 * The idle timeout of a response body (SPEC §7): each read runs under a
 * timer, and a read that waits too long aborts the request.
 *
 * @module
 */
import { shownUrl, TakoError } from "../core/errors.ts";
import { fetchErrorDetail, seconds } from "../core/http_policy.ts";
import type { ByteSource } from "./byte_source.ts";

/** Arms a timer around each read; when a read waits too long, aborts the request. */
export class IdleTimer {
  #fired = false;

  constructor(readonly ms: number, readonly abort: () => void, readonly url: URL) {}

  /** Runs one read under the timer and turns its failures into TakoErrors. */
  async watch<T>(read: () => Promise<T>, received: number): Promise<T> {
    const timer: ReturnType<typeof setTimeout> = setTimeout(() => {
      this.#fired = true;
      this.abort();
    }, this.ms);
    try {
      return await read();
    } catch (e) {
      if (this.#fired) {
        throw new TakoError(
          "runtime",
          `No data from ${shownUrl(this.url)} for ${seconds(this.ms)}.`,
          { cause: e },
        );
      }
      throw new TakoError(
        "runtime",
        `The download of ${shownUrl(this.url)} broke off after ${received} bytes: ${
          fetchErrorDetail(e)
        }.`,
        { cause: e },
      );
    } finally {
      clearTimeout(timer);
    }
  }
}

/** `source` with each read under the idle timer. */
export function watchedSource(source: ByteSource, idle: IdleTimer): ByteSource {
  let received = 0;
  return {
    async read(buffer, offset, max) {
      const got = await idle.watch(() => source.read(buffer, offset, max), received);
      received += got.n;
      return got;
    },
    cancel: () => source.cancel(),
  };
}
