/**
 * Image bodies over HTTP (lib/shell/http.ts through downloadResumable):
 * progress, empty and chunked bodies, no decoding, sizes and digests.
 */
import { assert, assertRejectsTako } from "../../support/assert.ts";
import type { Behaviour } from "../../support/origin_server.ts";
import {
  BIG,
  download,
  downloadImage,
  EMPTY,
  MIB,
  PHANTOM,
  sha256,
  SMALL,
  stored,
  storeNames,
  withOrigin,
} from "./_http_fixture.ts";

Deno.test("`downloadResumable()` writes the image across both buffers and reports progress", async () => {
  await withOrigin(async (f) => {
    const progress: [number, number][] = [];
    await download(f, BIG, (received, total) => progress.push([received, total]));
    assert.equal(sha256(await stored(f, BIG)), sha256(BIG));
    assert.deepEqual(progress.at(-1), [BIG.length, BIG.length]);
    assert.ok(progress.every(([r], i) => i === 0 || r > progress[i - 1]![0]), "progress must grow");
    const [request] = f.origin.requestsFor(`/store/${sha256(BIG)}`);
    assert.equal(request?.headers["accept-encoding"], "identity");
  });
});

Deno.test("`downloadResumable()` handles an empty image", async () => {
  await withOrigin(async (f) => {
    await download(f, EMPTY);
    assert.equal((await stored(f, EMPTY)).length, 0);
  });
});

Deno.test("`downloadResumable()` reads an origin below a path, with a chunked body", async () => {
  await withOrigin(async (f) => {
    await Deno.mkdir(`${f.dir}/origin/app/store`, { recursive: true });
    await Deno.copyFile(
      `${f.dir}/origin/store/${sha256(SMALL)}`,
      `${f.dir}/origin/app/store/${sha256(SMALL)}`,
    );
    f.origin.behave(`/app/store/${sha256(SMALL)}`, { contentLength: "none" });
    await downloadImage(f, `${f.origin.url}/app/`, sha256(SMALL), SMALL.length);
    assert.deepEqual(await stored(f, SMALL), SMALL);
  });
});

// ---------------------------------------------------------------- encodings and sizes

Deno.test("`downloadResumable()` never decodes: gzip on the fly fails, a stored .gz is kept as sent", async () => {
  await withOrigin(async (f) => {
    f.origin.behave(`/store/${sha256(SMALL)}`, { gzip: true });
    await assertRejectsTako(() => download(f, SMALL), "integrity", sha256(SMALL));
    assert.equal(f.origin.requests[0]?.headers["accept-encoding"], "identity");

    // A publisher stored gzip bytes and the server labels them: the signed bytes are the gzip bytes.
    const gz = new Uint8Array(
      await new Response(new Blob([SMALL]).stream().pipeThrough(new CompressionStream("gzip")))
        .arrayBuffer(),
    );
    await Deno.writeFile(`${f.dir}/origin/store/${sha256(gz)}`, gz);
    f.origin.behave(`/store/${sha256(gz)}`, { headers: { "content-encoding": "gzip" } });
    await downloadImage(f, f.origin.url, sha256(gz), gz.length);
    assert.deepEqual(await stored(f, gz), gz);
  });
});

Deno.test("`downloadResumable()` rejects a Content-Length other than the size before reading the body", async () => {
  await withOrigin(async (f) => {
    const cases: [number, number][] = [[1000, 64 * MIB], [100 * MIB, 64 * MIB]];
    for (const [size, announced] of cases) {
      f.origin.clear();
      // An endless body: whatever is read beyond the socket buffers would show in bytesSent.
      f.origin.behave(`/store/${PHANTOM}`, { body: "", endless: true, contentLength: announced });
      await assertRejectsTako(
        () => downloadImage(f, f.origin.url, PHANTOM, size),
        "integrity",
        `announces ${announced} bytes`,
        `lists ${size}`,
      );
      assert.deepEqual(await storeNames(f), []);
      const sent = f.origin.requestsFor(`/store/${PHANTOM}`)[0]?.bytesSent ?? 0;
      assert.ok(sent < 16 * MIB, `the server pushed ${sent} bytes`);
    }
  });
});

Deno.test("`downloadResumable()` rejects bodies shorter than the size", async () => {
  await withOrigin(async (f) => {
    // Announced in full but broken off: the connection failed.
    f.origin.behave(`/store/${sha256(SMALL)}`, { truncateAt: 500 });
    await assertRejectsTako(() => download(f, SMALL), "runtime", "broke off", f.origin.url);
    // Chunked and ended cleanly: the origin sent too little.
    f.origin.behave(`/store/${sha256(SMALL)}`, { truncateAt: 500, contentLength: "none" });
    await assertRejectsTako(
      () => download(f, SMALL),
      "integrity",
      "ended after 500 of the 1000 bytes",
    );
  });
});

Deno.test("`downloadResumable()` rejects more bytes than the size and stops reading", async () => {
  await withOrigin(async (f) => {
    const cases: Behaviour[] = [
      { extraBytes: 1, contentLength: "none" },
      { endless: true },
    ];
    for (const behaviour of cases) {
      f.origin.behave(`/store/${sha256(SMALL)}`, behaviour);
      await assertRejectsTako(() => download(f, SMALL), "integrity", "more than the 1000 bytes");
      assert.deepEqual(await storeNames(f), [], "nothing of a refused body is kept");
      const sent = f.origin.requestsFor(`/store/${sha256(SMALL)}`).at(-1)!.bytesSent;
      assert.ok(sent < 16 * MIB, `the server sent ${sent} bytes`);
    }
    // Announced up front: refused before the body.
    f.origin.behave(`/store/${sha256(SMALL)}`, { extraBytes: 5 });
    await assertRejectsTako(() => download(f, SMALL), "integrity", "announces 1005 bytes");
  });
});

Deno.test("`downloadResumable()` rejects a wrong digest and an HTML page served with 200", async () => {
  await withOrigin(async (f) => {
    const forged = new Uint8Array(SMALL);
    forged[999] = forged[999]! ^ 1;
    f.origin.behave(`/store/${sha256(SMALL)}`, { body: forged });
    const e = await assertRejectsTako(
      () => download(f, SMALL),
      "integrity",
      "SHA-256",
      sha256(SMALL),
    );
    assert.ok(e.message.includes(sha256(forged)));
    f.origin.behave(`/store/${sha256(SMALL)}`, {
      body: "<html>Welcome</html>",
      contentLength: "none",
    });
    await assertRejectsTako(
      () => download(f, SMALL),
      "integrity",
      "ended after 20 of the 1000 bytes",
    );
  });
});
