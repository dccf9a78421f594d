/**
 * lib/shell/http.ts: manifests, HTTP errors, redirects, timeouts, file:
 * origins, bad arguments and https, against the test origin. (Image bodies:
 * http_image_test.ts; conditional requests: http_conditional_test.ts.)
 */
import { assert, assertRejectsTako } from "../../support/assert.ts";
import { startOrigin } from "../../support/origin_server.ts";
import { createTestCertificate } from "../../support/test_certificate.ts";
import { DEFAULT_NET_OPTIONS } from "../../../lib/shell/http.ts";
import {
  BIG,
  download,
  downloadImage,
  fetchManifest,
  type Fixture,
  MANIFEST,
  MANIFEST_CAP,
  MIB,
  NET,
  PHANTOM,
  sha256,
  SMALL,
  stored,
  storeNames,
  withOrigin,
} from "./_http_fixture.ts";

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
          "point DENO_CERT at that CA's certificate",
          "DENO_TLS_CA_STORE=system",
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
