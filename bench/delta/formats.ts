/**
 * The image formats of the delta benchmark, each built reproducibly with
 * Debian's own tools: a rebuild of the same tree gives the same bytes
 * (fixed UUIDs, hash seeds and creation times), or a delta would measure the
 * builder's noise instead of the change.
 *
 * @module
 */

/** Fixed identity of every image built here. */
const UUID = "2f0e6c2a-7a1e-4d3b-9c55-6b0d4c1e9a11";
const BUILD_TIME = "1700000000";
/** erofs clamps file times to SOURCE_DATE_EPOCH: a date after every tree's times. */
const EROFS_EPOCH = "1900000000";

export interface Format {
  readonly name: string;
  /** The Debian package that brings the builder. */
  readonly pkg: string;
  readonly args: (tree: string, image: string, treeBytes: number) => string[];
  readonly env?: Record<string, string>;
  /** Runs after the builder, to pin what it took from the clock. */
  readonly after?: (tree: string, image: string) => Promise<void>;
}

async function* entries(root: string, rel = ""): AsyncGenerator<[string, Deno.FileInfo]> {
  const here = await Deno.lstat(`${root}${rel}`);
  yield [rel === "" ? "/" : rel, here];
  if (!here.isDirectory) return;
  const names: string[] = [];
  for await (const e of Deno.readDir(`${root}${rel}`)) names.push(e.name);
  for (const name of names.sort()) yield* entries(root, `${rel}/${name}`);
}

/**
 * mke2fs copies access and change times from the tree: the clock of the copy
 * and of every read, which nobody can pin. Rewrite both in the image as the mtime.
 */
async function timesFromMtimes(tree: string, image: string): Promise<void> {
  const lines: string[] = [];
  for await (const [rel, info] of entries(tree)) {
    const seconds = Math.floor(info.mtime!.getTime() / 1000);
    const path = `"${rel.replaceAll('"', '\\"')}"`;
    lines.push(`sif ${path} ctime @${seconds}`, `sif ${path} atime @${seconds}`);
  }
  const script = `${image}.debugfs`;
  await Deno.writeTextFile(script, lines.join("\n") + "\n");
  const out = await new Deno.Command("debugfs", {
    args: ["-w", "-f", script, image],
    env: { E2FSPROGS_FAKE_TIME: BUILD_TIME },
    stdout: "null",
    stderr: "piped",
  }).output();
  await Deno.remove(script);
  if (!out.success) throw new Error(`debugfs failed on ${image}`);
}

/** ext4 needs a fixed size: the tree with room for metadata, in 4 KiB blocks. */
function ext4Blocks(treeBytes: number): string {
  return String(Math.ceil((treeBytes * 1.35 + 64 * 1024 * 1024) / 4096));
}

/** erofs, plain or compressed (`extra` holds the compressor option). */
function erofs(name: string, extra: readonly string[]): Format {
  return {
    name,
    pkg: "erofs-utils",
    args: (tree, image) => [
      "mkfs.erofs",
      "--quiet",
      "--all-root",
      "--preserve-mtime",
      ...extra,
      `-U${UUID}`,
      image,
      tree,
    ],
    env: { SOURCE_DATE_EPOCH: EROFS_EPOCH },
  };
}

export const FORMATS: readonly Format[] = [
  {
    name: "squashfs-gzip",
    pkg: "squashfs-tools",
    args: (tree, image) => [
      "mksquashfs",
      tree,
      image,
      "-noappend",
      "-comp",
      "gzip",
      "-mkfs-time",
      BUILD_TIME,
      "-all-root",
      "-no-progress",
      "-quiet",
    ],
  },
  erofs("erofs", []),
  erofs("erofs-lz4hc", ["-zlz4hc"]),
  {
    name: "ext4",
    pkg: "e2fsprogs",
    args: (tree, image, treeBytes) => [
      "mke2fs",
      "-q",
      "-F",
      "-t",
      "ext4",
      "-b",
      "4096",
      "-U",
      UUID,
      "-E",
      `hash_seed=${UUID},root_owner=0:0`,
      "-d",
      tree,
      image,
      ext4Blocks(treeBytes),
    ],
    env: { E2FSPROGS_FAKE_TIME: BUILD_TIME },
    after: timesFromMtimes,
  },
  {
    name: "tar",
    pkg: "tar",
    args: (tree, image) => [
      "tar",
      "--sort=name",
      "--owner=0",
      "--group=0",
      "--numeric-owner",
      "--format=gnu",
      "-C",
      tree,
      "-cf",
      image,
      ".",
    ],
  },
];

/** Builds `image` from `tree`; throws with the builder's own words when it fails. */
export async function buildImage(
  format: Format,
  tree: string,
  image: string,
  treeBytes: number,
): Promise<void> {
  const [program, ...args] = format.args(tree, image, treeBytes);
  const out = await new Deno.Command(program!, {
    args,
    env: { ...format.env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const text = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" ");
    throw new Error(`${program} failed building ${image}: ${text}`);
  }
  await format.after?.(tree, image);
}
