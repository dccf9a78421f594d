/**
 * The periodic check, through `fetchAll()` in this process against real
 * servers (the test origin, python's http.server): a run after a successful one asks
 * for the manifest conditionally (If-None-Match / If-Modified-Since with what
 * the last run saw), so an unchanged origin answers 304 and nothing else is
 * requested. The validators never hide a change: a changed manifest, a stored
 * manifest changed by hand or a missing or damaged `.state` mean a full GET.
 */
import { assert } from "../../support/assert.ts";
import {
  assertOutcome,
  buildOrigin,
  checkInvariants,
  type FetchSetup,
  imageRequests,
  latestDigest,
  OTHER_KEY,
  publicKeyOf,
  sha256Hex,
  TEST_KEY,
  withSetup,
} from "../../support/publish.ts";
import type { RequestRecord } from "../../support/origin_server.ts";
import { THREE_IMAGES } from "../../support/vectors.ts";

const [V100, V110, V200] = THREE_IMAGES as [
  typeof THREE_IMAGES[0],
  typeof THREE_IMAGES[0],
  typeof THREE_IMAGES[0],
];
const V300 = { version: "3.0.0", content: "image three\n" };

/** The manifest requests of the origin, oldest first. */
function manifestRequests(s: FetchSetup): RequestRecord[] {
  return s.origin.requestsFor("/manifest");
}

function lastManifestRequest(s: FetchSetup): RequestRecord {
  const request = manifestRequests(s).at(-1);
  assert.ok(request !== undefined, "the manifest was requested");
  return request;
}

/** A first fetch, then the request log cleared. */
async function firstFetch(s: FetchSetup): Promise<void> {
  assertOutcome(await s.fetchHere(), 0);
  assert.equal(lastManifestRequest(s).status, 200);
  s.origin.clear();
}

/** Asserts that the last run asked with the ETag and got 304. */
function assertNotModified(s: FetchSetup): void {
  const request = lastManifestRequest(s);
  assert.ok(request.headers["if-none-match"]?.startsWith('"'), JSON.stringify(request.headers));
  assert.equal(request.status, 304);
  assert.equal(request.bytesSent, 0);
}

/** Asserts that the last run asked for the manifest unconditionally. */
function assertFullGet(s: FetchSetup): void {
  const request = lastManifestRequest(s);
  assert.equal(request.headers["if-none-match"], undefined);
  assert.equal(request.headers["if-modified-since"], undefined);
  assert.equal(request.status, 200);
}

/** The test origin's manifest as an hour old, so its Last-Modified is a safe validator. */
async function ageManifest(s: FetchSetup): Promise<void> {
  const hourAgo = new Date(Date.now() - 3600_000);
  await Deno.utime(`${s.originDir}/manifest`, hourAgo, hourAgo);
}

Deno.test("`fetchAll()` run again asks conditionally, gets 304 and requests nothing else", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    await ageManifest(s);
    await firstFetch(s);
    const stored = await Deno.readFile(`${s.dest}/manifest`);
    const state = JSON.parse(await Deno.readTextFile(`${s.dest}/.state`));
    assert.ok(state.manifestValidators?.[s.origin.url]?.etag, JSON.stringify(state));

    for (let run = 0; run < 2; run++) {
      assertOutcome(await s.fetchHere(), 0);
      assertNotModified(s);
      const since = lastManifestRequest(s).headers["if-modified-since"];
      assert.ok(since !== undefined, "an old enough Last-Modified is sent back too");
      assert.equal(s.origin.requests.length, run + 1, "one request per run, the manifest's");
    }
    assert.deepEqual(await Deno.readFile(`${s.dest}/manifest`), stored);
    assert.equal(await latestDigest(s.dest), V200.sha256);
    // What was verified is on record, so the 304 runs need not verify it again.
    const after = JSON.parse(await Deno.readTextFile(`${s.dest}/.state`));
    assert.deepEqual(after.manifestVerified, {
      sha256: sha256Hex(stored),
      publicKeys: [publicKeyOf(TEST_KEY)],
    });
    await checkInvariants(s.dest);
  });
});

Deno.test("`fetchAll()` verifies a stored manifest again when the config's keys no longer include the recorded ones", async () => {
  await withSetup([V100, V110, V200], async (s) => {
    await ageManifest(s);
    await firstFetch(s);
    // Rotated to a key that never signed the stored manifest: it must be verified, and fails.
    await s.writeConfig({ publicKeys: [publicKeyOf(OTHER_KEY)] });
    assertOutcome(await s.fetchHere(), 4, "stored manifest must verify under a PublicKey=");
    assert.equal(s.origin.requests.length, 0, "refused before asking the origin");
  });
});

Deno.test("`fetchAll()` notices a manifest changed on the origin", async () => {
  await withSetup([V100, V110, V200], async (s) => {
    await firstFetch(s);
    const published = await buildOrigin(s.originDir, [V100, V110, V200, V300]);
    assertOutcome(await s.fetchHere(), 0);
    const request = lastManifestRequest(s);
    assert.ok(request.headers["if-none-match"] !== undefined, "asked conditionally");
    assert.equal(request.status, 200, "the new ETag does not match");
    assert.deepEqual(await Deno.readFile(`${s.dest}/manifest`), published.manifest);
    assert.equal(await latestDigest(s.dest), published.entries[3]!.sha256);

    // The validators now describe the new manifest.
    assertOutcome(await s.fetchHere(), 0);
    assertNotModified(s);
    await checkInvariants(s.dest);
  });
});

Deno.test("`fetchAll()` with a missing or damaged state file costs one full manifest GET", async () => {
  for (const damage of ["deleted", "garbage", "truncated", "wrong digest"] as const) {
    await withSetup(THREE_IMAGES, async (s) => {
      await firstFetch(s);
      const path = `${s.dest}/.state`;
      const text = await Deno.readTextFile(path);
      if (damage === "deleted") await Deno.remove(path);
      if (damage === "garbage") await Deno.writeTextFile(path, "{\u0000garbage");
      if (damage === "truncated") await Deno.writeTextFile(path, text.slice(0, text.length / 2));
      if (damage === "wrong digest") {
        const state = JSON.parse(text);
        for (const saved of Object.values(state.manifestValidators)) {
          (saved as { manifestSha256: string }).manifestSha256 = "0".repeat(64);
        }
        await Deno.writeTextFile(path, JSON.stringify(state));
      }
      assertOutcome(await s.fetchHere(), 0);
      assertFullGet(s);
      assert.equal(imageRequests(s.origin).length, 0, `${damage}: the image is not fetched again`);
      assertOutcome(await s.fetchHere(), 0);
      assertNotModified(s);
      await checkInvariants(s.dest);
    });
  }
});

Deno.test("`fetchAll()` does not use the validators when the stored manifest was changed or removed", async () => {
  for (const change of ["replaced by an older one", "removed"] as const) {
    await withSetup(THREE_IMAGES, async (s) => {
      await firstFetch(s);
      const path = `${s.dest}/manifest`;
      await Deno.chmod(path, 0o644);
      if (change === "removed") {
        await Deno.remove(path);
      } else {
        // Validly signed and a prefix of the origin's history, but not what the validators describe.
        const older = await buildOrigin(`${s.dir}/older`, [V100]);
        await Deno.writeFile(path, older.manifest);
      }
      assertOutcome(await s.fetchHere(), 0);
      assertFullGet(s);
      assert.deepEqual(
        await Deno.readFile(path),
        await Deno.readFile(`${s.originDir}/manifest`),
        `${change}: the origin's manifest is stored again`,
      );
      assertOutcome(await s.fetchHere(), 0);
      assertNotModified(s);
      await checkInvariants(s.dest);
    });
  }
});

Deno.test("`fetchAll()` re-verifies the stored manifest on 304 under the config's keys", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    await firstFetch(s);
    // The stored manifest no longer verifies under the config: a 304 must not paper over it.
    await s.writeConfig({ publicKeys: [publicKeyOf(OTHER_KEY)] });
    const result = await s.fetchHere();
    assertOutcome(result, 4, `${s.dest}/manifest`);
    await checkInvariants(s.dest);
  });
});

Deno.test("`fetchAll()` against python's http.server asks with If-Modified-Since and gets 304", async () => {
  const python = await hasPython();
  if (!python) return;
  await withSetup(THREE_IMAGES, async (s) => {
    // A manifest modified "in the future": its Last-Modified is not older than the answer,
    // so it is not trusted as a validator (a change within that second would hide).
    const soon = new Date(Date.now() + 3600_000);
    await Deno.utime(`${s.originDir}/manifest`, soon, soon);
    const server = await startPython(s.originDir);
    try {
      await s.writeConfig({ origins: [server.url] });
      assertOutcome(await s.fetchHere(), 0);
      assertOutcome(await s.fetchHere(), 0);
      assert.deepEqual(server.manifestStatuses(), [200, 200], "an unsafe date is never sent");
      const hourAgo = new Date(Date.now() - 3600_000);
      await Deno.utime(`${s.originDir}/manifest`, hourAgo, hourAgo);
      assertOutcome(await s.fetchHere(), 0);
      assertOutcome(await s.fetchHere(), 0);
      assert.deepEqual(server.manifestStatuses(), [200, 200, 200, 304]);
      assert.equal(await latestDigest(s.dest), V200.sha256);
      await checkInvariants(s.dest);
    } finally {
      await server.close();
    }
  });
});

async function hasPython(): Promise<boolean> {
  try {
    const out = await new Deno.Command("python3", { args: ["--version"], stdout: "null" })
      .output();
    return out.success;
  } catch {
    return false;
  }
}

/** python3 -m http.server on a free port of 127.0.0.1, with its request log. */
async function startPython(root: string) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const child = new Deno.Command("python3", {
    args: ["-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory", root, String(port)],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let log = "";
  const decoder = new TextDecoder();
  const reading = (async () => {
    for await (const chunk of child.stderr) log += decoder.decode(chunk, { stream: true });
  })();
  const draining = child.stdout.pipeTo(new WritableStream());
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await (await fetch(`${url}/nothing-here`)).body?.cancel();
      break;
    } catch {
      if (Date.now() > deadline) throw new Error("python3 -m http.server did not start");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return {
    url,
    manifestStatuses: () =>
      [...log.matchAll(/"GET \/manifest HTTP\/1\.[01]" (\d{3})/g)].map((m) => Number(m[1])),
    async close() {
      child.kill("SIGTERM");
      await child.status;
      await reading.catch(() => {});
      await draining.catch(() => {});
    },
  };
}
