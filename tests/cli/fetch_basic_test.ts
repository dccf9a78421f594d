/**
 * Black-box tests of `tako fetch` (SPEC §6): the happy path, origins reached
 * by redirect or `file://`, the destination directory, both command-line
 * dialects, `--init` without network and concurrent runs. Repeated runs,
 * repairs and version choice are tested in process
 * (tests/unit/commands/fetch_test.ts). Each test spawns main.ts with the compiled binary's permissions
 * against a test origin on 127.0.0.1.
 */
import { assert } from "../support/assert.ts";
import {
  assertOutcome,
  checkInvariants,
  closedPort,
  imageRequests,
  latestDigest,
  withSetup,
} from "../support/publish.ts";
import { THREE_ENTRY_MANIFEST, THREE_IMAGES } from "../support/vectors.ts";

const [, V110, V200] = THREE_IMAGES as [
  typeof THREE_IMAGES[0],
  typeof THREE_IMAGES[0],
  typeof THREE_IMAGES[0],
];

function mode(info: Deno.FileInfo): number {
  return info.mode! & 0o777;
}

Deno.test("`tako fetch` stores the newest image read-only and points latest at it", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    const result = await s.fetch();
    assertOutcome(result, 0);

    const image = `${s.dest}/store/${V200.sha256}`;
    assert.equal(await Deno.readTextFile(image), V200.content);
    assert.equal(mode(await Deno.lstat(image)), 0o444);
    assert.ok((await Deno.lstat(`${s.dest}/latest`)).isSymlink);
    assert.equal(await Deno.readLink(`${s.dest}/latest`), `store/${V200.sha256}`);
    assert.equal(await Deno.readTextFile(`${s.dest}/latest`), V200.content);

    // The stored manifest is the origin's, byte for byte (here the SPEC §2 vector).
    assert.equal(await Deno.readTextFile(`${s.dest}/manifest`), THREE_ENTRY_MANIFEST);
    assert.deepEqual(
      await Deno.readFile(`${s.dest}/manifest`),
      await Deno.readFile(`${s.originDir}/manifest`),
    );
    assert.equal(mode(await Deno.lstat(`${s.dest}/manifest`)), 0o444);

    // Only the chosen image is downloaded, and without transparent compression.
    const images = imageRequests(s.origin);
    assert.deepEqual(images.map((r) => r.path), [`/store/${V200.sha256}`]);
    assert.equal(images[0]!.headers["accept-encoding"], "identity");
    assert.equal(s.origin.requestsFor("/manifest")[0]!.headers["accept-encoding"], "identity");
    await checkInvariants(s.dest);
  });
});

Deno.test("`tako fetch` follows redirects for the manifest and the image", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    // The real files live under /moved/; the usual paths redirect there.
    await Deno.mkdir(`${s.originDir}/moved/store`, { recursive: true });
    await Deno.copyFile(`${s.originDir}/manifest`, `${s.originDir}/moved/manifest`);
    await Deno.copyFile(
      `${s.originDir}/store/${V200.sha256}`,
      `${s.originDir}/moved/store/${V200.sha256}`,
    );
    await Deno.remove(`${s.originDir}/store/${V200.sha256}`);
    s.origin.behave("/manifest", { redirect: "/moved/manifest", status: 301 });
    s.origin.behave(`/store/${V200.sha256}`, {
      redirect: `${s.origin.url}/moved/store/${V200.sha256}`,
      status: 307,
    });

    assertOutcome(await s.fetch(), 0);
    assert.equal(s.origin.requestsFor("/moved/manifest").length, 1);
    assert.equal(s.origin.requestsFor(`/moved/store/${V200.sha256}`).length, 1);
    assert.equal(await latestDigest(s.dest), V200.sha256);
    await checkInvariants(s.dest);
  });
});

Deno.test("`tako fetch` reads a file:// origin", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    await s.writeConfig({ origins: [`file://${s.originDir}/`] });
    assertOutcome(await s.fetch(), 0);
    assert.equal(await latestDigest(s.dest), V200.sha256);
    assert.equal(await Deno.readTextFile(`${s.dest}/manifest`), THREE_ENTRY_MANIFEST);
    assert.deepEqual(s.origin.requests, []);
    await checkInvariants(s.dest);
  });
});

Deno.test("`tako fetch` creates a missing destination, relative to the working directory", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    await s.writeConfig({ destination: "relative-dest" });
    assertOutcome(await s.fetch(), 0);
    // withSetup runs tako in s.dir.
    assert.equal(await latestDigest(`${s.dir}/relative-dest`), V200.sha256);
    await checkInvariants(`${s.dir}/relative-dest`);
  });
});

Deno.test("`tako fetch` refuses a destination whose parent is missing and creates nothing", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    const parent = `${s.dir}/no-such-parent`;
    await s.writeConfig({ destination: `${parent}/dest` });
    const result = await s.fetch();
    assertOutcome(result, 1, parent, "does not exist");
    await assert.rejects(Deno.lstat(parent), Deno.errors.NotFound);
    assert.deepEqual(s.origin.requests, []);
  });
});

for (const dialect of [["fetch"], [], ["--if-not-exists"], ["fetch", "--init"]]) {
  Deno.test(`\`${["tako", ...dialect].join(" ")} a b\` fetches both configs`, async () => {
    await withSetup(THREE_IMAGES, async (s) => {
      const a = await s.writeConfig({ destination: `${s.dir}/a`, version: "1.*" });
      await Deno.rename(a, `${s.dir}/a.tako`);
      await s.writeConfig({ destination: `${s.dir}/b`, restartUnit: ["b.service"] });
      const result = await s.run([...dialect, `${s.dir}/a.tako`, s.config]);
      assertOutcome(result, 0);
      assert.equal(await latestDigest(`${s.dir}/a`), V110.sha256);
      assert.equal(await latestDigest(`${s.dir}/b`), V200.sha256);
      // --init and --if-not-exists never restart units; a plain fetch installing the first image does.
      const init = dialect.includes("--init") || dialect.includes("--if-not-exists");
      assert.deepEqual(await s.systemctl.calls(), init ? [] : ["restart -- b.service"]);
      await checkInvariants(`${s.dir}/a`);
      await checkInvariants(`${s.dir}/b`);
    });
  });
}

Deno.test("`tako fetch --init` on a provisioned destination makes no request and succeeds", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    await s.writeConfig({ restart: ["app.service"] });
    assertOutcome(await s.fetch(), 0);
    await s.publish([...THREE_IMAGES, { version: "2.1.0", content: "image two point one\n" }]);
    s.origin.clear();

    assertOutcome(await s.fetch("--init"), 0);
    assert.deepEqual(s.origin.requests, []);
    assert.equal(await latestDigest(s.dest), V200.sha256);

    // Even with the origin unreachable.
    await s.writeConfig({
      origins: [`http://127.0.0.1:${closedPort()}`],
      restart: ["app.service"],
    });
    assertOutcome(await s.fetch("--init"), 0);
    assertOutcome(await s.run(["--if-not-exists", s.config]), 0);
    assert.deepEqual(await s.systemctl.calls(), ["restart -- app.service"]);
    await checkInvariants(s.dest);

    // Without --init the unreachable origin is an error.
    assertOutcome(await s.fetch(), 1, "127.0.0.1");
  });
});

Deno.test("two concurrent `tako fetch` runs of one destination both succeed and download once", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    // A slow image keeps the first run inside the lock while the second starts.
    s.origin.behave(`/store/${V200.sha256}`, { stallAtByte: 4, stallMs: 700, times: 1 });
    const [one, two] = await Promise.all([s.fetch(), s.fetch()]);
    assertOutcome(one, 0);
    assertOutcome(two, 0);
    assert.equal(imageRequests(s.origin).length, 1);
    assert.equal(await latestDigest(s.dest), V200.sha256);
    await checkInvariants(s.dest);
  });
});
