/**
 * The worker of indexer.ts: opens the image file, reads each range the main
 * thread reports written, feeds it to an IndexBuilder, and answers the index
 * once told the file's SHA-256 and size. Any failure is answered as an error
 * (the main thread then builds the index itself) and ends the worker.
 *
 * @module
 */
import { IndexBuilder } from "../core/chunk_index.ts";
import { type FromWorker, readInto, type ToWorker } from "./indexer.ts";

/** The worker's global scope, as far as this file uses it. */
const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  close(): void;
};

const builder = new IndexBuilder();
const buffer = new Uint8Array(1024 * 1024);
let file: Deno.FsFile | undefined;
let at = 0;

scope.onmessage = ({ data }) => {
  try {
    if ("open" in data) {
      file = Deno.openSync(data.open, { read: true });
    } else if (file === undefined) {
      throw new Error("no file is open");
    } else if ("upTo" in data) {
      at = readInto(file, at, data.upTo, builder, buffer);
    } else {
      at = readInto(file, at, data.size, builder, buffer);
      const index = builder.finish(data.finish);
      scope.postMessage({ index }, [index.buffer as ArrayBuffer]);
      file.close();
      scope.close();
    }
  } catch (e) {
    scope.postMessage({ error: e instanceof Error ? e.message : String(e) });
    file?.close();
    scope.close();
  }
};
