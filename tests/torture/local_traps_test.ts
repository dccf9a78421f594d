/**
 * Local traps (SPEC §6 "nothing outside the destination is written", §7
 * "Files"): `store`, `store/<hex>`, temporary names, `manifest`, `latest`,
 * `.lock` and `.state` planted as symbolic links to files or directories
 * outside the destination (existing ones, and dangling ones that a careless
 * open would create), as hard links to outside files, or as directories.
 * Whatever Tako answers (success, or a clean runtime error that names the
 * trap), the outside tree is byte for byte, mode for mode and mtime for mtime
 * what it was, and no dangling target has been created.
 */
import { assert } from "../support/assert.ts";
import {
  assertOutcome,
  checkInvariants,
  type FetchSetup,
  type ImageSpec,
  latestDigest,
  sha256Hex,
  withSetup,
} from "../support/publish.ts";
import { THREE_ENTRY_MANIFEST } from "../support/vectors.ts";
import { assertCleanFailure, snapshotTree, TORTURE } from "./support.ts";

const V1: ImageSpec = { version: "1.0.0", content: "image one\n" };
const V2: ImageSpec = { version: "2.0.0", content: "image two\n" };
const V1_SHA = sha256Hex("image one\n");
const V2_SHA = sha256Hex("image two\n");

/** The outside tree every trap points into. */
interface Outside {
  readonly root: string;
  /** A regular file with known contents (0644). */
  readonly file: string;
  /** A file holding the right contents of 2.0.0's image (as if placed by an attacker). */
  readonly image: string;
  /** A file holding a valid manifest. */
  readonly manifest: string;
  /** A directory with one file in it. */
  readonly dir: string;
  /** A name that does not exist: no run may create it. */
  readonly missing: string;
}

async function makeOutside(s: FetchSetup): Promise<Outside> {
  const root = `${s.dir}/outside`;
  await Deno.mkdir(`${root}/dir`, { recursive: true });
  const outside: Outside = {
    root,
    file: `${root}/precious`,
    image: `${root}/image`,
    manifest: `${root}/manifest`,
    dir: `${root}/dir`,
    missing: `${root}/created-by-tako`,
  };
  await Deno.writeTextFile(outside.file, "precious data, not Tako's\n");
  await Deno.writeTextFile(outside.image, V2.content as string);
  await Deno.writeTextFile(outside.manifest, THREE_ENTRY_MANIFEST);
  await Deno.writeTextFile(`${outside.dir}/inside`, "a file in the outside directory\n");
  // An old mtime, so that any write would show.
  for (const p of [outside.file, outside.image, outside.manifest, `${outside.dir}/inside`]) {
    await Deno.utime(p, 1_000_000, 1_000_000);
  }
  return outside;
}

interface Trap {
  readonly name: string;
  /** Whether the destination holds 1.0.0 before the trap is planted. */
  readonly installed: boolean;
  plant(dest: string, o: Outside): Promise<void>;
  /** Exit codes accepted: 0 when Tako may step around the trap, 1 when it must refuse. */
  readonly codes: readonly number[];
  /** Removes the trap (for the next run), if Tako refused it, or if Tako leaves it by design. */
  remove?(dest: string): Promise<void>;
}

const rm = (path: string) => Deno.remove(path, { recursive: true }).catch(() => {});
const link = (target: string, path: string) => Deno.symlink(target, path);

const TRAPS: readonly Trap[] = [
  {
    name: "store as a link to an outside directory",
    installed: false,
    plant: async (d, o) => {
      await Deno.mkdir(d);
      await link(o.dir, `${d}/store`);
    },
    codes: [1],
    remove: (d) => rm(`${d}/store`),
  },
  {
    name: "store as a dangling link to an outside name",
    installed: false,
    plant: async (d, o) => {
      await Deno.mkdir(d);
      await link(o.missing, `${d}/store`);
    },
    codes: [1],
    remove: (d) => rm(`${d}/store`),
  },
  {
    name: "store/<sha256> as a link to an outside file with the right contents",
    installed: true,
    plant: (d, o) => link(o.image, `${d}/store/${V2_SHA}`),
    codes: [1],
    remove: (d) => rm(`${d}/store/${V2_SHA}`),
  },
  {
    name: "store/<sha256> as a link to an outside directory",
    installed: true,
    plant: (d, o) => link(o.dir, `${d}/store/${V2_SHA}`),
    codes: [1],
    remove: (d) => rm(`${d}/store/${V2_SHA}`),
  },
  {
    name: "store/<sha256> as a directory",
    installed: true,
    plant: (d) => Deno.mkdir(`${d}/store/${V2_SHA}`),
    codes: [1],
    remove: (d) => rm(`${d}/store/${V2_SHA}`),
  },
  {
    name: "store/<sha256> as a hard link to an outside file",
    installed: true,
    plant: (d, o) => Deno.link(o.file, `${d}/store/${V2_SHA}`),
    // Damaged (wrong digest): replaced by a rename, the outside file untouched.
    codes: [0],
  },
  {
    name: "temporary names as links to outside files, directories and missing names",
    installed: true,
    plant: async (d, o) => {
      await link(o.file, `${d}/.tmp-0000000000000001`);
      await link(o.dir, `${d}/store/.tmp-0000000000000002`);
      await link(o.missing, `${d}/store/.tmp-0000000000000003`);
      await Deno.link(o.image, `${d}/store/.tmp-0000000000000004`);
    },
    codes: [0],
  },
  {
    name: "a temporary name as a directory",
    installed: true,
    plant: async (d) => {
      await Deno.mkdir(`${d}/store/.tmp-0000000000000005`);
      await Deno.writeTextFile(`${d}/store/.tmp-0000000000000005/x`, "not ours\n");
    },
    // Directories are never Tako's: it steps around this one and leaves it.
    codes: [0],
    remove: (d) => rm(`${d}/store/.tmp-0000000000000005`),
  },
  {
    name: "manifest as a link to an outside manifest",
    installed: true,
    plant: async (d, o) => {
      await rm(`${d}/manifest`);
      await link(o.manifest, `${d}/manifest`);
    },
    codes: [1],
    remove: (d) => rm(`${d}/manifest`),
  },
  {
    name: "manifest as a dangling link to an outside name",
    installed: false,
    plant: async (d, o) => {
      await Deno.mkdir(d);
      await link(o.missing, `${d}/manifest`);
    },
    codes: [1],
    remove: (d) => rm(`${d}/manifest`),
  },
  {
    name: "manifest as a directory",
    installed: false,
    plant: (d) => Deno.mkdir(`${d}/manifest`, { recursive: true }),
    codes: [1],
    remove: (d) => rm(`${d}/manifest`),
  },
  {
    name: "manifest as a hard link to an outside file",
    installed: false,
    plant: async (d, o) => {
      await Deno.mkdir(d);
      await Deno.link(o.manifest, `${d}/manifest`);
    },
    // The three-image vector is not this origin's history: a rollback, refused (SPEC §7).
    codes: [4],
    remove: (d) => rm(`${d}/manifest`),
  },
  {
    name: "latest as a link to an outside file",
    installed: true,
    plant: async (d, o) => {
      await rm(`${d}/latest`);
      await link(o.file, `${d}/latest`);
    },
    codes: [1],
    remove: (d) => rm(`${d}/latest`),
  },
  {
    name: "latest as a link to an outside directory",
    installed: true,
    plant: async (d, o) => {
      await rm(`${d}/latest`);
      await link(o.dir, `${d}/latest`);
    },
    codes: [1],
    remove: (d) => rm(`${d}/latest`),
  },
  {
    name: "latest as a directory",
    installed: false,
    plant: (d) => Deno.mkdir(`${d}/latest`, { recursive: true }),
    codes: [1],
    remove: (d) => rm(`${d}/latest`),
  },
  {
    name: ".lock as a dangling link to an outside name",
    installed: false,
    plant: async (d, o) => {
      await Deno.mkdir(d);
      await link(o.missing, `${d}/.lock`);
    },
    codes: [1],
    remove: (d) => rm(`${d}/.lock`),
  },
  {
    name: ".lock as a link to an outside file",
    installed: true,
    plant: async (d, o) => {
      await rm(`${d}/.lock`);
      await link(o.file, `${d}/.lock`);
    },
    codes: [1],
    remove: (d) => rm(`${d}/.lock`),
  },
  {
    name: ".state as a link to an outside file",
    installed: true,
    plant: async (d, o) => {
      await rm(`${d}/.state`);
      await link(o.file, `${d}/.state`);
    },
    codes: [0],
  },
  {
    name: ".state as a dangling link to an outside name",
    installed: true,
    plant: async (d, o) => {
      await rm(`${d}/.state`);
      await link(o.missing, `${d}/.state`);
    },
    codes: [0],
  },
  {
    name: ".state as a hard link to an outside file",
    installed: true,
    plant: async (d, o) => {
      await rm(`${d}/.state`);
      await Deno.link(o.file, `${d}/.state`);
    },
    codes: [0],
  },
];

for (const [i, trap] of TRAPS.entries()) {
  // make test runs every other trap (each target kind still has one); make torture all.
  Deno.test({
    name: `a local trap: ${trap.name} writes nothing outside the destination`,
    ignore: !TORTURE && i % 2 === 1,
  }, async () => {
    await withSetup([V1], async (s) => {
      const outside = await makeOutside(s);
      if (trap.installed) assertOutcome(await s.fetch(), 0);
      await s.publish([V1, V2]);
      await trap.plant(s.dest, outside);
      const before = await snapshotTree(outside.root);
      const latestBefore = await Deno.readLink(`${s.dest}/latest`).catch(() => undefined);

      const result = await s.fetch();
      if (trap.codes.includes(0) && result.code === 0) assertOutcome(result, 0);
      else assertCleanFailure(result, trap.codes);
      assert.deepEqual(await snapshotTree(outside.root), before, "the outside tree changed");
      assert.equal(await Deno.lstat(outside.missing).catch(() => undefined), undefined);
      if (result.code === 0) {
        await trap.remove?.(s.dest);
        await checkInvariants(s.dest);
        assert.equal(await latestDigest(s.dest), V2_SHA);
        return;
      }
      // Refused: the trap named, latest untouched; once the trap is gone, the next run succeeds.
      assert.equal(await Deno.readLink(`${s.dest}/latest`).catch(() => undefined), latestBefore);
      await trap.remove?.(s.dest);
      assertOutcome(await s.fetch(), 0);
      await checkInvariants(s.dest);
      assert.equal(await latestDigest(s.dest), V2_SHA);
      assert.deepEqual(await snapshotTree(outside.root), before, "the outside tree changed");
    });
  });
}

Deno.test("a local trap: a destination that is itself a link to a directory is the administrator's path", async () => {
  await withSetup([V1], async (s) => {
    const real = `${s.dir}/real-dest`;
    await Deno.mkdir(real);
    await Deno.symlink(real, s.dest);
    assertOutcome(await s.fetch(), 0);
    assert.equal(await latestDigest(real), V1_SHA);
    await checkInvariants(real);
  });
});
