/**
 * Black-box tests of `tako status`: a destination laid out by hand (images,
 * a manifest signed with the test key, `latest`, `.state`), then the CLI run
 * with the compiled binary's permissions. Status is read-only: it makes no
 * request (the config's origin is a test origin whose log must stay empty),
 * writes nothing and does not wait for a run that holds the lock.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { runTako, type TakoResult } from "../../dev/run_tako.ts";
import { acquireLock } from "../../lib/shell/lock.ts";
import { generateSecretKey, parseSecretKey } from "../../lib/core/keys.ts";
import { type Entry } from "../../lib/core/manifest.ts";
import { signManifest } from "../../lib/core/manifest_signature.ts";
import { startOrigin, type TestOrigin } from "../support/origin_server.ts";
import { assert } from "../support/assert.ts";
import { TEST_PUBLIC_KEY, TEST_SECRET_KEY } from "../support/vectors.ts";

const TEST_KEY = parseSecretKey(TEST_SECRET_KEY, "test key");

/** A test image: version and contents; size and digest are derived. */
function image(version: string, content: string): Entry & { content: string } {
  const bytes = new TextEncoder().encode(content);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  return { version, size: BigInt(bytes.length), sha256, content };
}

const V1 = image("1.0.0", "image one\n");
const V2 = image("1.1.0", "image one point one\n");
const V3 = image("2.0.0", "image two, a little larger\n");

interface Setup {
  readonly root: string;
  readonly dest: string;
  readonly config: string;
  readonly origin: TestOrigin;
}

/** A temporary root with an empty test origin, `dest/` and a config file for it. */
async function withSetup(fn: (s: Setup) => Promise<void>, extraConfig = ""): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "tako-status-" });
  const originDir = join(root, "origin");
  await Deno.mkdir(originDir);
  const origin = await startOrigin(originDir);
  try {
    const dest = join(root, "dest");
    const config = join(root, "app.tako");
    await Deno.writeTextFile(
      config,
      `Origin=${origin.url}\nPublicKey=${TEST_PUBLIC_KEY}\nDestination=${dest}\n` +
        `Version=1.*\nRestart=app.service\n${extraConfig}`,
    );
    await fn({ root, dest, config, origin });
    assert.deepEqual(origin.requests, [], "status made a network request");
  } finally {
    await origin.close();
    await Deno.remove(root, { recursive: true });
  }
}

/** Lays out a destination by hand: images, signed manifest, latest and .state. */
async function layOut(
  dest: string,
  options: {
    manifest?: readonly Entry[];
    stored?: readonly (Entry & { content: string })[];
    latest?: string;
    state?: Record<string, unknown>;
    key?: typeof TEST_KEY;
  },
): Promise<void> {
  await Deno.mkdir(join(dest, "store"), { recursive: true });
  if (options.manifest !== undefined) {
    await Deno.writeFile(
      join(dest, "manifest"),
      signManifest(options.manifest, options.key ?? TEST_KEY),
    );
  }
  for (const stored of options.stored ?? []) {
    await Deno.writeTextFile(join(dest, "store", stored.sha256), stored.content);
  }
  if (options.latest !== undefined) {
    await Deno.symlink(`store/${options.latest}`, join(dest, "latest"));
  }
  if (options.state !== undefined) {
    await Deno.writeTextFile(join(dest, ".state"), JSON.stringify(options.state));
  }
}

/** The usual destination: 1.0.0 (previous) and 2.0.0 (latest) stored, 1.1.0 not. */
async function layOutUsual(dest: string): Promise<void> {
  await layOut(dest, {
    manifest: [V1, V2, V3],
    stored: [V1, V3],
    latest: V3.sha256,
    state: {
      restartPending: true,
      previous: V1.sha256,
      lastSuccess: "2024-05-01T09:00:00.000Z",
    },
  });
}

/** Every path under `dir` with its size and modification time, to show nothing changed. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    const info = await Deno.lstat(path);
    out.push(`${entry.name} ${info.size} ${info.mtime?.getTime()}`);
    if (entry.isDirectory) out.push(...(await snapshot(path)).map((p) => `${entry.name}/${p}`));
  }
  return out.sort();
}

function assertExit(result: TakoResult, code: number): void {
  assert.equal(
    result.code,
    code,
    `exit ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`,
  );
}

Deno.test("`tako status` shows the versions, the store and the state of a destination", async () => {
  await withSetup(async (s) => {
    await layOutUsual(s.dest);
    const result = await runTako(["status", s.config]);
    assertExit(result, 0);
    assert.equal(result.stderr, "");
    const lines = result.stdout.split("\n");
    assert.equal(lines[0], s.config);
    for (
      const expected of [
        `  destination  ${s.dest}`,
        `  origin       ${s.origin.url}`,
        "  pattern      1.*",
        "  manifest     verified, 3 versions",
        `  latest       2.0.0 (store/${V3.sha256.slice(0, 12)}…)`,
        "  newest       1.1.0 (compatible)",
        "  store        2 images, 37 B",
        "  restart      pending for app.service",
      ]
    ) {
      assert.ok(
        lines.includes(expected),
        `no line ${JSON.stringify(expected)} in\n${result.stdout}`,
      );
    }
    assert.match(result.stdout, /\n {2}last fetch {3}2024-05-01T09:00:00\.000Z \(\d+ d ago\)\n/);
    assert.match(result.stdout, /\n {2}1\.0\.0 +10 B +yes +\S+ +previous\n/);
    assert.match(result.stdout, /\n {2}1\.1\.0 +20 B +- +\S+ +newest compatible\n/);
    assert.match(result.stdout, /\n {2}2\.0\.0 +27 B +yes +\S+ +latest, incompatible\n/);
  });
});

Deno.test("`tako status --json` reports schema 1 with every field", async () => {
  await withSetup(async (s) => {
    await layOutUsual(s.dest);
    await Deno.writeTextFile(join(s.dest, "store", "README"), "not an image");
    const result = await runTako(["status", "--json", s.config]);
    assertExit(result, 0);
    assert.equal(result.stderr, "");
    const doc = JSON.parse(result.stdout);
    assert.equal(doc.schema, 1);
    assert.equal(doc.configs.length, 1);
    const c = doc.configs[0];
    assert.equal(c.config, s.config);
    assert.equal(c.destination, s.dest);
    assert.deepEqual(c.origins, [s.origin.url]);
    assert.equal(c.pattern, "1.*");
    assert.equal(c.version_given, true);
    assert.deepEqual(c.restart_units, ["app.service"]);
    assert.equal(c.keep_images, 2);
    assert.equal(c.max_store_size, 1024 ** 3);
    assert.equal(c.manifest, "verified");
    assert.deepEqual(c.versions.map((v: { version: string }) => v.version), [
      "1.0.0",
      "1.1.0",
      "2.0.0",
    ]);
    assert.deepEqual(c.versions.map((v: { present: boolean }) => v.present), [true, false, true]);
    assert.deepEqual(c.versions[2], {
      version: "2.0.0",
      size: 27,
      sha256: V3.sha256,
      present: true,
      stored_size: 27,
      latest: true,
      previous: false,
      compatible: false,
      newest_compatible: false,
    });
    assert.equal(c.newest_compatible, "1.1.0");
    assert.deepEqual(c.latest, {
      sha256: V3.sha256,
      version: "2.0.0",
      present: true,
      foreign: null,
    });
    assert.deepEqual(c.previous, { sha256: V1.sha256, version: "1.0.0", present: true });
    // Only images count: the README in store/ is not one.
    assert.deepEqual(c.store_images.map((i: { version: string }) => i.version).sort(), [
      "1.0.0",
      "2.0.0",
    ]);
    assert.equal(c.store_size, 37);
    assert.equal(c.restart_pending, true);
    assert.equal(c.last_success, "2024-05-01T09:00:00.000Z");
    assert.equal(c.error, null);
  }, "KeepImages=2\nMaxStoreSize=1G\n");
});

Deno.test("`tako status` writes nothing in the destination and creates no lock file", async () => {
  await withSetup(async (s) => {
    await layOutUsual(s.dest);
    const before = await snapshot(s.dest);
    assertExit(await runTako(["status", s.config]), 0);
    assertExit(await runTako(["status", "--json", s.config]), 0);
    assert.deepEqual(await snapshot(s.dest), before);
  });
});

Deno.test("`tako status` answers at once while another run holds the lock", async () => {
  await withSetup(async (s) => {
    await layOutUsual(s.dest);
    const lock = await acquireLock(s.dest, 0);
    try {
      const started = Date.now();
      const result = await runTako(["status", "--json", s.config]);
      assertExit(result, 0);
      assert.equal(JSON.parse(result.stdout).configs[0].latest.version, "2.0.0");
      assert.ok(Date.now() - started < 20_000, "status waited for the lock");
    } finally {
      lock.release();
    }
  });
});

Deno.test("`tako status` reports a destination that has no image yet", async () => {
  await withSetup(async (s) => {
    await Deno.mkdir(s.dest);
    const result = await runTako(["status", "--json", s.config]);
    assertExit(result, 0);
    const c = JSON.parse(result.stdout).configs[0];
    assert.equal(c.manifest, "absent");
    assert.deepEqual(c.versions, []);
    assert.equal(c.latest, null);
    assert.equal(c.store_size, 0);
    assert.equal(c.last_success, null);
    assert.equal(c.restart_pending, false);
    const text = await runTako(["status", s.config]);
    assertExit(text, 0);
    assert.ok(text.stdout.includes("  manifest     none yet\n"), text.stdout);
    assert.ok(text.stdout.includes("  latest       none\n"), text.stdout);
    assert.ok(text.stdout.includes("  last fetch   never\n"), text.stdout);
  });
});

Deno.test("`tako status` fails with exit 3 for a missing config and still reports the others", async () => {
  await withSetup(async (s) => {
    await layOutUsual(s.dest);
    const missing = join(s.root, "missing.tako");
    const result = await runTako(["status", "--json", missing, s.config]);
    assertExit(result, 3);
    assert.match(result.stderr, /^tako: error: .*missing\.tako.*does not exist\.\n$/);
    const [bad, good] = JSON.parse(result.stdout).configs;
    assert.equal(bad.config, missing);
    assert.equal(bad.error.kind, "config");
    assert.match(bad.error.message, /missing\.tako.*does not exist/);
    assert.equal(bad.versions, null);
    assert.equal(bad.store_size, null);
    assert.equal(good.error, null);
    assert.equal(good.latest.version, "2.0.0");

    const text = await runTako(["status", missing]);
    assertExit(text, 3);
    assert.match(
      text.stdout,
      /^.*missing\.tako\n {2}error {8}.*missing\.tako.*does not exist\.\n/,
    );
  });
});

Deno.test("`tako status` fails with exit 1 for a missing destination and does not create it", async () => {
  await withSetup(async (s) => {
    const result = await runTako(["status", "--json", s.config]);
    assertExit(result, 1);
    assert.ok(
      result.stderr.includes(
        `${s.config}: destination ${s.dest} does not exist yet; run 'tako fetch ${s.config}' first.`,
      ),
      result.stderr,
    );
    const c = JSON.parse(result.stdout).configs[0];
    assert.equal(c.error.kind, "runtime");
    assert.equal(c.destination, s.dest);
    assert.deepEqual(c.origins, [s.origin.url]);
    assert.equal(c.manifest, null);
    await assert.rejects(() => Deno.lstat(s.dest), Deno.errors.NotFound);
  });
});

Deno.test("`tako status` reports a stored manifest that does not verify as untrusted, exit 4", async () => {
  await withSetup(async (s) => {
    const otherKey = generateSecretKey(
      new TextEncoder().encode("another-key-another-key-another!"),
    );
    await layOut(s.dest, {
      manifest: [V1, V3],
      stored: [V1, V3],
      latest: V3.sha256,
      key: otherKey,
    });
    const result = await runTako(["status", "--json", s.config]);
    assertExit(result, 4);
    assert.match(result.stderr, /manifest: the signature does not verify/);
    const c = JSON.parse(result.stdout).configs[0];
    assert.equal(c.manifest, "unverifiable");
    assert.equal(c.versions, null);
    assert.equal(c.newest_compatible, null);
    assert.equal(c.latest.sha256, V3.sha256);
    assert.equal(c.latest.version, null);
    assert.equal(c.store_size, 37);
    assert.equal(c.error.kind, "integrity");

    const text = await runTako(["status", s.config]);
    assertExit(text, 4);
    assert.ok(
      text.stdout.includes(
        "  manifest     does not verify under the configured PublicKey= (not trusted)\n",
      ),
      text.stdout,
    );
  });
});

Deno.test("`tako status` escapes control characters from the config path", async () => {
  await withSetup(async (s) => {
    await layOutUsual(s.dest);
    const odd = join(s.root, "app\x1b[2J.tako");
    await Deno.copyFile(s.config, odd);
    const text = await runTako(["status", odd]);
    assertExit(text, 0);
    assert.ok(!text.stdout.includes("\x1b"), JSON.stringify(text.stdout));
    assert.ok(text.stdout.startsWith(`${s.root}/app\\u{1b}[2J.tako\n`), text.stdout);
    const json = await runTako(["status", "--json", odd]);
    assertExit(json, 0);
    assert.ok(!json.stdout.includes("\x1b"));
    assert.equal(JSON.parse(json.stdout).configs[0].config, odd);

    const missing = await runTako(["status", join(s.root, "gone\x07.tako")]);
    assertExit(missing, 3);
    assert.ok(!missing.stderr.includes("\x07") && !missing.stdout.includes("\x07"));
  });
});

Deno.test("`tako status` reports a Version= that matches none of the versions on offer in `problems`", async () => {
  await withSetup(async (s) => {
    await layOutUsual(s.dest);
    const text1 = await Deno.readTextFile(s.config);
    await Deno.writeTextFile(s.config, text1.replace("Version=1.*", "Version=3.*"));
    const json = await runTako(["status", "--json", s.config]);
    assertExit(json, 0);
    const entry = JSON.parse(json.stdout).configs[0];
    assert.equal(entry.error, null);
    assert.equal(entry.problems.length, 1);
    assert.ok(entry.problems[0].startsWith("no version matches Version=3.* ("), entry.problems[0]);
    const text = await runTako(["status", s.config]);
    assert.match(text.stdout, /^ {2}problem {6}no version matches Version=3\.\* /m);
  });
});

/** The jq filter of the monitoring recipe in docs/tako-status.md, as the docs give it. */
async function monitoringFilter(): Promise<string> {
  const docs = await Deno.readTextFile(new URL("../../docs/tako-status.md", import.meta.url));
  const filter = /\| jq -e '([^']+)'/.exec(docs)?.[1];
  assert.ok(filter !== undefined, "the monitoring recipe is in docs/tako-status.md");
  return filter;
}

async function jqExit(filter: string, input: string): Promise<number> {
  const child = new Deno.Command("jq", { args: ["-e", filter], stdin: "piped", stdout: "null" })
    .spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  return (await child.status).code;
}

const HAS_JQ = await new Deno.Command("jq", { args: ["--version"], stdout: "null", stderr: "null" })
  .output().then((o) => o.success, () => false);

Deno.test({
  name:
    "the docs' monitoring recipe passes a healthy host and fails one whose Version= matches nothing",
  ignore: !HAS_JQ,
  async fn() {
    const filter = await monitoringFilter();
    await withSetup(async (s) => {
      await layOutUsual(s.dest);
      const healthy = await runTako(["status", "--json", s.config]);
      assert.equal(await jqExit(filter, healthy.stdout), 0, healthy.stdout);
      const text = await Deno.readTextFile(s.config);
      await Deno.writeTextFile(s.config, text.replace("Version=1.*", "Version=3.*"));
      const frozen = await runTako(["status", "--json", s.config]);
      assertExit(frozen, 0);
      assert.equal(await jqExit(filter, frozen.stdout), 1, frozen.stdout);
    });
  },
});
