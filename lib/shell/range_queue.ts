/**
 * The Range requests of a delta update, in image order, with a few started
 * ahead of the one being read (their bodies wait in their connections until
 * it is their turn). Where the origin may serve several ranges in one
 * request, up to core `rangesPerRequest` ranges go in each (multi-range);
 * otherwise one range per request.
 *
 * The first request goes alone, and its answer decides (docs/delta.md): a
 * `206 multipart/byteranges` keeps multi-range; a single part (exactly the
 * first range) is used, then single ranges follow; a 200 is dropped unread,
 * the origin is reported as refusing multi-range, and the first single-range
 * request goes alone in turn: an origin that ignores Range answers it with
 * the whole image, and then nothing else is asked.
 *
 * @module
 */
import { shownUrl, TakoError } from "../core/errors.ts";
import { type AskedRange, rangesPerRequest } from "../core/byteranges.ts";
import type { ByteSource } from "./byte_source.ts";

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

/** The answer to a request for several ranges (multi_range_request.ts). */
export type ManyAnswer =
  /** 206 multipart/byteranges: `body` yields the asked bytes in order; `finish` checks the end. */
  | {
    readonly kind: "multipart";
    readonly url: URL;
    readonly body: ByteSource;
    finish(): Promise<void>;
    [Symbol.asyncDispose](): Promise<void>;
  }
  /** A single part: exactly the first range asked. */
  | { readonly kind: "partial"; readonly answer: RangeAnswer }
  /** 200: the origin serves single ranges only (or none); the body was dropped unread. */
  | { readonly kind: "refused"; readonly url: URL };

/** Asks the origin for several ranges in one request. */
export type RequestRanges = (ranges: readonly AskedRange[]) => Promise<ManyAnswer>;

/** How the queue reaches the origin. */
export interface RangeClient {
  readonly one: RequestRange;
  /** Several ranges at once; undefined: single ranges only (the origin refused before). */
  readonly many: RequestRanges | undefined;
  /** Called when the origin answered a multi-range request with 200. */
  refused(): void;
}

/** Requests open at once: the one being read and those started ahead of it. */
export const IN_FLIGHT = 4;

/** A request started: the ranges it asks for and its answer to come. */
interface Job {
  readonly ranges: readonly AskedRange[];
  readonly answer: Promise<RangeAnswer | ManyAnswer>;
}

/** The answers of one request, one per range, handed out in order. */
interface Feed {
  left: number;
  take(): RangeAnswer;
  close(): Promise<void>;
}

/**
 * The requests for `ranges`, in order, with up to {@link IN_FLIGHT} started
 * ahead; `next()` gives one answer per range.
 *
 * @example
 * ```ts
 * declare const client: RangeClient;
 * const queue = new RequestQueue([{ at: 0, length: 4096 }], client);
 * const whole = await queue.firstWhole(); // the whole image, when the origin ignores Range
 * if (whole === undefined) {
 *   await using answer = await queue.next();
 * }
 * await queue.close();
 * ```
 */
export class RequestQueue {
  readonly #jobs: Job[] = [];
  #nextToStart = 0;
  #many: RequestRanges | undefined;
  #feed: Feed | undefined;
  started = 0;

  constructor(readonly ranges: readonly AskedRange[], readonly client: RangeClient) {
    this.#many = ranges.length > 1 ? client.many : undefined;
  }

  /**
   * Starts the first request and waits for its answer's headers. Undefined
   * when the answers are parts (they stay in line, and the requests after
   * are started); the whole image when the origin ignored Range (nothing
   * else is started).
   */
  async firstWhole(): Promise<RangeAnswer | undefined> {
    if (this.ranges.length === 0) return undefined;
    if (this.#many !== undefined) {
      const job = this.#start();
      const answer = await job.answer as ManyAnswer;
      if (answer.kind !== "multipart") this.#many = undefined;
      if (answer.kind === "refused") {
        this.#jobs.pop();
        this.#nextToStart = 0;
        this.client.refused();
      } else {
        if (answer.kind === "partial") {
          this.#jobs[0] = {
            ranges: job.ranges.slice(0, 1),
            answer: Promise.resolve(answer.answer),
          };
        }
        this.#nextToStart = this.#jobs[0]!.ranges.length;
        this.#fill();
        return undefined;
      }
    }
    const first = await this.#start().answer as RangeAnswer;
    if (first.kind === "full") {
      this.#jobs.shift();
      return first;
    }
    this.#fill();
    return undefined;
  }

  /** The next range's answer (already started), keeping the pipeline full. */
  async next(): Promise<RangeAnswer> {
    if (this.#feed === undefined || this.#feed.left === 0) {
      const job = this.#jobs.shift();
      if (job === undefined) throw new Error("more remote segments consumed than planned");
      // The one being read counts as in flight.
      this.#fill(IN_FLIGHT - 1);
      this.#feed = undefined;
      this.#feed = feedOf(job, await job.answer);
    }
    return this.#feed.take();
  }

  /** Disposes of the answers started and not consumed. Never throws. */
  async close(): Promise<void> {
    await this.#feed?.close();
    for (const job of this.#jobs.splice(0)) {
      try {
        await feedOf(job, await job.answer).close();
      } catch { /* it failed: nothing to release */ }
    }
  }

  #fill(limit = IN_FLIGHT): void {
    while (this.#jobs.length < limit && this.#nextToStart < this.ranges.length) this.#start();
  }

  #start(): Job {
    const from = this.#nextToStart;
    const count = this.#many === undefined ? 1 : rangesPerRequest(this.ranges, from);
    const ranges = this.ranges.slice(from, from + count);
    const answer = count > 1
      ? this.#many!(ranges)
      : this.client.one(ranges[0]!.at, ranges[0]!.length);
    // Awaited in turn; until then a failure must not count as unhandled.
    answer.catch(() => {});
    const job = { ranges, answer };
    this.#jobs.push(job);
    this.#nextToStart += count;
    this.started++;
    return job;
  }
}

async function quietly(answer: AsyncDisposable): Promise<void> {
  try {
    await answer[Symbol.asyncDispose]();
  } catch { /* it failed: nothing to release */ }
}

/** The answers of `job`; a multi-range request must have had a multipart answer. */
function feedOf(job: Job, received: RangeAnswer | ManyAnswer): Feed {
  if (job.ranges.length === 1) {
    const answer = received as RangeAnswer;
    return {
      left: 1,
      take() {
        this.left = 0;
        return answer;
      },
      close: () => quietly(answer),
    };
  }
  const answer = received as ManyAnswer;
  if (answer.kind !== "multipart") {
    if (answer.kind === "partial") void quietly(answer.answer);
    throw new TakoError(
      "integrity",
      `${
        shownUrl(answer.kind === "partial" ? answer.answer.url : answer.url)
      } answered a multi-range request ${
        answer.kind === "refused" ? "with 200" : "with a single part"
      } after it had answered one with parts.`,
    );
  }
  const multipart = answer;
  let index = 0;
  return {
    left: job.ranges.length,
    take() {
      const length = job.ranges[index++]!.length;
      this.left--;
      const last = this.left === 0;
      let done = 0;
      return {
        kind: "partial",
        url: multipart.url,
        length,
        body: {
          async read(buffer, offset, max) {
            if (done === length) return { buffer, n: 0, end: true };
            const got = await multipart.body.read(buffer, offset, Math.min(max, length - done));
            done += got.n;
            return got;
          },
          cancel: () => multipart.body.cancel(),
        },
        async [Symbol.asyncDispose]() {
          if (!last) return;
          try {
            if (done === length) await multipart.finish();
          } finally {
            await quietly(multipart);
          }
        },
      };
    },
    close: () => quietly(multipart),
  };
}
