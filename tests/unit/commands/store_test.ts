/**
 * `store()` of lib/commands/store.ts in this process, on real files: what it
 * refuses (a published version with other contents, a manifest the key does
 * not verify, a damaged store/ copy, a version the manifest cannot carry) and
 * how it orders versions. tests/cli/publish_test.ts checks the command line,
 * the key sources and the output of the spawned `tako store`.
 */
import { join } from "node:path";
import { assert } from "../../support/assert.ts";
import {
  assertFails,
  assertNoSecret,
  assertNoTemporaries,
  assertOk,
  IMAGE_ONE,
  IMAGE_TWO,
  manifestOf,
  OTHER_SECRET_KEY,
  readManifest,
  storeHere,
  storeNames,
  withOrigin,
} from "../../support/store_setup.ts";
import { TEST_SECRET_KEY } from "../../support/vectors.ts";
import { IndexBuilder } from "../../../lib/core/chunk_index.ts";
import { hashFile } from "../../../lib/shell/fs.ts";

Deno.test("`store()` of an identical entry again changes nothing", async () => {
  await withOrigin(async (dir) => {
    assertOk(await storeHere(dir, "1.0.0"), "first");
    assertOk(await storeHere(dir, "2.0.0"), "second");
    const path = join(dir, "out", "manifest");
    const before = await Deno.stat(path);
    const result = await storeHere(dir, "1.0.0");
    assertOk(result, "again");
    assert.ok(result.stderr.includes("1.0.0"), result.stderr);
    assert.equal(await readManifest(dir), manifestOf([IMAGE_ONE, IMAGE_TWO]));
    const after = await Deno.stat(path);
    assert.equal(after.ino, before.ino, "the manifest was not rewritten");
    assert.equal(after.mtime?.getTime(), before.mtime?.getTime());
    await assertNoTemporaries(dir);
  });
});

Deno.test("`store()` refuses a published version with other contents, by spelling or by order", async () => {
  const cases: [string, string, string[]][] = [
    ["1.0.0", "2.0.0.img", ["1.0.0"]],
    ["1.0-0", "2.0.0.img", ["1.0-0", "1.0.0"]],
    ["1.0-0", "1.0.0.img", ["1.0-0", "1.0.0"]],
    ["1", "1.1.0.img", ["Version 1 ", "1.0.0"]],
    ["1.0.0.0", "1.0.0.img", ["1.0.0.0", "1.0.0"]],
  ];
  for (const [version, image, parts] of cases) {
    await withOrigin(async (dir) => {
      assertOk(await storeHere(dir, "1.0.0"), "first");
      const manifest = await readManifest(dir);
      const names = await storeNames(dir);
      assertFails(await storeHere(dir, version, { image }), 2, ...parts);
      assert.equal(await readManifest(dir), manifest, `${version}: manifest unchanged`);
      assert.deepEqual(await storeNames(dir), names, `${version}: nothing added to store/`);
      await assertNoTemporaries(dir);
    });
  }
});

Deno.test("`store()` refuses an existing manifest that the key does not verify", async () => {
  const tamper: [string, (manifest: string) => string, string[]][] = [
    ["signed by another key", (m) => m, ["manifest", "the public key of the given secret key"]],
    ["size changed", (m) => m.replace(" 10 ", " 11 "), ["manifest"]],
    ["entry added", (m) => m.replace("\n\n", `\n\n0.1 1 ${"0".repeat(64)}\n`), ["manifest"]],
    ["signature damaged", (m) => m.replace(/[A-Za-z](==\n)$/, "A$1"), ["manifest"]],
    ["CRLF", (m) => m.replaceAll("\n", "\r\n"), ["manifest"]],
    ["not a manifest", () => "<html>Not Found</html>\n", ["manifest"]],
    ["empty", () => "", ["manifest"]],
  ];
  for (const [what, change, parts] of tamper) {
    await withOrigin(async (dir) => {
      const key = what === "signed by another key" ? OTHER_SECRET_KEY : TEST_SECRET_KEY;
      assertOk(await storeHere(dir, "1.0.0", { key: ["-k", key] }), what);
      const path = join(dir, "out", "manifest");
      const manifest = change(await Deno.readTextFile(path));
      await Deno.chmod(path, 0o644);
      await Deno.writeTextFile(path, manifest);
      const names = await storeNames(dir);
      assertFails(await storeHere(dir, "2.0.0"), 4, ...parts);
      assert.equal(await Deno.readTextFile(path), manifest, `${what}: not re-signed`);
      assert.deepEqual(await storeNames(dir), names, `${what}: nothing added to store/`);
      await assertNoTemporaries(dir);
    });
  }
});

Deno.test("`store()` indexes the image while it copies it: the copy in store/ is not read back", async () => {
  await withOrigin(async (dir) => {
    // Past one 4 MiB buffer of the copy pump, ending in a short block.
    const image = new Uint8Array(9 * 1024 * 1024 + 123);
    for (let i = 0; i < image.length; i += 65536) {
      crypto.getRandomValues(image.subarray(i, i + 65536));
    }
    await Deno.writeFile(join(dir, "big.img"), image);
    const { sha256 } = await hashFile(join(dir, "big.img"));
    const opened: string[] = [];
    const open = Deno.open;
    Deno.open = (path, options) => (opened.push(String(path)), open(path, options));
    try {
      assertOk(await storeHere(dir, "3.0.0", { image: "big.img" }), "store");
    } finally {
      Deno.open = open;
    }
    const stored = join(dir, "out", "store", sha256);
    assert.equal((await hashFile(stored)).sha256, sha256);
    assert.equal(opened.filter((path) => path === stored).length, 0, opened.join(", "));
    assert.equal(opened.filter((path) => path === join(dir, "big.img")).length, 1);
    const builder = new IndexBuilder();
    builder.push(image);
    assert.deepEqual(await Deno.readFile(`${stored}.index`), builder.finish(sha256));
  });
});

Deno.test("`store()` refuses a store/ copy whose contents do not match its name", async () => {
  await withOrigin(async (dir) => {
    await Deno.mkdir(join(dir, "out", "store"));
    await Deno.writeTextFile(join(dir, "out", "store", IMAGE_ONE.sha256), "damaged\n");
    assertFails(await storeHere(dir, "1.0.0"), 4, IMAGE_ONE.sha256);
    await assertNoTemporaries(dir);
    await assert.rejects(() => Deno.stat(join(dir, "out", "manifest")), Deno.errors.NotFound);
  });
});

Deno.test("`store()` refuses a version the manifest cannot carry, escaping it", async () => {
  const cases: [string, string][] = [
    ["1.0 beta", "'1.0 beta'"],
    ["1.0\x07", "'1.0\\u{7}'"],
    ["1.0\n2.0.0 10 x", "\\u{a}"],
    ["\x1b[2J", "\\u{1b}"],
    ["1.0\u00e9", "\\u{e9}"],
    ["", "''"],
    ["...", "'...'"],
    ["-_-", "'-_-'"],
  ];
  for (const [version, shown] of cases) {
    await withOrigin(async (dir) => {
      const result = await storeHere(dir, version, { image: "1.0.0.img" });
      assertFails(result, 2, shown, "version");
      // deno-lint-ignore no-control-regex -- looking for control characters is the point
      assert.doesNotMatch(result.stderr, /[\x00-\x09\x0b-\x1f\x7f]/, "no raw control characters");
      await assertNoTemporaries(dir);
      assert.deepEqual(await storeNames(dir), []);
    });
  }
});

Deno.test("`store()` accepts any printable version and orders it by SPEC §3", async () => {
  await withOrigin(async (dir) => {
    for (const version of ["1.0.0", "1.0.0-beta.2", "0.9", "1.0.0-beta.10", "2.0.0"]) {
      const image = version.startsWith("1.0.0-") || version === "0.9" ? "1.1.0.img" : undefined;
      // One image may be published under several versions; each version only once.
      assertOk(await storeHere(dir, version, image === undefined ? {} : { image }), version);
    }
    const versions = (await readManifest(dir)).split("\n").slice(2, -3).map((l) => l.split(" ")[0]);
    assert.deepEqual(versions, ["0.9", "1.0.0-beta.2", "1.0.0-beta.10", "1.0.0", "2.0.0"]);
  });
});

Deno.test("`store()` warns about a key file that its group or others can read", async () => {
  const table: [number, string | undefined][] = [
    [0o600, undefined],
    [0o400, undefined],
    [0o640, "readable by its group (mode 0640)"],
    [0o604, "readable by others (mode 0604)"],
    [0o644, "readable by its group and others (mode 0644)"],
  ];
  for (const [mode, warning] of table) {
    await withOrigin(async (dir) => {
      await Deno.writeTextFile(join(dir, "key"), TEST_SECRET_KEY, { mode });
      await Deno.chmod(join(dir, "key"), mode);
      const result = await storeHere(dir, "1.0.0", { key: ["-f", join(dir, "key")] });
      assertOk(result, mode.toString(8));
      if (warning === undefined) assert.ok(!result.stderr.includes("warning"), result.stderr);
      else assert.ok(result.stderr.includes(`is ${warning}; make it private`), result.stderr);
      assertNoSecret(result);
    });
  }
});
