/**
 * lib/shell/copy.ts: the one hashing copy pump, fed by a file or a stream;
 * short writes, a full disk, background flushes through a second handle.
 */
import { createHash } from "node:crypto";
import { fileSource, streamSource } from "../../../lib/shell/byte_source.ts";
import { copyHashing, type Flusher, flushHandle } from "../../../lib/shell/copy.ts";
import { assert, assertRejectsTako } from "../../support/assert.ts";

const MIB = 1024 * 1024;
/** More than the 64 MiB between two background flushes. */
const PAST_A_FLUSH = 70 * MIB + 3;

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

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tako-copy-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("`copyHashing()` copies and hashes in one pass, across both buffers and background flushes", async () => {
  await withDir(async (dir) => {
    // Empty, tiny, exactly one buffer, one byte more, and past a background flush.
    for (const length of [0, 1, 4 * MIB, 4 * MIB + 1, 8 * MIB + 1, PAST_A_FLUSH]) {
      const data = noise(length);
      await Deno.writeFile(`${dir}/source`, data);
      using source = await Deno.open(`${dir}/source`);
      const targetPath = `${dir}/target-${length}`;
      using target = await Deno.open(targetPath, { write: true, createNew: true });
      using flusher = await flushHandle(targetPath, target, length);
      assert.equal(flusher !== undefined, length > 64 * MIB, `${length} bytes: flush handle`);
      const result = await copyHashing(fileSource(source, `${dir}/source`), {
        file: target,
        path: targetPath,
        flusher,
      });
      assert.deepEqual(
        { sha256: result.hash.digest("hex"), size: result.received },
        { sha256: sha256(data), size: length },
        `${length} bytes`,
      );
      assert.deepEqual(await Deno.readFile(targetPath), data, `${length} bytes`);
      await Deno.remove(targetPath);
    }
  });
});

Deno.test("`copyHashing()` stops at its limit, continues a hash it is given and shows what it hashed", async () => {
  const data = noise(10 * MIB);
  const seen = createHash("sha256").update(data.subarray(0, 1000));
  const written: number[] = [];
  const file = {
    write: (bytes: Uint8Array) => (written.push(bytes.length), Promise.resolve(bytes.length)),
  };
  const progress: number[] = [];
  const shown = createHash("sha256");
  let shownBytes = 0;
  const { received, hash } = await copyHashing(
    streamSource(new Blob([data.subarray(1000)]).stream()),
    { file, path: "/x/t" },
    {
      hash: seen,
      limit: 5 * MIB,
      onProgress: (n) => progress.push(n),
      onData: (piece) => (shown.update(piece), shownBytes += piece.length),
    },
  );
  // Every byte copied was shown once, in order: the pieces are the copied bytes.
  assert.equal(shownBytes, 5 * MIB);
  assert.equal(shown.digest("hex"), sha256(data.subarray(1000, 1000 + 5 * MIB)));
  assert.equal(received, 5 * MIB);
  assert.equal(written.reduce((a, b) => a + b, 0), 5 * MIB);
  assert.equal(hash.digest("hex"), sha256(data.subarray(0, 1000 + 5 * MIB)));
  assert.equal(progress.at(-1), 5 * MIB);
  assert.ok(progress.every((r, i) => i === 0 || r > progress[i - 1]!), "progress must grow");
});

Deno.test("`copyHashing()` reads a file ahead but never past its limit", async () => {
  await withDir(async (dir) => {
    const data = noise(9 * MIB + 5);
    await Deno.writeFile(`${dir}/source`, data);
    // Past two full buffers, the third read ahead cut to the limit; and a limit at a buffer's end.
    for (const limit of [8 * MIB + 3, 8 * MIB]) {
      using source = await Deno.open(`${dir}/source`);
      using target = await Deno.open(`${dir}/t-${limit}`, { write: true, createNew: true });
      const { received, hash } = await copyHashing(
        fileSource(source, `${dir}/source`),
        { file: target, path: `${dir}/t-${limit}` },
        { limit },
      );
      assert.equal(received, limit);
      assert.equal(await source.seek(0, Deno.SeekMode.Current), limit, "read no further");
      assert.equal(hash.digest("hex"), sha256(data.subarray(0, limit)));
      assert.equal(
        sha256(await Deno.readFile(`${dir}/t-${limit}`)),
        sha256(data.subarray(0, limit)),
      );
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
        () => copyHashing(fileSource(source, `${dir}/source`), { file: target, path: `${dir}/t1` }),
        "runtime",
        `Cannot read ${dir}/source`,
      );
    }
    await Deno.writeFile(`${dir}/t2`, new Uint8Array(0));
    using source = await Deno.open(`${dir}/source`);
    using target = await Deno.open(`${dir}/t2`, { read: true });
    await assertRejectsTako(
      () => copyHashing(fileSource(source, `${dir}/source`), { file: target, path: `${dir}/t2` }),
      "runtime",
      `Cannot write ${dir}/t2`,
    );
  });
});

/** A stand-in for a file: takes at most `perWrite` bytes a call, and `capacity` in all, then fails like a full disk. */
function fakeFile(perWrite: number, capacity = Infinity) {
  const hash = createHash("sha256");
  let stored = 0;
  let full = false;
  const file = {
    write(data: Uint8Array): Promise<number> {
      if (full) {
        return Promise.reject(
          Object.assign(new Error("No space left on device (os error 28)"), { code: "ENOSPC" }),
        );
      }
      const n = Math.min(perWrite, data.length, capacity - stored);
      if (n < Math.min(perWrite, data.length)) full = true;
      hash.update(data.subarray(0, n));
      stored += n;
      return Promise.resolve(n);
    },
  };
  return { file, digest: () => hash.digest("hex"), stored: () => stored };
}

Deno.test("`copyHashing()` loops on short writes and reports a full disk", async () => {
  const big = noise(17 * MIB + 3);
  const slow = fakeFile(777_777);
  await copyHashing(streamSource(new Blob([big]).stream()), { file: slow.file, path: "/x/t" });
  assert.equal(slow.stored(), big.length);
  assert.equal(slow.digest(), sha256(big));

  // A capacity that is no multiple of the pump's buffer, so the disk fills within a write.
  const full = fakeFile(1 << 30, 5 * MIB + 12_345);
  await assertRejectsTako(
    () =>
      copyHashing(streamSource(new Blob([big]).stream()), {
        file: full.file,
        path: "/var/lib/x/.tmp",
      }),
    "runtime",
    "Cannot write /var/lib/x/.tmp: no space left on device (ENOSPC).",
  );
  assert.equal(full.stored(), 5 * MIB + 12_345);
});

Deno.test("`copyHashing()` flushes through the second handle as it goes, and reports a failed flush", async () => {
  const data = noise(PAST_A_FLUSH);
  let flushes = 0;
  const counting: Flusher = {
    syncData: () => (flushes++, Promise.resolve()),
  };
  const nowhere = { write: (bytes: Uint8Array) => Promise.resolve(bytes.length) };
  const source = () => streamSource(ReadableStream.from([data]));
  await copyHashing(source(), { file: nowhere, path: "/x/t", flusher: counting });
  assert.equal(flushes, 1, `${flushes} background flushes`);

  const failing: Flusher = {
    syncData: () => Promise.reject(Object.assign(new Error("Input/output error"), { code: "EIO" })),
  };
  await assertRejectsTako(
    () =>
      copyHashing(source(), {
        file: nowhere,
        path: "/var/lib/x/store/.partial-x",
        flusher: failing,
      }),
    "runtime",
    "Cannot flush /var/lib/x/store/.partial-x",
  );
});

Deno.test("`flushHandle()` gives a handle of the same file only, for copies worth flushing", async () => {
  await withDir(async (dir) => {
    using file = await Deno.open(`${dir}/a`, { write: true, createNew: true });
    using same = await flushHandle(`${dir}/a`, file, PAST_A_FLUSH);
    assert.ok(same !== undefined);
    await same.syncData();
    assert.equal(await flushHandle(`${dir}/a`, file, 64 * MIB), undefined, "too small to bother");
    // The name now belongs to another file: no handle.
    await Deno.rename(`${dir}/a`, `${dir}/b`);
    await Deno.writeTextFile(`${dir}/a`, "another file");
    assert.equal(await flushHandle(`${dir}/a`, file, PAST_A_FLUSH), undefined);
    assert.equal(await flushHandle(`${dir}/missing`, file, PAST_A_FLUSH), undefined);
  });
});
