/**
 * Black-box tests of `tako verify`: it re-hashes every stored image and never
 * trusts the stat stamp in `.state`, so a same-size tampered image is found
 * even when the stamp was forged to match it.
 *
 * @module
 */
import { join } from "node:path";
import { assert } from "../support/assert.ts";
import { assertNoStackTrace, assertOutcome, sha256Hex, withSetup } from "../support/publish.ts";

const IMAGES = [
  { version: "1.0.0", content: "version one, ten bytes?\n" },
  { version: "1.1.0", content: "version one point one\n" },
];

Deno.test("`verify` finds a same-size tampered image even under a forged stamp; fetch then repairs it", async () => {
  await withSetup(IMAGES, async (setup) => {
    assertOutcome(await setup.fetch(), 0);
    assertOutcome(await setup.run(["verify", setup.config]), 0, "1 image(s) in");
    const sha = sha256Hex(IMAGES[1]!.content);
    const image = join(setup.dest, "store", sha);

    // Same size, other bytes; then forge .state's stamp to describe the tampered file.
    const tampered = new TextEncoder().encode("VERSION ONE POINT ONE\n");
    assert.equal(tampered.length, new TextEncoder().encode(IMAGES[1]!.content).length);
    await Deno.chmod(image, 0o644);
    await Deno.writeFile(image, tampered);
    await Deno.chmod(image, 0o444);
    const info = await Deno.stat(image);
    const statePath = join(setup.dest, ".state");
    const state = JSON.parse(await Deno.readTextFile(statePath));
    assert.equal(state.verified.sha256, sha, "the stamp is the latest image's");
    state.verified = {
      sha256: sha,
      size: info.size,
      ino: info.ino,
      mtimeMs: info.mtime!.getTime(),
      ctimeMs: info.ctime!.getTime(),
    };
    await Deno.writeTextFile(statePath, JSON.stringify(state));

    // The stamp is a cache that fetch trusts: it does not notice.
    assertOutcome(await setup.fetch(), 0);
    assert.deepEqual(await Deno.readFile(image), tampered);

    const result = await setup.run(["verify", setup.config]);
    assert.equal(result.code, 4, result.stderr);
    assert.equal(result.stdout, "");
    assertNoStackTrace(result.stderr);
    const lines = result.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, result.stderr);
    for (const part of [setup.config, `store/${sha}`, "1.1.0", sha256Hex(tampered), "damaged"]) {
      assert.ok(lines[0]!.includes(part), `${part} missing: ${lines[0]}`);
    }
    assert.equal(await Deno.readFile(image).then((b) => b.length), tampered.length, "not removed");

    // Repair: verify dropped the stamp, so the next fetch hashes, finds and replaces the copy.
    assertOutcome(await setup.fetch(), 0, "damaged");
    assert.equal(sha256Hex(await Deno.readFile(image)), sha);
    assertOutcome(await setup.run(["verify", setup.config]), 0);
  });
});

Deno.test("`verify` names every damaged image, a bad manifest and a foreign latest; goes on to the next config", async () => {
  await withSetup(IMAGES, async (setup) => {
    await setup.writeConfig({ version: "1.0.0" });
    assertOutcome(await setup.fetch(), 0);
    await setup.writeConfig();
    assertOutcome(await setup.fetch(), 0);
    for (const { content } of IMAGES) {
      const path = join(setup.dest, "store", sha256Hex(content));
      await Deno.chmod(path, 0o644);
      await Deno.writeTextFile(path, "x");
    }
    const manifest = join(setup.dest, "manifest");
    await Deno.chmod(manifest, 0o644);
    const bytes = await Deno.readFile(manifest);
    bytes[20] = bytes[20]! ^ 1;
    await Deno.writeFile(manifest, bytes);
    const missing = join(setup.dir, "missing.tako");

    const result = await setup.run(["verify", missing, setup.config]);
    assert.equal(result.code, 4, result.stderr);
    const lines = result.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 4, result.stderr);
    assert.ok(lines[0]!.includes("missing.tako"), lines[0]);
    assert.ok(lines[1]!.includes("signature"), lines[1]);
    for (const { content } of IMAGES) {
      assert.ok(result.stderr.includes(`store/${sha256Hex(content)}`), result.stderr);
    }

    // A latest that is no link into store/.
    await Deno.writeFile(manifest, await Deno.readFile(join(setup.originDir, "manifest")));
    await Deno.remove(join(setup.dest, "latest"));
    await Deno.writeTextFile(join(setup.dest, "latest"), "not a link");
    const foreign = await setup.run(["verify", setup.config]);
    assert.equal(foreign.code, 4, foreign.stderr);
    assert.ok(foreign.stderr.includes("latest is a regular file"), foreign.stderr);
  });
});
