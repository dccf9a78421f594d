/**
 * The fetch procedure in this process (`fetchAll()` of lib/commands/fetch.ts)
 * with its service-manager stand-in, against the real test origin and real
 * files: repeated runs, repairs of damaged store copies, version choice (SPEC §6, §7: no compatible version, 410 Gone
 * fallback, never downgrade) and restarts (SPEC §4 Restart=, §6 step 6: only
 * when latest changes, in one call, retried after a failure, never under
 * --init). tests/cli/ checks that `tako fetch` wires the same procedure to
 * systemctl and exit codes.
 */
import { assert } from "../../support/assert.ts";
import {
  assertOutcome,
  checkInvariants,
  imageRequests,
  latestDigest,
  withSetup,
} from "../../support/publish.ts";
import { THREE_IMAGES } from "../../support/vectors.ts";

const [V100, V110, V200] = THREE_IMAGES as [
  typeof THREE_IMAGES[0],
  typeof THREE_IMAGES[0],
  typeof THREE_IMAGES[0],
];
const V120 = { version: "1.2.0", content: "image one point two\n" };
const EXIT_RUNTIME = 1;

Deno.test("`fetchAll()` with no compatible version fails on an empty destination, naming what is on offer", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    await s.writeConfig({ version: "3.*" });
    const result = await s.fetchHere();
    assertOutcome(result, EXIT_RUNTIME, "3.*", "2.0.0, 1.1.0, 1.0.0");
    // The manifest is stored all the same.
    assert.deepEqual(
      await Deno.readFile(`${s.dest}/manifest`),
      await Deno.readFile(`${s.originDir}/manifest`),
    );
    assert.equal(await latestDigest(s.dest), undefined);
    assert.deepEqual(imageRequests(s.origin), []);
    await checkInvariants(s.dest);
  });
});

Deno.test("`fetchAll()` with no compatible version keeps the present image and succeeds", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    await s.writeConfig({ version: "1.*", restart: ["app.service"] });
    assertOutcome(await s.fetchHere(), 0);
    const grown = await s.publish([...THREE_IMAGES, { version: "2.1.0", content: "2.1\n" }]);
    await s.writeConfig({ version: "3.*", restart: ["app.service"] });

    const result = await s.fetchHere();
    assertOutcome(result, 0, "3.*", "2.1.0");
    assert.deepEqual(await Deno.readFile(`${s.dest}/manifest`), grown.manifest);
    assert.equal(await latestDigest(s.dest), V110.sha256);
    assert.deepEqual(s.services.calls, ["app.service"]);
    await checkInvariants(s.dest);
  });
});

Deno.test("`fetchAll()` with an empty manifest fails, saying that none is on offer", async () => {
  await withSetup([], async (s) => {
    assertOutcome(await s.fetchHere(), EXIT_RUNTIME, "no versions");
    await checkInvariants(s.dest);
  });
});

Deno.test("`fetchAll()` falls back to the next newest version when the newest is withdrawn (410)", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    await s.writeConfig({ version: "1.*" });
    s.origin.behave(`/store/${V110.sha256}`, { status: 410 });
    const result = await s.fetchHere();
    assertOutcome(result, 0, "1.1.0", "withdrawn");
    assert.equal(await latestDigest(s.dest), V100.sha256);
    assert.deepEqual(imageRequests(s.origin).map((r) => r.path), [
      `/store/${V110.sha256}`,
      `/store/${V100.sha256}`,
    ]);
    await checkInvariants(s.dest);
  });
});

Deno.test("`fetchAll()` never moves latest below the current image when newer ones are withdrawn", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    await s.writeConfig({ version: "1.*", restart: ["app.service"] });
    assertOutcome(await s.fetchHere(), 0);
    assert.equal(await latestDigest(s.dest), V110.sha256);
    const published = await s.publish([V100, V110, V120, V200]);
    const v120 = published.entries[2]!.sha256;
    s.origin.clear();
    s.origin.behave(`/store/${v120}`, { status: 410 });

    const result = await s.fetchHere();
    assertOutcome(result, 0, "1.2.0", "withdrawn");
    assert.equal(await latestDigest(s.dest), V110.sha256);
    assert.deepEqual(imageRequests(s.origin).map((r) => r.path), [`/store/${v120}`]);
    assert.deepEqual(s.services.calls, ["app.service"]);
    await checkInvariants(s.dest);
  });
});

Deno.test("`fetchAll()` does not fall back below the current image even when it is gone locally", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    await s.writeConfig({ version: "1.*" });
    assertOutcome(await s.fetchHere(), 0);
    // The administrator removed the current image, and the origin withdrew it.
    await Deno.remove(`${s.dest}/store/${V110.sha256}`);
    s.origin.clear();
    s.origin.behave(`/store/${V110.sha256}`, { status: 410 });

    const result = await s.fetchHere();
    assertOutcome(result, EXIT_RUNTIME, "1.*", "from the current 1.1.0 up is withdrawn");
    assert.deepEqual(imageRequests(s.origin).map((r) => r.path), [`/store/${V110.sha256}`]);
    assert.equal(await latestDigest(s.dest), V110.sha256);
  });
});

Deno.test("`fetchAll()` moves down when Version= no longer matches the current image", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    assertOutcome(await s.fetchHere(), 0);
    assert.equal(await latestDigest(s.dest), V200.sha256);
    await s.writeConfig({ version: "1.*", restart: ["app.service"] });
    assertOutcome(await s.fetchHere(), 0);
    assert.equal(await latestDigest(s.dest), V110.sha256);
    assert.deepEqual(s.services.calls, ["app.service"]);
    await checkInvariants(s.dest);
  });
});

Deno.test("`fetchAll()` fails when every compatible version is withdrawn", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    await s.writeConfig({ version: "1.*" });
    s.origin.behave(`/store/${V110.sha256}`, { status: 410 });
    s.origin.behave(`/store/${V100.sha256}`, { status: 410 });
    const result = await s.fetchHere();
    assertOutcome(result, EXIT_RUNTIME, "1.*", "withdrawn");
    assert.equal(await latestDigest(s.dest), undefined);
    await checkInvariants(s.dest);
  });
});

const SPELLINGS: { name: string; restart: string[]; restartUnit: string[] }[] = [
  { name: "Restart= and RestartUnit=", restart: ["a.service"], restartUnit: ["b.service"] },
  { name: "two units on one Restart= line", restart: ["a.service b.service"], restartUnit: [] },
  { name: "RestartUnit= twice", restart: [], restartUnit: ["a.service", "b.service"] },
];

for (const { name, restart, restartUnit } of SPELLINGS) {
  Deno.test(`\`fetchAll()\` restarts the units of ${name} in one restart call`, async () => {
    await withSetup([V100], async (s) => {
      await s.writeConfig({ restart, restartUnit });
      assertOutcome(await s.fetchHere(), 0, "a.service");
      assert.deepEqual(s.services.calls, ["a.service b.service"]);
    });
  });
}

Deno.test("`fetchAll()` restarts units only when latest changes", async () => {
  await withSetup([V100], async (s) => {
    await s.writeConfig({ restart: ["a.service"], restartUnit: ["b.service"] });
    assertOutcome(await s.fetchHere(), 0);
    assert.deepEqual(s.services.calls, ["a.service b.service"]);

    assertOutcome(await s.fetchHere(), 0);
    assert.deepEqual(s.services.calls, ["a.service b.service"]);

    await s.publish([V100, V110]);
    assertOutcome(await s.fetchHere(), 0);
    assert.deepEqual(s.services.calls, [
      "a.service b.service",
      "a.service b.service",
    ]);
  });
});

Deno.test("`fetchAll()` without Restart= restarts nothing", async () => {
  await withSetup([V100], async (s) => {
    assertOutcome(await s.fetchHere(), 0);
    assert.deepEqual(s.services.calls, []);
  });
});

Deno.test("`fetchAll()` with a failing restart keeps the new image and retries next run", async () => {
  await withSetup([V100], async (s) => {
    await s.writeConfig({ restart: ["app.service"] });
    assertOutcome(await s.fetchHere(), 0);
    await s.publish([V100, V200]);
    s.services.failing = true;

    const failed = await s.fetchHere();
    assertOutcome(failed, EXIT_RUNTIME, s.config, "systemctl", "app.service", "Unit not found");
    assert.equal(await latestDigest(s.dest), V200.sha256);
    await checkInvariants(s.dest);

    // Still failing: still retried, still failing.
    assertOutcome(await s.fetchHere(), EXIT_RUNTIME, "systemctl");
    assert.deepEqual(s.services.calls, ["app.service"]);

    s.services.failing = false;
    assertOutcome(await s.fetchHere(), 0);
    assert.deepEqual(s.services.calls, [
      "app.service",
      "app.service",
    ]);

    // Done: the next run restarts nothing.
    assertOutcome(await s.fetchHere(), 0);
    assert.equal(s.services.calls.length, 2);
    assert.equal(await latestDigest(s.dest), V200.sha256);
  });
});

Deno.test("`fetchAll()` retries a pending restart even when no compatible version is on offer", async () => {
  await withSetup([V100], async (s) => {
    await s.writeConfig({ restart: ["app.service"] });
    s.services.failing = true;
    assertOutcome(await s.fetchHere(), EXIT_RUNTIME, "systemctl");
    s.services.failing = false;
    await s.writeConfig({ restart: ["app.service"], version: "3.*" });

    assertOutcome(await s.fetchHere(), 0, "3.*");
    assert.deepEqual(s.services.calls, ["app.service"]);
    assert.equal(await latestDigest(s.dest), V100.sha256);
  });
});

Deno.test("`fetchAll()` under --init never restarts, even with a restart pending", async () => {
  await withSetup([V100], async (s) => {
    await s.writeConfig({ restart: ["app.service"] });
    assertOutcome(await s.fetchHere(), 0);
    await s.publish([V100, V110]);
    s.services.failing = true;
    assertOutcome(await s.fetchHere(), EXIT_RUNTIME, "systemctl");
    s.services.failing = false;

    // --init never restarts (the unit is starting), even with a restart pending.
    assertOutcome(await s.fetchHere("--init"), 0);
    assert.deepEqual(s.services.calls, ["app.service"]);

    // A later normal run succeeds (restarting again, if at all, is harmless).
    assertOutcome(await s.fetchHere(), 0);
    assert.ok(s.services.calls.length <= 2);
  });
});

function mode(info: Deno.FileInfo): number {
  return info.mode! & 0o777;
}

Deno.test("`fetchAll()` run again downloads no image and restarts nothing", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    await s.writeConfig({ restart: ["app.service"] });
    assertOutcome(await s.fetchHere(), 0);
    assert.deepEqual(s.services.calls, ["app.service"]);
    const manifest = await Deno.readFile(`${s.dest}/manifest`);
    s.origin.clear();

    assertOutcome(await s.fetchHere(), 0);
    assert.equal(s.origin.requestsFor("/manifest").length, 1);
    assert.deepEqual(imageRequests(s.origin), []);
    assert.deepEqual(s.services.calls, ["app.service"]);
    assert.deepEqual(await Deno.readFile(`${s.dest}/manifest`), manifest);
    assert.equal(await latestDigest(s.dest), V200.sha256);
    await checkInvariants(s.dest);
  });
});

Deno.test("`fetchAll()` picks up a newly published version and restarts once more", async () => {
  await withSetup([V100], async (s) => {
    await s.writeConfig({ restart: ["app.service"] });
    assertOutcome(await s.fetchHere(), 0);
    assert.equal(await latestDigest(s.dest), V100.sha256);

    await s.publish([V100, V110]);
    assertOutcome(await s.fetchHere(), 0);
    assert.equal(await latestDigest(s.dest), V110.sha256);
    // The old image stays for a quick rollback.
    assert.ok((await Deno.lstat(`${s.dest}/store/${V100.sha256}`)).isFile);
    assert.deepEqual(s.services.calls, [
      "app.service",
      "app.service",
    ]);
    await checkInvariants(s.dest);
  });
});

Deno.test("`fetchAll()` removes temporaries that an interrupted run left behind", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    assertOutcome(await s.fetchHere(), 0);
    await Deno.writeTextFile(`${s.dest}/store/.tmp-0123456789abcdef`, "half an image");
    await Deno.writeTextFile(`${s.dest}/.tmp-fedcba9876543210`, "half a manifest");
    await Deno.writeTextFile(`${s.dest}/store/notes.txt`, "not Tako's");

    assertOutcome(await s.fetchHere(), 0);
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
  Deno.test(`\`fetchAll()\` downloads a damaged store copy again (${name})`, async () => {
    await withSetup(THREE_IMAGES, async (s) => {
      assertOutcome(await s.fetchHere(), 0);
      const image = `${s.dest}/store/${V200.sha256}`;
      await Deno.chmod(image, 0o644);
      await damage(image);
      s.origin.clear();

      const result = await s.fetchHere();
      assertOutcome(result, 0, "damaged");
      assert.deepEqual(imageRequests(s.origin).map((r) => r.path), [`/store/${V200.sha256}`]);
      assert.equal(await Deno.readTextFile(image), V200.content);
      assert.equal(mode(await Deno.lstat(image)), 0o444);
      await checkInvariants(s.dest);
    });
  });
}

Deno.test("`fetchAll()` without Version= says that any version is accepted", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    const result = await s.fetchHere();
    assertOutcome(result, 0, "any version");
    assert.equal(await latestDigest(s.dest), V200.sha256);
  });
});

Deno.test("`fetchAll()` with Version=^1.0 ignores 2.0.0", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    await s.writeConfig({ version: "^1.0" });
    const result = await s.fetchHere();
    assertOutcome(result, 0);
    assert.ok(!result.stderr.includes("any version"), result.stderr);
    assert.equal(await latestDigest(s.dest), V110.sha256);
    assert.deepEqual(imageRequests(s.origin).map((r) => r.path), [`/store/${V110.sha256}`]);
    await checkInvariants(s.dest);
  });
});

Deno.test("`fetchAll()` under --init on an empty destination fetches without restarting units", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    await s.writeConfig({ restart: ["app.service"] });
    assertOutcome(await s.fetchHere("--init"), 0);
    assert.equal(await latestDigest(s.dest), V200.sha256);
    assert.deepEqual(s.services.calls, []);
    await checkInvariants(s.dest);

    // The unit started on this image: a later run has nothing to restart.
    assertOutcome(await s.fetchHere(), 0);
    assert.deepEqual(s.services.calls, []);
  });
});

Deno.test("`fetchAll()` under --init fetches again when the image latest points to is missing", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    assertOutcome(await s.fetchHere(), 0);
    await Deno.remove(`${s.dest}/store/${V200.sha256}`);
    s.origin.clear();

    assertOutcome(await s.fetchHere("--init"), 0);
    assert.deepEqual(imageRequests(s.origin).map((r) => r.path), [`/store/${V200.sha256}`]);
    await checkInvariants(s.dest);
  });
});

Deno.test("`fetchAll()` under --init acts on a Version= pin that latest's image does not match", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    await s.writeConfig({ restart: ["app.service"] });
    assertOutcome(await s.fetchHere(), 0);
    assert.equal(await latestDigest(s.dest), V200.sha256);
    // Pinned to go back: the unit's ExecStartPre= must install the pinned version.
    await s.writeConfig({ restart: ["app.service"], version: "1.1.0" });
    const result = await s.fetchHere("--init");
    assertOutcome(result, 0, "latest is now 1.1.0");
    assert.ok(!result.stderr.includes("already in place"), result.stderr);
    assert.equal(await latestDigest(s.dest), V110.sha256);
    // Still no restart from --init: only the first plain fetch restarted.
    assert.deepEqual(s.services.calls, ["app.service"]);
    // Now provisioned under the pin: nothing to do, no request.
    s.origin.clear();
    assertOutcome(await s.fetchHere("--init"), 0, "1.1.0 is already in place");
    assert.deepEqual(s.origin.requests, []);
    await checkInvariants(s.dest);
  });
});

Deno.test("`fetchAll()` prunes by KeepImages= after each run, keeping latest and the previous image", async () => {
  await withSetup([V100], async (s) => {
    await s.writeConfig({ version: "*", extra: ["KeepImages=1"] });
    assertOutcome(await s.fetchHere(), 0);
    await s.publish([V100, V110]);
    assertOutcome(await s.fetchHere(), 0);
    await s.publish([V100, V110, V200]);
    assertOutcome(await s.fetchHere(), 0, "removed 1.0.0");
    const kept = (await Array.fromAsync(Deno.readDir(`${s.dest}/store`))).map((e) => e.name);
    assert.deepEqual(kept.sort(), [V110.sha256, V200.sha256].sort());
    await checkInvariants(s.dest);
  });
});
