/**
 * lib/shell/indexer.ts: the chunk index built on a second thread from a file
 * as it is written, the same bytes as an IndexBuilder fed on this thread, and
 * built here when the worker cannot finish.
 */
import { createHash } from "node:crypto";
import { IndexBuilder } from "../../../lib/core/chunk_index.ts";
import { Indexer } from "../../../lib/shell/indexer.ts";
import { assert, assertRejectsTako } from "../../support/assert.ts";

function noise(length: number, seed: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function indexHere(data: Uint8Array, sha256: string): Uint8Array {
  const builder = new IndexBuilder();
  builder.push(data);
  return builder.finish(sha256);
}

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tako-indexer-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("`Indexer` indexes a file told written piece by piece, as the bytes themselves", async () => {
  await withDir(async (dir) => {
    // Pieces that end inside blocks, and a last block of 5 bytes.
    const data = noise(3 * 1024 * 1024 + 4096 * 3 + 5, 2463534242);
    const path = `${dir}/image`;
    using file = await Deno.open(path, { write: true, createNew: true });
    using indexer = new Indexer(path);
    const cuts = [0, 1000, 4096 * 7 + 1, 2 * 1024 * 1024 + 3, data.length];
    for (let i = 1; i < cuts.length; i++) {
      await file.write(data.subarray(cuts[i - 1], cuts[i]));
      indexer.written(cuts[i]!);
    }
    const digest = sha256(data);
    assert.deepEqual(await indexer.finish(digest, data.length), indexHere(data, digest));
  });
});

Deno.test("`Indexer` builds the index itself when the worker stopped, and reports a file that cannot be read", async () => {
  await withDir(async (dir) => {
    const data = noise(100_000, 88172645);
    const path = `${dir}/image`;
    await Deno.writeFile(path, data);
    const digest = sha256(data);
    {
      // A worker that cannot load, as in a binary built without its module.
      using indexer = new Indexer(path, new URL(`file://${dir}/no-such-worker.ts`).href);
      indexer.written(data.length);
      assert.deepEqual(await indexer.finish(digest, data.length), indexHere(data, digest));
    }
    {
      // Told more than the file holds: the worker stops, and so does the index built here.
      using indexer = new Indexer(path);
      await assertRejectsTako(
        () => indexer.finish(digest, data.length + 1),
        "runtime",
        `Cannot index ${dir}/image: the file ended at byte 100000, before 100001.`,
      );
    }
    {
      using indexer = new Indexer(`${dir}/missing`);
      await assertRejectsTako(
        () => indexer.finish(sha256(data), data.length),
        "runtime",
        `Cannot index ${dir}/missing: `,
      );
    }
  });
});
