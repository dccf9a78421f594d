import { createHash } from "node:crypto";
import { join } from "node:path";
import {
  acquireLock,
  cleanTemporaries,
  commitTemp,
  createTemp,
  createTempAt,
  discardTemp,
  hashFile,
  listStore,
  pointLatest,
  prepareDestination,
  readFileCapped,
  readLatest,
  removeImage,
  writeAll,
  writeFileAtomic,
} from "../../../lib/shell/destination.ts";
import { assert, assertRejectsTako } from "../../support/assert.ts";

const IMAGE_ONE = "81b9783a13d6822dfb3d1413ae5654228b04fa8790c5d6a5b79ba889f184cce5";
const IMAGE_TWO = "4285542ca100206c85381b7affa8d3c6b1eb89f9c3c08cf5821b23ecdbf63a79";
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const text = new TextEncoder();
const MODULE_URL = new URL("../../../lib/shell/destination.ts", import.meta.url).href;

/** Runs `fn` with a fresh temporary directory, removed afterwards. */
async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tako-destination-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A prepared destination holding the given images (contents keyed by digest). */
async function withDestination(
  images: Record<string, string>,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  await withDir(async (root) => {
    const dir = join(root, "dest");
    await prepareDestination(dir);
    for (const [sha256, contents] of Object.entries(images)) {
      await Deno.writeTextFile(join(dir, "store", sha256), contents);
    }
    await fn(dir);
  });
}

function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  // getRandomValues fills at most 64 KiB per call.
  for (let i = 0; i < length; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
  return bytes;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

async function modeOf(path: string): Promise<number> {
  return (await Deno.stat(path)).mode! & 0o777;
}

async function names(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir), (e) => e.name)).sort();
}

async function temporariesIn(dir: string): Promise<string[]> {
  return (await names(dir)).filter((n) => n.startsWith(".tmp-"));
}

// ---------------------------------------------------------------------------
// prepareDestination

Deno.test("`prepareDestination()` creates the destination and store/, and is idempotent", async () => {
  await withDir(async (root) => {
    const dir = join(root, "dest");
    await prepareDestination(dir);
    await prepareDestination(dir);
    assert.ok((await Deno.lstat(dir)).isDirectory);
    const store = await Deno.lstat(join(dir, "store"));
    assert.ok(store.isDirectory && !store.isSymlink);
    assert.deepEqual(await names(dir), ["store"]);
  });
});

Deno.test("`prepareDestination()` accepts an existing destination with its usual contents", async () => {
  await withDestination({ [IMAGE_ONE]: "image one\n" }, async (dir) => {
    await Deno.writeTextFile(join(dir, "manifest"), "Tako Manifest 1\n");
    await Deno.symlink(`store/${IMAGE_ONE}`, join(dir, "latest"));
    await prepareDestination(dir);
    assert.deepEqual(await names(dir), ["latest", "manifest", "store"]);
  });
});

Deno.test("`prepareDestination()` refuses a destination whose parent is missing", async () => {
  await withDir(async (root) => {
    const dir = join(root, "missing", "dest");
    await assertRejectsTako(() => prepareDestination(dir), "runtime", dir, "parent", "not exist");
    assert.equal(await exists(join(root, "missing")), false);
  });
});

Deno.test("`prepareDestination()` refuses fixed names that are not what they should be", async () => {
  const cases: { name: string; plant: (dir: string, outside: string) => Promise<void> }[] = [
    { name: "store", plant: (dir, outside) => Deno.symlink(outside, join(dir, "store")) },
    { name: "store", plant: (dir) => Deno.writeTextFile(join(dir, "store"), "x") },
    { name: "latest", plant: (dir) => Deno.mkdir(join(dir, "latest")) },
    { name: "latest", plant: (dir) => Deno.writeTextFile(join(dir, "latest"), "x") },
    { name: "manifest", plant: (dir, outside) => Deno.symlink(outside, join(dir, "manifest")) },
    { name: "manifest", plant: (dir) => Deno.mkdir(join(dir, "manifest")) },
  ];
  for (const { name, plant } of cases) {
    await withDir(async (root) => {
      const dir = join(root, "dest");
      const outside = join(root, "outside");
      await Deno.mkdir(dir);
      await Deno.mkdir(outside);
      await plant(dir, outside);
      await assertRejectsTako(
        () => prepareDestination(dir),
        "runtime",
        join(dir, name),
        "expected",
      );
      assert.deepEqual(await names(outside), [], "nothing is written through a planted link");
    });
  }
});

Deno.test("`prepareDestination()` refuses a destination that is a file", async () => {
  await withDir(async (root) => {
    const dir = join(root, "dest");
    await Deno.writeTextFile(dir, "x");
    await assertRejectsTako(() => prepareDestination(dir), "runtime", dir, "regular file");
  });
});

// ---------------------------------------------------------------------------
// acquireLock

Deno.test("`acquireLock()` makes a second acquire wait until the first is released", async () => {
  await withDestination({}, async (dir) => {
    const first = await acquireLock(dir, 0);
    let secondHeld = false;
    const second = acquireLock(dir, 5000).then((lock) => {
      secondHeld = true;
      return lock;
    });
    await new Promise((resolve) => setTimeout(resolve, 250));
    assert.equal(secondHeld, false, "the second acquire waits while the first holds the lock");
    first.release();
    (await second).release();
    assert.ok(secondHeld);
  });
});

Deno.test("`acquireLock()` gives up after waitMs with a busy error", async () => {
  await withDestination({}, async (dir) => {
    const held = await acquireLock(dir, 0);
    try {
      const started = Date.now();
      const error = await assertRejectsTako(
        () => acquireLock(dir, 300),
        "runtime",
        `${dir} is busy: another tako run holds ${join(dir, ".lock")}`,
      );
      assert.equal(error.tag, "busy");
      assert.ok(Date.now() - started >= 290, "it waited before giving up");
    } finally {
      held.release();
    }
    (await acquireLock(dir, 0)).release();
  });
});

Deno.test("`acquireLock()` conflicts with a lock held by another process", async () => {
  await withDestination({}, async (dir) => {
    const code = `
      const f = await Deno.open(${
      JSON.stringify(join(dir, ".lock"))
    }, { read: true, write: true, create: true });
      await f.lock(true);
      console.log("locked");
      for await (const _ of Deno.stdin.readable) { /* hold until stdin closes */ }
    `;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", code],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
      env: { NO_COLOR: "1" },
    }).spawn();
    const reader = child.stdout.getReader();
    try {
      const { value } = await reader.read();
      assert.match(new TextDecoder().decode(value), /locked/);
      const error = await assertRejectsTako(() => acquireLock(dir, 200), "runtime", "busy");
      assert.equal(error.tag, "busy");
      const waiting = acquireLock(dir, 10_000);
      await child.stdin.close();
      (await waiting).release();
    } finally {
      reader.releaseLock();
      await child.stdout.cancel();
      await child.status;
    }
  });
});

Deno.test("`acquireLock()` release is idempotent", async () => {
  await withDestination({}, async (dir) => {
    const lock = await acquireLock(dir, 0);
    lock.release();
    lock.release();
    (await acquireLock(dir, 0)).release();
  });
});

Deno.test("`acquireLock()` refuses a .lock planted as a symbolic link", async () => {
  await withDestination({}, async (dir) => {
    const outside = join(dir, "..", "outside-lock");
    await Deno.symlink(outside, join(dir, ".lock"));
    await assertRejectsTako(() => acquireLock(dir, 0), "runtime", join(dir, ".lock"), "symbolic");
    assert.equal(await exists(outside), false, "no file is created outside the destination");
  });
});

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
      "cannot write /var/lib/x/store/.tmp-1: ",
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
      `cannot create a temporary file in ${dir}: no such file or directory (ENOENT).`,
    );
    assert.deepEqual(await names(root), []);
  });
});

// ---------------------------------------------------------------------------
// createTemp, commitTemp, discardTemp

Deno.test("`createTemp()` creates a new private .tmp- file in the directory", async () => {
  await withDir(async (dir) => {
    const a = await createTemp(dir);
    const b = await createTemp(dir);
    try {
      assert.notEqual(a.path, b.path);
      for (const temp of [a, b]) {
        assert.match(temp.path, new RegExp(`^${dir}/\\.tmp-[0-9a-f]{16}$`));
        assert.equal(await modeOf(temp.path), 0o600);
        assert.equal((await temp.file.stat()).size, 0);
      }
    } finally {
      await discardTemp(a);
      await discardTemp(b);
    }
    assert.deepEqual(await names(dir), []);
  });
});

Deno.test("`createTempAt()` never follows a planted symbolic link nor reuses a name", async () => {
  await withDir(async (dir) => {
    const target = join(dir, "target");
    const planted = join(dir, ".tmp-planted");
    await Deno.symlink(target, planted);
    await assertRejectsTako(() => createTempAt(planted), "runtime", planted, "already exists");
    assert.equal(await exists(target), false, "the link's target is not created");
    const dangling = join(dir, ".tmp-file");
    await Deno.writeTextFile(dangling, "someone else's");
    await assertRejectsTako(() => createTempAt(dangling), "runtime", dangling, "(EEXIST)");
    assert.equal(await Deno.readTextFile(dangling), "someone else's");
  });
});

Deno.test("`commitTemp()` publishes a read-only file under its final name", async () => {
  await withDestination({}, async (dir) => {
    const store = join(dir, "store");
    const temp = await createTemp(store);
    await writeAll(temp.file, text.encode("image one\n"), temp.path);
    await commitTemp(temp, join(store, IMAGE_ONE));
    assert.deepEqual(await names(store), [IMAGE_ONE]);
    assert.equal(await modeOf(join(store, IMAGE_ONE)), 0o444);
    assert.equal(await Deno.readTextFile(join(store, IMAGE_ONE)), "image one\n");
    await discardTemp(temp); // after a commit: harmless
    assert.deepEqual(await names(store), [IMAGE_ONE]);
  });
});

Deno.test("`commitTemp()` removes the temporary when the rename fails", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(join(dir, "occupied"));
    await Deno.writeTextFile(join(dir, "occupied", "x"), "x");
    const temp = await createTemp(dir);
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

Deno.test("`discardTemp()` closes and removes, and never throws", async () => {
  await withDir(async (dir) => {
    const temp = await createTemp(dir);
    await discardTemp(temp);
    await discardTemp(temp);
    assert.deepEqual(await names(dir), []);
    assert.throws(() => temp.file.writeSync(new Uint8Array([1])), Deno.errors.BadResource);
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

Deno.test("`hashFile()` reports a missing file and a directory", async () => {
  await withDir(async (dir) => {
    const missing = join(dir, "missing");
    await assertRejectsTako(() => hashFile(missing), "runtime", missing, "(ENOENT)");
    await assertRejectsTako(() => hashFile(dir), "runtime", dir, "directory");
  });
});

// ---------------------------------------------------------------------------
// readLatest, pointLatest

Deno.test("`readLatest()` tells absent, ours, dangling and foreign apart", async () => {
  await withDestination({ [IMAGE_ONE]: "image one\n" }, async (dir) => {
    const latest = join(dir, "latest");
    assert.equal(await readLatest(dir), undefined);
    await Deno.symlink(`store/${IMAGE_ONE}`, latest);
    assert.equal(await readLatest(dir), IMAGE_ONE);
    await Deno.remove(latest);
    await Deno.symlink(`store/${IMAGE_TWO}`, latest);
    assert.equal(await readLatest(dir), IMAGE_TWO, "a dangling link still names its digest");
  });
  const foreign: { name: string; plant: (latest: string) => Promise<void>; detail: string }[] = [
    { name: "absolute", plant: (l) => Deno.symlink("/etc/passwd", l), detail: '"/etc/passwd"' },
    {
      name: "uppercase",
      plant: (l) => Deno.symlink(`store/${IMAGE_ONE.toUpperCase()}`, l),
      detail: "symbolic link",
    },
    { name: "dot", plant: (l) => Deno.symlink(`./store/${IMAGE_ONE}`, l), detail: "./store" },
    { name: "parent", plant: (l) => Deno.symlink(`../store/${IMAGE_ONE}`, l), detail: "../" },
    { name: "short", plant: (l) => Deno.symlink("store/abc", l), detail: "store/abc" },
    {
      name: "control",
      plant: (l) => Deno.symlink("store/\x1b[31m", l),
      detail: "\\u{1b}",
    },
    { name: "file", plant: (l) => Deno.writeTextFile(l, "x"), detail: "regular file" },
    { name: "directory", plant: (l) => Deno.mkdir(l), detail: "directory" },
  ];
  for (const { name, plant, detail } of foreign) {
    await withDestination({ [IMAGE_ONE]: "image one\n" }, async (dir) => {
      await plant(join(dir, "latest"));
      const got = await readLatest(dir);
      assert.ok(typeof got === "object", `${name}: foreign`);
      assert.equal(got.foreign, true);
      assert.ok(got.detail.includes(detail), `${name}: ${got.detail}`);
      assert.ok(!got.detail.includes("\x1b"), `${name}: printable`);
    });
  }
});

Deno.test("`pointLatest()` creates, keeps and swaps a relative link", async () => {
  await withDestination({ [IMAGE_ONE]: "image one\n", [IMAGE_TWO]: "image two\n" }, async (dir) => {
    const latest = join(dir, "latest");
    assert.equal(await pointLatest(dir, IMAGE_ONE), true);
    assert.equal(await Deno.readLink(latest), `store/${IMAGE_ONE}`);
    assert.equal(await Deno.readTextFile(latest), "image one\n");
    assert.equal(await pointLatest(dir, IMAGE_ONE), false);
    assert.equal(await pointLatest(dir, IMAGE_TWO), true);
    assert.equal(await readLatest(dir), IMAGE_TWO);
    assert.deepEqual(await temporariesIn(dir), []);
  });
});

Deno.test("`pointLatest()` replaces a foreign link", async () => {
  await withDestination({ [IMAGE_ONE]: "image one\n" }, async (dir) => {
    await Deno.symlink("/etc/passwd", join(dir, "latest"));
    assert.equal(await pointLatest(dir, IMAGE_ONE), true);
    assert.equal(await readLatest(dir), IMAGE_ONE);
  });
});

Deno.test("`pointLatest()` refuses a missing image and a malformed digest", async () => {
  await withDestination({ [IMAGE_ONE]: "image one\n" }, async (dir) => {
    await pointLatest(dir, IMAGE_ONE);
    await assertRejectsTako(() => pointLatest(dir, IMAGE_TWO), "runtime", IMAGE_TWO, "missing");
    await assertRejectsTako(
      () => pointLatest(dir, IMAGE_ONE.toUpperCase()),
      "runtime",
      "64 lowercase hex",
    );
    await assertRejectsTako(() => pointLatest(dir, "../../etc"), "runtime", "not a SHA-256");
    assert.equal(await readLatest(dir), IMAGE_ONE, "latest is untouched");
    assert.deepEqual(await temporariesIn(dir), []);
  });
});

Deno.test("`pointLatest()` refuses to replace a directory named latest", async () => {
  await withDestination({ [IMAGE_ONE]: "image one\n" }, async (dir) => {
    await Deno.mkdir(join(dir, "latest"));
    await assertRejectsTako(() => pointLatest(dir, IMAGE_ONE), "runtime", join(dir, "latest"));
    assert.deepEqual(await temporariesIn(dir), [], "the temporary link is removed");
  });
});

Deno.test("`pointLatest()` never lets a concurrent reader see latest missing", async () => {
  await withDestination({ [IMAGE_ONE]: "image one\n", [IMAGE_TWO]: "image two\n" }, async (dir) => {
    await pointLatest(dir, IMAGE_ONE);
    const latest = join(dir, "latest");
    let swapping = true;
    const swapper = (async () => {
      try {
        for (let i = 0; i < 300; i++) await pointLatest(dir, i % 2 ? IMAGE_ONE : IMAGE_TWO);
      } finally {
        swapping = false;
      }
    })();
    const seen = new Set<string>();
    let reads = 0;
    while (swapping && reads < 20_000) {
      seen.add(await Deno.readLink(latest)); // throws NotFound if the link were ever missing
      reads++;
    }
    await swapper;
    assert.ok(reads > 0);
    for (const target of seen) assert.match(target, /^store\/[0-9a-f]{64}$/);
  });
});

// ---------------------------------------------------------------------------
// cleanTemporaries, listStore, removeImage

Deno.test("`cleanTemporaries()` removes only .tmp- files and links", async () => {
  await withDestination({ [IMAGE_ONE]: "image one\n" }, async (dir) => {
    const store = join(dir, "store");
    await Deno.writeTextFile(join(dir, ".tmp-abc"), "x");
    await Deno.symlink(`store/${IMAGE_ONE}`, join(dir, ".tmp-link"));
    await Deno.writeTextFile(join(store, ".tmp-0123"), "partial");
    await Deno.mkdir(join(store, ".tmp-dir"));
    for (const keep of ["manifest", ".state", ".tmpx", "tmp-1", ".lock"]) {
      await Deno.writeTextFile(join(dir, keep), "keep");
    }
    await pointLatest(dir, IMAGE_ONE);
    assert.equal(await cleanTemporaries(dir), 3);
    assert.deepEqual(await names(dir), [
      ".lock",
      ".state",
      ".tmpx",
      "latest",
      "manifest",
      "store",
      "tmp-1",
    ]);
    assert.deepEqual(await names(store), [".tmp-dir", IMAGE_ONE]);
    assert.equal(await cleanTemporaries(dir), 0);
  });
});

Deno.test("`cleanTemporaries()` reports a directory it cannot list", async () => {
  await withDir(async (root) => {
    const dir = join(root, "file");
    await Deno.writeTextFile(dir, "x");
    await assertRejectsTako(() => cleanTemporaries(dir), "runtime", dir);
  });
});

Deno.test("`listStore()` lists our images with sizes and ignores everything else", async () => {
  await withDestination({ [IMAGE_TWO]: "image two\n", [IMAGE_ONE]: "image one\n" }, async (dir) => {
    const store = join(dir, "store");
    await Deno.writeTextFile(join(store, IMAGE_ONE.toUpperCase()), "x");
    await Deno.writeTextFile(join(store, IMAGE_ONE.slice(1)), "x");
    await Deno.writeTextFile(join(store, `${IMAGE_ONE}.part`), "x");
    await Deno.writeTextFile(join(store, ".tmp-1"), "x");
    await Deno.writeTextFile(join(store, "README"), "x");
    await Deno.mkdir(join(store, "e".repeat(64)));
    await Deno.symlink(join(store, IMAGE_ONE), join(store, "f".repeat(64)));
    assert.deepEqual(await listStore(dir), [
      { sha256: IMAGE_TWO, size: 10 },
      { sha256: IMAGE_ONE, size: 10 },
    ]);
  });
});

Deno.test("`listStore()` answers nothing for a destination without store/", async () => {
  await withDir(async (dir) => {
    assert.deepEqual(await listStore(dir), []);
  });
});

Deno.test("`removeImage()` removes an image, tolerates one already gone, refuses a bad digest", async () => {
  await withDestination({ [IMAGE_ONE]: "image one\n", [IMAGE_TWO]: "image two\n" }, async (dir) => {
    await Deno.chmod(join(dir, "store", IMAGE_ONE), 0o444);
    await removeImage(dir, IMAGE_ONE);
    assert.deepEqual(await names(join(dir, "store")), [IMAGE_TWO]);
    await removeImage(dir, IMAGE_ONE);
    await assertRejectsTako(() => removeImage(dir, "../manifest"), "runtime", "not a SHA-256");
    assert.deepEqual(await names(join(dir, "store")), [IMAGE_TWO]);
  });
});

Deno.test("`removeImage()` reports what it cannot remove", async () => {
  await withDestination({}, async (dir) => {
    const path = join(dir, "store", IMAGE_ONE);
    await Deno.mkdir(path);
    await Deno.writeTextFile(join(path, "x"), "x");
    await assertRejectsTako(() => removeImage(dir, IMAGE_ONE), "runtime", `cannot remove ${path}`);
  });
});
