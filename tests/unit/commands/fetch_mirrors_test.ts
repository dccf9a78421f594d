/**
 * `fetchAll()` in this process with mirrors (`Origin=` repeated, SPEC §6
 * Mirrors) and key rotation (`PublicKey=` repeated), against real test origins.
 */
import { assert } from "../../support/assert.ts";
import { startOrigin } from "../../support/origin_server.ts";
import {
  assertOutcome,
  buildOrigin,
  checkInvariants,
  closedPort,
  imageRequests,
  latestDigest,
  OTHER_KEY,
  publicKeyOf,
  TEST_KEY,
  withSetup,
} from "../../support/publish.ts";
import { THREE_IMAGES } from "../../support/vectors.ts";

const [V100, V110, V200] = THREE_IMAGES as [
  typeof THREE_IMAGES[0],
  typeof THREE_IMAGES[0],
  typeof THREE_IMAGES[0],
];
const EXIT_RUNTIME = 1;
const EXIT_INTEGRITY = 4;

Deno.test("`fetchAll()` uses the second mirror when the first is down, and says so", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    const down = `http://127.0.0.1:${closedPort()}`;
    await s.writeConfig({ origins: [down, s.origin.url] });
    const result = await s.fetchHere();
    assertOutcome(result, 0, `${down}/manifest`);
    assert.equal(await latestDigest(s.dest), V200.sha256);
    await checkInvariants(s.dest);
  });
});

Deno.test("`fetchAll()` uses the second mirror when the first serves a forged manifest", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    const forgedDir = `${s.dir}/forged`;
    const evil = await buildOrigin(
      forgedDir,
      [...THREE_IMAGES, { version: "9.0.0", content: "evil\n" }],
      OTHER_KEY,
    );
    const forged = await startOrigin(forgedDir);
    try {
      await s.writeConfig({ origins: [forged.url, s.origin.url] });
      const result = await s.fetchHere();
      assertOutcome(result, 0, `${forged.url}/manifest`, "signature");
      assert.equal(await latestDigest(s.dest), V200.sha256);
      // Images are still tried on the first mirror (each is checked by its digest), but not
      // the one that only the forged manifest lists.
      const evilPath = `/store/${evil.entries[3]!.sha256}`;
      assert.deepEqual(forged.requestsFor(evilPath), []);
      assert.deepEqual(s.origin.requestsFor(evilPath), []);
      assert.deepEqual(
        await Deno.readFile(`${s.dest}/manifest`),
        await Deno.readFile(`${s.originDir}/manifest`),
      );
      await checkInvariants(s.dest);
    } finally {
      await forged.close();
    }
  });
});

Deno.test("`fetchAll()` takes an image from the second mirror when the first serves bad data", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    const mirror = await startOrigin(s.originDir);
    try {
      mirror.behave(`/store/${V200.sha256}`, { body: "image TWO\n" });
      await s.writeConfig({ origins: [mirror.url, s.origin.url] });
      const result = await s.fetchHere();
      assertOutcome(result, 0, `${mirror.url}/store/${V200.sha256}`);
      assert.equal(imageRequests(mirror).length, 1);
      assert.equal(imageRequests(s.origin).length, 1);
      assert.equal(await latestDigest(s.dest), V200.sha256);
      await checkInvariants(s.dest);
    } finally {
      await mirror.close();
    }
  });
});

Deno.test("`fetchAll()` treats 410 on one mirror as a failure when another serves the image", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    const mirror = await startOrigin(s.originDir);
    try {
      mirror.behave(`/store/${V200.sha256}`, { status: 410 });
      await s.writeConfig({ origins: [mirror.url, s.origin.url] });
      assertOutcome(await s.fetchHere(), 0);
      assert.equal(await latestDigest(s.dest), V200.sha256);
    } finally {
      await mirror.close();
    }
  });
});

Deno.test("`fetchAll()` reports every mirror when all fail", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    const down = `http://127.0.0.1:${closedPort()}`;
    await s.writeConfig({ origins: [down, s.origin.url] });
    s.origin.behave("/manifest", { status: 503 });
    const result = await s.fetchHere();
    assertOutcome(result, EXIT_RUNTIME, `${down}/manifest`, `${s.origin.url}/manifest`, "503");
    await checkInvariants(s.dest);
  });
});

Deno.test("`fetchAll()` ranks a forged manifest on any mirror as an integrity failure", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    const down = `http://127.0.0.1:${closedPort()}`;
    await s.writeConfig({ origins: [s.origin.url, down] });
    await buildOrigin(s.originDir, THREE_IMAGES, OTHER_KEY);
    assertOutcome(await s.fetchHere(), EXIT_INTEGRITY, "signature");
    await checkInvariants(s.dest);
  });
});

Deno.test("`fetchAll()` verifies a manifest signed by the second PublicKey= (key rotation)", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    const keys = [publicKeyOf(OTHER_KEY), publicKeyOf(TEST_KEY)];
    await s.writeConfig({ publicKeys: keys, version: "1.*" });
    assertOutcome(await s.fetchHere(), 0);
    assert.equal(await latestDigest(s.dest), V110.sha256);

    // The publisher re-signs the same history with the new key and publishes more.
    const rotated = await buildOrigin(
      s.originDir,
      [V100, V110, { version: "1.2.0", content: "image one point two\n" }, V200],
      OTHER_KEY,
    );
    assertOutcome(await s.fetchHere(), 0);
    assert.deepEqual(await Deno.readFile(`${s.dest}/manifest`), rotated.manifest);
    assert.equal(await latestDigest(s.dest), rotated.entries[2]!.sha256);
    await checkInvariants(s.dest, [OTHER_KEY.publicKey, TEST_KEY.publicKey]);
  });
});

Deno.test("`fetchAll()` refuses a stored manifest that no configured key verifies", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    assertOutcome(await s.fetchHere(), 0);
    const stored = await Deno.readFile(`${s.dest}/manifest`);
    // The old key is dropped from the config too early.
    await buildOrigin(s.originDir, THREE_IMAGES, OTHER_KEY);
    await s.writeConfig({ publicKeys: [publicKeyOf(OTHER_KEY)] });
    const result = await s.fetchHere();
    assertOutcome(result, EXIT_INTEGRITY, `${s.dest}/manifest`, "PublicKey=");
    assert.deepEqual(await Deno.readFile(`${s.dest}/manifest`), stored);
    assert.equal(await latestDigest(s.dest), V200.sha256);
  });
});
