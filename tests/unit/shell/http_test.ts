import { createHash } from "node:crypto";
import { assert, assertRejectsTako } from "../../support/assert.ts";
import {
  type Behaviour,
  createTestCertificate,
  type OriginOptions,
  startOrigin,
  type TestOrigin,
} from "../../support/origin_server.ts";
import {
  DEFAULT_NET_OPTIONS,
  fetchManifestIfChanged,
  type NetOptions,
} from "../../../lib/shell/http.ts";
import { downloadResumable } from "../../../lib/shell/partial.ts";

const MIB = 1024 * 1024;
/** Short limits so that stalls end the tests quickly. */
const NET: NetOptions = { connectTimeoutMs: 300, idleTimeoutMs: 300, maxRedirects: 5 };
const MANIFEST_CAP = { ...NET, maxBytes: 64 * 1024 };

const MANIFEST = new TextEncoder().encode("Tako Manifest 1\n1.0.0 1000 …\nsignature\n");
/** Deterministic bytes that do not compress, so gzip makes them longer. */
function noise(length: number, seed = 1): Uint8Array<ArrayBuffer> {
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
function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

const SMALL = noise(1000);
/** Larger than the copy pump's two 4 MiB buffers, so both are filled and reused. */
const BIG = noise(17 * MIB + 3, 7);
const EMPTY = new Uint8Array(0);
const IMAGES = [SMALL, BIG, EMPTY];
/** A digest with no file behind it, for behaviours that invent the body. */
const PHANTOM = "ab".repeat(32);

interface Fixture {
  readonly dir: string;
  readonly origin: TestOrigin;
  /** The store/ directory images are downloaded into. */
  readonly store: string;
}

/** An origin directory with MANIFEST and IMAGES served on 127.0.0.1, and a store/ to download into. */
async function withOrigin(
  fn: (f: Fixture) => Promise<void>,
  options: OriginOptions = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tako-http-test-" });
  try {
    await Deno.mkdir(`${dir}/origin/store`, { recursive: true });
    await Deno.mkdir(`${dir}/dest/store`, { recursive: true });
    await Deno.writeFile(`${dir}/origin/manifest`, MANIFEST);
    for (const image of IMAGES) await Deno.writeFile(`${dir}/origin/store/${sha256(image)}`, image);
    const origin = await startOrigin(`${dir}/origin`, options);
    try {
      await fn({ dir, origin, store: `${dir}/dest/store` });
    } finally {
      await origin.close();
    }
    assert.deepEqual(origin.errors, [], "the test origin had unexpected errors");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The manifest bytes of an unconditional request. */
async function fetchManifest(
  origin: string,
  options: NetOptions & { maxBytes: number },
): Promise<Uint8Array> {
  const answer = await fetchManifestIfChanged(origin, options);
  assert.ok(!answer.notModified, "no 304 without validators");
  return answer.bytes;
}

/** Downloads `sha256` (of `size` bytes) from `origin` into the fixture's store/, as fetch does. */
function downloadImage(
  f: Fixture,
  origin: string,
  digest: string,
  size: number,
  net: NetOptions = NET,
  onProgress?: (received: number, total: number) => void,
): Promise<void> {
  return downloadResumable({
    storeDir: f.store,
    origin,
    sha256: digest,
    size,
    net,
    ...(onProgress && { onProgress }),
  });
}

function download(
  f: Fixture,
  image: Uint8Array,
  onProgress?: (received: number, total: number) => void,
): Promise<void> {
  return downloadImage(f, f.origin.url, sha256(image), image.length, NET, onProgress);
}

/** The downloaded image. */
function stored(f: Fixture, image: Uint8Array | string): Promise<Uint8Array> {
  return Deno.readFile(`${f.store}/${typeof image === "string" ? image : sha256(image)}`);
}

/** What store/ holds: nothing after a refused download, partials included. */
async function storeNames(f: Fixture): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(f.store))).map((e) => e.name).sort();
}

Deno.test("`DEFAULT_NET_OPTIONS` are 30 s, 60 s and 5 redirects", () => {
  assert.deepEqual({ ...DEFAULT_NET_OPTIONS }, {
    connectTimeoutMs: 30_000,
    idleTimeoutMs: 60_000,
    maxRedirects: 5,
  });
});

// ---------------------------------------------------------------- happy paths

Deno.test("`fetchManifest()` returns the bytes and asks for identity encoding", async () => {
  await withOrigin(async ({ origin }) => {
    for (const url of [origin.url, `${origin.url}/`]) {
      assert.deepEqual(await fetchManifest(url, MANIFEST_CAP), MANIFEST);
    }
    const [first] = origin.requestsFor("/manifest");
    assert.equal(first?.method, "GET");
    assert.equal(first?.headers["accept-encoding"], "identity");
  });
});

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

Deno.test("`fetchManifest()` refuses more than maxBytes", async () => {
  await withOrigin(async ({ origin }) => {
    const options = { ...NET, maxBytes: 100 * 1024 };
    origin.behave("/manifest", { endless: true });
    await assertRejectsTako(
      () => fetchManifest(origin.url, options),
      "integrity",
      "sends more than the 102400 bytes",
    );
    // It stops reading: the server may have queued what the loopback sockets buffer, no more.
    const sent = origin.requestsFor("/manifest")[0]!.bytesSent;
    assert.ok(sent < 16 * MIB, `the server sent ${sent} bytes`);
    origin.behave("/manifest", { body: "", endless: true, contentLength: 64 * MIB });
    await assertRejectsTako(
      () => fetchManifest(origin.url, options),
      "integrity",
      "announces 67108864 bytes, more than",
    );
    // Exactly at the cap is fine.
    origin.behave("/manifest", { body: new Uint8Array(100 * 1024), contentLength: "none" });
    assert.equal((await fetchManifest(origin.url, options)).length, 100 * 1024);
  });
});

// ---------------------------------------------------------------- HTTP errors

Deno.test("HTTP errors are runtime errors naming the URL; 410 on an image is tagged gone", async () => {
  await withOrigin(async (f) => {
    const { origin } = f;
    for (const status of [403, 404, 410, 500, 503]) {
      origin.behave("/manifest", { status });
      const m = await assertRejectsTako(
        () => fetchManifest(origin.url, MANIFEST_CAP),
        "runtime",
        `${origin.url}/manifest answered ${status}`,
      );
      assert.equal(m.tag, undefined);
      origin.behave(`/store/${sha256(SMALL)}`, { status });
      const i = await assertRejectsTako(
        () => download(f, SMALL),
        "runtime",
        `answered ${status}`,
        sha256(SMALL),
      );
      assert.equal(i.tag, status === 410 ? "gone" : undefined);
    }
    const missing = await assertRejectsTako(
      () => downloadImage(f, origin.url, PHANTOM, 1),
      "runtime",
      "answered 404 Not Found",
    );
    assert.equal(missing.tag, undefined);
    assert.deepEqual(await storeNames(f), []);
  });
});

// ---------------------------------------------------------------- redirects

Deno.test("redirects are followed: relative, absolute, every redirect status", async () => {
  await withOrigin(async (f) => {
    const { origin } = f;
    await Deno.mkdir(`${f.dir}/origin/moved`);
    await Deno.copyFile(`${f.dir}/origin/manifest`, `${f.dir}/origin/moved/manifest`);
    for (const status of [301, 302, 303, 307, 308]) {
      origin.clear();
      origin.behave("/manifest", { status, redirect: "moved/manifest" });
      assert.deepEqual(await fetchManifest(origin.url, MANIFEST_CAP), MANIFEST);
      assert.deepEqual(origin.requests.map((r) => r.path), ["/manifest", "/moved/manifest"]);
    }
    origin.behave(`/mirror/store/${sha256(SMALL)}`, {
      redirect: `${origin.url}/store/${sha256(SMALL)}`,
    });
    await downloadImage(f, `${origin.url}/mirror`, sha256(SMALL), SMALL.length);
    assert.deepEqual(await stored(f, SMALL), SMALL);
  });
});

Deno.test("redirects: loops, too many hops, a missing Location and other schemes are refused", async () => {
  await withOrigin(async (f) => {
    const { origin } = f;
    origin.behave("/manifest", { redirect: "/a" });
    origin.behave("/a", { redirect: "/manifest" });
    await assertRejectsTako(
      () => fetchManifest(origin.url, MANIFEST_CAP),
      "runtime",
      "loop",
      `${origin.url}/manifest`,
    );
    const image = `/store/${sha256(SMALL)}`;
    origin.behave(image, { redirect: image });
    await assertRejectsTako(() => download(f, SMALL), "runtime", "loop", `${origin.url}${image}`);
    assert.deepEqual(await storeNames(f), []);

    // A chain of 6 hops: fine with 6 allowed, too many with 5.
    origin.behave("/manifest", { redirect: "/r1" });
    for (let i = 1; i < 6; i++) origin.behave(`/r${i}`, { redirect: `/r${i + 1}` });
    origin.behave("/r6", { body: MANIFEST });
    assert.deepEqual(
      await fetchManifest(origin.url, { ...MANIFEST_CAP, maxRedirects: 6 }),
      MANIFEST,
    );
    await assertRejectsTako(
      () => fetchManifest(origin.url, MANIFEST_CAP),
      "runtime",
      "more than 5 times",
    );

    origin.behave("/manifest", { status: 302 });
    await assertRejectsTako(
      () => fetchManifest(origin.url, MANIFEST_CAP),
      "runtime",
      "302",
      "without a Location",
    );

    origin.behave("/manifest", { redirect: `file://${origin.root}/manifest` });
    await assertRejectsTako(() => fetchManifest(origin.url, MANIFEST_CAP), "runtime", "to file:");
    origin.behave("/manifest", { redirect: "http://[bad" });
    await assertRejectsTako(
      () => fetchManifest(origin.url, MANIFEST_CAP),
      "runtime",
      "invalid location",
    );
  });
});

// ---------------------------------------------------------------- timeouts and broken connections

Deno.test("a server that never answers hits the connect timeout", async () => {
  await withOrigin(async (f) => {
    f.origin.behave("/manifest", { delayHeadersMs: Infinity });
    const started = performance.now();
    await assertRejectsTako(
      () => fetchManifest(f.origin.url, MANIFEST_CAP),
      "runtime",
      "No answer from",
      "within 0.3 s",
    );
    assert.ok(performance.now() - started < 3000);
    f.origin.behave(`/store/${sha256(SMALL)}`, { delayHeadersMs: Infinity });
    await assertRejectsTako(
      () => download(f, SMALL),
      "runtime",
      `No answer from ${f.origin.url}/store/`,
    );
  });
});

Deno.test("a body that stalls hits the idle timeout; a slow drip does not", async () => {
  await withOrigin(async (f) => {
    f.origin.behave("/manifest", { stallAtByte: 10 });
    await assertRejectsTako(
      () => fetchManifest(f.origin.url, MANIFEST_CAP),
      "runtime",
      `No data from ${f.origin.url}/manifest for 0.3 s`,
    );
    f.origin.behave(`/store/${sha256(BIG)}`, { stallAtByte: 9 * MIB });
    await assertRejectsTako(() => download(f, BIG), "runtime", "No data from", "for 0.3 s");
    // What was written of a large image is kept to resume; a small image leaves nothing.
    assert.deepEqual(await storeNames(f), [
      `.partial-${sha256(BIG)}`,
      `.partial-${sha256(BIG)}.json`,
    ]);
    f.origin.behave(`/store/${sha256(SMALL)}`, { stallAtByte: 3 });
    await assertRejectsTako(() => download(f, SMALL), "runtime", "No data from");
    assert.deepEqual((await storeNames(f)).filter((n) => n.includes(sha256(SMALL))), []);
    // Ten bytes 60 ms apart take longer than the idle timeout, but no pause is that long.
    f.origin.behave("/manifest", { body: "0123456789", dripMs: 60 });
    const started = performance.now();
    assert.equal(
      new TextDecoder().decode(await fetchManifest(f.origin.url, MANIFEST_CAP)),
      "0123456789",
    );
    assert.ok(performance.now() - started > NET.idleTimeoutMs);
  });
});

Deno.test("a connection reset mid-body is a runtime error", async () => {
  await withOrigin(async (f) => {
    f.origin.behave(`/store/${sha256(BIG)}`, { resetAtByte: MIB });
    await assertRejectsTako(() => download(f, BIG), "runtime", "broke off after");
    f.origin.behave("/manifest", { resetAtByte: 10 });
    await assertRejectsTako(
      () => fetchManifest(f.origin.url, MANIFEST_CAP),
      "runtime",
      `${f.origin.url}/manifest broke off`,
    );
  });
});

Deno.test("connection refused is a runtime error naming the URL", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const url = `http://127.0.0.1:${port}`;
  await assertRejectsTako(
    () => fetchManifest(url, MANIFEST_CAP),
    "runtime",
    `Cannot reach ${url}/manifest`,
    "refused",
  );
});

// ---------------------------------------------------------------- file:// and bad arguments

Deno.test("a file:// origin serves the manifest and images; a missing file names the path", async () => {
  await withOrigin(async (f) => {
    const origin = `file://${f.dir}/origin`;
    assert.deepEqual(await fetchManifest(origin, MANIFEST_CAP), MANIFEST);
    await downloadImage(f, `${origin}/`, sha256(BIG), BIG.length);
    assert.equal(sha256(await stored(f, BIG)), sha256(BIG));
    await assertRejectsTako(
      () => fetchManifest(`file://${f.dir}/nowhere`, MANIFEST_CAP),
      "runtime",
      `Cannot read ${f.dir}/nowhere/manifest`,
      "No such file",
    );
    await assertRejectsTako(
      () => downloadImage(f, origin, sha256(SMALL), SMALL.length + 1),
      "integrity",
      "ended after 1000 of the 1001 bytes",
    );
  });
});

Deno.test("bad arguments: unsupported schemes, malformed digests and sizes", async () => {
  const none = { dir: "", origin: undefined!, store: "/nonexistent/store" } as Fixture;
  await assertRejectsTako(
    () => fetchManifest("ftp://h.example/o", MANIFEST_CAP),
    "config",
    "unsupported scheme",
  );
  await assertRejectsTako(
    () => fetchManifest("not a url", MANIFEST_CAP),
    "config",
    "not a valid URL",
  );
  await assertRejectsTako(
    () => downloadImage(none, "http://127.0.0.1:9", "AB".repeat(32), 1),
    "integrity",
    "SHA-256",
  );
  await assertRejectsTako(
    () => downloadImage(none, "http://127.0.0.1:9", "../manifest", 1),
    "integrity",
    "SHA-256",
  );
  await assertRejectsTako(
    () => downloadImage(none, "http://127.0.0.1:9", PHANTOM, -1),
    "integrity",
    "size -1",
  );
  await assertRejectsTako(
    () => downloadImage(none, "http://127.0.0.1:9", PHANTOM, 2 ** 53),
    "integrity",
    "size",
  );
});

// ---------------------------------------------------------------- https

/** Made once with openssl; undefined (and the https tests ignored) where openssl cannot run. */
const TLS = await createTestCertificate();

Deno.test({
  name:
    "https: an origin with a trusted certificate works; an unknown issuer and https → http are refused",
  ignore: TLS === undefined,
  async fn() {
    const tls = TLS!;
    const httpClient = Deno.createHttpClient({ caCerts: [tls.caCert] });
    try {
      await withOrigin(async (f) => {
        const secure = { ...NET, httpClient };
        assert.ok(f.origin.url.startsWith("https://127.0.0.1:"));
        assert.deepEqual(
          await fetchManifest(f.origin.url, { ...secure, maxBytes: 1000 }),
          MANIFEST,
        );
        await downloadImage(f, f.origin.url, sha256(SMALL), SMALL.length, secure);
        assert.deepEqual(await stored(f, SMALL), SMALL);

        await assertRejectsTako(
          () => fetchManifest(f.origin.url, MANIFEST_CAP),
          "runtime",
          "Cannot reach",
          "UnknownIssuer",
        );

        const plain = await startOrigin(f.origin.root);
        try {
          f.origin.behave("/manifest", { redirect: `${plain.url}/manifest` });
          await assertRejectsTako(
            () => fetchManifest(f.origin.url, { ...secure, maxBytes: 1000 }),
            "runtime",
            "drop https",
          );
          assert.equal(plain.requests.length, 0);
        } finally {
          await plain.close();
        }
      }, { tls: { cert: tls.cert, key: tls.key } });
    } finally {
      httpClient.close();
    }
  },
});
