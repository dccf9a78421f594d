/**
 * A destination's layout (SPEC §6 invariants, §7 "Files"): everything that
 * knows the names inside a destination directory.
 *
 *     store/<sha256>   images, mode 0444
 *     manifest         the last verified manifest, mode 0444
 *     latest           relative symlink to store/<sha256>
 *     .lock            flock(2) target that serialises runs (lock.ts)
 *     .state           small JSON file (state_file.ts), replaced atomically
 *     .tmp-*           temporaries, inside the directory they are renamed in
 *
 * Every failure is a TakoError naming the path (fs.ts's vocabulary).
 *
 * @module
 */
import { dirname, join } from "../core/path.ts";
import { printable, TakoError } from "../core/errors.ts";
import { requireDigest, SHA256_HEX } from "../core/digest.ts";
import { MAX_MANIFEST_BYTES } from "../core/manifest.ts";
import type { CurrentImage } from "../core/history.ts";
import {
  attempt,
  fileError,
  hashFile,
  kindOf,
  lstatOrUndefined,
  readFileCapped,
  syncDirectory,
  TEMP_PREFIX,
  tempName,
} from "./fs.ts";

const STORE = "store";
const LATEST = "latest";
const MANIFEST = "manifest";

// ---------------------------------------------------------------------------
// Creating

/**
 * Creates the destination (its parent must exist) and `store/`, and refuses a
 * destination whose fixed names are not what they should be: `store/` must be a
 * real directory (not a symbolic link), `latest` absent or a symbolic link,
 * `manifest` absent or a regular file. The destination itself may be a symbolic
 * link to a directory: it is the administrator's configured path.
 *
 * @example
 * ```ts
 * await prepareDestination("/var/lib/tako/app");
 * ```
 */
export async function prepareDestination(dir: string): Promise<void> {
  await ensureDestinationDirectory(dir);
  const store = join(dir, STORE);
  let storeInfo = await lstatOrUndefined(store);
  if (storeInfo === undefined) {
    // A concurrent first run may create it between the lstat and the mkdir: then check what is there.
    if (await mkdirUnlessExists(store)) await syncDirectory(dir);
    storeInfo = await lstatOrUndefined(store);
  }
  if (storeInfo === undefined || !storeInfo.isDirectory || storeInfo.isSymlink) {
    throw storeInfo === undefined
      ? new TakoError("runtime", `${printable(store, 300)} vanished while it was being created.`)
      : refused(store, storeInfo, "a directory");
  }
  const latest = join(dir, LATEST);
  const latestInfo = await lstatOrUndefined(latest);
  if (latestInfo !== undefined && !latestInfo.isSymlink) {
    throw refused(latest, latestInfo, "a symbolic link to store/<sha256>");
  }
  const manifest = join(dir, MANIFEST);
  const manifestInfo = await lstatOrUndefined(manifest);
  if (manifestInfo !== undefined && (!manifestInfo.isFile || manifestInfo.isSymlink)) {
    throw refused(manifest, manifestInfo, "a regular file");
  }
}

async function ensureDestinationDirectory(dir: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(dir);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw fileError("inspect", dir, e);
    await createDestination(dir);
    return;
  }
  if (!info.isDirectory) {
    throw new TakoError(
      "runtime",
      `Destination ${printable(dir, 300)} is ${kindOf(info)}; expected a directory.`,
    );
  }
}

/** mkdir that answers false when the name exists already (whatever it is); other failures throw. */
// deno-lint-ignore require-await
async function mkdirUnlessExists(path: string): Promise<boolean> {
  try {
    Deno.mkdirSync(path, { mode: 0o755 });
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return false;
    throw fileError("create", path, e);
  }
}

async function createDestination(dir: string): Promise<void> {
  const parent = dirname(dir);
  try {
    Deno.mkdirSync(dir, { mode: 0o755 });
  } catch (e) {
    // A concurrent first run created it first: fine if it is a directory now.
    if (
      e instanceof Deno.errors.AlreadyExists &&
      (await Deno.stat(dir).catch(() => undefined))?.isDirectory
    ) {
      return;
    }
    if (e instanceof Deno.errors.NotFound) {
      throw new TakoError(
        "runtime",
        `Cannot create destination ${printable(dir, 300)}: its parent directory ${
          printable(parent, 300)
        } does not exist.`,
        { cause: e },
      );
    }
    throw fileError("create destination", dir, e);
  }
  await syncDirectory(parent);
}

function refused(path: string, info: Deno.FileInfo, expected: string): TakoError {
  return new TakoError(
    "runtime",
    `${printable(path, 300)} is ${
      kindOf(info)
    }; expected ${expected}. Remove it by hand if it is not needed.`,
  );
}

/**
 * For commands that never create a destination (status, prune): it must
 * exist already, as a directory. `config` is the config file that names it,
 * for the hint to fetch it first.
 *
 * @example
 * ```ts
 * await requireDestination("/var/lib/tako/app", "/etc/tako/app");
 * ```
 */
// deno-lint-ignore require-await
export async function requireDestination(dest: string, config: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(dest);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw fileError("inspect destination", dest, e);
    throw new TakoError(
      "runtime",
      `destination ${printable(dest, 300)} does not exist yet; run 'tako fetch ${
        printable(config, 300)
      }' first.`,
    );
  }
  if (!info.isDirectory) {
    throw new TakoError("runtime", `destination ${printable(dest, 300)} is not a directory.`);
  }
}

// ---------------------------------------------------------------------------
// manifest and latest

/**
 * The stored manifest's bytes and path (not yet verified); undefined when the
 * destination has none yet.
 *
 * @example
 * ```ts
 * const stored = await readStoredManifest("/var/lib/tako/app");
 * ```
 */
export async function readStoredManifest(
  dir: string,
): Promise<{ path: string; bytes: Uint8Array } | undefined> {
  const path = join(dir, MANIFEST);
  const bytes = await readFileCapped(path, MAX_MANIFEST_BYTES);
  return bytes === undefined ? undefined : { path, bytes };
}

/** `latest` exists but is not a link to `store/<sha256>`. */
export interface ForeignLatest {
  readonly foreign: true;
  /** What it is instead, safe to print: e.g. `a symbolic link to "/etc/x"`. */
  readonly detail: string;
}

/**
 * What is wrong with a stored image (`info` its lstat) against its signed
 * size and digest, or undefined when it is intact. A size other than the
 * signed one proves the damage without a read (a sparse 1 TiB file would take
 * hours to hash), and the hash never reads past the signed size.
 *
 * @example
 * ```ts
 * const path = "/var/lib/tako/app/store/81b9783a13d6822dfb3d1413ae5654228b04fa8790c5d6a5b79ba889f184cce5";
 * await imageDamage(path, await Deno.lstat(path), { sha256: "81b9…", size: 10n }); // undefined
 * ```
 */
export async function imageDamage(
  path: string,
  info: Deno.FileInfo,
  entry: { readonly sha256: string; readonly size: bigint },
): Promise<string | undefined> {
  if (BigInt(info.size) !== entry.size) return `${info.size} bytes, not the signed ${entry.size}`;
  const actual = await hashFile(path, Number(entry.size) + 1);
  if (actual.sha256 === entry.sha256 && BigInt(actual.size) === entry.size) return undefined;
  return `its digest is ${actual.sha256}`;
}

/**
 * The image `latest` points to and the size of its file (undefined when
 * missing), which anchors the history of a destination without a manifest;
 * undefined when `latest` is absent or not a link into store/.
 *
 * @example
 * ```ts
 * const anchor = await readAnchor("/var/lib/tako/app"); // { sha256: "81b9…", size: 10n }
 * ```
 */
export async function readAnchor(dir: string): Promise<CurrentImage | undefined> {
  const latest = await readLatest(dir);
  if (typeof latest !== "string") return undefined;
  const info = await lstatOrUndefined(join(dir, "store", latest));
  return { sha256: latest, size: info?.isFile ? BigInt(info.size) : undefined };
}

/**
 * What `latest` points to: the digest when it is a symbolic link whose target
 * is exactly `store/<64 lowercase hex>` (whether that file exists is not
 * checked here), undefined when `latest` is absent, and a
 * {@link ForeignLatest} for anything else.
 *
 * @example
 * ```ts
 * const current = await readLatest("/var/lib/tako/app");
 * if (typeof current === "object") console.error(`latest is ${current.detail}`);
 * ```
 */
export async function readLatest(dir: string): Promise<string | undefined | ForeignLatest> {
  const path = join(dir, LATEST);
  const info = await lstatOrUndefined(path);
  if (info === undefined) return undefined;
  if (!info.isSymlink) return { foreign: true, detail: kindOf(info) };
  const target = await attempt("read link", path, () => Deno.readLinkSync(path));
  const sha256 = target.slice(STORE.length + 1);
  if (target === `${STORE}/${sha256}` && SHA256_HEX.test(sha256)) return sha256;
  return { foreign: true, detail: `a symbolic link to "${printable(target)}"` };
}

/**
 * Points `latest` at `store/<sha256>` (a relative link) atomically: a new link
 * under a temporary name renamed over the old one, which is never removed
 * first; then the directory is flushed. The image must be present. Returns
 * whether the target changed.
 *
 * @example
 * ```ts
 * const sha256 = "81b9783a13d6822dfb3d1413ae5654228b04fa8790c5d6a5b79ba889f184cce5";
 * const changed = await pointLatest("/var/lib/tako/app", sha256);
 * ```
 */
export async function pointLatest(dir: string, sha256: string): Promise<boolean> {
  requireDigest(sha256);
  const image = join(dir, STORE, sha256);
  const imageInfo = await lstatOrUndefined(image);
  if (imageInfo === undefined || !imageInfo.isFile) {
    throw new TakoError(
      "runtime",
      `Cannot point latest at ${printable(image, 300)}: it is ${
        imageInfo === undefined ? "missing" : kindOf(imageInfo)
      }, not a stored image.`,
    );
  }
  const target = `${STORE}/${sha256}`;
  const latest = join(dir, LATEST);
  const current = await lstatOrUndefined(latest);
  if (
    current?.isSymlink &&
    await attempt("read link", latest, () => Deno.readLinkSync(latest)) === target
  ) {
    return false;
  }
  const temp = tempName(dir);
  await attempt("create link", temp, () => Deno.symlinkSync(target, temp));
  try {
    await attempt("replace", latest, () => Deno.renameSync(temp, latest));
  } catch (e) {
    await Deno.remove(temp).catch(() => {});
    throw e;
  }
  await syncDirectory(dir);
  return true;
}

// ---------------------------------------------------------------------------
// Housekeeping

/**
 * Removes stale temporaries (`.tmp-*` files and links) in `dir` and
 * `dir/store`; returns how many. Call only while holding the lock, or a
 * concurrent run's download would vanish.
 *
 * @example
 * ```ts
 * const removed = await cleanTemporaries("/var/lib/tako/app");
 * ```
 */
export async function cleanTemporaries(dir: string): Promise<number> {
  return await cleanIn(dir) + await cleanIn(join(dir, STORE));
}

async function cleanIn(dir: string): Promise<number> {
  let removed = 0;
  for (const entry of await listEntries(dir)) {
    // Directories are never ours: leave them to the administrator.
    if (!entry.name.startsWith(TEMP_PREFIX) || entry.isDirectory) continue;
    if (await removeIfPresent(join(dir, entry.name), "remove stale temporary")) removed++;
  }
  if (removed > 0) await syncDirectory(dir);
  return removed;
}

/** Removes a file; false when it was gone already. */
async function removeIfPresent(path: string, verb: string): Promise<boolean> {
  try {
    await Deno.remove(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw fileError(verb, path, e);
  }
}

/** The entries of a directory; none when it does not exist. */
// deno-lint-ignore require-await
async function listEntries(dir: string): Promise<Deno.DirEntry[]> {
  try {
    return [...Deno.readDirSync(dir)];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw fileError("list", dir, e);
  }
}

/**
 * The images in `store/`: regular files named by exactly 64 lowercase hex
 * digits, with their sizes, sorted by digest. Everything else is ignored.
 *
 * @example
 * ```ts
 * const images = await listStore("/var/lib/tako/app");
 * const total = images.reduce((sum, image) => sum + image.size, 0);
 * ```
 */
export async function listStore(dir: string): Promise<{ sha256: string; size: number }[]> {
  const store = join(dir, STORE);
  const images: { sha256: string; size: number }[] = [];
  for (const entry of await listEntries(store)) {
    if (!SHA256_HEX.test(entry.name) || !entry.isFile) continue;
    const info = await lstatOrUndefined(join(store, entry.name));
    if (info?.isFile) images.push({ sha256: entry.name, size: info.size });
  }
  return images.sort((a, b) => (a.sha256 < b.sha256 ? -1 : a.sha256 > b.sha256 ? 1 : 0));
}

/**
 * Removes `store/<sha256>` (pruning, or dropping a damaged copy) and flushes
 * `store/`. An image that is already gone is not an error.
 *
 * @example
 * ```ts
 * await removeImage("/var/lib/tako/app", "81b9783a13d6822dfb3d1413ae5654228b04fa8790c5d6a5b79ba889f184cce5");
 * ```
 */
export async function removeImage(dir: string, sha256: string): Promise<void> {
  requireDigest(sha256);
  const store = join(dir, STORE);
  // The image's kept chunk index (docs/delta.md) goes with it, first: it is useless alone. Only
  // a file: anything else by that name is not Tako's, and is left alone.
  const indexPath = join(store, sha256 + ".index");
  const index = (await lstatOrUndefined(indexPath))?.isFile === true &&
    await removeIfPresent(indexPath, "remove");
  if (await removeIfPresent(join(store, sha256), "remove") || index) await syncDirectory(store);
}
