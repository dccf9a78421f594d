/**
 * Black-box tests of key files (`tako gen-key -o`, `store -f`) and of key
 * rotation with `tako resign`, ending with fetches against the test origin.
 *
 * @module
 */
import { join } from "node:path";
import { runTako } from "../../dev/run_tako.ts";
import { formatSecretKey, parseSecretKey } from "../../lib/core/keys.ts";
import { parsePublicKey } from "../../lib/core/public_key.ts";
import { verifyManifest } from "../../lib/core/manifest_signature.ts";
import { assert } from "../support/assert.ts";
import { assertOutcome, OTHER_KEY, publicKeyOf, TEST_KEY, withSetup } from "../support/publish.ts";
import { TEST_PUBLIC_KEY, TEST_SECRET_KEY } from "../support/vectors.ts";

const IMAGES = [
  { version: "1.0.0", content: "one\n" },
  { version: "1.1.0", content: "one point one\n" },
];

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tako-keys-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function modeOf(path: string): Promise<number> {
  return (await Deno.lstat(path)).mode! & 0o7777;
}

/** A failure with nothing on stdout, one error line, no secret key printed. */
function assertRefused(result: { code: number; stdout: string; stderr: string }, code: number) {
  assert.equal(result.code, code, result.stderr);
  assert.equal(result.stdout, "");
  assert.match(result.stderr, /^tako: error: .+\n$/);
  const seed = formatSecretKey(OTHER_KEY).slice("SECRET+".length, 50);
  assert.ok(!result.stderr.includes(seed), result.stderr);
}

Deno.test("`gen-key -o` writes <name>.key (0600) and <name>.pub (0644)", async () => {
  await withDir(async (dir) => {
    const result = await runTako(["gen-key", "-o", "signing"], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "", "the secret key is not printed");
    const secretText = await Deno.readTextFile(join(dir, "signing.key"));
    const publicText = await Deno.readTextFile(join(dir, "signing.pub"));
    assert.match(secretText, /^SECRET\+[A-Za-z0-9+/]{128}\n$/);
    assert.match(publicText, /^[A-Za-z0-9+/]{43}=\n$/);
    const key = parseSecretKey(secretText, "signing.key");
    assert.deepEqual(parsePublicKey(publicText.trim(), "signing.pub"), key.publicKey);
    assert.equal(await modeOf(join(dir, "signing.key")), 0o600);
    assert.equal(await modeOf(join(dir, "signing.pub")), 0o644);
    assert.ok(result.stderr.includes(publicText.trim()), "stderr names the public key");
    assert.ok(!result.stderr.includes(secretText.trim().slice(7, 50)), "but not the secret");
    // Only the two files: the temporaries are gone.
    const names = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
    assert.deepEqual(names, ["signing.key", "signing.pub"]);
  });
});

Deno.test("`gen-key -o` refuses to overwrite either file and then writes nothing", async () => {
  await withDir(async (dir) => {
    assert.equal((await runTako(["gen-key", "-o", "a"], { cwd: dir })).code, 0);
    const before = await Deno.readFile(join(dir, "a.key"));
    const again = await runTako(["gen-key", "-o", "a"], { cwd: dir });
    assertRefused(again, 2);
    assert.ok(again.stderr.includes("a.key already exists"), again.stderr);
    assert.deepEqual(await Deno.readFile(join(dir, "a.key")), before);

    // Only the public half is there (or a link planted in the key's place): still refused.
    await Deno.writeTextFile(join(dir, "b.pub"), "mine\n");
    assertRefused(await runTako(["gen-key", "-o", "b"], { cwd: dir }), 2);
    await assert.rejects(() => Deno.lstat(join(dir, "b.key")), Deno.errors.NotFound);
    await Deno.symlink(join(dir, "target"), join(dir, "c.key"));
    assertRefused(await runTako(["gen-key", "-o", "c"], { cwd: dir }), 2);
    await assert.rejects(() => Deno.lstat(join(dir, "target")), Deno.errors.NotFound);
    await assert.rejects(() => Deno.lstat(join(dir, "c.pub")), Deno.errors.NotFound);

    // A directory that does not exist: a runtime failure naming it.
    const missing = await runTako(["gen-key", "-o", "no/such/dir/k"], { cwd: dir });
    assertRefused(missing, 1);
    assert.ok(missing.stderr.includes("no/such/dir"), missing.stderr);
  });
});

Deno.test("`store -f` signs with the key file gen-key wrote", async () => {
  await withDir(async (dir) => {
    await runTako(["gen-key", "-o", "k"], { cwd: dir });
    await Deno.mkdir(join(dir, "out"));
    await Deno.writeTextFile(join(dir, "app.img"), "image\n");
    const result = await runTako(["store", "-f", "k.key", "-o", "out", "app.img", "1.0.0"], {
      cwd: dir,
    });
    assert.equal(result.code, 0, result.stderr);
    const publicKey = parsePublicKey((await Deno.readTextFile(join(dir, "k.pub"))).trim(), "k.pub");
    const entries = verifyManifest(
      await Deno.readFile(join(dir, "out/manifest")),
      [publicKey],
      "m",
    );
    assert.deepEqual(entries.map((e) => e.version), ["1.0.0"]);
  });
});

/** The signed part of a manifest: everything before its last line. */
function bodyOf(manifest: Uint8Array): Uint8Array {
  return manifest.subarray(0, manifest.lastIndexOf(0x0a, manifest.length - 2) + 1);
}

Deno.test("`resign` keeps the body byte for byte; the result verifies under the new key only", async () => {
  await withSetup(IMAGES, async (setup) => {
    await setup.writeConfig({ publicKeys: [TEST_PUBLIC_KEY, publicKeyOf(OTHER_KEY)] });
    assertOutcome(await setup.fetch(), 0);
    const before = await Deno.readFile(join(setup.originDir, "manifest"));
    await Deno.writeTextFile(join(setup.dir, "new.key"), `${formatSecretKey(OTHER_KEY)}\n`);

    const result = await setup.run([
      "resign",
      "-f",
      "new.key",
      "-o",
      setup.originDir,
      "--previous-key",
      TEST_PUBLIC_KEY,
    ]);
    assertOutcome(result, 0, "Re-signed", publicKeyOf(OTHER_KEY));
    const after = await Deno.readFile(join(setup.originDir, "manifest"));
    assert.deepEqual(bodyOf(after), bodyOf(before), "the signed bytes are unchanged");
    assert.notDeepEqual(after, before, "the signature changed");
    verifyManifest(after, [OTHER_KEY.publicKey], "resigned");
    assert.throws(() => verifyManifest(after, [TEST_KEY.publicKey], "resigned"), /signature/);
    assert.equal(await modeOf(join(setup.originDir, "manifest")), 0o444);
    const left = (await Array.fromAsync(Deno.readDir(setup.originDir))).map((e) => e.name);
    assert.deepEqual(left.filter((n) => n.startsWith(".tmp-")), []);

    // The rotation: hosts listing both keys, then only the new one, take it.
    assertOutcome(await setup.fetch(), 0);
    await setup.writeConfig({ publicKeys: [publicKeyOf(OTHER_KEY)] });
    assertOutcome(await setup.fetch(), 0);
    await setup.writeConfig({ publicKeys: [TEST_PUBLIC_KEY] });
    const oldOnly = await setup.fetch();
    assert.equal(oldOnly.code, 4, oldOnly.stderr);
  });
});

Deno.test("`resign` refuses a manifest that does not verify under --previous-key", async () => {
  await withSetup(IMAGES, async (setup) => {
    const manifest = join(setup.originDir, "manifest");
    const before = await Deno.readFile(manifest);
    const table: [string[], number, string][] = [
      // Signed with TEST_KEY, but the operator names another previous key.
      [
        ["-k", formatSecretKey(OTHER_KEY), "--previous-key", publicKeyOf(OTHER_KEY)],
        4,
        "does not verify",
      ],
      [["-k", formatSecretKey(OTHER_KEY), "--previous-key", "not-a-key"], 2, "--previous-key"],
      [["--previous-key", TEST_PUBLIC_KEY], 2, "No secret key"],
      [["-k", "SECRET+bad", "--previous-key", TEST_PUBLIC_KEY], 2, "--key"],
    ];
    for (const [args, code, part] of table) {
      const result = await setup.run(["resign", "-o", setup.originDir, ...args]);
      assertRefused(result, code);
      assert.ok(result.stderr.includes(part), `${args.join(" ")}: ${result.stderr}`);
      assert.deepEqual(await Deno.readFile(manifest), before, "the manifest is untouched");
    }
    const missing = await setup.run([
      "resign",
      "-k",
      TEST_SECRET_KEY,
      "-o",
      join(setup.dir, "nowhere"),
      "--previous-key",
      TEST_PUBLIC_KEY,
    ]);
    assertRefused(missing, 2);
    assert.ok(missing.stderr.includes("nowhere"), missing.stderr);
  });
});
