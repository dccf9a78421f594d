/**
 * lib/shell/http.ts: conditional manifest requests (If-None-Match,
 * If-Modified-Since, 304) against the test origin and a python-like origin
 * that knows only Last-Modified. (Resumed images: partial_test.ts.)
 */
import { createHash } from "node:crypto";
import { assert, assertRejectsTako } from "../../support/assert.ts";
import { startOrigin, type TestOrigin } from "../../support/origin_server.ts";
import { fetchManifestIfChanged, type NetOptions } from "../../../lib/shell/http.ts";

const NET: NetOptions = { connectTimeoutMs: 2000, idleTimeoutMs: 2000, maxRedirects: 5 };
const CAP = { ...NET, maxBytes: 64 * 1024 };
const MANIFEST = new TextEncoder().encode("Tako Manifest 1\n\n\nsignature\n");
const IMAGE = new Uint8Array(300_000).map((_, i) => (i * 7 + (i >> 9)) & 0xff);
const SHA = createHash("sha256").update(IMAGE).digest("hex");
const HOUR_AGO = new Date(Date.now() - 3600_000);

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

// ---------------------------------------------------------------- validators

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
