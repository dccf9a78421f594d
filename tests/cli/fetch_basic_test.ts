/**
 * Black-box tests of `tako fetch` (SPEC §6): the happy path, repeated runs,
 * damaged store copies, origins reached by redirect or `file://`, the
 * destination directory, both command-line dialects, `--init` and concurrent
 * runs. Each test spawns main.ts with the compiled binary's permissions
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

const [V100, V110, V200] = THREE_IMAGES as [
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

Deno.test("`tako fetch` run again downloads no image and restarts nothing", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    await s.writeConfig({ restart: ["app.service"] });
    assertOutcome(await s.fetch(), 0);
    assert.deepEqual(await s.systemctl.calls(), ["restart -- app.service"]);
    const manifest = await Deno.readFile(`${s.dest}/manifest`);
    s.origin.clear();

    assertOutcome(await s.fetch(), 0);
    assert.equal(s.origin.requestsFor("/manifest").length, 1);
    assert.deepEqual(imageRequests(s.origin), []);
    assert.deepEqual(await s.systemctl.calls(), ["restart -- app.service"]);
    assert.deepEqual(await Deno.readFile(`${s.dest}/manifest`), manifest);
    assert.equal(await latestDigest(s.dest), V200.sha256);
    await checkInvariants(s.dest);
  });
});

Deno.test("`tako fetch` picks up a newly published version and restarts once more", async () => {
  await withSetup([V100], async (s) => {
    await s.writeConfig({ restart: ["app.service"] });
    assertOutcome(await s.fetch(), 0);
    assert.equal(await latestDigest(s.dest), V100.sha256);

    await s.publish([V100, V110]);
    assertOutcome(await s.fetch(), 0);
    assert.equal(await latestDigest(s.dest), V110.sha256);
    // The old image stays for a quick rollback.
    assert.ok((await Deno.lstat(`${s.dest}/store/${V100.sha256}`)).isFile);
    assert.deepEqual(await s.systemctl.calls(), [
      "restart -- app.service",
      "restart -- app.service",
    ]);
    await checkInvariants(s.dest);
  });
});

Deno.test("`tako fetch` removes temporaries that an interrupted run left behind", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    assertOutcome(await s.fetch(), 0);
    await Deno.writeTextFile(`${s.dest}/store/.tmp-0123456789abcdef`, "half an image");
    await Deno.writeTextFile(`${s.dest}/.tmp-fedcba9876543210`, "half a manifest");
    await Deno.writeTextFile(`${s.dest}/store/notes.txt`, "not Tako's");

    assertOutcome(await s.fetch(), 0);
    await checkInvariants(s.dest);
    // Files that are not Tako's stay.
    assert.equal(await Deno.readTextFile(`${s.dest}/store/notes.txt`), "not Tako's");
  });
});

const DAMAGES: { name: string; damage: (path: string) => Promise<void> }[] = [
  {
    name: "one byte changed",
    damage: async (path) => {
      const bytes = await Deno.readFile(path);
      bytes[0] = bytes[0]! ^ 0x01;
      await Deno.writeFile(path, bytes);
    },
  },
  { name: "truncated", damage: (path) => Deno.truncate(path, 3) },
  // Hashing it would take hours: the size alone proves the damage.
  { name: "a sparse 1 TiB file", damage: (path) => Deno.truncate(path, 2 ** 40) },
];

for (const { name, damage } of DAMAGES) {
  Deno.test(`\`tako fetch\` downloads a damaged store copy again (${name})`, async () => {
    await withSetup(THREE_IMAGES, async (s) => {
      assertOutcome(await s.fetch(), 0);
      const image = `${s.dest}/store/${V200.sha256}`;
      await Deno.chmod(image, 0o644);
      await damage(image);
      s.origin.clear();

      const result = await s.fetch();
      assertOutcome(result, 0, "damaged");
      assert.deepEqual(imageRequests(s.origin).map((r) => r.path), [`/store/${V200.sha256}`]);
      assert.equal(await Deno.readTextFile(image), V200.content);
      assert.equal(mode(await Deno.lstat(image)), 0o444);
      await checkInvariants(s.dest);
    });
  });
}

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

Deno.test("`tako fetch` without Version= says that any version is accepted", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    const result = await s.fetch();
    assertOutcome(result, 0, "any version");
    assert.equal(await latestDigest(s.dest), V200.sha256);
  });
});

Deno.test("`tako fetch` with Version=^1.0 ignores 2.0.0", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    await s.writeConfig({ version: "^1.0" });
    const result = await s.fetch();
    assertOutcome(result, 0);
    assert.ok(!result.stderr.includes("any version"), result.stderr);
    assert.equal(await latestDigest(s.dest), V110.sha256);
    assert.deepEqual(imageRequests(s.origin).map((r) => r.path), [`/store/${V110.sha256}`]);
    await checkInvariants(s.dest);
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

Deno.test("`tako fetch --init` on an empty destination fetches without restarting units", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    await s.writeConfig({ restart: ["app.service"] });
    assertOutcome(await s.fetch("--init"), 0);
    assert.equal(await latestDigest(s.dest), V200.sha256);
    assert.deepEqual(await s.systemctl.calls(), []);
    await checkInvariants(s.dest);

    // The unit started on this image: a later run has nothing to restart.
    assertOutcome(await s.fetch(), 0);
    assert.deepEqual(await s.systemctl.calls(), []);
  });
});

Deno.test("`tako fetch --init` acts on a Version= pin that latest's image does not match", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    await s.writeConfig({ restart: ["app.service"] });
    assertOutcome(await s.fetch(), 0);
    assert.equal(await latestDigest(s.dest), V200.sha256);
    // Pinned to go back: the unit's ExecStartPre= must install the pinned version.
    await s.writeConfig({ restart: ["app.service"], version: "1.1.0" });
    const result = await s.fetch("--init");
    assertOutcome(result, 0, "latest is now 1.1.0");
    assert.ok(!result.stderr.includes("already in place"), result.stderr);
    assert.equal(await latestDigest(s.dest), V110.sha256);
    // Still no restart from --init: only the first plain fetch restarted.
    assert.deepEqual(await s.systemctl.calls(), ["restart -- app.service"]);
    // Now provisioned under the pin: nothing to do, no request.
    s.origin.clear();
    assertOutcome(await s.fetch("--init"), 0, "1.1.0 is already in place");
    assert.deepEqual(s.origin.requests, []);
    await checkInvariants(s.dest);
  });
});

Deno.test("`tako fetch --init` fetches again when the image latest points to is missing", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    assertOutcome(await s.fetch(), 0);
    await Deno.remove(`${s.dest}/store/${V200.sha256}`);
    s.origin.clear();

    assertOutcome(await s.fetch("--init"), 0);
    assert.deepEqual(imageRequests(s.origin).map((r) => r.path), [`/store/${V200.sha256}`]);
    await checkInvariants(s.dest);
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
