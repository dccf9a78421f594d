/**
 * The Range requests of a delta update, in image order, with a few started
 * ahead of the one being read (their bodies wait in their connections until
 * it is their turn). The first goes alone: an origin that ignores Range
 * answers it with the whole image, and then nothing else is asked.
 *
 * @module
 */
import type { ByteSource } from "./copy.ts";

/** An answer to a Range request, headers checked, body not read yet (http.ts `ImageAnswer`). */
export interface RangeAnswer extends AsyncDisposable {
  /** "partial": exactly the bytes asked; "full": the whole image (the origin ignored Range). */
  readonly kind: "partial" | "full";
  readonly url: URL;
  /** The bytes the body holds. */
  readonly length: number;
  readonly body: ByteSource;
}

/** Asks the origin for bytes `[at, at + length)` of the image. */
export type RequestRange = (at: number, length: number) => Promise<RangeAnswer>;

/** Requests open at once: the one being read and those started ahead of it. */
export const IN_FLIGHT = 4;

/**
 * The requests for `ranges`, in order, with up to {@link IN_FLIGHT} started
 * ahead. The first is started alone and its answer looked at before any
 * other is sent.
 *
 * @example
 * ```ts
 * declare const requestRange: RequestRange;
 * const queue = new RequestQueue([{ at: 0, length: 4096 }], requestRange);
 * const first = await queue.peekFirst(); // a partial answer stays first in line
 * await using answer = await queue.next();
 * await queue.close();
 * ```
 */
export class RequestQueue {
  readonly #pending: Promise<RangeAnswer>[] = [];
  #nextToStart = 0;
  started = 0;

  constructor(
    readonly ranges: readonly { readonly at: number; readonly length: number }[],
    readonly request: RequestRange,
  ) {}

  /**
   * Starts the first request and waits for its headers; undefined when there
   * is none. A partial answer stays first in line (and the others are
   * started); a whole image is handed over, and nothing else is started.
   */
  async peekFirst(): Promise<RangeAnswer | undefined> {
    if (this.ranges.length === 0) return undefined;
    this.#start();
    const first = await this.#pending[0]!;
    if (first.kind === "partial") this.#fill();
    else this.#pending.shift();
    return first;
  }

  /** The next answer in order (already started), keeping the pipeline full. */
  async next(): Promise<RangeAnswer> {
    const answer = this.#pending.shift();
    if (answer === undefined) throw new Error("more remote segments consumed than planned");
    // The one handed out counts as in flight until the next call.
    this.#fill(IN_FLIGHT - 1);
    return await answer;
  }

  /** Disposes of the answers started and not consumed. Never throws. */
  async close(): Promise<void> {
    for (const pending of this.#pending.splice(0)) {
      try {
        await (await pending)[Symbol.asyncDispose]();
      } catch { /* it failed: nothing to release */ }
    }
  }

  #fill(limit = IN_FLIGHT): void {
    while (this.#pending.length < limit && this.#nextToStart < this.ranges.length) {
      this.#start();
    }
  }

  #start(): void {
    const range = this.ranges[this.#nextToStart++]!;
    const answer = this.request(range.at, range.length);
    // Awaited in turn; until then a failure must not count as unhandled.
    answer.catch(() => {});
    this.#pending.push(answer);
    this.started++;
  }
}
