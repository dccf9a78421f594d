import { join } from "node:path";
import {
  cleanTemporaries,
  listStore,
  pointLatest,
  prepareDestination,
  readLatest,
  removeImage,
} from "../../../lib/shell/store.ts";
import { assert, assertRejectsTako } from "../../support/assert.ts";
import {
  exists,
  IMAGE_ONE,
  IMAGE_TWO,
  names,
  temporariesIn,
  withDestination,
  withDir,
} from "./_files.ts";

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
      "integrity",
      "64 lowercase hex",
    );
    await assertRejectsTako(() => pointLatest(dir, "../../etc"), "integrity", "not a SHA-256");
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
    await assertRejectsTako(() => removeImage(dir, "../manifest"), "integrity", "not a SHA-256");
    assert.deepEqual(await names(join(dir, "store")), [IMAGE_TWO]);
  });
});

Deno.test("`removeImage()` removes the image's cached chunk index with it, and nothing else", async () => {
  await withDestination({ [IMAGE_ONE]: "image one\n", [IMAGE_TWO]: "image two\n" }, async (dir) => {
    await Deno.writeTextFile(join(dir, "store", `${IMAGE_ONE}.index`), "index");
    await Deno.writeTextFile(join(dir, "store", `${IMAGE_TWO}.index`), "index");
    await removeImage(dir, IMAGE_ONE);
    assert.deepEqual(await names(join(dir, "store")), [IMAGE_TWO, `${IMAGE_TWO}.index`]);
    // A directory by that name is not an index of Tako's: it stays, and the image still goes.
    await Deno.remove(join(dir, "store", `${IMAGE_TWO}.index`));
    await Deno.mkdir(join(dir, "store", `${IMAGE_TWO}.index`));
    await Deno.writeTextFile(join(dir, "store", `${IMAGE_TWO}.index`, "x"), "x");
    await removeImage(dir, IMAGE_TWO);
    assert.deepEqual(await names(join(dir, "store")), [`${IMAGE_TWO}.index`]);
  });
});

Deno.test("`removeImage()` reports what it cannot remove", async () => {
  await withDestination({}, async (dir) => {
    const path = join(dir, "store", IMAGE_ONE);
    await Deno.mkdir(path);
    await Deno.writeTextFile(join(path, "x"), "x");
    await assertRejectsTako(() => removeImage(dir, IMAGE_ONE), "runtime", `Cannot remove ${path}`);
  });
});
