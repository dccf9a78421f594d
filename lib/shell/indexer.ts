/**
 * Chunk indexes (core/chunk_index.ts) built beside the hash instead of after
 * it: on a second thread (a Worker, indexer_worker.ts) that reads the image
 * file itself while this thread hashes and copies it. On two cores that takes
 * the index (about 0.45 s per GiB) off the copy's path (docs/performance.md,
 * "Store"). The worker reads only bytes whose writes already completed, so
 * the index is of exactly the bytes the hash saw. When the worker cannot run
 * (it failed to start, or a read failed), {@link Indexer.finish} builds the
 * index on this thread from the same file: slower, never different.
 *
 * @module
 */
import { IndexBuilder } from "../core/chunk_index.ts";
import { fileError } from "./fs.ts";

/** What the main thread tells the worker. */
export type ToWorker =
  | { readonly open: string }
  | { readonly upTo: number }
  | { readonly finish: string; readonly size: number };

/** What the worker answers: the index file's bytes, or why it stopped. */
export type FromWorker = { readonly index: Uint8Array } | { readonly error: string };

/** The worker's module; `deno compile` needs it named with `--include` (deno.json). */
const WORKER = new URL("./indexer_worker.ts", import.meta.url).href;

/** The size of each read of the image: 1 MiB, as the copy's buffers (shell/copy.ts). */
const READ_SIZE = 1024 * 1024;

/**
 * Reads `file` from `from` up to `upTo` into `builder`, through `buffer`;
 * answers the position reached. The file holding fewer bytes is an error.
 * Synchronous: the worker does nothing else meanwhile, and the fallback runs
 * once the copy is done.
 */
export function readInto(
  file: Deno.FsFile,
  from: number,
  upTo: number,
  builder: IndexBuilder,
  buffer: Uint8Array,
): number {
  let at = from;
  while (at < upTo) {
    const n = file.readSync(buffer.subarray(0, Math.min(buffer.length, upTo - at)));
    if (n === null) throw new Error(`the file ended at byte ${at}, before ${upTo}`);
    builder.push(buffer.subarray(0, n));
    at += n;
  }
  return at;
}

/** Builds the index of `path` (`size` bytes, SHA-256 `sha256`) on this thread. */
function indexHere(path: string, sha256: string, size: number): Uint8Array {
  using file = Deno.openSync(path, { read: true });
  const builder = new IndexBuilder();
  readInto(file, 0, size, builder, new Uint8Array(READ_SIZE));
  return builder.finish(sha256);
}

/**
 * The index of a file being written (or already whole), built on a second
 * thread as its bytes are told written.
 *
 * @example
 * ```ts
 * declare const sha256: string, size: number;
 * using indexer = new Indexer("store/.tmp-0123456789abcdef");
 * indexer.written(size); // after each write completed
 * const index = await indexer.finish(sha256, size);
 * ```
 */
export class Indexer {
  readonly #path: string;
  #worker: Worker | undefined;
  #answer: Promise<FromWorker>;

  /**
   * Starts the worker on `path`, which must exist. `worker` is the worker's module (a test gives
   * one that cannot load, as a binary built without it would).
   */
  constructor(path: string, worker = WORKER) {
    this.#path = path;
    let settle: (answer: FromWorker) => void = () => {};
    this.#answer = new Promise((resolve) => settle = resolve);
    try {
      const started = new Worker(worker, { type: "module" });
      started.onmessage = (event: MessageEvent<FromWorker>) => settle(event.data);
      started.onerror = (event: ErrorEvent) => {
        // Handled here (a worker's uncaught error would otherwise end the whole process).
        event.preventDefault();
        settle({ error: event.message });
      };
      this.#worker = started;
      this.#post({ open: path });
    } catch (e) {
      settle({ error: e instanceof Error ? e.message : String(e) });
    }
  }

  /** The file's first `upTo` bytes are written: the worker may read them. */
  written(upTo: number): void {
    this.#post({ upTo });
  }

  /**
   * The index of the whole file, `size` bytes with SHA-256 `sha256`: the
   * worker's, or built here when the worker could not finish it.
   */
  async finish(sha256: string, size: number): Promise<Uint8Array> {
    this.#post({ finish: sha256, size });
    const answer = await this.#answer;
    this.#stop();
    if ("index" in answer) return answer.index;
    try {
      return indexHere(this.#path, sha256, size);
    } catch (e) {
      throw fileError("index", this.#path, e);
    }
  }

  [Symbol.dispose](): void {
    this.#stop();
  }

  #post(message: ToWorker): void {
    this.#worker?.postMessage(message);
  }

  #stop(): void {
    this.#worker?.terminate();
    this.#worker = undefined;
  }
}
