/**
 * One request for several ranges of an image (docs/delta.md), and its
 * answer: a `206 multipart/byteranges` read as a stream of the asked bytes
 * in order (framing and checks in core/byteranges.ts), a single part that is
 * exactly the first range asked, or a 200 (an origin that serves single
 * ranges only, or none), whose body is dropped unread.
 *
 * @module
 */
import { shownUrl, TakoError } from "../core/errors.ts";
import { checkPartialAnswer, declaredLength } from "../core/http_policy.ts";
import {
  AskedBytes,
  type AskedRange,
  multipartBoundary,
  MultipartFraming,
  rangeHeader,
} from "../core/byteranges.ts";
import type { ByteSource } from "./byte_source.ts";
import { type NetOptions, openImage } from "./http.ts";
import type { ManyAnswer } from "./range_queue.ts";

/** Framing is read this much at a time, so that little of a part's bytes is copied. */
const FRAMING_READ = 512;
/** After the closing delimiter, at most this much epilogue is read (for the connection's reuse). */
const MAX_EPILOGUE = 1024;

/**
 * Asks `<origin>/store/<sha256>` (`size` bytes) for `ranges` (two or more,
 * in image order, neither overlapping nor adjacent) in one request.
 *
 * @example
 * ```ts
 * import { DEFAULT_NET_OPTIONS } from "./http.ts";
 * const answer = await requestRanges("https://images.example.com/app", "ab".repeat(32), 100, [
 *   { at: 0, length: 10 },
 *   { at: 50, length: 10 },
 * ], DEFAULT_NET_OPTIONS);
 * ```
 */
export async function requestRanges(
  origin: string,
  sha256: string,
  size: number,
  ranges: readonly AskedRange[],
  net: NetOptions,
): Promise<ManyAnswer> {
  const opened = await openImage(origin, sha256, net, { range: rangeHeader(ranges) });
  const { status, headers, url } = opened;
  try {
    if (status === 200) {
      await opened[Symbol.asyncDispose]();
      return { kind: "refused", url };
    }
    const boundary = multipartBoundary(headers.get("content-type"));
    if (status === 206 && boundary === undefined) {
      const first = ranges[0]!;
      checkPartialAnswer(url, status, headers, first.at, size, first.at + first.length);
      const answer = { kind: "partial", url, length: first.length, body: opened.body } as const;
      return {
        kind: "partial",
        answer: { ...answer, [Symbol.asyncDispose]: opened[Symbol.asyncDispose] },
      };
    }
    if (status !== 206 || boundary === undefined) {
      checkPartialAnswer(url, status, headers, ranges[0]!.at, size); // 416: throws
      throw new TakoError(
        "integrity",
        `${shownUrl(url)} answered ${status} to a multi-range request.`,
      );
    }
    const bound = ranges.reduce((sum, r) => sum + r.length + MAX_PART_OVERHEAD, MAX_PART_OVERHEAD);
    const declared = declaredLength(headers.get("content-length"));
    if (declared !== undefined && declared > BigInt(bound)) {
      throw new TakoError(
        "integrity",
        `${shownUrl(url)} announces ${declared} bytes for ranges that hold fewer than ${bound}.`,
      );
    }
    const reader = new MultipartReader(
      opened.body,
      new MultipartFraming(boundary, shownUrl(url)),
      new AskedBytes(ranges, size, shownUrl(url)),
    );
    return {
      kind: "multipart",
      url,
      body: reader,
      finish: () => reader.finish(),
      [Symbol.asyncDispose]: opened[Symbol.asyncDispose],
    };
  } catch (e) {
    await opened[Symbol.asyncDispose]();
    throw e;
  }
}

/** Framing bytes per part beyond which a Content-Length is not believed (headers are capped). */
const MAX_PART_OVERHEAD = 4096;

/** The asked bytes of a multipart/byteranges body, in order, each part's bytes read straight through. */
class MultipartReader implements ByteSource {
  #scratch = new ArrayBuffer(FRAMING_READ);
  /** Bytes read with the framing that belong to what follows it. */
  #left = new Uint8Array(0);
  #received = 0;

  constructor(
    readonly body: ByteSource,
    readonly framing: MultipartFraming,
    readonly asked: AskedBytes,
  ) {}

  async read(buffer: ArrayBuffer, offset: number, max: number) {
    while (this.asked.partLeft === 0) {
      if (this.asked.position === undefined) return { buffer, n: 0, end: true };
      const step = await this.#step();
      if (step.kind === "end") this.asked.finish(); // throws: bytes are missing
      else this.asked.startPart(step.range);
    }
    const want = Math.min(max, this.asked.partLeft);
    let n: number;
    if (this.#left.length > 0) {
      n = Math.min(want, this.#left.length);
      new Uint8Array(buffer, offset, n).set(this.#left.subarray(0, n));
      this.#left = this.#left.subarray(n);
    } else {
      const got = await this.body.read(buffer, offset, want);
      if (got.n === 0) throw this.#ended();
      [buffer, n] = [got.buffer, got.n];
    }
    this.#received += n;
    this.asked.received(n);
    return { buffer, n, end: false };
  }

  /** After the last asked byte: the closing delimiter must follow; a short epilogue is read. */
  async finish(): Promise<void> {
    const step = await this.#step();
    if (step.kind !== "end") {
      this.asked.startPart(step.range); // throws: nothing more was asked
    }
    for (let epilogue = this.#left.length; epilogue <= MAX_EPILOGUE;) {
      const got = await this.body.read(this.#scratch, 0, FRAMING_READ);
      this.#scratch = got.buffer;
      if (got.n === 0) return;
      epilogue += got.n;
    }
  }

  cancel(): Promise<void> {
    return this.body.cancel();
  }

  async #step() {
    for (;;) {
      let bytes = this.#left;
      if (bytes.length === 0) {
        const got = await this.body.read(this.#scratch, 0, FRAMING_READ);
        this.#scratch = got.buffer;
        if (got.n === 0) throw this.#ended();
        bytes = new Uint8Array(got.buffer, 0, got.n);
      }
      this.#left = new Uint8Array(0);
      const step = this.framing.feed(bytes);
      if (step.kind === "more") continue;
      this.#left = bytes.slice(step.used);
      return step;
    }
  }

  #ended(): TakoError {
    return new TakoError(
      "integrity",
      `${this.asked.name} ended after ${this.#received} of the bytes asked for, before its closing delimiter (multipart/byteranges).`,
    );
  }
}
