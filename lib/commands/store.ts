/**
 * `tako store`: add an image to an origin directory and re-sign its manifest.
 *
 * @module
 */
import { fileSource } from "../shell/byte_source.ts";
import { copyHashing as copyStreaming, flushHandle } from "../shell/copy.ts";
import { asKind, printable, TakoError } from "../core/errors.ts";
import { type Entry, MAX_MANIFEST_BYTES } from "../core/manifest.ts";
import { insertEntry } from "../core/manifest_history.ts";
import { signManifest, verifyManifest } from "../core/manifest_signature.ts";
import { isValidVersion } from "../core/version.ts";
import {
  attempt,
  commitTemp,
  createTemp,
  fileError,
  hashFile,
  lstatOrUndefined,
  readFileCapped,
  type TempFile,
  writeFileAtomic,
} from "../shell/fs.ts";
import { acquireLock, BRIEF_LOCK_WAIT_MS } from "../shell/lock.ts";
import { originDirectory } from "../shell/origin_dir.ts";
import type { Log } from "../core/log.ts";
import { type KeySource, loadSecretKey } from "../shell/key_file.ts";
import { ensureIndex } from "../shell/index_file.ts";
import { indexable, IndexBuilder } from "../core/chunk_index.ts";

/** What `tako store` was asked to do. */
export interface StoreRequest extends KeySource {
  readonly output: string;
  readonly image: string;
  readonly version: string;
}

/**
 * A file named on the command line that cannot be read is the caller's
 * mistake: the same message, the usage kind.
 */
function asUsage(e: unknown): TakoError {
  if (!(e instanceof TakoError)) throw e;
  return asKind(e, "usage");
}

/**
 * Checks that the image is a regular file before anything is locked or created
 * (stat first: opening a FIFO would block).
 */
async function requireImage(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new TakoError("usage", `The image ${printable(path, 200)} does not exist.`);
    }
    throw asUsage(fileError("read the image", path, e));
  }
  if (!info.isFile) {
    throw new TakoError("usage", `The image ${printable(path, 200)} is not a regular file.`);
  }
}

/** A version the manifest can carry: printable ASCII without spaces (SPEC §2). */
function requireVersion(version: string): void {
  if (!isValidVersion(version)) {
    throw new TakoError(
      "usage",
      `'${
        printable(version)
      }' is not a valid version; expected printable ASCII without spaces, such as 1.2.0.`,
    );
  }
}

/** What {@link copyHashing} made of the image. */
interface CopiedImage {
  readonly sha256: string;
  readonly size: number;
  /** Its chunk index, of the same bytes; none when too large for one. */
  readonly index: Uint8Array | undefined;
}

/** Copies the image into a temporary file in store/, hashing and indexing in the same pass. */
async function copyHashing(imagePath: string, temp: TempFile): Promise<CopiedImage> {
  let source: Deno.FsFile;
  try {
    source = await Deno.open(imagePath, { read: true });
  } catch (e) {
    throw asUsage(fileError("read the image", imagePath, e));
  }
  using _source = source;
  const info = await source.stat();
  if (!info.isFile) {
    throw new TakoError("usage", `The image ${printable(imagePath, 200)} is not a regular file.`);
  }
  // One pass: hashed and indexed while copied, with reads overlapping writes (shell/copy.ts).
  // The index sees exactly the bytes the hash saw, so it is the index of the digest it names.
  using flusher = await flushHandle(temp.path, temp.file, info.size);
  const builder = indexable(info.size) ? new IndexBuilder() : undefined;
  const { received, hash } = await copyStreaming(
    fileSource(source, imagePath),
    { file: temp.file, path: temp.path, flusher },
    builder === undefined ? {} : { onData: (piece) => builder.push(piece) },
  );
  const sha256 = hash.digest("hex");
  const index = indexable(received) ? builder?.finish(sha256) : undefined;
  return { sha256, size: received, index };
}

/** Moves the hashed temporary copy to store/<sha256>, or checks the copy already there. */
async function placeImage(
  temp: TempFile,
  finalPath: string,
  image: { sha256: string; size: number },
): Promise<void> {
  const info = await lstatOrUndefined(finalPath);
  if (info === undefined) return await commitTemp(temp, finalPath);
  // A wrong size proves the damage without reading; a read never goes past the image's size.
  const existing = info.size === image.size ? await hashFile(finalPath, image.size + 1) : undefined;
  if (existing?.sha256 !== image.sha256 || existing.size !== image.size) {
    throw new TakoError(
      "integrity",
      `${printable(finalPath, 200)} is damaged (${
        existing === undefined
          ? `${info.size} bytes, not ${image.size}`
          : `its digest is ${existing.sha256}`
      }); remove it and store again.`,
    );
  }
}

/**
 * Stores an image and signs the new manifest. Returns the entry and whether
 * the manifest changed (false when the identical entry was already there).
 */
export async function store(
  request: StoreRequest,
  log: Log,
): Promise<{ entry: Entry; changed: boolean }> {
  const key = await loadSecretKey(request, log);
  requireVersion(request.version);
  const dir = await originDirectory(request.output);
  await requireImage(request.image);

  using _lock = await acquireLock(dir, BRIEF_LOCK_WAIT_MS, (message) => log.info(message));
  const manifestPath = `${dir}/manifest`;
  const existing = await readFileCapped(manifestPath, MAX_MANIFEST_BYTES);
  // A manifest we cannot verify is not ours to extend: re-signing it would launder it.
  const entries = existing === undefined ? [] : verifyManifest(
    existing,
    [key.publicKey],
    printable(manifestPath, 200),
    "the public key of the given secret key; it was signed with another key (for a new key, see key rotation in docs/distributing-images.md)",
  );

  const storeDir = `${dir}/store`;
  await attempt("create", storeDir, () => Deno.mkdir(storeDir, { recursive: true }));
  let entry: Entry;
  let result: { entries: Entry[]; changed: boolean };
  let index: Uint8Array | undefined;
  {
    await using temp = await createTemp(storeDir);
    const image = await copyHashing(request.image, temp);
    index = image.index;
    entry = { version: request.version, size: BigInt(image.size), sha256: image.sha256 };
    // Refuse a conflicting version before anything is placed in store/.
    result = insertEntry(entries, entry);
    await placeImage(temp, `${storeDir}/${image.sha256}`, image);
  }
  // Beside the image before the manifest names it, so a client never sees one without the other.
  await ensureIndex(storeDir, entry.sha256, Number(entry.size), index);
  if (result.changed) {
    await writeFileAtomic(dir, "manifest", signManifest(result.entries, key), 0o444);
    log.info(
      `Stored ${printable(entry.version)} (${entry.size} bytes, sha256 ${entry.sha256}) in ${
        printable(dir, 200)
      }.`,
    );
  } else {
    log.info(
      `${printable(entry.version)} is already in ${printable(manifestPath, 200)}; nothing changed.`,
    );
  }
  return { entry, changed: result.changed };
}
