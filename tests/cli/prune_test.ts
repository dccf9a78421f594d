/**
 * Black-box tests of `tako prune` (SPEC §4 `KeepImages=`, `MaxStoreSize=`;
 * §6 "Pruning"): a destination laid out by hand (images, a manifest signed
 * with the test key, `latest`, `.state`, and files that are not Tako's), then
 * the CLI run with the compiled binary's permissions.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { runTako, takoCommand, type TakoResult } from "../../dev/run_tako.ts";
import { acquireLock } from "../../lib/shell/lock.ts";
import { generateSecretKey, parseSecretKey, type SecretKey } from "../../lib/core/keys.ts";
import { type Entry } from "../../lib/core/manifest.ts";
import { signManifest } from "../../lib/core/manifest_signature.ts";
import { assert } from "../support/assert.ts";
import { TEST_PUBLIC_KEY, TEST_SECRET_KEY } from "../support/vectors.ts";

const TEST_KEY = parseSecretKey(TEST_SECRET_KEY, "test key");

type Image = Entry & { readonly content: string };

/** A test image: version and contents; size and digest are derived. */
function image(version: string, content: string): Image {
  const bytes = new TextEncoder().encode(content);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  return { version, size: BigInt(bytes.length), sha256, content };
}

const V1 = image("1.0.0", "image one\n"); // 10 B
const V2 = image("1.1.0", "image one point one\n"); // 20 B
const V3 = image("1.2.0", "image one point two, larger\n"); // 28 B
const V4 = image("2.0.0", "image two\n"); // 10 B
/** A 64-hex regular file the manifest does not list: an old image whose entry is gone. */
const STRAY = image("0", "an image from another manifest\n");

interface Setup {
  readonly root: string;
  readonly dest: string;
  /** Writes the config with these extra lines and returns its path. */
  config(extra: string): Promise<string>;
}

async function withSetup(fn: (s: Setup) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "tako-prune-" });
  const dest = join(root, "dest");
  try {
    await fn({
      root,
      dest,
      async config(extra) {
        const path = join(root, "app.tako");
        await Deno.writeTextFile(
          path,
          `Origin=http://127.0.0.1:9/app\nPublicKey=${TEST_PUBLIC_KEY}\nDestination=${dest}\n${extra}`,
        );
        return path;
      },
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

/** Lays out a destination by hand: images, signed manifest, latest and .state. */
async function layOut(
  dest: string,
  options: {
    manifest: readonly Entry[];
    stored: readonly Image[];
    latest?: string;
    previous?: string;
    key?: SecretKey;
  },
): Promise<void> {
  await Deno.mkdir(join(dest, "store"), { recursive: true });
  await Deno.writeFile(
    join(dest, "manifest"),
    signManifest(options.manifest, options.key ?? TEST_KEY),
  );
  for (const stored of options.stored) {
    const path = join(dest, "store", stored.sha256);
    await Deno.writeTextFile(path, stored.content);
    await Deno.chmod(path, 0o444);
  }
  if (options.latest !== undefined) {
    await Deno.symlink(`store/${options.latest}`, join(dest, "latest"));
  }
  await Deno.writeTextFile(
    join(dest, ".state"),
    JSON.stringify({ restartPending: false, previous: options.previous }),
  );
}

/** The names in store/, sorted. */
async function storeNames(dest: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(join(dest, "store")))).map((e) => e.name).sort();
}

const sorted = (...names: string[]) => [...names].sort();

function assertExit(result: TakoResult, code: number): void {
  assert.equal(
    result.code,
    code,
    `exit ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`,
  );
}

Deno.test("`tako prune` keeps latest, previous and every file that is not an image", async () => {
  await withSetup(async (s) => {
    // latest is not the newest image (pinned back), previous is older still.
    await layOut(s.dest, {
      manifest: [V1, V2, V3, V4],
      stored: [STRAY, V1, V2, V3, V4],
      latest: V3.sha256,
      previous: V2.sha256,
    });
    const outside = join(s.root, "outside");
    await Deno.writeTextFile(outside, "not in the store");
    const foreign = {
      readme: "README",
      temporary: ".tmp-0123456789abcdef",
      upper: V1.sha256.toUpperCase(),
      short: V1.sha256.slice(1),
      longer: V1.sha256 + "0",
      link: "a".repeat(64),
      directory: "b".repeat(64),
    };
    for (
      const name of [
        foreign.readme,
        foreign.temporary,
        foreign.upper,
        foreign.short,
        foreign.longer,
      ]
    ) {
      await Deno.writeTextFile(join(s.dest, "store", name), "not ours");
    }
    await Deno.symlink(outside, join(s.dest, "store", foreign.link));
    await Deno.mkdir(join(s.dest, "store", foreign.directory));
    await Deno.writeTextFile(join(s.dest, "notes.txt"), "the administrator's");

    const result = await runTako(["prune", await s.config("KeepImages=1\n")]);
    assertExit(result, 0);
    assert.equal(result.stdout, "");
    assert.deepEqual(
      await storeNames(s.dest),
      sorted(V2.sha256, V3.sha256, ...Object.values(foreign)),
    );
    assert.equal(await Deno.readTextFile(outside), "not in the store");
    assert.equal(await Deno.readTextFile(join(s.dest, "notes.txt")), "the administrator's");
    assert.equal(await Deno.readLink(join(s.dest, "latest")), `store/${V3.sha256}`);
    for (const name of ["manifest", ".state"]) await Deno.lstat(join(s.dest, name));

    // Oldest first: the unlisted image, then 1.0.0, then 2.0.0; each logged with its size.
    const lines = result.stderr.trimEnd().split("\n");
    assert.deepEqual(lines.slice(0, 3), [
      `tako: ${s.root}/app.tako: removed an image the manifest does not list (31 B, store/${STRAY.sha256}).`,
      `tako: ${s.root}/app.tako: removed 1.0.0 (10 B, store/${V1.sha256}).`,
      `tako: ${s.root}/app.tako: removed 2.0.0 (10 B, store/${V4.sha256}).`,
    ]);
    assert.match(
      lines[3]!,
      /^tako: warning: .*app\.tako: KeepImages=1 cannot be met: the image latest points to and the previous one are always kept \(2 images, 48 B remain\)\.$/,
    );
    assert.equal(lines[4], `tako: ${s.root}/app.tako: removed 3 images, freed 51 B.`);
  });
});

Deno.test("`tako prune` removes the oldest images until MaxStoreSize= is met", async () => {
  await withSetup(async (s) => {
    await layOut(s.dest, {
      manifest: [V1, V2, V3, V4],
      stored: [V1, V2, V3, V4],
      latest: V4.sha256,
    });
    // 68 bytes stored; 40 allowed: 1.0.0 (10) and 1.1.0 (20) go, 38 bytes remain.
    const result = await runTako(["prune", await s.config("MaxStoreSize=40\n")]);
    assertExit(result, 0);
    assert.deepEqual(await storeNames(s.dest), sorted(V3.sha256, V4.sha256));
    assert.ok(!result.stderr.includes("warning"), result.stderr);
    assert.ok(result.stderr.includes("removed 2 images, freed 30 B."), result.stderr);

    const again = await runTako(["prune", await s.config("MaxStoreSize=40\n")]);
    assertExit(again, 0);
    assert.ok(again.stderr.includes("app.tako: nothing to remove.\n"));
    assert.deepEqual(await storeNames(s.dest), sorted(V3.sha256, V4.sha256));
  });
});

Deno.test("`tako prune` applies both limits together", async () => {
  await withSetup(async (s) => {
    await layOut(s.dest, {
      manifest: [V1, V2, V3, V4],
      stored: [V1, V2, V3, V4],
      latest: V4.sha256,
      previous: V1.sha256,
    });
    // KeepImages=3 alone would remove 1.1.0; MaxStoreSize=20 then needs 1.2.0 gone too.
    const result = await runTako(["prune", await s.config("KeepImages=3\nMaxStoreSize=20\n")]);
    assertExit(result, 0);
    assert.deepEqual(await storeNames(s.dest), sorted(V1.sha256, V4.sha256));
  });
});

Deno.test("`tako prune` removes nothing without KeepImages= or MaxStoreSize=", async () => {
  await withSetup(async (s) => {
    await layOut(s.dest, { manifest: [V1, V2], stored: [STRAY, V1, V2], latest: V2.sha256 });
    const result = await runTako(["prune", await s.config("")]);
    assertExit(result, 0);
    assert.match(result.stderr, /neither KeepImages= nor MaxStoreSize= is set; nothing to prune\./);
    assert.deepEqual(await storeNames(s.dest), sorted(STRAY.sha256, V1.sha256, V2.sha256));
  });
});

Deno.test("`tako prune` fails with exit 3 for a missing config and goes on with the next", async () => {
  await withSetup(async (s) => {
    await layOut(s.dest, { manifest: [V1, V2], stored: [V1, V2], latest: V2.sha256 });
    const missing = join(s.root, "missing.tako");
    const result = await runTako(["prune", missing, await s.config("KeepImages=1\n")]);
    assertExit(result, 3);
    assert.match(result.stderr, /^tako: error: .*missing\.tako.*does not exist\.\n/);
    assert.deepEqual(await storeNames(s.dest), [V2.sha256]);
  });
});

Deno.test("`tako prune` fails with exit 1 for a missing destination and does not create it", async () => {
  await withSetup(async (s) => {
    const config = await s.config("KeepImages=1\n");
    const result = await runTako(["prune", config]);
    assertExit(result, 1);
    assert.ok(
      result.stderr.includes(
        `${config}: destination ${s.dest} does not exist yet; run 'tako fetch ${config}' first.`,
      ),
      result.stderr,
    );
    await assert.rejects(() => Deno.lstat(s.dest), Deno.errors.NotFound);
  });
});

Deno.test("`tako prune` removes nothing when the stored manifest does not verify (exit 4)", async () => {
  await withSetup(async (s) => {
    const other = generateSecretKey(new TextEncoder().encode("another-key-another-key-another!"));
    await layOut(s.dest, {
      manifest: [V1, V2, V3],
      stored: [V1, V2, V3],
      latest: V3.sha256,
      key: other,
    });
    const result = await runTako(["prune", await s.config("KeepImages=1\n")]);
    assertExit(result, 4);
    assert.match(result.stderr, /the signature does not verify/);
    assert.match(result.stderr, /Nothing is pruned/);
    assert.deepEqual(await storeNames(s.dest), sorted(V1.sha256, V2.sha256, V3.sha256));
  });
});

Deno.test("`tako prune` removes nothing when latest is not a link into store/ (exit 1)", async () => {
  await withSetup(async (s) => {
    await layOut(s.dest, { manifest: [V1, V2], stored: [V1, V2] });
    await Deno.writeTextFile(join(s.dest, "latest"), V1.content);
    const result = await runTako(["prune", await s.config("KeepImages=1\n")]);
    assertExit(result, 1);
    assert.match(result.stderr, /latest is a regular file, not a link into store\//);
    assert.deepEqual(await storeNames(s.dest), sorted(V1.sha256, V2.sha256));
  });
});

Deno.test("`tako prune` waits for a run that holds the lock, then prunes", async () => {
  await withSetup(async (s) => {
    await layOut(s.dest, { manifest: [V1, V2, V3], stored: [V1, V2, V3], latest: V3.sha256 });
    const config = await s.config("KeepImages=1\n");
    const lock = await acquireLock(s.dest, 0);
    let child: Deno.ChildProcess | undefined;
    try {
      child = (await takoCommand(["prune", config])).spawn();
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.deepEqual(await storeNames(s.dest), sorted(V1.sha256, V2.sha256, V3.sha256));
    } finally {
      lock.release();
    }
    const output = await child.output();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    assert.deepEqual(await storeNames(s.dest), [V3.sha256]);
  });
});
