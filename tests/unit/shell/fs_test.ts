import { createHash } from "node:crypto";
import { join } from "node:path";
import {
  commitTemp,
  createTemp,
  hashFile,
  hashOpenFile,
  readFileCapped,
  writeAll,
  writeFileAtomic,
} from "../../../lib/shell/fs.ts";
import { assert, assertRejectsTako } from "../../support/assert.ts";
import { exists, IMAGE_ONE, modeOf, names, withDestination, withDir } from "./_files.ts";

const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const text = new TextEncoder();
const MODULE_URL = new URL("../../../lib/shell/fs.ts", import.meta.url).href;

function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  // getRandomValues fills at most 64 KiB per call.
  for (let i = 0; i < length; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
  return bytes;
}

// ---------------------------------------------------------------------------
// readFileCapped

Deno.test("`readFileCapped()` reads a file up to the limit and answers undefined when absent", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "f");
    const bytes = randomBytes(200_000);
    await Deno.writeFile(path, bytes);
    assert.deepEqual(await readFileCapped(path, bytes.length), bytes);
    assert.deepEqual(await readFileCapped(path, 1 << 20), bytes);
    assert.equal(await readFileCapped(join(dir, "absent"), 10), undefined);
    await Deno.writeFile(join(dir, "empty"), new Uint8Array());
    assert.deepEqual(await readFileCapped(join(dir, "empty"), 0), new Uint8Array());
  });
});

Deno.test("`readFileCapped()` refuses a larger file and anything that is not a regular file", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "f");
    await Deno.writeTextFile(path, "12345");
    await assertRejectsTako(() => readFileCapped(path, 4), "runtime", path, "larger", "4 bytes");
    await assertRejectsTako(() => readFileCapped(dir, 100), "runtime", dir, "directory");
    const fifo = join(dir, "fifo");
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.ok(made.success);
    await assertRejectsTako(() => readFileCapped(fifo, 100), "runtime", fifo, "special file");
  });
});

// ---------------------------------------------------------------------------
// writeAll, writeFileAtomic

Deno.test("`writeAll()` loops on short writes", async () => {
  const written: number[] = [];
  const writer = {
    write(bytes: Uint8Array): Promise<number> {
      const n = Math.min(3, bytes.length);
      written.push(...bytes.subarray(0, n));
      return Promise.resolve(n);
    },
  };
  const bytes = text.encode("a short write loop");
  await writeAll(writer, bytes, "/x/f");
  assert.deepEqual(new Uint8Array(written), bytes);
});

Deno.test("`writeAll()` reports a full disk and a stalled write with the path", async () => {
  const full = Object.assign(new Error("No space left on device (os error 28)"), {
    code: "ENOSPC",
  });
  const cases = [
    { write: () => Promise.reject(full), parts: ["no space left on device (ENOSPC)"] },
    { write: () => Promise.resolve(0), parts: ["no progress"] },
  ];
  for (const { write, parts } of cases) {
    const error = await assertRejectsTako(
      () => writeAll({ write }, text.encode("data"), "/var/lib/x/store/.tmp-1"),
      "runtime",
      "Cannot write /var/lib/x/store/.tmp-1: ",
      ...parts,
    );
    assert.ok(!error.message.includes("\n"), "one sentence, no stack trace");
  }
});

Deno.test("`writeFileAtomic()` replaces a file with the given mode and leaves no temporary", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "manifest");
    await writeFileAtomic(dir, "manifest", text.encode("first\n"), 0o444);
    assert.equal(await Deno.readTextFile(path), "first\n");
    assert.equal(await modeOf(path), 0o444);
    await writeFileAtomic(dir, "manifest", text.encode("second\n"), 0o444);
    assert.equal(await Deno.readTextFile(path), "second\n");
    await writeFileAtomic(dir, ".state", text.encode("{}"), 0o600);
    assert.equal(await modeOf(join(dir, ".state")), 0o600);
    assert.deepEqual(await names(dir), [".state", "manifest"]);
  });
});

Deno.test("`writeFileAtomic()` keeps a reader from ever seeing a partial file", async () => {
  await withDir(async (dir) => {
    const big = new Uint8Array(1 << 20).fill(0x61);
    const small = text.encode("small");
    await writeFileAtomic(dir, "f", small, 0o444);
    let writing = true;
    const writer = (async () => {
      for (let i = 0; i < 30; i++) await writeFileAtomic(dir, "f", i % 2 ? small : big, 0o444);
      writing = false;
    })();
    let reads = 0;
    while (writing && reads < 5000) {
      const got = await Deno.readFile(join(dir, "f"));
      assert.ok(
        got.length === small.length || got.length === big.length,
        `read ${got.length} bytes`,
      );
      reads++;
    }
    await writer;
    assert.ok(reads > 0);
  });
});

Deno.test("`writeFileAtomic()` gives mode 0444 whatever the umask", async () => {
  for (const umask of ["000", "077"]) {
    await withDir(async (dir) => {
      const code = `
        const { writeFileAtomic } = await import(${JSON.stringify(MODULE_URL)});
        await writeFileAtomic(${JSON.stringify(dir)}, "manifest", new Uint8Array([1]), 0o444);
        await writeFileAtomic(${JSON.stringify(dir)}, "open", new Uint8Array([1]), 0o666);
      `;
      const result = await new Deno.Command("sh", {
        args: ["-c", `umask ${umask} && exec "$0" eval "$1"`, Deno.execPath(), code],
        env: { NO_COLOR: "1" },
      }).output();
      assert.ok(result.success, new TextDecoder().decode(result.stderr));
      assert.equal(await modeOf(join(dir, "manifest")), 0o444, `umask ${umask}`);
      assert.equal(await modeOf(join(dir, "open")), 0o666, `umask ${umask}`);
    });
  }
});

Deno.test("`writeFileAtomic()` leaves no temporary when the name is a directory", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(join(dir, "manifest"));
    await Deno.writeTextFile(join(dir, "manifest", "keep"), "x");
    await assertRejectsTako(
      () => writeFileAtomic(dir, "manifest", text.encode("new"), 0o444),
      "runtime",
      `to ${join(dir, "manifest")}: `,
    );
    assert.deepEqual(await names(dir), ["manifest"]);
    assert.deepEqual(await names(join(dir, "manifest")), ["keep"]);
  });
});

Deno.test("`writeFileAtomic()` names the directory when it is missing", async () => {
  await withDir(async (root) => {
    const dir = join(root, "gone");
    await assertRejectsTako(
      () => writeFileAtomic(dir, "manifest", text.encode("new"), 0o444),
      "runtime",
      `Cannot create a temporary file in ${dir}: no such file or directory (ENOENT).`,
    );
    assert.deepEqual(await names(root), []);
  });
});

// ---------------------------------------------------------------------------
// createTemp, commitTemp, disposal

Deno.test("`createTemp()` creates a new private .tmp- file in the directory", async () => {
  await withDir(async (dir) => {
    {
      await using a = await createTemp(dir);
      await using b = await createTemp(dir);
      assert.notEqual(a.path, b.path);
      for (const temp of [a, b]) {
        assert.match(temp.path, new RegExp(`^${dir}/\\.tmp-[0-9a-f]{16}$`));
        assert.equal(await modeOf(temp.path), 0o600);
        assert.equal((await temp.file.stat()).size, 0);
      }
    }
    assert.deepEqual(await names(dir), []);
  });
});

/** Runs `fn` with crypto.getRandomValues filling every buffer with `bytes` in turn. */
async function withRandom(bytes: number[], fn: () => Promise<void>): Promise<void> {
  const original = crypto.getRandomValues;
  let call = 0;
  crypto.getRandomValues = (<T extends ArrayBufferView | null>(array: T): T => {
    if (array !== null) {
      new Uint8Array(array.buffer, array.byteOffset, array.byteLength).fill(
        bytes[Math.min(call++, bytes.length - 1)]!,
      );
    }
    return array;
  }) as typeof crypto.getRandomValues;
  try {
    await fn();
  } finally {
    crypto.getRandomValues = original;
  }
}

Deno.test("`createTemp()` never follows a planted symbolic link nor reuses a name", async () => {
  await withDir(async (dir) => {
    const target = join(dir, "target");
    const planted = join(dir, ".tmp-0000000000000000");
    await Deno.symlink(target, planted);
    // Every name drawn is the planted one: it gives up rather than open it.
    await withRandom([0], async () => {
      await assertRejectsTako(() => createTemp(dir), "runtime", dir, "already exists");
    });
    assert.equal(await exists(target), false, "the link's target is not created");
    await Deno.remove(planted);
    await Deno.writeTextFile(planted, "someone else's");
    await withRandom([0], async () => {
      await assertRejectsTako(() => createTemp(dir), "runtime", dir, "(EEXIST)");
    });
    assert.equal(await Deno.readTextFile(planted), "someone else's");
    // A name that is taken is skipped for a fresh one.
    await withRandom([0, 1], async () => {
      await using temp = await createTemp(dir);
      assert.equal(temp.path, join(dir, ".tmp-0101010101010101"));
    });
    assert.equal(await Deno.readTextFile(planted), "someone else's");
  });
});

Deno.test("`commitTemp()` publishes a read-only file under its final name", async () => {
  await withDestination({}, async (dir) => {
    const store = join(dir, "store");
    {
      await using temp = await createTemp(store);
      await writeAll(temp.file, text.encode("image one\n"), temp.path);
      await commitTemp(temp, join(store, IMAGE_ONE));
      assert.deepEqual(await names(store), [IMAGE_ONE]);
      assert.equal(await modeOf(join(store, IMAGE_ONE)), 0o444);
      assert.equal(await Deno.readTextFile(join(store, IMAGE_ONE)), "image one\n");
      // Whatever takes the name afterwards is not the temporary's to remove.
      await Deno.writeTextFile(temp.path, "another file");
    }
    assert.equal((await names(store)).length, 2);
    assert.ok((await names(store)).includes(IMAGE_ONE));
  });
});

Deno.test("`commitTemp()` removes the temporary when the rename fails", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(join(dir, "occupied"));
    await Deno.writeTextFile(join(dir, "occupied", "x"), "x");
    await using temp = await createTemp(dir);
    await writeAll(temp.file, text.encode("data"), temp.path);
    await assertRejectsTako(
      () => commitTemp(temp, join(dir, "occupied")),
      "runtime",
      join(dir, "occupied"),
      "(EISDIR)",
    );
    assert.deepEqual(await names(dir), ["occupied"]);
  });
});

Deno.test("a temporary closes and removes itself when its scope ends, and never throws", async () => {
  await withDir(async (dir) => {
    let file: Deno.FsFile | undefined;
    await assert.rejects(async () => {
      await using temp = await createTemp(dir);
      file = temp.file;
      await writeAll(temp.file, text.encode("half"), temp.path);
      throw new Error("a failure half-way");
    }, /half-way/);
    assert.deepEqual(await names(dir), []);
    assert.throws(() => file!.writeSync(new Uint8Array([1])), Deno.errors.BadResource);
    const temp = await createTemp(dir);
    await temp[Symbol.asyncDispose]();
    await temp[Symbol.asyncDispose]();
    assert.deepEqual(await names(dir), []);
  });
});

// ---------------------------------------------------------------------------
// hashFile

Deno.test("`hashFile()` matches the SPEC vector, the empty file and a multi-chunk file", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "one"), "image one\n");
    assert.deepEqual(await hashFile(join(dir, "one")), { sha256: IMAGE_ONE, size: 10 });
    await Deno.writeFile(join(dir, "empty"), new Uint8Array());
    assert.deepEqual(await hashFile(join(dir, "empty")), { sha256: EMPTY_SHA256, size: 0 });
    const large = new Uint8Array(9 * 1024 * 1024 + 7); // three reads of 4 MiB, the last short
    for (let i = 0; i < large.length; i += 65536) {
      crypto.getRandomValues(large.subarray(i, i + 65536));
    }
    await Deno.writeFile(join(dir, "large"), large);
    const expected = createHash("sha256").update(large).digest("hex");
    assert.deepEqual(await hashFile(join(dir, "large")), { sha256: expected, size: large.length });
  });
});

Deno.test("`hashOpenFile()` hashes only the bytes asked for and tells a shorter file", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "one");
    await Deno.writeTextFile(path, "image one\n");
    using file = await Deno.open(path, { read: true });
    const first = await hashOpenFile(file, path, 6);
    assert.equal(first.size, 6);
    assert.equal(first.hash.digest("hex"), createHash("sha256").update("image ").digest("hex"));
    const rest = await hashOpenFile(file, path, 100);
    assert.equal(rest.size, 4, "the file ends before the length asked for");
    await file.seek(0, Deno.SeekMode.Start);
    assert.equal((await hashOpenFile(file, path)).hash.digest("hex"), IMAGE_ONE);
  });
});

Deno.test("`hashFile()` reports a missing file and a directory", async () => {
  await withDir(async (dir) => {
    const missing = join(dir, "missing");
    await assertRejectsTako(() => hashFile(missing), "runtime", missing, "(ENOENT)");
    await assertRejectsTako(() => hashFile(dir), "runtime", dir, "directory");
  });
});
