/**
 * Writes a new image from a {@link DeltaPlan} into a temporary file, front to
 * back, through the one hashing copy pump (copy.ts), called once for the
 * whole image: the plan is one {@link ByteSource} that yields local stretches
 * from local images (a run of identical blocks from one block read once) and
 * remote ones from Range answers, in image order. The pump's large writes,
 * background flushes and single SHA-256 then serve a plan of thousands of
 * small stretches as they serve a full download; the image is never read
 * twice and never held in memory.
 *
 * The first request goes alone (range_queue.ts): an origin that ignores Range
 * answers the first single-range request with the whole image (200), which is
 * then taken as a full download into the still empty file, so such an origin
 * costs the image's size, not more.
 *
 * @module
 */
import { printable, shownUrl, TakoError } from "../core/errors.ts";
import type { DeltaPlan, Segment } from "../core/delta_plan.ts";
import type { ByteSource } from "./byte_source.ts";
import { copyHashing, type CopyTarget, flushHandle } from "./copy.ts";
import { attempt, fileError, type TempFile } from "./fs.ts";
import { type RangeAnswer, type RangeClient, RequestQueue } from "./range_queue.ts";

/** How an assembly went. */
export interface Assembled {
  /** The SHA-256 of what was written (lowercase hex). */
  readonly sha256: string;
  /** Body bytes received from the origin. */
  readonly fetched: number;
  readonly requests: number;
  /** True when the origin ignored Range and the whole image came in one answer. */
  readonly whole: boolean;
}

/**
 * Writes the image that `plan` describes into `temp` (empty, at position 0).
 * `locals[i]` is the path of local image number i. Throws a TakoError when a
 * local image is shorter than the plan needs or an answer is not what was
 * asked; the caller then removes the temporary and downloads in full.
 *
 * @example
 * ```ts
 * import type { DeltaPlan } from "../core/delta_plan.ts";
 * import type { RangeClient } from "./range_queue.ts";
 * import { commitTemp, createTemp } from "./fs.ts";
 * declare const plan: DeltaPlan, paths: string[], client: RangeClient, sha256: string;
 * await using temp = await createTemp("/var/lib/tako/app/store");
 * const result = await assemble(plan, paths, temp, client);
 * if (result.sha256 === sha256) await commitTemp(temp, `/var/lib/tako/app/store/${sha256}`);
 * ```
 */
export async function assemble(
  plan: DeltaPlan,
  locals: readonly string[],
  temp: TempFile,
  client: RangeClient,
  onProgress?: (written: number) => void,
): Promise<Assembled> {
  const queue = new RequestQueue(plan.segments.filter((s) => s.kind === "remote"), client);
  // Flushed in the background as it goes, like a full download, so the commit finds little left.
  using flusher = await flushHandle(temp.path, temp.file, plan.size);
  const target: CopyTarget = { file: temp.file, path: temp.path, flusher };
  const source = new PlanSource(plan.segments, locals, queue);
  try {
    const whole = await queue.firstWhole();
    if (whole !== undefined) return await takeWhole(whole, plan.size, target, queue);
    const { received, hash } = await copyHashing(source, target, {
      limit: plan.size,
      ...(onProgress === undefined ? {} : { onProgress }),
    });
    if (received !== plan.size) throw new Error("the plan's segments do not cover the image");
    // The pump stops at the image's size: the last answer is ended here (a multipart answer's
    // closing delimiter is checked then).
    await source.endAnswer();
    return {
      sha256: hash.digest("hex"),
      fetched: source.fetched,
      requests: queue.started,
      whole: false,
    };
  } finally {
    await source.cancel();
    await queue.close();
  }
}

/** The origin ignored Range: its answer is the whole image, copied into the empty file. */
async function takeWhole(
  answer: RangeAnswer,
  size: number,
  target: CopyTarget,
  queue: RequestQueue,
): Promise<Assembled> {
  await using whole = answer;
  const { received, hash } = await copyHashing(whole.body, target, { limit: size });
  if (received !== size) throw endedEarly(shownUrl(whole.url), received, size);
  return { sha256: hash.digest("hex"), fetched: received, requests: queue.started, whole: true };
}

async function quietly(answer: AsyncDisposable): Promise<void> {
  try {
    await answer[Symbol.asyncDispose]();
  } catch { /* it failed: nothing to release */ }
}

function endedEarly(name: string, received: number, length: number): TakoError {
  return new TakoError(
    "integrity",
    `${name} ended after ${received} of the ${length} bytes expected.`,
  );
}

/**
 * The bytes of a plan in image order. Each read serves at most the rest of
 * one segment; the pump reads on until its buffer is full. Local images are
 * opened once and read at their offsets (a seek only where a stretch does
 * not follow the previous one); each remote segment takes the next answer of
 * the queue and must yield exactly its length.
 */
class PlanSource implements ByteSource {
  /** Body bytes received from the origin. */
  fetched = 0;
  #segment = 0;
  /** Bytes of the current segment served. */
  #done = 0;
  #answer: RangeAnswer | undefined;
  /** The block of the current run of identical blocks. */
  #repeated: Uint8Array | undefined;
  readonly #files = new Map<number, { file: Deno.FsFile; position: number }>();

  constructor(
    readonly segments: readonly Segment[],
    readonly locals: readonly string[],
    readonly queue: RequestQueue,
  ) {}

  async read(buffer: ArrayBuffer, offset: number, max: number) {
    let segment = this.segments[this.#segment];
    while (segment !== undefined && this.#done === segment.length) {
      await this.#endSegment();
      segment = this.segments[++this.#segment];
    }
    if (segment === undefined) return { buffer, n: 0, end: true };
    const want = Math.min(max, segment.length - this.#done);
    if (segment.kind === "remote") {
      const answer = this.#answer ??= await this.#nextAnswer();
      const got = await answer.body.read(buffer, offset, want);
      if (got.end) throw endedEarly(shownUrl(answer.url), this.#done, segment.length);
      this.#done += got.n;
      this.fetched += got.n;
      return { buffer: got.buffer, n: got.n, end: false };
    }
    const view = new Uint8Array(buffer, offset, want);
    let n = want;
    if (segment.span === segment.length) {
      n = await this.#readLocal(segment.image, segment.from + this.#done, view);
    } else {
      const block = this.#repeated ??= await this.#readBlock(segment);
      for (let i = 0, phase = this.#done % block.length; i < want; phase = 0) {
        const piece = block.subarray(phase, Math.min(block.length, phase + want - i));
        view.set(piece, i);
        i += piece.length;
      }
    }
    this.#done += n;
    return { buffer, n, end: false };
  }

  /** Ends the answer being read, as at the end of its segment; throws what that finds. */
  async endAnswer(): Promise<void> {
    if (this.#answer !== undefined) await this.#endSegment();
  }

  /** Closes what is open. Never throws. */
  async cancel(): Promise<void> {
    if (this.#answer !== undefined) await quietly(this.#answer);
    this.#answer = undefined;
    for (const { file } of this.#files.values()) file.close();
    this.#files.clear();
  }

  async #nextAnswer(): Promise<RangeAnswer> {
    const answer = await this.queue.next();
    if (answer.kind !== "partial") {
      await quietly(answer);
      throw new TakoError(
        "integrity",
        `${shownUrl(answer.url)} answered a Range request with the whole image.`,
      );
    }
    return answer;
  }

  async #endSegment(): Promise<void> {
    const answer = this.#answer;
    this.#answer = undefined;
    this.#repeated = undefined;
    this.#done = 0;
    await answer?.[Symbol.asyncDispose]();
  }

  /** The span of a run of identical blocks, read once. */
  async #readBlock(segment: Extract<Segment, { kind: "local" }>): Promise<Uint8Array> {
    const block = new Uint8Array(segment.span);
    for (let at = 0; at < block.length;) {
      at += await this.#readLocal(segment.image, segment.from + at, block.subarray(at));
    }
    return block;
  }

  /** Reads local image `image` at byte `at` into `view`: the count read (at least 1). */
  async #readLocal(image: number, at: number, view: Uint8Array): Promise<number> {
    const path = this.locals[image]!;
    let open = this.#files.get(image);
    if (open === undefined) {
      const file = await attempt("read", path, () => Deno.open(path, { read: true }));
      open = { file, position: 0 };
      this.#files.set(image, open);
    }
    const { file } = open;
    // Synchronous: the stretches are many and mostly short and in the page cache, and each
    // asynchronous read or seek was a round trip through Deno's I/O threads (about 60 µs; 4,600
    // of them on an erofs minor release, more than a quarter of its assembly).
    let n: number | null;
    try {
      if (open.position !== at) file.seekSync(at, Deno.SeekMode.Start);
      n = file.readSync(view);
    } catch (e) {
      throw fileError("read", path, e);
    }
    if (n === null || n === 0) {
      throw new TakoError(
        "integrity",
        `${
          printable(path, 300)
        } ended at byte ${at}, before the stretch a delta update copies from it.`,
      );
    }
    open.position = at + n;
    return n;
  }
}
