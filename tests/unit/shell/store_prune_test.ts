/**
 * `pruneDestination()`, the step `tako fetch` runs after each successful
 * fetch, called directly on a destination laid out by hand. The command
 * `tako prune` is tested black-box in tests/cli/prune_test.ts.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { type Config, parseConfig } from "../../../lib/core/config.ts";
import { createLog, type Log } from "../../../lib/core/log.ts";
import { type Entry } from "../../../lib/core/manifest.ts";
import { signManifest } from "../../../lib/core/manifest_signature.ts";
import { generateSecretKey, parseSecretKey } from "../../../lib/core/keys.ts";
import { formatPublicKey } from "../../../lib/core/public_key.ts";
import { pruneDestination } from "../../../lib/shell/store_prune.ts";
import { EMPTY_STATE } from "../../../lib/core/state.ts";
import { assert, assertRejectsTako } from "../../support/assert.ts";
import { TEST_PUBLIC_KEY, TEST_SECRET_KEY } from "../../support/vectors.ts";

type Image = Entry & { readonly content: string };

function image(version: string, content: string): Image {
  const bytes = new TextEncoder().encode(content);
  return {
    version,
    size: BigInt(bytes.length),
    sha256: createHash("sha256").update(bytes).digest("hex"),
    content,
  };
}

const OTHER_SEED = new TextEncoder().encode("another-key-another-key-another!");
const V1 = image("1.0.0", "one\n");
const V2 = image("1.1.0", "one one\n");
const V3 = image("2.0.0", "two two two\n");

async function config(dest: string, extra: string): Promise<Config> {
  return await parseConfig(
    `Origin=https://images.example.com/app\nPublicKey=${TEST_PUBLIC_KEY}\nDestination=${dest}\n${extra}`,
    "/etc/tako/app",
  );
}

function capture(): { log: Log; lines: string[] } {
  const lines: string[] = [];
  const log = createLog({
    verbosity: "verbose",
    journal: false,
    terminal: false,
    write: (text) => lines.push(text.trimEnd()),
  });
  return { log, lines };
}

async function withDestination(
  images: readonly Image[],
  latest: string | undefined,
  fn: (dest: string) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "tako-prune-unit-" });
  try {
    const dest = join(root, "dest");
    await Deno.mkdir(join(dest, "store"), { recursive: true });
    const key = parseSecretKey(TEST_SECRET_KEY, "test key");
    await Deno.writeFile(join(dest, "manifest"), signManifest(images, key));
    for (const i of images) await Deno.writeTextFile(join(dest, "store", i.sha256), i.content);
    if (latest !== undefined) await Deno.symlink(`store/${latest}`, join(dest, "latest"));
    await fn(dest);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

async function stored(dest: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(join(dest, "store")))).map((e) => e.name).sort();
}

Deno.test("`pruneDestination()` does nothing, not even reading, without limits", async () => {
  const { log, lines } = capture();
  const missing = "/nonexistent/tako/destination";
  const result = await pruneDestination(missing, await config(missing, ""), EMPTY_STATE, log);
  assert.deepEqual(result, { removed: [], freed: 0 });
  assert.deepEqual(lines, []);
});

Deno.test("`pruneDestination()` returns the removed digests oldest first and the bytes freed", async () => {
  await withDestination([V1, V2, V3], V3.sha256, async (dest) => {
    const { log, lines } = capture();
    const result = await pruneDestination(
      dest,
      await config(dest, "KeepImages=1\n"),
      EMPTY_STATE,
      log,
    );
    assert.deepEqual(result, { removed: [V1.sha256, V2.sha256], freed: 12 });
    assert.deepEqual(await stored(dest), [V3.sha256]);
    assert.deepEqual(lines, [
      `tako: /etc/tako/app: removed 1.0.0 (4 B, store/${V1.sha256}).`,
      `tako: /etc/tako/app: removed 1.1.0 (8 B, store/${V2.sha256}).`,
    ]);
  });
});

Deno.test("`pruneDestination()` keeps state.previous and warns when the limit cannot be met", async () => {
  await withDestination([V1, V2, V3], V3.sha256, async (dest) => {
    const { log, lines } = capture();
    const state = { ...EMPTY_STATE, previous: V1.sha256 };
    const result = await pruneDestination(dest, await config(dest, "KeepImages=1\n"), state, log);
    assert.deepEqual(result, { removed: [V2.sha256], freed: 8 });
    assert.deepEqual(await stored(dest), [V1.sha256, V3.sha256].sort());
    assert.equal(
      lines.at(-1),
      "tako: warning: /etc/tako/app: KeepImages=1 cannot be met: the image latest points to and " +
        "the previous one are always kept (2 images, 16 B remain).",
    );
  });
});

Deno.test("`pruneDestination()` refuses a manifest that the config's keys do not verify", async () => {
  await withDestination([V1, V2, V3], V3.sha256, async (dest) => {
    const { log } = capture();
    const other = await parseConfig(
      "Origin=https://images.example.com/app\n" +
        `PublicKey=${formatPublicKey(generateSecretKey(OTHER_SEED).publicKey)}\n` +
        `Destination=${dest}\nKeepImages=1\n`,
      "/etc/tako/app",
    );
    await assertRejectsTako(
      () => pruneDestination(dest, other, EMPTY_STATE, log),
      "integrity",
      "Nothing is pruned",
    );
    assert.equal((await stored(dest)).length, 3);
  });
});

Deno.test("`pruneDestination()` orders by the entries its caller passes, without reading the manifest", async () => {
  await withDestination([V1, V2, V3], V3.sha256, async (dest) => {
    const { log } = capture();
    // A stored manifest that no key verifies: read, it would stop the prune (the test above).
    await Deno.chmod(join(dest, "manifest"), 0o644);
    await Deno.writeTextFile(join(dest, "manifest"), "not a manifest\n");
    const cfg = await config(dest, "KeepImages=2\n");
    const result = await pruneDestination(dest, cfg, EMPTY_STATE, log, [V1, V2, V3]);
    assert.deepEqual(result, { removed: [V1.sha256], freed: 4 });
    assert.deepEqual(await stored(dest), [V2.sha256, V3.sha256].sort());
  });
});
