/** Files and destinations for the shell tests: temporary directories, removed afterwards. */
import { join } from "node:path";
import { prepareDestination } from "../../../lib/shell/store.ts";

export const IMAGE_ONE = "81b9783a13d6822dfb3d1413ae5654228b04fa8790c5d6a5b79ba889f184cce5";
export const IMAGE_TWO = "4285542ca100206c85381b7affa8d3c6b1eb89f9c3c08cf5821b23ecdbf63a79";

/** Runs `fn` with a fresh temporary directory, removed afterwards. */
export async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tako-files-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A prepared destination holding the given images (contents keyed by digest). */
export async function withDestination(
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

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

export async function modeOf(path: string): Promise<number> {
  return (await Deno.stat(path)).mode! & 0o777;
}

export async function names(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir), (e) => e.name)).sort();
}

export async function temporariesIn(dir: string): Promise<string[]> {
  return (await names(dir)).filter((n) => n.startsWith(".tmp-"));
}
