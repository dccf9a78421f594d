/**
 * The delta benchmark's input: a tree of real files copied from this
 * machine's /usr (ELF binaries, shared libraries, Perl and docs), and three
 * successors of it made with a seeded generator, so that every run of the
 * benchmark builds the same trees from the same files:
 *
 * - `security`: up to 20 ELF files rebuilt (85 % of their bytes new, sizes
 *   moved by a few hundred bytes), about 1 % of the tree's bytes;
 * - `minor`: about 5 % of the files rebuilt, 1 % removed, 1 % added;
 * - `metadata`: every modification time 30 days later, 5 modes changed.
 *
 * Every file and directory gets a fixed modification time, so that two
 * builds of one tree give the same image bytes.
 *
 * @module
 */

/** Where the files come from, in this order, each walked in sorted order. */
const SOURCES = ["/usr/bin", "/usr/lib/x86_64-linux-gnu", "/usr/share/perl", "/usr/share/doc"];
/** The time every file of a base tree carries (2023-11-14). */
export const TREE_TIME = 1_700_000_000;
/** Files bigger than this are left out (a few huge files would dominate the tree). */
const BIGGEST_FILE = 16 * 1024 * 1024;

/** A small, fast, seeded generator (mulberry32): the same seed, the same trees. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(next: () => number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 4) {
    const v = (next() * 4294967296) >>> 0;
    out[i] = v & 0xff;
    if (i + 1 < length) out[i + 1] = (v >>> 8) & 0xff;
    if (i + 2 < length) out[i + 2] = (v >>> 16) & 0xff;
    if (i + 3 < length) out[i + 3] = v >>> 24;
  }
  return out;
}

async function* walk(dir: string): AsyncGenerator<string> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  } catch {
    return;
  }
  for (const name of names.sort()) {
    const path = `${dir}/${name}`;
    const info = await Deno.lstat(path).catch(() => undefined);
    if (info === undefined || info.isSymlink) continue;
    if (info.isDirectory) yield* walk(path);
    else if (info.isFile && info.size > 0 && info.size <= BIGGEST_FILE) yield path;
  }
}

/** The files of a tree, relative and sorted. */
export async function listTree(root: string): Promise<string[]> {
  const files: string[] = [];
  for await (const path of walk(root)) files.push(path.slice(root.length + 1));
  return files;
}

/**
 * Copies real files into `root` until they hold `targetBytes`, taking one file
 * from each source in turn so that any size holds a mix of binaries,
 * libraries, scripts and docs. Returns the byte count.
 */
export async function buildTree(root: string, targetBytes: number): Promise<number> {
  let total = 0;
  const sources = SOURCES.map((dir) => walk(dir));
  while (total < targetBytes && sources.length > 0) {
    for (let i = 0; i < sources.length && total < targetBytes; i++) {
      const next = await sources[i]!.next();
      if (next.done) {
        sources.splice(i--, 1);
        continue;
      }
      total += await copyInto(root, next.value);
    }
  }
  await fixTimes(root, TREE_TIME);
  return total;
}

async function copyInto(root: string, path: string): Promise<number> {
  const info = await Deno.stat(path);
  const to = `${root}${path}`;
  await Deno.mkdir(to.slice(0, to.lastIndexOf("/")), { recursive: true });
  try {
    await Deno.copyFile(path, to);
  } catch {
    return 0; // unreadable: left out
  }
  await Deno.chmod(to, (info.mode ?? 0o644) & 0o755);
  return info.size;
}

/** Gives every directory under `root`, and every file unless `dirsOnly`, the time `time`. */
export async function fixTimes(root: string, time: number, dirsOnly = false): Promise<void> {
  for await (const entry of Deno.readDir(root)) {
    const path = `${root}/${entry.name}`;
    if (entry.isDirectory) await fixTimes(path, time, dirsOnly);
    else if (entry.isFile && !dirsOnly) await Deno.utime(path, time, time);
  }
  await Deno.utime(root, time, time);
}

export type ChangeKind = "security" | "minor" | "metadata";
export const CHANGE_KINDS: readonly ChangeKind[] = ["security", "minor", "metadata"];

async function isElf(path: string): Promise<boolean> {
  const file = await Deno.open(path);
  try {
    const head = new Uint8Array(4);
    const n = await file.read(head);
    return n === 4 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;
  } finally {
    file.close();
  }
}

/** Rewrites most of a file with new bytes and moves its size a little, as a rebuild does. */
async function rebuild(path: string, next: () => number, share: number, time: number) {
  const old = await Deno.readFile(path);
  const start = Math.floor(old.length * (1 - share) * next());
  const end = Math.min(old.length, start + Math.floor(old.length * share));
  const grow = Math.floor(next() * 600) - 200;
  const fresh = randomBytes(next, Math.max(0, end - start + grow));
  const out = new Uint8Array(start + fresh.length + old.length - end);
  out.set(old.subarray(0, start));
  out.set(fresh, start);
  out.set(old.subarray(end), start + fresh.length);
  await Deno.writeFile(path, out);
  await Deno.utime(path, time, time);
}

/** Turns the copy `root` of a base tree into its successor of the given kind. */
export async function applyChange(root: string, kind: ChangeKind, seed: number): Promise<void> {
  const next = seeded(seed);
  const files = await listTree(root);
  const later = TREE_TIME + 30 * 86_400;
  if (kind === "metadata") {
    await fixTimes(root, later);
    for (let i = 0; i < 5; i++) {
      const path = `${root}/${files[Math.floor(next() * files.length)]}`;
      await Deno.chmod(path, i % 2 ? 0o600 : 0o700);
    }
    return;
  }
  if (kind === "security") {
    // ELF files of a useful size, spread across the tree, until about 1 % of its bytes (at most 20).
    const elves: { path: string; size: number }[] = [];
    let total = 0;
    for (const f of files) {
      const path = `${root}/${f}`;
      const size = (await Deno.stat(path)).size;
      total += size;
      if (size >= 64 * 1024 && size <= 4 * 1024 * 1024 && await isElf(path)) {
        elves.push({ path, size });
      }
    }
    const step = Math.max(1, Math.floor(elves.length / 20));
    let changed = 0;
    for (let i = Math.floor(next() * step); i < elves.length && changed < total / 100; i += step) {
      await rebuild(elves[i]!.path, next, 0.85, later);
      changed += elves[i]!.size;
    }
    await fixTimes(root, TREE_TIME, true);
    return;
  }
  // minor: 5 % changed (a part of each), 1 % removed, 1 % added (new files from new bytes).
  for (const f of files) {
    const path = `${root}/${f}`;
    const roll = next();
    if (roll < 0.05) await rebuild(path, next, 0.85, later);
    else if (roll < 0.06) await Deno.remove(path);
  }
  const added = Math.ceil(files.length / 100);
  for (let i = 0; i < added; i++) {
    const near = files[Math.floor(next() * files.length)]!;
    const dir = `${root}/${near.slice(0, near.lastIndexOf("/"))}`;
    await Deno.mkdir(dir, { recursive: true });
    const path = `${dir}/added-${i}.bin`;
    await Deno.writeFile(path, randomBytes(next, 1024 + Math.floor(next() * 200_000)));
    await Deno.utime(path, later, later);
  }
  // Removing and adding files stamped their directories with the clock: make it fixed again.
  await fixTimes(root, later, true);
}
