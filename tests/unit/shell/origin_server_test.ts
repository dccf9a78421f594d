import { BOUNDARY, multipartBody } from "../../support/multipart.ts";
import { assert } from "../../support/assert.ts";
import {
  type Behaviour,
  OriginHandler,
  type OriginOptions,
  startOrigin,
} from "../../support/origin_server.ts";

const TEXT = "0123456789abcdefghij";
const BASE = "http://origin.test";

/** A handler (no socket) over a directory holding `manifest` with TEXT. */
async function withHandler(
  fn: (h: OriginHandler) => Promise<void>,
  options: OriginOptions = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tako-origin-server-test-" });
  const handler = new OriginHandler(dir, options);
  try {
    await Deno.writeTextFile(`${dir}/manifest`, TEXT);
    await fn(handler);
  } finally {
    handler.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

function get(h: OriginHandler, path: string, headers: Record<string, string> = {}, method = "GET") {
  return h.handle(new Request(`${BASE}${path}`, { method, headers }));
}

async function text(response: Response): Promise<string> {
  return await response.text();
}

Deno.test("`OriginHandler` serves files with length and validators, HEAD without a body, 404 otherwise", async () => {
  await withHandler(async (h) => {
    const ok = await get(h, "/manifest");
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("content-length"), "20");
    assert.match(ok.headers.get("etag") ?? "", /^"[0-9a-f]+-[0-9a-f]+"$/);
    assert.equal(await text(ok), TEXT);

    const head = await get(h, "/manifest", {}, "HEAD");
    assert.equal(head.status, 200);
    assert.equal(head.body, null);

    for (const path of ["/nothing", "/%2e%2e/etc/passwd", "/", "/store/"]) {
      const missing = await get(h, path);
      assert.equal(missing.status, 404, path);
      await missing.body?.cancel();
    }
    const post = await get(h, "/manifest", {}, "POST");
    assert.equal(post.status, 405);
    await post.body?.cancel();
  });
});

Deno.test("`OriginHandler` logs method, path and the selected headers", async () => {
  await withHandler(async (h) => {
    await (await get(h, "/manifest", {
      "accept-encoding": "identity",
      range: "bytes=1-",
      "x-other": "1",
    })).body?.cancel();
    assert.deepEqual(
      h.requests.map(({ method, path, headers, status }) => ({ method, path, headers, status })),
      [
        {
          method: "GET",
          path: "/manifest",
          headers: { "accept-encoding": "identity", range: "bytes=1-" },
          status: 200,
        },
      ],
    );
    h.clear();
    assert.equal(h.requests.length, 0);
  });
});

Deno.test("`OriginHandler` answers If-None-Match with 304", async () => {
  await withHandler(async (h) => {
    const first = await get(h, "/manifest");
    await first.body?.cancel();
    const etag = first.headers.get("etag")!;
    const again = await get(h, "/manifest", { "if-none-match": etag });
    assert.equal(again.status, 304);
    assert.equal(again.body, null);
    const changed = await get(h, "/manifest", { "if-none-match": '"other"' });
    assert.equal(changed.status, 200);
    await changed.body?.cancel();
  });
});

Deno.test("`OriginHandler` ignores Range unless ranges are enabled", async () => {
  await withHandler(async (h) => {
    const response = await get(h, "/manifest", { range: "bytes=2-5" });
    assert.equal(response.status, 200);
    assert.equal(await text(response), TEXT);
  });
});

Deno.test("`OriginHandler` with ranges serves 206, 416 and honours If-Range", async () => {
  await withHandler(async (h) => {
    const etag = (await get(h, "/manifest", {}, "HEAD")).headers.get("etag")!;
    const cases: [Record<string, string>, number, string, string | null][] = [
      [{ range: "bytes=2-5" }, 206, "2345", "bytes 2-5/20"],
      [{ range: "bytes=15-" }, 206, "fghij", "bytes 15-19/20"],
      [{ range: "bytes=-3" }, 206, "hij", "bytes 17-19/20"],
      [{ range: "bytes=18-99" }, 206, "ij", "bytes 18-19/20"],
      [{ range: "bytes=5-", "if-range": etag }, 206, TEXT.slice(5), "bytes 5-19/20"],
      [{ range: "bytes=5-", "if-range": '"stale"' }, 200, TEXT, null],
      [{ range: "bytes=20-" }, 416, "416 Range Not Satisfiable\n", "bytes */20"],
    ];
    for (const [headers, status, body, contentRange] of cases) {
      const response = await get(h, "/manifest", headers);
      assert.equal(response.status, status, JSON.stringify(headers));
      assert.equal(response.headers.get("content-range"), contentRange);
      assert.equal(await text(response), body);
    }
  }, { ranges: true });
});

Deno.test("`OriginHandler` answers multi-range requests with parts, joined parts, or the whole file", async () => {
  const file = new TextEncoder().encode(TEXT);
  const modes = [
    [
      "parts",
      206,
      multipartBody(file, [{ first: 1, last: 2 }, { first: 3, last: 5 }, { first: 9, last: 9 }]),
    ],
    ["coalesce", 206, multipartBody(file, [{ first: 1, last: 5 }, { first: 9, last: 9 }])],
    ["whole", 200, file],
  ] as const;
  for (const [mode, status, body] of modes) {
    await withHandler(async (h) => {
      const response = await get(h, "/manifest", { range: "bytes=1-2,3-5,9-9" });
      assert.equal(response.status, status, mode);
      if (status === 206) {
        assert.equal(
          response.headers.get("content-type"),
          `multipart/byteranges; boundary=${BOUNDARY}`,
        );
      }
      assert.deepEqual(new Uint8Array(await response.arrayBuffer()), body, mode);
    }, { ranges: true, multiRange: mode });
  }
});

Deno.test("`OriginHandler` misbehaves as told: headers and bodies", async () => {
  await withHandler(async (h) => {
    const cases: [Behaviour, number, string | null, string][] = [
      [{ status: 410 }, 410, "9", "410 Gone\n"],
      [{ body: "<html>" }, 200, "6", "<html>"],
      [{ body: "<html>", contentLength: "none" }, 200, null, "<html>"],
      [{ truncateAt: 4, contentLength: "none" }, 200, null, "0123"],
      [{ extraBytes: 2, contentLength: "none" }, 200, null, `${TEXT}XX`],
      [{ extraBytes: 2 }, 200, "22", `${TEXT}XX`],
      [{ stallAtByte: 5, stallMs: 10 }, 200, "20", TEXT],
      [{ dripMs: 1 }, 200, "20", TEXT],
      [{ redirect: "/elsewhere", status: 307 }, 307, "23", "307 Temporary Redirect\n"],
      [{ headers: { "content-encoding": "gzip" } }, 200, "20", TEXT],
    ];
    for (const [behaviour, status, length, body] of cases) {
      h.behave("manifest", behaviour);
      const response = await get(h, "/manifest");
      const what = JSON.stringify(behaviour);
      assert.equal(response.status, status, what);
      assert.equal(response.headers.get("content-length"), length, what);
      assert.equal(await text(response), body, what);
      if (behaviour.redirect) assert.equal(response.headers.get("location"), behaviour.redirect);
      if (behaviour.headers) assert.equal(response.headers.get("content-encoding"), "gzip");
    }
  });
});

Deno.test("`OriginHandler` gzips on demand, counts bytes and drips slowly", async () => {
  await withHandler(async (h) => {
    h.behave("/manifest", { gzip: true });
    const zipped = await get(h, "/manifest");
    assert.equal(zipped.headers.get("content-encoding"), "gzip");
    assert.equal(zipped.headers.get("content-length"), null);
    const plain = zipped.body!.pipeThrough(new DecompressionStream("gzip"));
    assert.equal(await new Response(plain).text(), TEXT);
    assert.ok(h.requests[0]!.bytesSent > 0);

    h.behave("/manifest", { dripMs: 20, body: "abcd" });
    const started = performance.now();
    assert.equal(await text(await get(h, "/manifest")), "abcd");
    assert.ok(performance.now() - started >= 55, "three pauses of 20 ms");
    assert.equal(h.requests[1]!.bytesSent, 4);

    // N bytes every M ms: 10 bytes in pieces of 4, with two pauses between the three pieces.
    h.behave("/manifest", { dripMs: 30, dripBytes: 4, body: "0123456789" });
    const response = await get(h, "/manifest");
    assert.equal(response.headers.get("content-length"), "10");
    const pieces: string[] = [];
    const begun = performance.now();
    for await (const piece of response.body!) pieces.push(new TextDecoder().decode(piece));
    assert.deepEqual(pieces, ["0123", "4567", "89"]);
    assert.ok(performance.now() - begun >= 55, "two pauses of 30 ms");
  });
});

Deno.test("`OriginHandler` breaks a body off with an error on reset", async () => {
  await withHandler(async (h) => {
    h.behave("/manifest", { resetAtByte: 3 });
    const reader = (await get(h, "/manifest")).body!.getReader();
    const first = await reader.read();
    assert.equal(new TextDecoder().decode(first.value), "012");
    await assert.rejects(() => reader.read(), /deliberate connection reset/);
  });
});

Deno.test("`OriginHandler` behaviours with `times` wear off", async () => {
  await withHandler(async (h) => {
    h.behave("/manifest", { status: 503, times: 2 });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await get(h, "/manifest");
      statuses.push(response.status);
      await response.body?.cancel();
    }
    assert.deepEqual(statuses, [503, 503, 200]);
  });
});

Deno.test("`OriginHandler.stop()` ends stalls, delays and endless bodies", async () => {
  await withHandler(async (h) => {
    h.behave("/manifest", { stallAtByte: 3 });
    const stalled = (await get(h, "/manifest")).body!.getReader();
    assert.equal((await stalled.read()).value?.length, 3);
    h.behave("/endless", { body: "", endless: true });
    const endless = (await get(h, "/endless")).body!.getReader();
    assert.equal((await endless.read()).done, false);
    h.behave("/late", { delayHeadersMs: Infinity });
    const late = get(h, "/late");
    h.stop();
    assert.equal((await late).status, 503);
    await (await late).body?.cancel();
    assert.equal((await stalled.read()).done, true);
    for (let r = await endless.read(); !r.done; r = await endless.read()) {
      // drain what was queued before the stop
    }
  });
});

Deno.test("`startOrigin()` closes cleanly with a delayed answer and a stalled body pending", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tako-origin-server-test-" });
  try {
    await Deno.writeTextFile(`${dir}/manifest`, TEXT);
    const origin = await startOrigin(dir);
    assert.match(origin.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    origin.behave("/late", { delayHeadersMs: Infinity });
    origin.behave("/manifest", { stallAtByte: 3 });
    const late = fetch(`${origin.url}/late`).then((r) => r.body?.cancel(), () => undefined);
    const response = await fetch(`${origin.url}/manifest`);
    const reader = response.body!.getReader();
    assert.equal(new TextDecoder().decode((await reader.read()).value), "012");
    while (origin.requests.length < 2) await new Promise((r) => setTimeout(r, 5));
    await origin.close();
    await origin.close();
    await late;
    await reader.read().then(() => reader.cancel(), () => undefined);
    assert.deepEqual(origin.requests.map((r) => r.path).sort(), ["/late", "/manifest"]);
    assert.deepEqual(origin.errors, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
