import { createHash } from "node:crypto";
import { IndexBuilder } from "../../../lib/core/chunk_index.ts";
import { DEFAULT_NET_OPTIONS } from "../../../lib/shell/http.ts";
import { downloadDelta, httpDeltaSource } from "../../../lib/shell/delta_download.ts";
import { IN_FLIGHT } from "../../../lib/shell/range_queue.ts";
import { assert } from "../../support/assert.ts";
import { startOrigin } from "../../support/origin_server.ts";
import { noise } from "../../support/bytes.ts";

const KiB = 1024;

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** An origin dir with `image` and its index, a store/ holding `local`; runs `fn`, cleans up. */
async function withImages(
  local: Uint8Array,
  image: Uint8Array,
  fn: (dir: string, origin: Awaited<ReturnType<typeof startOrigin>>) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tako-delta-unit-" });
  try {
    await Deno.mkdir(`${dir}/origin/store`, { recursive: true });
    await Deno.mkdir(`${dir}/dest/store`, { recursive: true });
    const digest = sha256(image);
    await Deno.writeFile(`${dir}/origin/store/${digest}`, image);
    const builder = new IndexBuilder();
    builder.push(image);
    await Deno.writeFile(`${dir}/origin/store/${digest}.index`, builder.finish(digest));
    await Deno.writeFile(`${dir}/dest/store/old`, local);
    const origin = await startOrigin(`${dir}/origin`, { ranges: true });
    try {
      await fn(dir, origin);
    } finally {
      await origin.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** downloadDelta() of `image` from the test origin into dest/store, from the local image `local` there. */
function deltaFrom(
  dir: string,
  origin: Awaited<ReturnType<typeof startOrigin>>,
  image: Uint8Array,
  local = "old",
): ReturnType<typeof downloadDelta> {
  const digest = sha256(image);
  return downloadDelta(
    `${dir}/dest/store`,
    { size: image.length, sha256: digest },
    [{ path: `${dir}/dest/store/${local}` }],
    httpDeltaSource(origin.url, digest, image.length, DEFAULT_NET_OPTIONS),
  );
}

Deno.test("downloadDelta() sends the first range alone, then keeps at most IN_FLIGHT in flight", async () => {
  const old = noise(512 * KiB, 1);
  // Ten changed blocks far apart: ten ranges.
  const image = old.slice();
  for (let i = 0; i < 10; i++) image.set(noise(100, 10 + i), i * 48 * KiB + 5);
  await withImages(old, image, async (dir, origin) => {
    const digest = sha256(image);
    origin.behave(`/store/${digest}`, { delayHeadersMs: 60 });
    const pending = () => origin.requestsFor(`/store/${digest}`).filter((r) => r.status === 0);
    let sawFirstAlone = false;
    let most = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const all = origin.requestsFor(`/store/${digest}`);
        if (all.length === 1 && all[0]!.status === 0) sawFirstAlone = true;
        most = Math.max(most, pending().length);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const outcome = await deltaFrom(dir, origin, image);
    sampling = false;
    await sampler;
    assert.ok(outcome.done, JSON.stringify(outcome));
    assert.deepEqual(await Deno.readFile(`${dir}/dest/store/${digest}`), image);
    assert.equal(origin.requestsFor(`/store/${digest}`).length, 10);
    assert.ok(outcome.done && outcome.stats.requests === 11, "ten ranges and the index");
    assert.ok(sawFirstAlone, "the first range request went alone");
    assert.ok(most >= 2 && most <= IN_FLIGHT, `at most ${most} requests were in flight`);
  });
});

Deno.test("downloadDelta() gives up, leaving nothing, when a local image vanishes", async () => {
  const old = noise(64 * KiB, 3);
  const image = old.slice();
  image.set(noise(10, 4), 30 * KiB);
  await withImages(old, image, async (dir, origin) => {
    const outcome = await deltaFrom(dir, origin, image, "missing");
    assert.equal(outcome.done, false);
    assert.match(!outcome.done ? outcome.reason : "", /No block of it is in the local images/);
    const names = (await Array.fromAsync(Deno.readDir(`${dir}/dest/store`))).map((e) => e.name);
    assert.deepEqual(names, ["old"], "no temporary and no image left");
  });
});

Deno.test("downloadDelta() writes zero runs and many small local stretches exactly", async () => {
  const B = 4 * KiB;
  const old = new Uint8Array(256 * KiB);
  old.set(noise(128 * KiB, 5), 64 * KiB);
  // Pairs of data blocks of the local image (the least a scan finds) in another order, zero runs
  // between them, one new block.
  const image = new Uint8Array(600 * KiB);
  for (let k = 0; k < 16; k++) {
    image.set(
      old.subarray(64 * KiB + 2 * k * B, 64 * KiB + (2 * k + 2) * B),
      (k * 8 + (k % 3)) * B,
    );
  }
  image.set(noise(B, 6), 590 * KiB);
  await withImages(old, image, async (dir, origin) => {
    const digest = sha256(image);
    const outcome = await deltaFrom(dir, origin, image);
    assert.ok(outcome.done && !outcome.repaired, JSON.stringify(outcome));
    const built = await Deno.readFile(`${dir}/dest/store/${digest}`);
    assert.ok(built.length === image.length && built.every((x, i) => x === image[i]));
    assert.ok(outcome.stats.reused >= image.length - 3 * B, `reused ${outcome.stats.reused}`);
  });
});
