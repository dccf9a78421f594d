/**
 * The chunk indexes a host keeps beside its images (`store/<sha256>.index`,
 * docs/delta.md): written after a delta update or a full download, read as
 * a local image's own index, so that a delta update matches that image
 * without reading it. Best effort throughout: a missing or bad kept index
 * only means the image is read instead.
 *
 * @module
 */
import {
  type ChunkIndex,
  INDEX_HEADER_BYTES,
  INDEX_SUFFIX,
  indexable,
  indexPath,
  indexReadLimit,
  parsedIndexPieces,
} from "../core/chunk_index.ts";
import { checkIndexHeader, IndexReader } from "../core/index_reader.ts";
import { shownUrl, TakoError } from "../core/errors.ts";
import type { Log } from "../core/log.ts";
import type { Entry } from "../core/manifest.ts";
import { originUrl } from "../core/http_policy.ts";
import { copyHashing } from "./copy.ts";
import { commitTemp, createTemp, writeFileAtomic } from "./fs.ts";
import { type NetOptions, openStoreFile } from "./http.ts";

/** Bytes per read of a kept index. */
const READ_PIECE = 256 * 1024;

/** What {@link keepOriginIndex} needs to know about the run. */
export interface IndexRun {
  readonly dest: string;
  /** The config's origins: the first is asked. */
  readonly config: { readonly origins: readonly string[] };
  /** False with `--no-delta`: no delta update, no index. */
  readonly delta?: boolean;
  readonly net: NetOptions;
  readonly log: Log;
  /** The config as messages name it. */
  readonly where: string;
  /** Bytes received in this run: the index's are added. */
  readonly outcome: { bytes: number };
}

/** What a delta update that fell back left for the index (delta_download.ts `DeltaResult`). */
export interface DeltaAttempt {
  /** A delta update was tried: it asked for the index (and its bytes were counted). */
  readonly tried?: boolean;
  /** The origin's index of the image, fetched and parsed by the attempt. */
  readonly index?: ChunkIndex;
}

/**
 * Keeps the index of an image just built beside it (`store/<sha256>.index`),
 * for the next update to match it without reading it. Best effort: without
 * it the next update reads the image instead.
 */
export async function keepIndex(
  storeDir: string,
  sha256: string,
  index: ChunkIndex,
): Promise<void> {
  // Written in pieces: no copy of the whole index beside the parsed one (6 MiB at 4 GiB).
  const pieces = parsedIndexPieces(index);
  await writeFileAtomic(storeDir, sha256 + INDEX_SUFFIX, pieces, 0o444).catch(() => {});
}

/**
 * After a full download: the origin's chunk index of the image, kept beside
 * it, so that the next delta update joins it instead of reading and rolling
 * over the whole image (docs/delta.md: on a block filesystem that is most of
 * a delta's time; the index is 0.15 % of the image). The index a delta
 * attempt fetched (`result`, before it fell back) is kept; after an
 * attempt that fetched none that belongs to the image, none is asked again;
 * when no delta was tried (a host's first image), it is fetched now. Not with
 * `--no-delta`, nor from a `file:` origin (a delta reads it as a local
 * image). Best effort: an origin without indexes, or one that fails, only
 * costs the next delta its scan; the index is checked against the image it
 * must describe before it is kept, and in full when it is used.
 */
export async function keepOriginIndex(
  run: IndexRun,
  entry: Entry,
  result: DeltaAttempt,
): Promise<void> {
  const origin = run.config.origins[0];
  const size = Number(entry.size);
  const storeDir = `${run.dest}/store`;
  if (result.index !== undefined) {
    await keepIndex(storeDir, entry.sha256, result.index);
    return;
  }
  if (result.tried) return;
  if (run.delta === false || origin === undefined || origin.startsWith("file:")) return;
  if (size === 0 || !indexable(size)) return;
  const path = indexPath(entry.sha256);
  const name = shownUrl(originUrl(origin, path));
  const limit = indexReadLimit(size);
  try {
    // Streamed into a temporary file: a 4 GiB image's 6 MiB index never sits in memory whole.
    await using answer = await openStoreFile(origin, path, run.net);
    await using temp = await createTemp(storeDir);
    const { received } = await copyHashing(answer.body, temp, { limit: limit + 1 });
    run.outcome.bytes += received;
    if (received > limit) {
      throw new TakoError("integrity", `${name} is larger than ${limit} bytes.`);
    }
    checkIndexHeader(await readHeader(temp.file), received, size, entry.sha256, name);
    await commitTemp(temp, `${storeDir}/${entry.sha256}${INDEX_SUFFIX}`);
  } catch (e) {
    if (!(e instanceof TakoError)) throw e;
    run.log.debug(`${run.where}: no chunk index kept for the next update: ${e.message}`);
  }
}

/** The first bytes of a file, up to an index's header (fewer when it is shorter). */
async function readHeader(file: Deno.FsFile): Promise<Uint8Array> {
  const header = new Uint8Array(INDEX_HEADER_BYTES);
  await file.seek(0, Deno.SeekMode.Start);
  let filled = 0;
  while (filled < header.length) {
    const n = await file.read(header.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return header.subarray(0, filled);
}

/** The cached index of a local image, if there is one that belongs to it. */
export async function cachedIndex(path: string, sha256: string): Promise<ChunkIndex | undefined> {
  try {
    const size = (await Deno.stat(path)).size;
    const name = path + INDEX_SUFFIX;
    // Parsed piece by piece through one buffer: the file's bytes are never held whole.
    using file = await Deno.open(name, { read: true });
    if (!(await file.stat()).isFile) return undefined;
    const reader = new IndexReader(size, sha256, name);
    const buffer = new Uint8Array(READ_PIECE);
    for (let n = await file.read(buffer); n !== null; n = await file.read(buffer)) {
      reader.push(buffer.subarray(0, n));
      if (reader.received > indexReadLimit(size)) return undefined;
    }
    return reader.finish();
  } catch {
    return undefined; // damaged or foreign: the image is read instead
  }
}
