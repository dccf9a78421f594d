/**
 * lib/origin.ts: conditional manifest requests (If-None-Match,
 * If-Modified-Since, 304) and resumed image downloads (Range, If-Range, 206,
 * 416), against the test origin and a python-like origin that knows only
 * Last-Modified.
 */
import { createHash } from "node:crypto";
import { assert, assertRejectsTako } from "../../support/assert.ts";
import { startOrigin, type TestOrigin } from "../../support/origin_server.ts";
import {
  downloadImage,
  fetchManifestIfChanged,
  keptValidators,
  type NetOptions,
  rangeValidator,
} from "../../../lib/shell/origin.ts";

const NET: NetOptions = { connectTimeoutMs: 2000, idleTimeoutMs: 2000, maxRedirects: 5 };
const CAP = { ...NET, maxBytes: 64 * 1024 };
const MANIFEST = new TextEncoder().encode("Tako Manifest 1\n\n\nsignature\n");
const IMAGE = new Uint8Array(300_000).map((_, i) => (i * 7 + (i >> 9)) & 0xff);
const SHA = createHash("sha256").update(IMAGE).digest("hex");
const HOUR_AGO = new Date(Date.now() - 3600_000);

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

function hashOf(data: Uint8Array) {
  return createHash("sha256").update(data);
}

interface Fixture {
  readonly dir: string;
  readonly origin: TestOrigin;
  readonly filePath: string;
}

async function withOrigin(ranges: boolean, fn: (f: Fixture) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tako-origin-resume-test-" });
  try {
    await Deno.mkdir(`${dir}/origin/store`, { recursive: true });
    await Deno.writeFile(`${dir}/origin/manifest`, MANIFEST);
    await Deno.writeFile(`${dir}/origin/store/${SHA}`, IMAGE);
    // Older than the response's Date, so Last-Modified is a validator worth keeping.
    await Deno.utime(`${dir}/origin/manifest`, HOUR_AGO, HOUR_AGO);
    await Deno.utime(`${dir}/origin/store/${SHA}`, HOUR_AGO, HOUR_AGO);
    const origin = await startOrigin(`${dir}/origin`, { ranges });
    try {
      await fn({ dir, origin, filePath: `${dir}/partial` });
    } finally {
      await origin.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A file holding the first `n` bytes of the image, open for writing at its end. */
async function partialFile(path: string, n: number): Promise<Deno.FsFile> {
  await Deno.writeFile(path, IMAGE.subarray(0, n));
  const file = await Deno.open(path, { read: true, write: true });
  await file.seek(n, Deno.SeekMode.Start);
  return file;
}

// ---------------------------------------------------------------- validators

Deno.test("`keptValidators()` keeps an ETag, and a Last-Modified only when a second older than Date", () => {
  const date = "Tue, 14 Nov 2023 22:13:20 GMT";
  const table: [string, Record<string, string>, unknown][] = [
    ["ETag only", { etag: '"a"' }, { etag: '"a"', lastModified: undefined }],
    ["weak ETag", { etag: 'W/"a"' }, { etag: 'W/"a"', lastModified: undefined }],
    ["older Last-Modified", { "last-modified": "Tue, 14 Nov 2023 22:13:19 GMT", date }, {
      etag: undefined,
      lastModified: "Tue, 14 Nov 2023 22:13:19 GMT",
    }],
    ["Last-Modified in the second of the answer", { "last-modified": date, date }, undefined],
    [
      "Last-Modified after the answer",
      { "last-modified": "Tue, 14 Nov 2023 22:13:25 GMT", date },
      undefined,
    ],
    ["Last-Modified without Date", { "last-modified": "Tue, 14 Nov 2023 22:13:19 GMT" }, undefined],
    ["unparsable Last-Modified", { "last-modified": "yesterday", date }, undefined],
    ["nothing", {}, undefined],
    ["an overlong ETag", { etag: `"${"x".repeat(300)}"` }, undefined],
  ];
  for (const [name, headers, expected] of table) {
    assert.deepEqual(keptValidators(new Headers(headers)), expected, name);
  }
});

Deno.test("`rangeValidator()` takes a strong ETag, else a strong Last-Modified", () => {
  const date = "Tue, 14 Nov 2023 22:13:20 GMT";
  const old = "Tue, 14 Nov 2023 22:00:00 GMT";
  const table: [Record<string, string>, string | undefined][] = [
    [{ etag: '"a"', "last-modified": old, date }, '"a"'],
    [{ etag: 'W/"a"', "last-modified": old, date }, old],
    [{ etag: 'W/"a"' }, undefined],
    [{ "last-modified": date, date }, undefined],
    [{}, undefined],
  ];
  for (const [headers, expected] of table) {
    assert.equal(rangeValidator(new Headers(headers)), expected, JSON.stringify(headers));
  }
});

// ---------------------------------------------------------------- conditional manifest

Deno.test("`fetchManifestIfChanged()` sends the validators and turns 304 into notModified", async () => {
  await withOrigin(false, async (f) => {
    const first = await fetchManifestIfChanged(f.origin.url, CAP);
    assert.equal(first.notModified, false);
    if (first.notModified) return;
    assert.deepEqual(first.bytes, MANIFEST);
    assert.ok(first.validators?.etag !== undefined, "the test origin sends an ETag");
    assert.equal(first.validators?.lastModified, HOUR_AGO.toUTCString());

    const second = await fetchManifestIfChanged(f.origin.url, {
      ...CAP,
      validators: first.validators,
    });
    assert.deepEqual(second, { notModified: true });
    const [plain, conditional] = f.origin.requestsFor("/manifest");
    assert.equal(plain?.headers["if-none-match"], undefined);
    assert.equal(conditional?.headers["if-none-match"], first.validators?.etag);
    assert.equal(conditional?.headers["if-modified-since"], HOUR_AGO.toUTCString());
    assert.equal(conditional?.status, 304);
    assert.equal(conditional?.bytesSent, 0);

    // A changed manifest has another ETag: the full answer comes back.
    await Deno.writeFile(`${f.dir}/origin/manifest`, new TextEncoder().encode("changed\n"));
    const third = await fetchManifestIfChanged(f.origin.url, {
      ...CAP,
      validators: first.validators,
    });
    assert.equal(third.notModified, false);
  });
});

Deno.test("`fetchManifestIfChanged()` refuses a 304 to an unconditional request", async () => {
  await withOrigin(false, async (f) => {
    f.origin.behave("/manifest", { status: 304 });
    await assertRejectsTako(
      () => fetchManifestIfChanged(f.origin.url, CAP),
      "runtime",
      `${f.origin.url}/manifest answered 304`,
    );
  });
});

Deno.test("`fetchManifestIfChanged()` against a Last-Modified-only origin (like python's http.server)", async () => {
  let modified = "Tue, 14 Nov 2023 22:00:00 GMT";
  let body = "Tako Manifest 1\n";
  const seen: (string | null)[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const since = req.headers.get("if-modified-since");
    seen.push(since);
    if (since !== null && Date.parse(since) >= Date.parse(modified)) {
      return new Response(null, { status: 304 });
    }
    return new Response(body, { headers: { "last-modified": modified } });
  });
  try {
    const url = `http://127.0.0.1:${server.addr.port}`;
    const first = await fetchManifestIfChanged(url, CAP);
    assert.ok(!first.notModified);
    assert.deepEqual(first.validators, { etag: undefined, lastModified: modified });
    const second = await fetchManifestIfChanged(url, { ...CAP, validators: first.validators });
    assert.ok(second.notModified);
    assert.deepEqual(seen, [null, modified]);
    // Published again a second later: the old date no longer holds.
    body = "Tako Manifest 1, changed\n";
    modified = "Tue, 14 Nov 2023 22:00:01 GMT";
    const third = await fetchManifestIfChanged(url, { ...CAP, validators: first.validators });
    assert.ok(!third.notModified);
    assert.equal(new TextDecoder().decode(third.bytes), body);
  } finally {
    await server.shutdown();
  }
});

// ---------------------------------------------------------------- resumed images

Deno.test("`downloadImage()` resumes with Range and If-Range and checks the whole digest", async () => {
  await withOrigin(true, async (f) => {
    const offset = 123_457;
    using file = await partialFile(f.filePath, offset);
    const progress: number[] = [];
    let fullBody = false;
    await downloadImage(f.origin.url, SHA, IMAGE.length, file, {
      ...NET,
      resume: { offset, hash: hashOf(IMAGE.subarray(0, offset)), ifRange: HOUR_AGO.toUTCString() },
      onProgress: (received) => progress.push(received),
      onFullBody: () => {
        fullBody = true;
        return Promise.resolve();
      },
    });
    assert.equal(sha256(await Deno.readFile(f.filePath)), SHA);
    assert.equal(fullBody, false);
    assert.equal(progress.at(-1), IMAGE.length);
    assert.ok(progress[0]! > offset, "progress counts the kept part");
    const [request] = f.origin.requestsFor(`/store/${SHA}`);
    assert.equal(request?.headers.range, `bytes=${offset}-`);
    assert.equal(request?.headers["if-range"], HOUR_AGO.toUTCString());
    assert.equal(request?.status, 206);
    assert.equal(request?.bytesSent, IMAGE.length - offset);
  });
});

Deno.test("`downloadImage()` starts over in the same file when the origin ignores Range or If-Range fails", async () => {
  for (
    const [name, ranges, ifRange] of [
      ["no Range support", false, undefined],
      ["If-Range fails", true, '"another-etag"'],
    ] as const
  ) {
    await withOrigin(ranges, async (f) => {
      const offset = 1000;
      // Kept bytes that are wrong: they must all be replaced.
      await Deno.writeFile(f.filePath, new Uint8Array(offset).fill(0x21));
      using file = await Deno.open(f.filePath, { read: true, write: true });
      await file.seek(offset, Deno.SeekMode.Start);
      const validators: (string | undefined)[] = [];
      await downloadImage(f.origin.url, SHA, IMAGE.length, file, {
        ...NET,
        resume: { offset, hash: hashOf(new Uint8Array(offset).fill(0x21)), ifRange },
        onFullBody: (validator) => {
          validators.push(validator);
          return Promise.resolve();
        },
      });
      assert.equal(sha256(await Deno.readFile(f.filePath)), SHA, name);
      assert.equal(validators.length, 1, name);
      assert.ok(validators[0] !== undefined, `${name}: a validator for next time`);
      const [request] = f.origin.requestsFor(`/store/${SHA}`);
      assert.equal(request?.headers.range, `bytes=${offset}-`, name);
      assert.equal(request?.status, 200, name);
    });
  }
});

Deno.test("`downloadImage()` finds a wrong kept part by the digest of the whole image", async () => {
  await withOrigin(true, async (f) => {
    const offset = 5000;
    const kept = IMAGE.slice(0, offset);
    kept[10] = kept[10]! ^ 1;
    await Deno.writeFile(f.filePath, kept);
    using file = await Deno.open(f.filePath, { read: true, write: true });
    await file.seek(offset, Deno.SeekMode.Start);
    await assertRejectsTako(
      () =>
        downloadImage(f.origin.url, SHA, IMAGE.length, file, {
          ...NET,
          resume: { offset, hash: hashOf(kept), ifRange: undefined },
        }),
      "integrity",
      "resumed at byte 5000",
      SHA,
    );
  });
});

Deno.test("`downloadImage()` refuses a 206 for other bytes than asked, and a 416", async () => {
  const offset = 2000;
  const table: [string, Record<string, unknown>, string][] = [
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
      f.origin.behave(`/store/${SHA}`, behaviour);
      using file = await partialFile(f.filePath, offset);
      await assertRejectsTako(
        () =>
          downloadImage(f.origin.url, SHA, IMAGE.length, file, {
            ...NET,
            resume: { offset, hash: hashOf(IMAGE.subarray(0, offset)), ifRange: undefined },
          }),
        "integrity",
        says,
      ).catch((e) => {
        throw new Error(`${name}: ${e instanceof Error ? e.message : e}`);
      });
    });
  }
});

// ---------------------------------------------------------------- background flush

Deno.test("`downloadImage()` flushes through the second handle as it goes, and reports a failed flush", async () => {
  await withOrigin(false, async (f) => {
    let flushes = 0;
    {
      using file = await Deno.open(f.filePath, { write: true, create: true, truncate: true });
      await downloadImage(f.origin.url, SHA, IMAGE.length, file, {
        ...NET,
        backgroundFlush: {
          file: {
            syncData: () => {
              flushes++;
              return Promise.resolve();
            },
          },
          everyBytes: 64 * 1024,
        },
      });
    }
    assert.ok(flushes >= 1, `${flushes} background flushes`);
    assert.equal(sha256(await Deno.readFile(f.filePath)), SHA);

    using file = await Deno.open(f.filePath, { write: true, truncate: true });
    const failing = {
      syncData: () =>
        Promise.reject(Object.assign(new Error("Input/output error"), { code: "EIO" })),
    };
    await assertRejectsTako(
      () =>
        downloadImage(f.origin.url, SHA, IMAGE.length, file, {
          ...NET,
          fileName: "/var/lib/x/store/.partial-x",
          backgroundFlush: { file: failing, everyBytes: 64 * 1024 },
        }),
      "runtime",
      "Cannot flush /var/lib/x/store/.partial-x",
    );
  });
});
