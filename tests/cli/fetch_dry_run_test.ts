/**
 * Black-box tests of `tako fetch --dry-run` and `--json` against the test
 * origin: a dry run leaves the destination byte for byte as it was (a listing
 * with contents and modes compared before and after), asks for the manifest
 * only and restarts nothing; `--json` prints one document that validates
 * against the schema documented in docs/tako-fetch.md.
 *
 * @module
 */
import { join } from "node:path";
import { assert } from "../support/assert.ts";
import { fetchJsonProblems } from "../support/doc_schema.ts";
import {
  assertNoStackTrace,
  assertOutcome,
  imageRequests,
  sha256Hex,
  withSetup,
} from "../support/publish.ts";

const IMAGES = [
  { version: "1.0.0", content: "version one\n" },
  { version: "1.1.0", content: "version one point one, longer\n" },
];
const NEW_SIZE = new TextEncoder().encode(IMAGES[1]!.content).length;

/** Every path under `dir` (itself included) with its type, mode and content or link target. */
async function listing(dir: string): Promise<string[]> {
  const lines: string[] = [];
  const walk = async (path: string, name: string) => {
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return lines.push(`${name} absent`);
      throw e;
    }
    const mode = (info.mode! & 0o7777).toString(8);
    if (info.isSymlink) lines.push(`${name} link ${mode} -> ${await Deno.readLink(path)}`);
    else if (info.isFile) {
      lines.push(`${name} file ${mode} ${info.size} ${sha256Hex(await Deno.readFile(path))}`);
    } else if (info.isDirectory) {
      lines.push(`${name} dir ${mode}`);
      const entries = (await Array.fromAsync(Deno.readDir(path))).map((e) => e.name).sort();
      for (const entry of entries) await walk(join(path, entry), `${name}/${entry}`);
    }
  };
  await walk(dir, ".");
  return lines;
}

Deno.test("`fetch --dry-run` says what a fetch would do and changes nothing, requesting no image", async () => {
  await withSetup([IMAGES[0]!], async (setup) => {
    await setup.writeConfig({ restart: ["app.service"] });
    assertOutcome(await setup.fetch(), 0);
    // A new manifest on the origin: storing it, like any write, would show in the listing.
    await setup.publish(IMAGES);
    const before = await listing(setup.dest);
    const calls = (await setup.systemctl.calls()).length;
    setup.origin.clear();

    const result = await setup.fetch("--dry-run");
    assertOutcome(result, 0, "would install 1.1.0", `downloading ${NEW_SIZE} bytes`, "1.0.0");
    assert.ok(result.stderr.includes("would restart app.service"), result.stderr);
    assert.deepEqual(await listing(setup.dest), before, "the destination is unchanged");
    assert.deepEqual(imageRequests(setup.origin), [], "no image was requested");
    assert.deepEqual(setup.origin.requests.map((r) => r.path), ["/manifest"]);
    assert.equal((await setup.systemctl.calls()).length, calls, "nothing restarted");

    // After the real fetch, a dry run finds nothing to do.
    assertOutcome(await setup.fetch(), 0);
    const done = await setup.fetch("--dry-run");
    assertOutcome(done, 0, "1.1.0", "is up to date", "would restart nothing");
  });
});

Deno.test("`fetch --dry-run` creates no destination, and fails as fetch does on a bad manifest", async () => {
  await withSetup(IMAGES, async (setup) => {
    await setup.writeConfig({ restart: ["app.service"] });
    const result = await setup.fetch("--dry-run");
    assertOutcome(result, 0, "would install 1.1.0", `downloading ${NEW_SIZE} bytes`);
    assert.deepEqual(await listing(setup.dest), [". absent"]);

    // A manifest signed by someone else: exit 4, still nothing written.
    const manifest = join(setup.originDir, "manifest");
    const bytes = await Deno.readFile(manifest);
    bytes[bytes.length - 10] = bytes[bytes.length - 10] === 0x41 ? 0x42 : 0x41;
    await Deno.writeFile(manifest, bytes);
    const bad = await setup.fetch("--dry-run");
    assert.equal(bad.code, 4, bad.stderr);
    assertNoStackTrace(bad.stderr);
    assert.deepEqual(await listing(setup.dest), [". absent"]);
    assert.deepEqual(imageRequests(setup.origin), []);
  });
});

Deno.test("`fetch --json` prints one document of the documented schema, one entry per config", async () => {
  await withSetup(IMAGES, async (setup) => {
    await setup.writeConfig({ version: "1.0.0", restart: ["app.service"] });
    assertOutcome(await setup.fetch(), 0);
    await setup.writeConfig({ restart: ["app.service"] });
    const missing = join(setup.dir, "missing.tako");

    const result = await setup.run(["fetch", "--json", setup.config, missing]);
    assert.equal(result.code, 3, result.stderr);
    assertNoStackTrace(result.stderr);
    const document = JSON.parse(result.stdout);
    assert.deepEqual(await fetchJsonProblems(document), []);
    assert.equal(document.dry_run, false);
    const [updated, failed] = document.configs;
    assert.equal(document.configs.length, 2);
    assert.deepEqual(updated.before, { sha256: sha256Hex(IMAGES[0]!.content), version: "1.0.0" });
    assert.deepEqual(updated.after, { sha256: sha256Hex(IMAGES[1]!.content), version: "1.1.0" });
    assert.equal(updated.changed, true);
    assert.equal(updated.bytes_downloaded, NEW_SIZE);
    assert.deepEqual(updated.units_restarted, ["app.service"]);
    assert.equal(updated.error, null);
    assert.equal(updated.destination, setup.dest);
    assert.equal(failed.config, missing);
    assert.equal(failed.error.kind, "config");
    assert.ok(result.stderr.includes(failed.error.message), "the message is also on stderr");

    // Nothing new: nothing downloaded, nothing restarted.
    const again = JSON.parse((await setup.run(["fetch", "--json", setup.config])).stdout);
    assert.deepEqual(await fetchJsonProblems(again), []);
    const [same] = again.configs;
    assert.equal(same.changed, false);
    assert.equal(same.bytes_downloaded, 0);
    assert.deepEqual(same.units_restarted, []);
    assert.deepEqual(same.before, same.after);

    // --dry-run --json: what a fetch would do, in the same schema.
    await setup.publish([...IMAGES, { version: "1.2.0", content: "twelve\n" }]);
    const dry = await setup.run(["fetch", "--dry-run", "--json", setup.config]);
    assert.equal(dry.code, 0, dry.stderr);
    const plan = JSON.parse(dry.stdout);
    assert.deepEqual(await fetchJsonProblems(plan), []);
    assert.equal(plan.dry_run, true);
    assert.equal(plan.configs[0].after.version, "1.2.0");
    assert.equal(plan.configs[0].bytes_downloaded, 7);
    assert.deepEqual(plan.configs[0].units_restarted, ["app.service"]);
  });
});
