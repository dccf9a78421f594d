/**
 * Black-box tests of delta updates (docs/delta.md): `tako fetch` of a new
 * version into a destination that holds the previous one, against the test
 * origin with and without Range support, with hostile indexes and answers,
 * and killed during the assembly. Every case checks the destination's
 * invariants and the bytes the origin sent.
 *
 * @module
 */
import { takoCommand } from "../../dev/run_tako.ts";
import { IndexBuilder, indexReadLimit } from "../../lib/core/chunk_index.ts";
import { assert } from "../support/assert.ts";
import { type OriginOptions, startOrigin, type TestOrigin } from "../support/origin_server.ts";
import {
  assertOutcome,
  buildOrigin,
  checkInvariants,
  fakeSystemctl,
  type ImageSpec,
  latestDigest,
  sha256Hex,
  writeConfig,
} from "../support/publish.ts";
import { runTako, type TakoResult } from "../../dev/run_tako.ts";
import { concat, noise } from "../support/bytes.ts";

const KiB = 1024;
const SIZE = 2048 * KiB;

const OLD = noise(SIZE, 1);
/** 1.1.0: 100 bytes inserted near the start (everything after shifts), 5 KiB changed near the end. */
const NEW = concat(
  OLD.subarray(0, 3000),
  noise(100, 2),
  OLD.subarray(3000, SIZE - 20 * KiB),
  noise(5 * KiB, 3),
  OLD.subarray(SIZE - 15 * KiB),
);
const V1: ImageSpec = { version: "1.0.0", content: OLD };
const V2: ImageSpec = { version: "1.1.0", content: NEW };
const NEW_SHA = sha256Hex(NEW);

function indexBytes(image: Uint8Array, sha256 = sha256Hex(image)): Uint8Array {
  const builder = new IndexBuilder();
  builder.push(image);
  return builder.finish(sha256);
}

interface DeltaSetup {
  readonly dir: string;
  readonly origin: TestOrigin;
  readonly dest: string;
  fetch(...extra: string[]): Promise<TakoResult>;
  /** Publishes 1.0.0 and 1.1.0 with `index` as 1.1.0's index (default: its real one). */
  publishNew(index?: Uint8Array | null): Promise<void>;
}

/**
 * An origin (Range support as asked) that offers 1.0.0 with its index, and a
 * destination that fetched it; `fn` then publishes 1.1.0 and fetches again.
 */
async function withDelta(
  ranges: boolean | OriginOptions,
  fn: (s: DeltaSetup) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tako-delta-test-" });
  const originDir = `${dir}/origin`;
  await buildOrigin(originDir, [V1]);
  await Deno.writeFile(`${originDir}/store/${sha256Hex(OLD)}.index`, indexBytes(OLD));
  const origin = await startOrigin(originDir, typeof ranges === "boolean" ? { ranges } : ranges);
  try {
    const systemctl = await fakeSystemctl(dir);
    const dest = `${dir}/dest`;
    const config = await writeConfig(`${dir}/app.tako`, {
      origins: [origin.url],
      destination: dest,
    });
    const fetch = (...extra: string[]) =>
      runTako(["fetch", ...extra, config], { env: systemctl.env, cwd: dir });
    assertOutcome(await fetch(), 0);
    assert.equal(await latestDigest(dest), sha256Hex(OLD));
    origin.clear();
    await fn({
      dir,
      origin,
      dest,
      fetch,
      async publishNew(index) {
        await buildOrigin(originDir, [V1, V2]);
        if (index !== null) {
          await Deno.writeFile(`${originDir}/store/${NEW_SHA}.index`, index ?? indexBytes(NEW));
        }
      },
    });
  } finally {
    await origin.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Body bytes the origin sent for the image and for its index. */
function sent(origin: TestOrigin): { image: number; index: number; imageRequests: number } {
  const image = origin.requestsFor(`/store/${NEW_SHA}`);
  const index = origin.requestsFor(`/store/${NEW_SHA}.index`);
  return {
    image: image.reduce((n, r) => n + r.bytesSent, 0),
    index: index.reduce((n, r) => n + r.bytesSent, 0),
    imageRequests: image.length,
  };
}

const INDEX_LENGTH = indexBytes(NEW).length;

async function assertNewImage(dest: string): Promise<void> {
  assert.equal(await latestDigest(dest), NEW_SHA);
  await checkInvariants(dest);
}

Deno.test("a delta update fetches the index and the changed ranges only, and says so", async () => {
  await withDelta(true, async ({ dir, origin, dest, fetch, publishNew }) => {
    await publishNew();
    const result = await fetch();
    assertOutcome(result, 0, "1.1.0: reused", "from local images, downloaded");
    await assertNewImage(dest);
    const bytes = sent(origin);
    assert.equal(bytes.index, INDEX_LENGTH);
    assert.ok(bytes.image <= 32 * KiB, `image bytes sent: ${bytes.image}`);
    // The changed ranges in one multi-range request, answered with parts.
    assert.equal(bytes.imageRequests, 1);
    assert.match(
      origin.requestsFor(`/store/${NEW_SHA}`)[0]!.headers.range ?? "",
      /^bytes=\d+-\d+(,\d+-\d+)+$/,
    );
    // `tako status` tells the same figures: the image's bytes as the origin sent them, less the
    // parts' boundary lines and headers (about 100 bytes a part, as response headers are not counted).
    const status = await runTako(["status", "--json", `${dir}/app.tako`], { cwd: dir });
    const lastDelta = JSON.parse(status.stdout).configs[0].last_delta;
    const imageBytes = lastDelta.downloaded - bytes.index;
    assert.ok(imageBytes < bytes.image && imageBytes > bytes.image - 1024, `${imageBytes}`);
    assert.deepEqual(lastDelta, {
      sha256: NEW_SHA,
      version: "1.1.0",
      size: NEW.length,
      reused: NEW.length - imageBytes,
      downloaded: imageBytes + bytes.index,
      requests: bytes.imageRequests + 1,
    });
    // The index stays beside the image, for the next update to match it without reading it.
    const kept = `${dest}/store/${NEW_SHA}.index`;
    assert.deepEqual(await Deno.readFile(kept), indexBytes(NEW));
    assert.equal((await Deno.stat(kept)).mode! & 0o777, 0o444);
  });
});

Deno.test("a host's first image keeps the origin's index, and the first delta update matches by it, reading only what changed", async () => {
  // 1.1.0 changes three blocks in place, as a block filesystem does.
  const inPlace = OLD.slice();
  for (const block of [3, 200, 411]) inPlace.set(noise(4 * KiB, block), block * 4 * KiB);
  const inPlaceSha = sha256Hex(inPlace);
  await withDelta(true, async ({ dir, origin, dest, fetch }) => {
    // withDelta's first fetch downloaded 1.0.0 in full into the empty destination.
    const kept = `${dest}/store/${sha256Hex(OLD)}.index`;
    assert.deepEqual(await Deno.readFile(kept), indexBytes(OLD));
    assert.equal((await Deno.stat(kept)).mode! & 0o777, 0o444);
    const originDir = `${dir}/origin`;
    await buildOrigin(originDir, [V1, { version: "1.1.0", content: inPlace }]);
    await Deno.writeFile(`${originDir}/store/${inPlaceSha}.index`, indexBytes(inPlace));
    const result = await fetch("--verbose");
    assertOutcome(result, 0);
    assert.equal(await latestDigest(dest), inPlaceSha);
    // Of the local image, only the stretches around the three replaced blocks are read.
    const read = /matched 1 local image\(s\) by their kept index, read 1 \((\d+) bytes;/.exec(
      result.stderr,
    );
    assert.ok(read !== null && Number(read[1]) <= 3 * 3 * 4 * KiB, result.stderr);
    const fetched = origin.requestsFor(`/store/${inPlaceSha}`).reduce((n, r) => n + r.bytesSent, 0);
    assert.ok(fetched >= 3 * 4 * KiB && fetched < 4 * 4 * KiB, `${fetched} bytes`);
    await checkInvariants(dest);
  });
  // A later full download (a delta was tried and fell back) fetches no second index.
  await withDelta(true, async ({ origin, dest, fetch, publishNew }) => {
    const real = indexBytes(NEW);
    await publishNew(real.subarray(0, real.length - 8));
    assertOutcome(await fetch(), 0);
    await assertNewImage(dest);
    assert.equal(origin.requestsFor(`/store/${NEW_SHA}.index`).length, 1);
    await assert.rejects(() => Deno.stat(`${dest}/store/${NEW_SHA}.index`));
  });
});

Deno.test("a host's first image keeps no index that is not its own, nor one too large", async () => {
  const real = indexBytes(OLD);
  const foreign = indexBytes(OLD, "0".repeat(64));
  const huge = new Uint8Array(real.length + 1024 * KiB);
  huge.set(real);
  for (const index of [foreign, huge, real.subarray(0, 40)]) {
    const dir = await Deno.makeTempDir({ prefix: "tako-delta-test-" });
    try {
      const originDir = `${dir}/origin`;
      await buildOrigin(originDir, [V1]);
      await Deno.writeFile(`${originDir}/store/${sha256Hex(OLD)}.index`, index);
      const origin = await startOrigin(originDir, { ranges: true });
      try {
        const dest = `${dir}/dest`;
        const config = await writeConfig(`${dir}/app.tako`, {
          origins: [origin.url],
          destination: dest,
        });
        const result = await runTako(["fetch", "--json", config], { cwd: dir });
        assert.equal(result.code, 0, result.stderr);
        assert.equal(await latestDigest(dest), sha256Hex(OLD));
        await assert.rejects(() => Deno.stat(`${dest}/store/${sha256Hex(OLD)}.index`));
        await checkInvariants(dest);
        // The image, and of the index at most what its signed size allows (plus the byte that
        // shows it is longer).
        const received = JSON.parse(result.stdout).configs[0].bytes_downloaded;
        assert.ok(received <= OLD.length + indexReadLimit(OLD.length) + 1, `${received} bytes`);
      } finally {
        await origin.close();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("--no-delta downloads in full without asking for the index", async () => {
  await withDelta(true, async ({ origin, dest, fetch, publishNew }) => {
    await publishNew();
    assertOutcome(await fetch("--no-delta"), 0);
    await assertNewImage(dest);
    const bytes = sent(origin);
    assert.equal(bytes.index, 0);
    assert.equal(origin.requestsFor(`/store/${NEW_SHA}.index`).length, 0);
    assert.equal(bytes.image, NEW.length);
  });
});

Deno.test("an origin without the index, or without Range support, costs at most the image and index", async () => {
  await withDelta(true, async ({ origin, dest, fetch, publishNew }) => {
    await publishNew(null);
    assertOutcome(await fetch(), 0);
    await assertNewImage(dest);
    assert.equal(sent(origin).image, NEW.length);
  });
  // The test origin ignores Range unless asked, like python's http.server: 200 to the
  // multi-range request (dropped unread), then 200 to the first single range, taken as the image.
  await withDelta(false, async ({ origin, dest, fetch, publishNew }) => {
    await publishNew();
    const result = await fetch("--json");
    assert.equal(result.code, 0, result.stderr);
    await assertNewImage(dest);
    const ranges = origin.requestsFor(`/store/${NEW_SHA}`).map((r) => r.headers.range ?? "");
    assert.equal(ranges.length, 2, "nothing is asked after the whole image came");
    assert.match(ranges[0]!, /,/);
    assert.doesNotMatch(ranges[1]!, /,/);
    const received = JSON.parse(result.stdout).configs[0].bytes_downloaded;
    assert.ok(received <= NEW.length + INDEX_LENGTH, `${received} bytes`);
  });
});

Deno.test("hostile indexes give the signed image, with the bytes bounded", async () => {
  const real = indexBytes(NEW);
  const truncated = real.subarray(0, real.length - 8);
  const otherDigest = indexBytes(NEW, "0".repeat(64));
  // Every block claims to be one of 1.0.0's: all are "found" locally, none is right.
  const lookalike = concat(OLD, OLD.subarray(OLD.length - (NEW.length - OLD.length)));
  const crafted = indexBytes(lookalike, NEW_SHA);
  const huge = new Uint8Array(real.length + 1024 * KiB);
  huge.set(real);
  for (
    const [what, index, said] of [
      ["truncated", truncated, `has ${truncated.length} bytes; a version-2 index of`],
      ["another image's", otherDigest, `describes the image ${"0".repeat(64)}, not ${NEW_SHA}`],
      ["crafted", crafted, "the index matched wrong local bytes"],
      ["huge", huge, `bytes an index of this image has`],
    ] as const
  ) {
    await withDelta(true, async ({ origin, dest, fetch, publishNew }) => {
      await publishNew(index);
      assertOutcome(await fetch(), 0, said);
      await assertNewImage(dest);
      // The index is read up to its exact length at most; the image costs its size at most.
      assert.ok(sent(origin).image <= NEW.length, `${what}: ${sent(origin).image} image bytes`);
    });
  }
});

Deno.test("a 206 with the wrong Content-Range falls back to a full download", async () => {
  // Single ranges only (as S3): the multi-range request, then the first range, answered wrongly.
  await withDelta(
    { ranges: true, multiRange: "whole" },
    async ({ origin, dest, fetch, publishNew }) => {
      await publishNew();
      origin.behave(`/store/${NEW_SHA}`, {
        headers: { "content-range": `bytes 0-99/${NEW.length}` },
        times: 2,
      });
      const result = await fetch("--json");
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /Content-Range/);
      await assertNewImage(dest);
      // The attempt's bytes count with the full download's: the index, and no range body.
      const received = JSON.parse(result.stdout).configs[0].bytes_downloaded;
      assert.equal(received, NEW.length + INDEX_LENGTH);
      // The index the attempt fetched is kept beside the image, for the next update to join.
      assert.deepEqual(await Deno.readFile(`${dest}/store/${NEW_SHA}.index`), indexBytes(NEW));
      assert.equal(sent(origin).index, INDEX_LENGTH, "the index was fetched once");
    },
  );
});

Deno.test("a delta that finds nothing to reuse downloads in full and keeps the index it fetched", async () => {
  await withDelta(true, async ({ dir, origin, dest, fetch }) => {
    // 1.1.0 shares no block with 1.0.0.
    const other = noise(SIZE, 77);
    const otherSha = sha256Hex(other);
    await buildOrigin(`${dir}/origin`, [V1, { version: "1.1.0", content: other }]);
    await Deno.writeFile(`${dir}/origin/store/${otherSha}.index`, indexBytes(other));
    const result = await fetch("--json");
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /No block of it is in the local images/);
    assert.equal(await latestDigest(dest), otherSha);
    await checkInvariants(dest);
    const indexLength = indexBytes(other).length;
    assert.equal(JSON.parse(result.stdout).configs[0].bytes_downloaded, SIZE + indexLength);
    assert.deepEqual(await Deno.readFile(`${dest}/store/${otherSha}.index`), indexBytes(other));
    assert.equal(origin.requestsFor(`/store/${otherSha}.index`).length, 1);
  });
});

Deno.test("kill -9 during the assembly leaves nothing final; the next run completes", async () => {
  await withDelta(true, async ({ dir, origin, dest, publishNew }) => {
    await publishNew();
    origin.behave(`/store/${NEW_SHA}`, { stallAtByte: 10, times: 1 });
    const child = (await takoCommand(["fetch", `${dir}/app.tako`], { cwd: dir })).spawn();
    const deadline = Date.now() + 20_000;
    while (!origin.requestsFor(`/store/${NEW_SHA}`).some((r) => r.bytesSent >= 10)) {
      assert.ok(Date.now() < deadline, "the range request never came");
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill("SIGKILL");
    await child.output();
    const names = (await Array.fromAsync(Deno.readDir(`${dest}/store`))).map((e) => e.name);
    assert.ok(!names.includes(NEW_SHA), "no final file of the new image");
    assert.equal(await latestDigest(dest), sha256Hex(OLD));
    const again = await runTako(["fetch", `${dir}/app.tako`], { cwd: dir });
    assertOutcome(again, 0);
    await assertNewImage(dest);
  });
});

Deno.test("the next update matches by the index kept beside the image; a tampered one costs only bytes", async () => {
  // 1.2.0: 1.1.0 with two blocks changed in place (a block filesystem's update).
  const third = NEW.slice();
  third.set(noise(4 * KiB, 5), 40 * 4096);
  third.set(noise(4 * KiB, 6), 300 * 4096);
  const thirdSha = sha256Hex(third);
  for (const tamper of [false, true]) {
    await withDelta(true, async ({ dir, origin, dest, fetch, publishNew }) => {
      await publishNew();
      assertOutcome(await fetch(), 0);
      const kept = `${dest}/store/${NEW_SHA}.index`;
      if (tamper) {
        // 1.2.0's entries under 1.1.0's header: the two changed blocks are claimed to be local.
        const lie = indexBytes(third, NEW_SHA);
        await Deno.chmod(kept, 0o644);
        await Deno.writeFile(kept, lie);
      }
      await buildOrigin(`${dir}/origin`, [V1, V2, { version: "1.2.0", content: third }]);
      await Deno.writeFile(`${dir}/origin/store/${thirdSha}.index`, indexBytes(third));
      origin.clear();
      const result = await fetch("--json");
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /1\.2\.0: reused/);
      // `fetch --json` carries the same figures as the log line.
      const entry = JSON.parse(result.stdout).configs[0];
      assert.equal(entry.delta.reused + entry.delta.downloaded > third.length, true);
      assert.equal(entry.bytes_downloaded, entry.delta.downloaded);
      assert.equal(await latestDigest(dest), thirdSha);
      await checkInvariants(dest);
      const image = origin.requestsFor(`/store/${thirdSha}`).reduce((n, r) => n + r.bytesSent, 0);
      // The lie is caught by the digest: the image is then fetched, once, and never wrong; the
      // lying index is dropped, so that it misleads no later update.
      const bound = tamper ? third.length : 16 * KiB;
      assert.ok(image <= bound, `tamper=${tamper}: ${image} image bytes`);
      assert.equal(await Deno.stat(kept).then(() => true, () => false), !tamper);
    });
  }
});

Deno.test("an origin that serves single ranges only (S3) costs one dropped answer, then is remembered", async () => {
  await withDelta(
    { ranges: true, multiRange: "whole" },
    async ({ dir, origin, dest, fetch, publishNew }) => {
      await publishNew();
      const result = await fetch("--json");
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /1\.1\.0: reused/);
      await assertNewImage(dest);
      const asked = origin.requestsFor(`/store/${NEW_SHA}`);
      assert.equal(asked[0]!.status, 200);
      assert.ok(asked.slice(1).every((r) => r.status === 206 && !r.headers.range!.includes(",")));
      const delta = JSON.parse(result.stdout).configs[0].delta;
      assert.ok(delta.downloaded <= NEW.length + INDEX_LENGTH && delta.downloaded < 64 * KiB);
      const state = JSON.parse(await Deno.readTextFile(`${dest}/.state`));
      assert.ok(!Number.isNaN(Date.parse(state.multiRangeRefused[origin.url])), "refusal kept");
      // The next update asks single ranges only: no answer dropped.
      const third = NEW.slice();
      third.set(noise(4 * KiB, 7), 100 * 4096);
      third.set(noise(4 * KiB, 8), 400 * 4096);
      await buildOrigin(`${dir}/origin`, [V1, V2, { version: "1.2.0", content: third }]);
      await Deno.writeFile(`${dir}/origin/store/${sha256Hex(third)}.index`, indexBytes(third));
      origin.clear();
      assertOutcome(await fetch(), 0, "1.2.0: reused");
      const next = origin.requestsFor(`/store/${sha256Hex(third)}`);
      assert.ok(next.length >= 2 && next.every((r) => r.status === 206), JSON.stringify(next));
      assert.ok(next.every((r) => !r.headers.range!.includes(",")));
    },
  );
});
