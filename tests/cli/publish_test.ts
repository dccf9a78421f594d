/**
 * Black-box tests of the publisher's side (`tako gen-key`, `tako store`), of
 * help, version and usage errors, and of both command-line dialects. Every
 * test spawns Tako with the compiled binary's permissions; what `store()`
 * refuses is tested in process (tests/unit/commands/store_test.ts).
 *
 * @module
 */
import { join } from "node:path";
import { runTako, takoCommand } from "../../dev/run_tako.ts";
import { acquireLock } from "../../lib/shell/lock.ts";
import { parseSecretKey } from "../../lib/core/keys.ts";
import { parsePublicKey } from "../../lib/core/public_key.ts";
import { assert } from "../support/assert.ts";
import { indexV1 } from "../support/index_v1.ts";
import {
  assertFails,
  assertNoStackTrace,
  assertNoTemporaries,
  assertOk,
  IMAGE_ONE,
  IMAGE_ONE_ONE,
  IMAGE_TWO,
  INDEX_NAME,
  manifestOf,
  modeOf,
  OTHER_SECRET_KEY,
  readManifest,
  store,
  storeNames,
  withOrigin,
} from "../support/store_setup.ts";
import {
  TEST_PUBLIC_KEY,
  TEST_SECRET_KEY,
  TEST_SECRET_KEY_64,
  THREE_ENTRY_MANIFEST,
  THREE_IMAGES,
} from "../support/vectors.ts";

// ---------------------------------------------------------------------------
// gen-key

Deno.test("`tako gen-key` prints a matching secret and public key and writes nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tako-gen-key-" });
  try {
    const results = [
      await runTako(["gen-key"], { cwd: dir }),
      await runTako(["gen-key"], { cwd: dir }),
    ];
    const keys: string[] = [];
    for (const result of results) {
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr, "");
      const lines = result.stdout.split("\n");
      assert.equal(lines.at(-1), "", "ends with a line feed");
      const secrets = lines.filter((l) => l.startsWith("SECRET+"));
      const publics = lines.filter((l) => /^[A-Za-z0-9+/]{43}=$/.test(l));
      assert.equal(secrets.length, 1, result.stdout);
      assert.equal(publics.length, 1, result.stdout);
      const secret = secrets[0]!;
      const publicKey = publics[0]!;
      assert.equal(secret.length, 135);
      assert.equal(publicKey.length, 44);
      assert.deepEqual(
        parseSecretKey(secret, "gen-key's output").publicKey,
        parsePublicKey(publicKey, "gen-key's output"),
      );
      // The secret key is labelled as such, so nobody mistakes it for the public one.
      const labels = lines.filter((l) => l.startsWith("#")).join("\n");
      assert.match(labels, /secret/i);
      assert.match(labels, /public/i);
      keys.push(secret);
    }
    assert.notEqual(keys[0], keys[1], "two runs give two different keys");
    assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), [], "nothing written");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------
// store: the SPEC vectors

Deno.test("`tako store` of the three SPEC images gives the SPEC manifest byte for byte", async () => {
  const orders = [
    ["1.0.0", "1.1.0", "2.0.0"],
    ["2.0.0", "1.0.0", "1.1.0"],
    ["1.1.0", "2.0.0", "1.0.0"],
    ["2.0.0", "1.1.0", "1.0.0"],
  ];
  for (const order of orders) {
    await withOrigin(async (dir) => {
      for (const version of order) assertOk(await store(dir, version), version);
      assert.equal(await readManifest(dir), THREE_ENTRY_MANIFEST, order.join(" "));
      assert.equal(await modeOf(join(dir, "out", "manifest")), 0o444, "manifest is read-only");
      assert.deepEqual(await storeNames(dir), THREE_IMAGES.map((i) => i.sha256).sort());
      for (const image of THREE_IMAGES) {
        const path = join(dir, "out", "store", image.sha256);
        assert.equal(await Deno.readTextFile(path), image.content);
        assert.equal(await modeOf(path), 0o444, `store/${image.sha256} is read-only`);
      }
      await assertNoTemporaries(dir);
    });
  }
});

Deno.test("`tako store` writes each image's chunk index beside it; `tako index` adds missing ones", async () => {
  await withOrigin(async (dir) => {
    for (const image of THREE_IMAGES) assertOk(await store(dir, image.version), image.version);
    const indexes = async () =>
      (await Array.fromAsync(Deno.readDir(join(dir, "out", "store")))).map((e) => e.name)
        .filter((name) => INDEX_NAME.test(name)).sort();
    assert.deepEqual(await indexes(), THREE_IMAGES.map((i) => `${i.sha256}.index`).sort());
    for (const image of THREE_IMAGES) {
      const path = join(dir, "out", "store", `${image.sha256}.index`);
      const bytes = await Deno.readFile(path);
      assert.equal(new TextDecoder().decode(bytes.subarray(0, 8)), "TAKOINDX");
      assert.equal(bytes.length, 56 + 6, "one block, version 2");
      assert.equal(await modeOf(path), 0o444);
    }
    // Images stored without one (by an older Tako or by hand) get theirs from `tako index`,
    // and a version-1 index (an older Tako's) is rewritten as version 2.
    const removed = join(dir, "out", "store", `${IMAGE_TWO.sha256}.index`);
    await Deno.remove(removed);
    const older = join(dir, "out", "store", `${IMAGE_ONE.sha256}.index`);
    await Deno.remove(older);
    await Deno.writeFile(older, indexV1(new TextEncoder().encode(IMAGE_ONE.content)));
    const result = await runTako(["index", "-o", "out"], { cwd: dir });
    assertOk(result, "tako index");
    assert.match(result.stderr, /2 index\(es\) written, 1 already in place/);
    assert.equal((await Deno.readFile(removed)).length, 62);
    assert.equal((await Deno.readFile(older))[9], 2, "version 2 now");
    assert.equal(await modeOf(older), 0o444);
    // A present index is kept only when its entries are the image's too: a damaged entry under
    // an intact header is written anew; a second run then keeps all three.
    const good = await Deno.readFile(older);
    const tampered = good.slice();
    tampered[60] = tampered[60]! ^ 1;
    await Deno.remove(older);
    await Deno.writeFile(older, tampered);
    const again = await runTako(["index", "-o", "out"], { cwd: dir });
    assertOk(again, "tako index over a damaged entry");
    assert.match(again.stderr, /1 index\(es\) written, 2 already in place/);
    assert.deepEqual(await Deno.readFile(older), good);
    const idle = await runTako(["index", "-o", "out"], { cwd: dir });
    assert.match(idle.stderr, /0 index\(es\) written, 3 already in place/);
    // A damaged image gets no index, and the run says which and fails.
    await Deno.remove(removed);
    const damaged = join(dir, "out", "store", IMAGE_TWO.sha256);
    await Deno.chmod(damaged, 0o644);
    await Deno.writeTextFile(damaged, "not image two\n");
    assertFails(
      await runTako(["index", "-q", "-o", "out"], { cwd: dir }),
      4,
      IMAGE_TWO.sha256,
      "damaged",
    );
    await assert.rejects(() => Deno.stat(removed), Deno.errors.NotFound);
    await assertNoTemporaries(dir);
    assertFails(
      await runTako(["index", "-o", "nowhere"], { cwd: dir }),
      2,
      "nowhere",
      "does not exist; create it first",
    );
  });
});

Deno.test("`tako index` waits for a store that holds the origin's lock, and says so", async () => {
  await withOrigin(async (dir) => {
    assertOk(await store(dir, IMAGE_ONE.version), "store");
    const out = join(dir, "out");
    await Deno.remove(join(out, "store", `${IMAGE_ONE.sha256}.index`));
    const lock = await acquireLock(out, 0);
    const child = (await takoCommand(["index", "-o", out])).spawn();
    try {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await assert.rejects(
        () => Deno.stat(join(out, "store", `${IMAGE_ONE.sha256}.index`)),
        Deno.errors.NotFound,
        "nothing is written while the lock is held",
      );
    } finally {
      lock.release();
    }
    const result = await child.output();
    const stderr = new TextDecoder().decode(result.stderr);
    assert.equal(result.code, 0, stderr);
    assert.match(stderr, /waiting for another tako run, which holds .*\.lock/);
    assert.match(stderr, /1 index\(es\) written/);
  });
});

Deno.test("`tako store` reports what it stored on stderr, and nothing when --quiet", async () => {
  await withOrigin(async (dir) => {
    const result = await store(dir, "1.0.0");
    assertOk(result, "store");
    assert.ok(result.stderr.includes("1.0.0"), result.stderr);
    assert.ok(result.stderr.includes(IMAGE_ONE.sha256), result.stderr);
    const quiet = await store(dir, "2.0.0", { key: ["-q", "-k", TEST_SECRET_KEY] });
    assertOk(quiet, "store -q");
    assert.equal(quiet.stderr, "");
  });
});

Deno.test("`tako store` takes the key from --key, -k, --key-file, -f or TAKO_SECRET_KEY", async () => {
  const cases: { name: string; key: string[]; env?: Record<string, string>; file?: string }[] = [
    { name: "--key", key: ["--key", TEST_SECRET_KEY] },
    { name: "--key=", key: [`--key=${TEST_SECRET_KEY}`] },
    { name: "-k", key: ["-k", TEST_SECRET_KEY] },
    { name: "--key-file", key: ["--key-file", "key"], file: `${TEST_SECRET_KEY}\n` },
    { name: "-f", key: ["-f", "key"], file: TEST_SECRET_KEY },
    { name: "--key-file=", key: ["--key-file=key"], file: `  ${TEST_SECRET_KEY}\r\n` },
    { name: "environment", key: [], env: { TAKO_SECRET_KEY: TEST_SECRET_KEY } },
    // Options win over the environment, even over a valid other key there.
    {
      name: "-k over env",
      key: ["-k", TEST_SECRET_KEY],
      env: { TAKO_SECRET_KEY: OTHER_SECRET_KEY },
    },
    {
      name: "-f over env",
      key: ["-f", "key"],
      file: TEST_SECRET_KEY,
      env: { TAKO_SECRET_KEY: "junk" },
    },
    { name: "64-byte key", key: ["-k", TEST_SECRET_KEY_64] },
    { name: "64-byte key file", key: ["-f", "key"], file: `${TEST_SECRET_KEY_64}\n` },
  ];
  for (const c of cases) {
    await withOrigin(async (dir) => {
      if (c.file !== undefined) await Deno.writeTextFile(join(dir, "key"), c.file);
      assertOk(await store(dir, "1.0.0", { key: c.key, ...(c.env ? { env: c.env } : {}) }), c.name);
      assert.equal(await readManifest(dir), manifestOf([IMAGE_ONE]), c.name);
    });
  }
});

// ---------------------------------------------------------------------------
// store: re-storing and conflicts

Deno.test("`tako store` runs started together wait for each other and lose no entry", async () => {
  await withOrigin(async (dir) => {
    const results = await Promise.all(THREE_IMAGES.map((image) => store(dir, image.version)));
    for (const result of results) assertOk(result, "concurrent store");
    assert.equal(await readManifest(dir), THREE_ENTRY_MANIFEST);
    await assertNoTemporaries(dir);
  });
});

// ---------------------------------------------------------------------------
// store: bad input

Deno.test("`tako store` refuses missing or unusable paths, naming them", async () => {
  const cases: { name: string; args: string[]; code: number; parts: string[] }[] = [
    {
      name: "no output dir",
      args: ["-o", "missing", "1.0.0.img", "1.0.0"],
      code: 2,
      parts: ["missing"],
    },
    {
      name: "output is a file",
      args: ["-o", "1.1.0.img", "1.0.0.img", "1.0.0"],
      code: 2,
      parts: ["1.1.0.img"],
    },
    {
      name: "no image",
      args: ["-o", "out", "nothing.img", "1.0.0"],
      code: 2,
      parts: ["nothing.img"],
    },
    { name: "image is a directory", args: ["-o", "out", "out", "1.0.0"], code: 2, parts: ["out"] },
    {
      name: "image name with control characters",
      args: ["-o", "out", "no\x1b[2J.img", "1.0.0"],
      code: 2,
      parts: ["no\\u{1b}[2J.img"],
    },
    {
      name: "no key file",
      args: ["-f", "nokey", "-o", "out", "1.0.0.img", "1.0.0"],
      code: 2,
      parts: ["nokey"],
    },
    {
      name: "key file is a directory",
      args: ["-f", "out", "-o", "out", "1.0.0.img", "1.0.0"],
      code: 2,
      parts: ["out"],
    },
  ];
  for (const c of cases) {
    await withOrigin(async (dir) => {
      const key = c.args[0] === "-f" ? [] : ["-k", TEST_SECRET_KEY];
      const result = await runTako(["store", ...key, ...c.args], { cwd: dir });
      assertFails(result, c.code, ...c.parts);
      await assertNoTemporaries(dir);
      assert.deepEqual(await storeNames(dir), [], `${c.name}: nothing stored`);
      await assert.rejects(() => Deno.stat(join(dir, "out", "manifest")), Deno.errors.NotFound);
      await assert.rejects(() => Deno.stat(join(dir, "missing")), Deno.errors.NotFound);
    });
  }
});

Deno.test("`tako store` refuses a malformed secret key without printing it", async () => {
  const seedless = TEST_SECRET_KEY.slice("SECRET+".length);
  const otherPublic = OTHER_SECRET_KEY.slice(-43, -43 + 43);
  // The test key with its second embedded public key replaced by another key's.
  const mismatched = TEST_SECRET_KEY.slice(0, 7 + 86) + OTHER_SECRET_KEY.slice(7 + 86);
  const mismatched64 = TEST_SECRET_KEY_64.slice(0, 7 + 43) + OTHER_SECRET_KEY.slice(7 + 43, 7 + 88);
  const cases: { name: string; key: string[]; env?: Record<string, string>; parts: string[] }[] = [
    { name: "no SECRET+ prefix", key: ["-k", seedless], parts: ["--key", "SECRET+"] },
    { name: "lowercase prefix", key: ["-k", `secret+${seedless}`], parts: ["--key", "SECRET+"] },
    { name: "public key", key: ["-k", TEST_PUBLIC_KEY], parts: ["--key"] },
    { name: "truncated", key: ["-k", TEST_SECRET_KEY.slice(0, -1)], parts: ["--key"] },
    { name: "bad base64", key: ["-k", TEST_SECRET_KEY.slice(0, -1) + "!"], parts: ["--key"] },
    { name: "embedded public key", key: ["-k", mismatched], parts: ["--key", "public key"] },
    { name: "embedded public key, 64 bytes", key: ["-k", mismatched64], parts: ["--key"] },
    { name: "other public key text", key: ["-k", `SECRET+${otherPublic}`], parts: ["--key"] },
    { name: "empty", key: ["--key="], parts: ["--key"] },
    { name: "env", key: [], env: { TAKO_SECRET_KEY: seedless }, parts: ["TAKO_SECRET_KEY"] },
    { name: "none", key: [], parts: ["--key", "--key-file", "TAKO_SECRET_KEY"] },
  ];
  for (const c of cases) {
    await withOrigin(async (dir) => {
      assertFails(
        await store(dir, "1.0.0", { key: c.key, ...(c.env ? { env: c.env } : {}) }),
        2,
        ...c.parts,
      );
      await assertNoTemporaries(dir);
      assert.deepEqual(await storeNames(dir), [], `${c.name}: nothing stored`);
    });
  }
  // The same for a key file: the message names the file.
  await withOrigin(async (dir) => {
    await Deno.writeTextFile(join(dir, "mismatched-signing.key"), `${mismatched}\n`);
    const result = await store(dir, "1.0.0", { key: ["-f", "mismatched-signing.key"] });
    assertFails(result, 2, "mismatched-signing.key");
  });
});

// ---------------------------------------------------------------------------
// Help, version and usage errors

Deno.test("`tako --help`, `help <command>`, `<command> --help` and `--version` print on stdout", async () => {
  const cases: [string[], RegExp][] = [
    [["--help"], /^Tako takes images/],
    [["-h"], /^Tako takes images/],
    [["help"], /^Tako takes images/],
    [["help", "fetch"], /^Usage: tako fetch/],
    [["fetch", "--help"], /^Usage: tako fetch/],
    [["help", "store"], /^Usage: tako store/],
    [["store", "--help"], /^Usage: tako store/],
    [["gen-key", "--help"], /^Usage: tako gen-key/],
    [["--if-not-exists", "--help"], /^Usage: tako fetch/],
    [["--version"], /^tako \d+\.\d+\.\d+\n$/],
    [["-V"], /^tako \d+\.\d+\.\d+\n$/],
  ];
  for (const [args, pattern] of cases) {
    const result = await runTako(args);
    assert.equal(result.code, 0, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stdout, pattern, args.join(" "));
    assert.ok(result.stdout.endsWith("\n"), args.join(" "));
    assert.equal(result.stderr, "", args.join(" "));
  }
  const main = await runTako(["--help"]);
  assert.ok(main.stdout.includes("Exit codes:"));
  for (const code of ["0", "1", "2", "3", "4", "70"]) {
    assert.match(main.stdout, new RegExp(`^  ${code} +[a-z]`, "m"), `exit code ${code}`);
  }
});

Deno.test("usage errors exit 2 with a message and no stack trace, even with RUST_BACKTRACE=1", async () => {
  const cases: [string[], string[]][] = [
    [[], ["tako --help"]],
    [["--frobnicate"], ["--frobnicate"]],
    [["--store", "x"], ["--store"]],
    [["fetch", "--frobnicate", "x"], ["--frobnicate"]],
    [["fetch"], ["config"]],
    [["help", "frobnicate"], ["frobnicate"]],
    [["store", "-k", TEST_SECRET_KEY, "image", "1.0.0"], ["--output"]],
    [["store", "-k", TEST_SECRET_KEY, "-f", "key", "-o", "out", "image", "1.0.0"], [
      "--key",
      "--key-file",
    ]],
    [["store", "-k", TEST_SECRET_KEY, "-o", "out", "image"], ["<image> <version>"]],
    [["store", `--kye=${TEST_SECRET_KEY}`, "-o", "out", "image", "1.0.0"], ["--kye"]],
    [["fetch", "--quiet", "--verbose", "x"], ["--quiet", "--verbose"]],
    [["--quiet", "--verbose", "x"], ["--quiet", "--verbose"]],
    [["gen-key", "x"], ["gen-key"]],
    [["fetch", "--connect-timeout=soon", "x"], ["--connect-timeout", "soon"]],
  ];
  for (const [args, parts] of cases) {
    const result = await runTako(args, { env: { RUST_BACKTRACE: "1" } });
    assertFails(result, 2, ...parts);
    assert.match(result.stderr, /See 'tako( [a-z-]+)? --help'\.\n$/, args.join(" "));
  }
});

Deno.test("under systemd (JOURNAL_STREAM) stderr lines carry priorities, stdout never does", async () => {
  const journal = { JOURNAL_STREAM: "8:12345" };
  const error = await runTako([], { env: journal });
  assert.equal(error.code, 2);
  assert.match(error.stderr, /^<3>Expected a command/);
  const plain = await runTako([]);
  assert.match(plain.stderr, /^tako: error: Expected a command/);
  await withOrigin(async (dir) => {
    const stored = await store(dir, "1.0.0", { env: journal });
    assertOk(stored, "store");
    assert.match(stored.stderr, /^<6>Stored 1\.0\.0 /);
  });
  const version = await runTako(["--version"], { env: journal });
  assert.match(version.stdout, /^tako \d/);
  assert.equal(version.stderr, "");
});

// ---------------------------------------------------------------------------
// Both dialects, end to end: publish with store, fetch from a file:// origin.

/** Writes a config `name` in `dir` for the origin `out/` and the destination `dest`. */
async function writeConfig(dir: string, name: string, dest: string): Promise<void> {
  const config = [
    `Origin=file://${join(dir, "out")}`,
    `PublicKey=${TEST_PUBLIC_KEY}`,
    `Destination=${dest}`,
    "Version=1.*",
    "",
  ].join("\n");
  await Deno.writeTextFile(join(dir, name), config);
}

Deno.test("both dialects fetch what store published: `tako <config>` and `tako fetch <config>`", async () => {
  const cases: string[][] = [
    ["app.tako"],
    ["fetch", "app.tako"],
    ["--if-not-exists", "app.tako"],
    ["fetch", "--init", "app.tako"],
    ["-v", "app.tako"],
    ["fetch", "--", "--weird-name"],
    ["--", "--weird-name"],
  ];
  await withOrigin(async (dir) => {
    for (const image of THREE_IMAGES) assertOk(await store(dir, image.version), image.version);
    for (const [i, args] of cases.entries()) {
      const dest = join(dir, `dest-${i}`);
      await writeConfig(dir, args.at(-1)!, dest);
      const result = await runTako(args, { cwd: dir });
      assert.equal(result.code, 0, `${args.join(" ")}: ${result.stderr}`);
      assert.equal(result.stdout, "", args.join(" "));
      assertNoStackTrace(result);
      assert.equal(await Deno.readLink(join(dest, "latest")), `store/${IMAGE_ONE_ONE.sha256}`);
      assert.equal(await Deno.readTextFile(join(dest, "manifest")), THREE_ENTRY_MANIFEST);
    }
  });
});

Deno.test("both dialects report a missing config the same way", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tako-dialect-" });
  try {
    const table = [
      [["missing.tako"], ["fetch", "missing.tako"]],
      [["--if-not-exists", "missing.tako"], ["fetch", "--init", "missing.tako"]],
      [["--", "--weird-name"], ["fetch", "--", "--weird-name"]],
    ];
    for (const [original, current] of table) {
      const a = await runTako(original!, { cwd: dir });
      const b = await runTako(current!, { cwd: dir });
      assert.equal(a.code, 3, `${original!.join(" ")}: ${a.stderr}`);
      assert.deepEqual(a, b, `${original!.join(" ")} vs ${current!.join(" ")}`);
      assert.ok(a.stderr.includes(original!.at(-1)!), a.stderr);
      assertNoStackTrace(a);
    }
    assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), [], "nothing written");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
