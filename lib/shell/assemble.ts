/**
 * Writes a new image from a {@link DeltaPlan} into a temporary file, front to
 * back, through the one hashing copy pump (copy.ts): local stretches are
 * copied from local images, remote ones streamed from Range answers. One
 * SHA-256 runs over the whole result as it is written, so the image is never
 * read twice and never held in memory; a few requests are kept in flight
 * ahead of the one being read (their bodies wait in the connection until it
 * is their turn).
 *
 * The first request goes alone: an origin that ignores Range answers it with
 * the whole image (200), which is then taken as a full download into the
 * still empty file, so such an origin costs the image's size, not more.
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import { printable, shownUrl, TakoError } from "../core/errors.ts";
import type { DeltaPlan, Segment } from "../core/delta_plan.ts";
import { type ByteSource, copyHashing, type CopyTarget, fileSource, flushHandle } from "./copy.ts";
import { attempt, type TempFile } from "./fs.ts";

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

/** Requests open at once: the one being read and those started ahead of it. */
export const IN_FLIGHT = 4;

/**
 * Writes the image that `plan` describes into `temp` (empty, at position 0).
 * `locals[i]` is the path of local image number i. Throws a TakoError when a
 * local image is shorter than the plan needs or an answer is not what was
 * asked; the caller then removes the temporary and downloads in full.
 *
 * @example
 * ```ts
 * import type { DeltaPlan } from "../core/delta_plan.ts";
 * import { commitTemp, createTemp } from "./fs.ts";
 * declare const plan: DeltaPlan, paths: string[], requestRange: RequestRange, sha256: string;
 * await using temp = await createTemp("/var/lib/tako/app/store");
 * const result = await assemble(plan, paths, temp, requestRange);
 * if (result.sha256 === sha256) await commitTemp(temp, `/var/lib/tako/app/store/${sha256}`);
 * ```
 */
export async function assemble(
  plan: DeltaPlan,
  locals: readonly string[],
  temp: TempFile,
  requestRange: RequestRange,
  onProgress?: (written: number) => void,
): Promise<Assembled> {
  const remote = plan.segments.filter((s) => s.kind === "remote");
  const queue = new RequestQueue(remote, requestRange);
  const files = new Map<number, Deno.FsFile>();
  // Flushed in the background as it goes, like a full download, so the commit finds little left.
  using flusher = await flushHandle(temp.path, temp.file, plan.size);
  const target: CopyTarget = { file: temp.file, path: temp.path, flusher };
  let fetched = 0;
  try {
    const first = await queue.peekFirst();
    if (first?.kind === "full") return await takeWhole(first, plan.size, target, queue);
    const hash = createHash("sha256");
    let written = 0;
    for (const segment of plan.segments) {
      if (segment.kind === "local") {
        await copyLocal(segment, locals, files, target, hash);
      } else {
        await using answer = await queue.next();
        if (answer.kind !== "partial") {
          throw new TakoError(
            "integrity",
            `${shownUrl(answer.url)} answered a Range request with the whole image.`,
          );
        }
        const name = shownUrl(answer.url);
        fetched += await copyExactly(answer.body, segment.length, target, hash, name);
      }
      written += segment.length;
      onProgress?.(written);
    }
    return { sha256: hash.digest("hex"), fetched, requests: queue.started, whole: false };
  } finally {
    await queue.close();
    for (const file of files.values()) file.close();
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
  const hash = createHash("sha256");
  const fetched = await copyExactly(whole.body, size, target, hash, shownUrl(whole.url));
  return { sha256: hash.digest("hex"), fetched, requests: queue.started, whole: true };
}

async function copyLocal(
  segment: Extract<Segment, { kind: "local" }>,
  locals: readonly string[],
  files: Map<number, Deno.FsFile>,
  target: CopyTarget,
  hash: Hash,
): Promise<void> {
  const path = locals[segment.image]!;
  let file = files.get(segment.image);
  if (file === undefined) {
    file = await attempt("read", path, () => Deno.open(path, { read: true }));
    files.set(segment.image, file);
  }
  const opened = file;
  await attempt("read", path, () => opened.seek(segment.from, Deno.SeekMode.Start));
  await copyExactly(fileSource(file, path), segment.length, target, hash, printable(path, 300));
}

/**
 * Copies exactly `length` bytes of `source` into the temporary, hashing them;
 * returns the count. `name` (safe to print) names the source in messages.
 */
async function copyExactly(
  source: ByteSource,
  length: number,
  target: CopyTarget,
  hash: Hash,
  name: string,
): Promise<number> {
  const { received } = await copyHashing(source, target, { hash, limit: length });
  if (received !== length) {
    throw new TakoError(
      "integrity",
      `${name} ended after ${received} of the ${length} bytes expected.`,
    );
  }
  return received;
}

/**
 * The Range requests of a plan, in order, with up to {@link IN_FLIGHT}
 * started ahead. The first is started alone and its answer looked at before
 * any other is sent.
 */
class RequestQueue {
  readonly #pending: Promise<RangeAnswer>[] = [];
  #nextToStart = 0;
  started = 0;

  constructor(readonly segments: readonly Segment[], readonly request: RequestRange) {}

  /**
   * Starts the first request and waits for its headers; undefined when there
   * is none. A partial answer stays first in line (and the others are
   * started); a whole image is handed over, and nothing else is started.
   */
  async peekFirst(): Promise<RangeAnswer | undefined> {
    if (this.segments.length === 0) return undefined;
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
    while (this.#pending.length < limit && this.#nextToStart < this.segments.length) {
      this.#start();
    }
  }

  #start(): void {
    const segment = this.segments[this.#nextToStart++]!;
    const answer = this.request(segment.at, segment.length);
    // Awaited in turn; until then a failure must not count as unhandled.
    answer.catch(() => {});
    this.#pending.push(answer);
    this.started++;
  }
}
