import { createHash } from "node:crypto";
import { IndexBuilder, indexLength } from "../../../lib/core/chunk_index.ts";
import { DEFAULT_NET_OPTIONS } from "../../../lib/shell/http.ts";
import { downloadDelta } from "../../../lib/shell/delta_download.ts";
import { httpDeltaSource, type MultiRange } from "../../../lib/shell/delta_source.ts";
import { requestRanges } from "../../../lib/shell/multi_range_request.ts";
import { BOUNDARY, concatParts, multipartBody, type Part } from "../../support/multipart.ts";
import { IN_FLIGHT } from "../../../lib/shell/range_queue.ts";
import { assert } from "../../support/assert.ts";
import { type OriginOptions, startOrigin } from "../../support/origin_server.ts";
import { noise } from "../../support/bytes.ts";

const KiB = 1024;

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** An origin dir with `image` and its index, a store/ holding `local`; runs `fn`, cleans up. */
async function withImages(
  local: Uint8Array,
  image: Uint8Array,
  fn: (dir: string, origin: Awaited<ReturnType<typeof startOrigin>>) => Promise<void>,
  options: OriginOptions = { ranges: true },
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
    const origin = await startOrigin(`${dir}/origin`, options);
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
  multiRange: MultiRange = { refused: false },
): ReturnType<typeof downloadDelta> {
  const digest = sha256(image);
  return downloadDelta(
    `${dir}/dest/store`,
    { size: image.length, sha256: digest },
    [{ path: `${dir}/dest/store/${local}` }],
    httpDeltaSource(origin.url, digest, image.length, DEFAULT_NET_OPTIONS, multiRange),
  );
}

Deno.test("downloadDelta() from a single-range origin sends the first range alone, then keeps at most IN_FLIGHT in flight", async () => {
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
    // The multi-range request (answered 200, dropped), then one request per range.
    assert.equal(origin.requestsFor(`/store/${digest}`).length, 11);
    assert.ok(outcome.done && outcome.stats.requests === 12, "ten ranges, the refusal, the index");
    assert.ok(sawFirstAlone, "the first range request went alone");
    assert.ok(most >= 2 && most <= IN_FLIGHT, `at most ${most} requests were in flight`);
  }, { ranges: true, multiRange: "whole" });
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

/**
 * `old` with every third of its 4 KiB blocks changed from `from` on: one range per change (the
 * two unchanged blocks between two changes are a pair, which the matching finds).
 */
function scattered(old: Uint8Array, changes: number, from = 0): Uint8Array {
  const image = old.slice();
  for (let k = 0; k < changes; k++) image.set(noise(64, 100 + k), (from + 3 * k) * 4 * KiB + 7);
  return image;
}

Deno.test("downloadDelta() asks for up to MAX_RANGES ranges per request, answered with parts", async () => {
  const old = noise(4096 * KiB, 11);
  const image = scattered(old, 256);
  await withImages(old, image, async (dir, origin) => {
    const digest = sha256(image);
    const multiRange: MultiRange = { refused: false };
    const outcome = await deltaFrom(dir, origin, image, "old", multiRange);
    assert.ok(outcome.done && !outcome.repaired, JSON.stringify(outcome));
    assert.deepEqual(await Deno.readFile(`${dir}/dest/store/${digest}`), image);
    const asked = origin.requestsFor(`/store/${digest}`).map((r) => r.headers.range!);
    assert.deepEqual(asked.map((r) => r.split(",").length), [200, 56]);
    assert.ok(origin.requestsFor(`/store/${digest}`).every((r) => r.status === 206));
    assert.equal(outcome.stats.requests, 3, "two multi-range requests and the index");
    assert.ok(outcome.stats.downloaded <= image.length + indexLength(image.length), "bounded");
    assert.deepEqual(multiRange, { refused: false, asked: true });
  });
});

/** Hostile answers to the first multi-range request, built from the parts asked. */
const HOSTILE: [string, (asked: Part[], file: Uint8Array) => Uint8Array][] = [
  ["another boundary", (asked, file) => multipartBody(file, asked, "not-the-one")],
  [
    "a part outside the asked ranges",
    (asked, file) =>
      multipartBody(file, [asked[0]!, { first: asked[0]!.last + 1, last: asked[0]!.last + 10 }]),
  ],
  ["a truncated part", (asked, file) => multipartBody(file, asked).subarray(0, 200)],
  ["a repeated part", (asked, file) => multipartBody(file, [asked[0]!, ...asked])],
  [
    "overlapping parts",
    (asked, file) =>
      multipartBody(file, [
        asked[0]!,
        { first: asked[0]!.first + 1, last: asked[0]!.last },
        ...asked.slice(1),
      ]),
  ],
  ["no closing delimiter", (asked, file) => {
    const body = multipartBody(file, asked);
    return body.subarray(0, body.length - BOUNDARY.length - 6);
  }],
  [
    "a huge part header",
    (asked, file) =>
      concatParts([
        `--${BOUNDARY}\r\nX-Pad: ${"p".repeat(64 * KiB)}\r\n`,
        multipartBody(file, asked),
      ]),
  ],
  [
    "one part over the gaps (a coalescing CDN)",
    (asked, file) =>
      multipartBody(file, [{ first: asked[0]!.first, last: asked[asked.length - 1]!.last }]),
  ],
];

Deno.test("hostile multipart answers end the delta cleanly, nothing committed, bytes bounded", async () => {
  const old = noise(512 * KiB, 12);
  // The last change in the image's last block: the answer's end is checked there too.
  const image = scattered(old, 20, 70);
  for (const [what, build] of HOSTILE) {
    await withImages(old, image, async (dir, origin) => {
      const digest = sha256(image);
      origin.behave(`/store/${digest}`, {
        multipart: (asked, file) => ({ body: build(asked, file) }),
      });
      const outcome = await deltaFrom(dir, origin, image);
      assert.equal(outcome.done, false, what);
      // Refused as a multipart answer, or before, by a length no asked ranges can hold.
      const reason = /multipart\/byteranges|announces \d+ bytes for ranges that hold fewer/;
      assert.match(
        !outcome.done ? outcome.reason : "",
        reason,
        `${what}: ${JSON.stringify(outcome)}`,
      );
      assert.ok(
        outcome.fetched <= image.length + indexLength(image.length),
        `${what}: ${outcome.fetched}`,
      );
      const names = (await Array.fromAsync(Deno.readDir(`${dir}/dest/store`))).map((e) => e.name);
      assert.deepEqual(names, ["old"], `${what}: no temporary and no image left`);
    });
  }
});

Deno.test("an origin that answers a multi-range request with one part: used, then single ranges", async () => {
  const old = noise(512 * KiB, 13);
  const image = scattered(old, 5, 3);
  await withImages(old, image, async (dir, origin) => {
    const digest = sha256(image);
    // As a server that serves only the first range asked.
    origin.behave(`/store/${digest}`, {
      times: 1,
      multipart: (asked, file) => {
        const first = asked[0]!;
        return {
          body: file.slice(first.first, first.last + 1),
          type: "application/octet-stream",
          headers: { "content-range": `bytes ${first.first}-${first.last}/${file.length}` },
        };
      },
    });
    const multiRange: MultiRange = { refused: false };
    const outcome = await deltaFrom(dir, origin, image, "old", multiRange);
    assert.ok(outcome.done, JSON.stringify(outcome));
    assert.deepEqual(await Deno.readFile(`${dir}/dest/store/${digest}`), image);
    const ranges = origin.requestsFor(`/store/${digest}`).map((r) => r.headers.range!);
    assert.equal(ranges.length, 5, "the multi-range request, then the four other ranges");
    assert.ok(ranges.slice(1).every((r) => !r.includes(",")));
    assert.equal(multiRange.refused, false, "not a refusal: the part was used");
  });
});

Deno.test("requestRanges() takes parts joined by a coalescing server (adjacent ranges)", async () => {
  const file = noise(64 * KiB, 14);
  await withImages(file, file, async (_dir, origin) => {
    const ranges = [{ at: 100, length: 50 }, { at: 150, length: 50 }, { at: 9000, length: 10 }];
    const answer = await requestRanges(
      origin.url,
      sha256(file),
      file.length,
      ranges,
      DEFAULT_NET_OPTIONS,
    );
    assert.equal(answer.kind, "multipart");
    if (answer.kind !== "multipart") return;
    let buffer = new ArrayBuffer(110);
    for (let at = 0; at < buffer.byteLength;) {
      const r = await answer.body.read(buffer, at, buffer.byteLength - at);
      [buffer, at] = [r.buffer, at + r.n];
    }
    await answer.finish();
    assert.deepEqual(
      new Uint8Array(buffer),
      concatParts([file.subarray(100, 200), file.subarray(9000, 9010)]),
    );
    assert.equal(origin.requests.at(-1)!.headers.range, "bytes=100-149,150-199,9000-9009");
  }, { ranges: true, multiRange: "coalesce" });
});
