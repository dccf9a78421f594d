import { createHash } from "node:crypto";
import { copyHashing, flushHandle } from "../../../lib/shell/stream_copy.ts";
import { assert, assertRejectsTako } from "../../support/assert.ts";

const MIB = 1024 * 1024;

function noise(length: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  let x = 88172645;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tako-stream-copy-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("`copyHashing()` copies and hashes in one pass, across both buffers and background flushes", async () => {
  await withDir(async (dir) => {
    // Empty, tiny, exactly one buffer, one byte more, and past a background flush.
    for (const length of [0, 1, 8 * MIB, 8 * MIB + 1, 70 * MIB + 3]) {
      const data = noise(length);
      await Deno.writeFile(`${dir}/source`, data);
      using source = await Deno.open(`${dir}/source`);
      const targetPath = `${dir}/target-${length}`;
      using target = await Deno.open(targetPath, { write: true, createNew: true });
      const result = await copyHashing(source, `${dir}/source`, target, targetPath);
      const expected = createHash("sha256").update(data).digest("hex");
      assert.deepEqual(result, { sha256: expected, size: length }, `${length} bytes`);
      assert.deepEqual(await Deno.readFile(targetPath), data, `${length} bytes`);
      await Deno.remove(targetPath);
    }
  });
});

Deno.test("`copyHashing()` names the file that cannot be read or written", async () => {
  await withDir(async (dir) => {
    await Deno.writeFile(`${dir}/source`, noise(1000));
    {
      using source = await Deno.open(`${dir}/source`, { write: true });
      using target = await Deno.open(`${dir}/t1`, { write: true, createNew: true });
      await assertRejectsTako(
        () => copyHashing(source, `${dir}/source`, target, `${dir}/t1`),
        "runtime",
        `Cannot read ${dir}/source`,
      );
    }
    await Deno.writeFile(`${dir}/t2`, new Uint8Array(0));
    using source = await Deno.open(`${dir}/source`);
    using target = await Deno.open(`${dir}/t2`, { read: true });
    await assertRejectsTako(
      () => copyHashing(source, `${dir}/source`, target, `${dir}/t2`),
      "runtime",
      `Cannot write ${dir}/t2`,
    );
  });
});

Deno.test("`flushHandle()` gives a handle of the same file only", async () => {
  await withDir(async (dir) => {
    using file = await Deno.open(`${dir}/a`, { write: true, createNew: true });
    using same = await flushHandle(`${dir}/a`, file);
    assert.ok(same !== undefined);
    await same.syncData();
    // The name now belongs to another file: no handle.
    await Deno.rename(`${dir}/a`, `${dir}/b`);
    await Deno.writeTextFile(`${dir}/a`, "another file");
    assert.equal(await flushHandle(`${dir}/a`, file), undefined);
    assert.equal(await flushHandle(`${dir}/missing`, file), undefined);
  });
});
