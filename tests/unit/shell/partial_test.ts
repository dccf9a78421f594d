/**
 * lib/shell/partial.ts: resumed image downloads (Range, If-Range, 206, 416)
 * against the test origin, and the cleaning of stale partials. (Kills and
 * timeouts mid-download are tested end to end in tests/cli/fetch_resume_test.ts.)
 */
import { createHash } from "node:crypto";
import { type PartialRecord, serializePartialRecord } from "../../../lib/core/partial_record.ts";
import type { NetOptions } from "../../../lib/shell/http.ts";
import { downloadResumable } from "../../../lib/shell/partial.ts";
import { dropPartials } from "../../../lib/shell/partial_files.ts";
import { assert, assertRejectsTako } from "../../support/assert.ts";
import { type Behaviour, startOrigin, type TestOrigin } from "../../support/origin_server.ts";

const SHA_ONE = "1".repeat(64);
const SHA_TWO = "2".repeat(64);
const RECORD: PartialRecord = {
  size: 12_345_678,
  url: `https://images.example.com/app/store/${SHA_ONE}`,
  validator: '"5f-18c2d"',
};

Deno.test("`dropPartials()` removes partials and records except those of the image kept", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tako-partial-test-" });
  try {
    const keep = [
      SHA_ONE,
      `.tmp-0123`,
      `.partial-dir`,
      `README`,
      `.partial-${SHA_TWO}`,
      `.partial-${SHA_TWO}.json`,
    ];
    for (const name of keep.filter((n) => n !== ".partial-dir")) {
      await Deno.writeTextFile(`${dir}/${name}`, "x");
    }
    await Deno.mkdir(`${dir}/.partial-dir`);
    await Deno.writeTextFile(`${dir}/.partial-${SHA_ONE}`, "half an image");
    await Deno.writeTextFile(`${dir}/.partial-${SHA_ONE}.json`, serializePartialRecord(RECORD));
    await Deno.symlink("/etc/passwd", `${dir}/.partial-link`);

    assert.equal(await dropPartials(dir, SHA_TWO), 3);
    const names = (await Array.fromAsync(Deno.readDir(dir), (e) => e.name)).sort();
    assert.deepEqual(names, [...keep].sort());
    assert.ok((await Deno.stat("/etc/passwd")).isFile, "a link is removed, not followed");

    assert.equal(await dropPartials(dir), 2, "without an image to keep, every partial goes");
    assert.equal(await dropPartials(`${dir}/missing`), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------- resumed images

const MIB = 1024 * 1024;
const NET: NetOptions = { connectTimeoutMs: 2000, idleTimeoutMs: 2000, maxRedirects: 5 };
/** Partials are kept from 1 MiB on; written in 4 MiB buffers, 10 MiB leave 8 MiB written at a stall. */
const IMAGE = new Uint8Array(10 * MIB).map((_, i) => (i * 7 + (i >> 9)) & 0xff);
const SHA = sha256(IMAGE);
const HOUR_AGO = new Date(Date.now() - 3600_000);

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

interface Fixture {
  readonly origin: TestOrigin;
  /** The destination's store/. */
  readonly store: string;
}

async function withOrigin(ranges: boolean, fn: (f: Fixture) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tako-partial-resume-test-" });
  try {
    await Deno.mkdir(`${dir}/origin/store`, { recursive: true });
    await Deno.mkdir(`${dir}/dest/store`, { recursive: true });
    await Deno.writeFile(`${dir}/origin/store/${SHA}`, IMAGE);
    // Older than the response's Date, so Last-Modified is a validator worth keeping.
    await Deno.utime(`${dir}/origin/store/${SHA}`, HOUR_AGO, HOUR_AGO);
    const origin = await startOrigin(`${dir}/origin`, { ranges });
    try {
      await fn({ origin, store: `${dir}/dest/store` });
    } finally {
      await origin.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Leaves what a broken-off download leaves: `kept` as the partial, and its record. */
async function plantPartial(f: Fixture, kept: Uint8Array, validator?: string): Promise<void> {
  await Deno.writeFile(`${f.store}/.partial-${SHA}`, kept, { mode: 0o600 });
  const url = `${f.origin.url}/store/${SHA}`;
  const record = serializePartialRecord({ size: IMAGE.length, url, validator });
  await Deno.writeTextFile(`${f.store}/.partial-${SHA}.json`, record);
}

function download(f: Fixture, extra: {
  onProgress?: (received: number) => void;
  onResume?: (offset: number) => void;
  onRestart?: (reason: string) => void;
} = {}): Promise<void> {
  return downloadResumable({
    storeDir: f.store,
    origin: f.origin.url,
    sha256: SHA,
    size: IMAGE.length,
    net: NET,
    ...extra,
  });
}

async function storeNames(f: Fixture): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(f.store), (e) => e.name)).sort();
}

Deno.test("`downloadResumable()` resumes with Range and If-Range and checks the whole digest", async () => {
  await withOrigin(true, async (f) => {
    const offset = MIB + 123_457;
    await plantPartial(f, IMAGE.subarray(0, offset), HOUR_AGO.toUTCString());
    const progress: number[] = [];
    const resumed: number[] = [];
    await download(f, {
      onProgress: (received) => progress.push(received),
      onResume: (at) => resumed.push(at),
    });
    assert.equal(sha256(await Deno.readFile(`${f.store}/${SHA}`)), SHA);
    assert.deepEqual(resumed, [offset]);
    assert.deepEqual(await storeNames(f), [SHA], "the partial and its record are gone");
    assert.equal(progress.at(-1), IMAGE.length);
    assert.ok(progress[0]! > offset, "progress counts the kept part");
    const [request] = f.origin.requestsFor(`/store/${SHA}`);
    assert.equal(request?.headers.range, `bytes=${offset}-`);
    assert.equal(request?.headers["if-range"], HOUR_AGO.toUTCString());
    assert.equal(request?.status, 206);
    assert.equal(request?.bytesSent, IMAGE.length - offset);
  });
});

Deno.test("`downloadResumable()` starts over in the same file when the origin ignores Range or If-Range fails", async () => {
  for (
    const [name, ranges, ifRange] of [
      ["no Range support", false, undefined],
      ["If-Range fails", true, '"another-etag"'],
    ] as const
  ) {
    await withOrigin(ranges, async (f) => {
      const offset = MIB + 1000;
      // Kept bytes that are wrong: they must all be replaced.
      await plantPartial(f, new Uint8Array(offset).fill(0x21), ifRange);
      // The whole answer stalls after 9 MiB: what is left behind is the new download, with its record.
      f.origin.behave(`/store/${SHA}`, { stallAtByte: 9 * MIB, times: 1 });
      await assertRejectsTako(
        () =>
          downloadResumable({
            storeDir: f.store,
            origin: f.origin.url,
            sha256: SHA,
            size: IMAGE.length,
            net: { ...NET, idleTimeoutMs: 300 },
          }),
        "runtime",
        "No data from",
      );
      const [request] = f.origin.requestsFor(`/store/${SHA}`);
      assert.equal(request?.headers.range, `bytes=${offset}-`, name);
      assert.equal(request?.status, 200, name);
      const kept = await Deno.readFile(`${f.store}/.partial-${SHA}`);
      assert.deepEqual(kept, IMAGE.subarray(0, kept.length), `${name}: rewritten from byte 0`);
      const record = JSON.parse(await Deno.readTextFile(`${f.store}/.partial-${SHA}.json`));
      assert.ok(record.validator !== undefined, `${name}: a validator for next time`);
      // The next run continues that download, with its validator.
      await download(f);
      assert.equal(sha256(await Deno.readFile(`${f.store}/${SHA}`)), SHA, name);
      assert.equal(f.origin.requestsFor(`/store/${SHA}`)[1]?.headers["if-range"], record.validator);
    });
  }
});

Deno.test("`downloadResumable()` finds a wrong kept part by the digest of the whole image, and downloads it again in full", async () => {
  await withOrigin(true, async (f) => {
    const offset = MIB + 5000;
    const kept = IMAGE.slice(0, offset);
    kept[10] = kept[10]! ^ 1;
    await plantPartial(f, kept);
    const restarts: string[] = [];
    await download(f, { onRestart: (reason) => restarts.push(reason) });
    assert.equal(restarts.length, 1);
    assert.ok(restarts[0]!.includes(`resumed at byte ${offset}`) && restarts[0]!.includes(SHA));
    assert.equal(sha256(await Deno.readFile(`${f.store}/${SHA}`)), SHA);
    const requests = f.origin.requestsFor(`/store/${SHA}`);
    assert.deepEqual(requests.map((r) => [r.headers.range, r.status]), [
      [`bytes=${offset}-`, 206],
      [undefined, 200],
    ]);
  });
});

Deno.test("`downloadResumable()` refuses a 206 for other bytes than asked, and a 416", async () => {
  const offset = MIB + 2000;
  const table: [string, Behaviour, string][] = [
    ["wrong start", {
      status: 206,
      body: IMAGE.subarray(offset + 1),
      headers: { "content-range": `bytes ${offset + 1}-${IMAGE.length - 1}/${IMAGE.length}` },
    }, "expected"],
    ["wrong total", {
      status: 206,
      body: IMAGE.subarray(offset),
      headers: { "content-range": `bytes ${offset}-${IMAGE.length - 1}/${IMAGE.length + 1}` },
    }, "expected"],
    ["no Content-Range", { status: 206, body: IMAGE.subarray(offset) }, "expected"],
    ["416", { status: 416 }, "416"],
  ];
  for (const [name, behaviour, says] of table) {
    await withOrigin(true, async (f) => {
      // The ranged answer misbehaves; the download in full that follows gets the image.
      f.origin.behave(`/store/${SHA}`, { ...behaviour, times: 1 });
      await plantPartial(f, IMAGE.subarray(0, offset));
      const restarts: string[] = [];
      await download(f, { onRestart: (reason) => restarts.push(reason) });
      assert.equal(restarts.length, 1, name);
      assert.ok(restarts[0]!.includes(says), `${name}: ${restarts[0]}`);
      assert.equal(sha256(await Deno.readFile(`${f.store}/${SHA}`)), SHA, name);
      assert.deepEqual(await storeNames(f), [SHA], `${name}: no partial left`);
    });
  }
});
