/**
 * Writing chunk indexes (lib/core/chunk_index.ts) beside the images of an
 * origin directory: `store/<sha256>.index`, read-only, written atomically.
 * The image is read once, hashed and indexed in the same pass (by `tako store`
 * as it copies the image in, by `tako index` for an image already there), so
 * an index is never written for bytes other than those its name and header
 * promise.
 *
 * @module
 */
import { join } from "node:path";
import { printable, TakoError } from "../core/errors.ts";
import { equalBytes } from "../core/bytes.ts";
import { INDEX_SUFFIX, indexable, IndexBuilder, indexReadLimit } from "../core/chunk_index.ts";
import { attempt, hashOpenFile, readFileCapped, writeFileAtomic } from "./fs.ts";

/** What {@link ensureIndex} did. */
export type IndexOutcome = "written" | "present" | "too large";

/**
 * Makes `storeDir/<sha256>.index` the index of `storeDir/<sha256>` (`size`
 * bytes): keeps a present index only when it is byte for byte the one the
 * image's bytes give (so a damaged entry, another image's entries under a
 * right header, or version 1 are all written anew), else writes it. `built`
 * is the index that an IndexBuilder fed the very bytes hashed to `sha256`
 * finished (`tako store` indexes while it copies, so that the image is read
 * once); without it the image is read, its digest checked and its index
 * built. An image too large for an index (over about 42 GiB) gets none. A
 * damaged image is an integrity error; nothing is written then.
 *
 * @example
 * ```ts
 * declare const sha256: string, size: number;
 * await ensureIndex("/srv/origin/app/store", sha256, size);
 * ```
 */
export async function ensureIndex(
  storeDir: string,
  sha256: string,
  size: number,
  built?: Uint8Array,
): Promise<IndexOutcome> {
  if (!indexable(size)) return "too large";
  const name = sha256 + INDEX_SUFFIX;
  const present = await presentIndex(join(storeDir, name), size);
  let index = built;
  if (index === undefined) {
    const imagePath = join(storeDir, sha256);
    const read = await indexFile(imagePath);
    if (read.sha256 !== sha256 || read.size !== size) {
      throw new TakoError(
        "integrity",
        `${
          printable(imagePath, 300)
        } is damaged (its digest is ${read.sha256}); store it again before indexing it.`,
      );
    }
    index = read.index;
  }
  if (present !== undefined && equalBytes(present, index)) return "present";
  await writeFileAtomic(storeDir, name, index, 0o444);
  return "written";
}

/** The bytes of the index at `path`, when it can be read and is no longer than one of `size` can be. */
async function presentIndex(path: string, size: number): Promise<Uint8Array | undefined> {
  try {
    return await readFileCapped(path, indexReadLimit(size));
  } catch {
    return undefined; // unreadable: written anew
  }
}

/** Reads a file once: its SHA-256, its size and its chunk index. */
async function indexFile(
  path: string,
): Promise<{ sha256: string; size: number; index: Uint8Array }> {
  using file = await attempt("read", path, () => Deno.open(path, { read: true }));
  const builder = new IndexBuilder();
  const { hash, size } = await hashOpenFile(file, path, Infinity, (piece) => builder.push(piece));
  const sha256 = hash.digest("hex");
  return { sha256, size, index: builder.finish(sha256) };
}
