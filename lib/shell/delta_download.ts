/**
 * A delta update (docs/delta.md): builds store/<sha256> from the blocks of
 * local images that the new image's chunk index finds in them, plus Range
 * requests for the rest, into a temporary file in store/; hashes the whole
 * result and commits it exactly as a full download would (flushed, 0444,
 * renamed, directory flushed). A kill at any point leaves only a `.tmp-*`
 * file, which the next run removes.
 *
 * Any doubt ends in {@link DeltaOutcome} `done: false` and the caller
 * downloads in full: no index, an index that does not belong or is malformed,
 * no block found locally, a local image that cannot be read, an answer other
 * than the bytes asked. When the assembled digest does not match (a stale or
 * crafted index matched the wrong local bytes), the stretches copied from
 * local images are fetched too and the stretches fetched are copied from the
 * first attempt: the image is then made of origin bytes only, and the bytes
 * fetched stay within the image's size plus its index.
 *
 * @module
 */
import { BlockMatcher } from "../core/block_match.ts";
import {
  BLOCK_SIZE,
  type ChunkIndex,
  INDEX_SUFFIX,
  indexable,
  indexPath,
  indexReadLimit,
  parseIndex,
} from "../core/chunk_index.ts";
import {
  type DeltaStats,
  deltaSummary,
  localCandidates,
  planDelta,
  repairPlan,
} from "../core/delta_plan.ts";
import { printable, shownUrl, TakoError } from "../core/errors.ts";
import type { Log } from "../core/log.ts";
import type { Entry } from "../core/manifest.ts";
import type { Outcome } from "../core/fetch_report.ts";
import type { DeltaRecord } from "../core/state.ts";
import { listStore, readLatest } from "./store.ts";
import { readState } from "./state_file.ts";
import { refusedMultiRange } from "../core/range_refusals.ts";
import { assemble } from "./assemble.ts";
import type { RangeClient } from "./range_queue.ts";
import { requestRanges } from "./multi_range_request.ts";
import { commitTemp, createTemp, readFileCapped, writeFileAtomic } from "./fs.ts";
import { originUrl } from "../core/http_policy.ts";
import type { AskedRange } from "../core/byteranges.ts";
import { fetchManifestIfChanged, type NetOptions, requestImage } from "./http.ts";
import { scanLocalImages } from "./local_scan.ts";

/** A local image: its path and, when cached beside it, its own chunk index. */
export interface Local {
  readonly path: string;
  readonly index?: ChunkIndex | undefined;
}

/**
 * Keeps the index of an image just built beside it (`store/<sha256>.index`),
 * for the next update to match it without reading it. Best effort: without
 * it the next update reads the image instead.
 */
async function keepIndex(storeDir: string, sha256: string, bytes: Uint8Array): Promise<void> {
  await writeFileAtomic(storeDir, sha256 + INDEX_SUFFIX, bytes, 0o444).catch(() => {});
}

/** The cached index of a local image, if there is one that belongs to it. */
async function cachedIndex(path: string, sha256: string): Promise<ChunkIndex | undefined> {
  try {
    const size = (await Deno.stat(path)).size;
    const bytes = await readFileCapped(path + INDEX_SUFFIX, indexReadLimit(size));
    return bytes === undefined ? undefined : parseIndex(bytes, size, sha256, path + INDEX_SUFFIX);
  } catch {
    return undefined; // damaged or foreign: the image is read instead
  }
}

/** The origin's side of a delta update. */
export interface DeltaSource {
  /** How messages name the index (its URL). */
  readonly indexName: string;
  /** Downloads the index, refusing more than `maxBytes`. */
  fetchIndex(maxBytes: number): Promise<Uint8Array>;
  /** The Range requests for the image's bytes (one or many ranges per request). */
  readonly ranges: RangeClient;
}

/** The image to build. */
export interface DeltaTarget {
  readonly size: number;
  readonly sha256: string;
}

/** What a delta update did. */
export type DeltaOutcome =
  | {
    readonly done: true;
    readonly stats: DeltaStats;
    /** The first assembly's digest did not match; the second, of origin bytes only, did. */
    readonly repaired: boolean;
    /** The origin ignored Range and sent the whole image, which was taken as a full download. */
    readonly whole: boolean;
  }
  | {
    readonly done: false;
    /** Why not, as a sentence for the log. */
    readonly reason: string;
    /** The origin offers no index (or could not be asked): nothing odd, Tako 1 origins have none. */
    readonly noIndex?: boolean;
    /** Bytes fetched before giving up. */
    readonly fetched: number;
  };

/**
 * Builds `storeDir/<sha256>` from `locals` (local images, best
 * first) and the origin. Throws only what is not a TakoError (a bug).
 *
 * @example
 * ```ts
 * declare const target: DeltaTarget, locals: Local[], source: DeltaSource;
 * const outcome = await downloadDelta("/var/lib/tako/app/store", target, locals, source);
 * if (!outcome.done) console.log(`downloading in full: ${outcome.reason}`);
 * ```
 */
export async function downloadDelta(
  storeDir: string,
  target: DeltaTarget,
  locals: readonly Local[],
  source: DeltaSource,
  onProgress?: (written: number) => void,
): Promise<DeltaOutcome> {
  const { size, sha256 } = target;
  if (!indexable(size)) {
    return { done: false, reason: "The image is too large for a chunk index.", fetched: 0 };
  }
  let fetched = 0;
  let requests = 0;
  try {
    let bytes: Uint8Array;
    try {
      bytes = await source.fetchIndex(indexReadLimit(size));
    } catch (e) {
      if (!(e instanceof TakoError) || e.kind !== "runtime") throw e;
      return { done: false, reason: e.message, fetched, noIndex: true };
    }
    fetched += bytes.length;
    requests++;
    const index = parseIndex(bytes, size, sha256, source.indexName);
    const matcher = new BlockMatcher(index);
    const indexed = locals.map((local, id) => ({ id, ...local }));
    await scanLocalImages(matcher, indexed);
    const plan = planDelta(size, BLOCK_SIZE, matcher);
    if (size > 0 && plan.localBytes === 0) {
      return { done: false, reason: "No block of it is in the local images.", fetched };
    }
    await using temp = await createTemp(storeDir);
    const paths = locals.map((local) => local.path);
    const first = await assemble(plan, paths, temp, source.ranges, onProgress);
    fetched += first.fetched;
    requests += first.requests;
    const finalPath = `${storeDir}/${sha256}`;
    const stats = (reused: number): DeltaStats => ({ size, reused, downloaded: fetched, requests });
    if (first.sha256 === sha256) {
      await commitTemp(temp, finalPath);
      await keepIndex(storeDir, sha256, bytes);
      return {
        done: true,
        stats: stats(first.whole ? 0 : plan.localBytes),
        repaired: false,
        whole: first.whole,
      };
    }
    if (first.whole) {
      throw new TakoError(
        "integrity",
        `The origin sent an image with SHA-256 ${first.sha256}, but the manifest lists ${sha256}.`,
      );
    }
    // A kept index that matched wrong bytes would mislead every later update: drop them all.
    for (const local of indexed) {
      if (local.index !== undefined) await Deno.remove(local.path + INDEX_SUFFIX).catch(() => {});
    }
    await using second = await createTemp(storeDir);
    const again = await assemble(repairPlan(plan, 0), [temp.path], second, source.ranges);
    fetched += again.fetched;
    requests += again.requests;
    if (again.sha256 !== sha256) {
      return {
        done: false,
        reason:
          `The image assembled from the origin's bytes has SHA-256 ${again.sha256}, not ${sha256}.`,
        fetched,
      };
    }
    await commitTemp(second, finalPath);
    return { done: true, stats: stats(0), repaired: true, whole: false };
  } catch (e) {
    if (!(e instanceof TakoError)) throw e;
    return { done: false, reason: e.message, fetched };
  }
}

/**
 * The {@link DeltaSource} of an origin for image `sha256` (`size` bytes):
 * the index from `store/<sha256>.index`, ranges of `store/<sha256>`, many
 * per request unless `multiRange` says the origin refused that (which a 200
 * to a multi-range request then records there).
 *
 * @example
 * ```ts
 * import { DEFAULT_NET_OPTIONS } from "./http.ts";
 * const source = httpDeltaSource("https://images.example.com/app", "ab".repeat(32), 10, DEFAULT_NET_OPTIONS);
 * ```
 */
export function httpDeltaSource(
  origin: string,
  sha256: string,
  size: number,
  net: NetOptions,
  multiRange: MultiRange = { refused: false },
): DeltaSource {
  const path = indexPath(sha256);
  const many = async (ranges: readonly AskedRange[]) => {
    const answer = await requestRanges(origin, sha256, size, ranges, net);
    if (answer.kind === "multipart") multiRange.asked = true;
    return answer;
  };
  return {
    indexName: shownUrl(originUrl(origin, path)),
    async fetchIndex(maxBytes) {
      const answer = await fetchManifestIfChanged(origin, { ...net, maxBytes, path }).catch((e) => {
        if (!(e instanceof TakoError) || e.kind !== "integrity") throw e;
        throw new TakoError(
          "integrity",
          `${
            shownUrl(originUrl(origin, path))
          } is larger than the ${maxBytes} bytes of an index of this image.`,
        );
      });
      // Asked without validators: a 304 is no answer to that.
      if (answer.notModified) {
        throw new TakoError("integrity", `${shownUrl(originUrl(origin, path))} answered 304.`);
      }
      return answer.bytes;
    },
    ranges: {
      one: (at, length) =>
        requestImage(origin, sha256, size, {
          net,
          resume: { offset: at, end: at + length, ifRange: undefined },
        }),
      get many() {
        return multiRange.refused ? undefined : many;
      },
      refused() {
        multiRange.refused = true;
      },
    },
  };
}

/** Whether the origin refused multi-range requests (known before, or found out in this run). */
export interface MultiRange {
  refused: boolean;
  /** Whether a multi-range request was answered with parts in this run. */
  asked?: boolean;
}

/** What {@link updateByDelta} needs to know about the run. */
export interface DeltaRun {
  readonly dest: string;
  /** The config's origins: a delta update asks the first. */
  readonly config: { readonly origins: readonly string[] };
  /** False with `--no-delta`: no delta update at all. */
  readonly delta?: boolean;
  readonly net: NetOptions;
  readonly log: Log;
  /** The config as messages name it. */
  readonly where: string;
  /** The run's outcome: a delta update adds its bytes and its cost (`delta`). */
  readonly outcome: Outcome;
}

/**
 * Tries to build `store/<sha256>` of `entry` by delta from the images the
 * destination holds (docs/delta.md); logs what it did. Returns what it cost
 * when the image is in place; undefined when the caller must download it in
 * full (nothing to reuse, or any doubt, logged as a warning with the reason).
 *
 * @example
 * ```ts
 * import type { Entry } from "../core/manifest.ts";
 * declare const run: DeltaRun, entry: Entry;
 * const cost = await updateByDelta(run, entry);
 * if (cost === undefined) console.log("download it in full");
 * ```
 */
export async function updateByDelta(run: DeltaRun, entry: Entry): Promise<DeltaRecord | undefined> {
  const origin = run.config.origins[0];
  if (run.delta === false || origin === undefined) return undefined;
  const size = Number(entry.size);
  const storeDir = `${run.dest}/store`;
  const locals = await localImages(run, entry.sha256);
  // A file: origin is read as fast as a local image: nothing to save.
  if (locals.length === 0 || size === 0 || origin.startsWith("file:")) return undefined;
  const label = printable(entry.version);
  run.log.debug(
    `${run.where}: updating ${label} by delta from ${locals.length} local image(s) and ${
      shownUrl(originUrl(origin, indexPath(entry.sha256)))
    }.`,
  );
  const state = await readState(run.dest).catch(() => undefined);
  const known = refusedMultiRange(state?.multiRangeRefused, origin, Date.now());
  const multiRange: MultiRange = { refused: known };
  const source = httpDeltaSource(origin, entry.sha256, size, run.net, multiRange);
  let outcome: DeltaOutcome;
  try {
    outcome = await downloadDelta(
      storeDir,
      { size, sha256: entry.sha256 },
      locals,
      source,
      (n) => run.log.progress(label, n, size),
    );
  } finally {
    run.log.endProgress();
    // Remembered only when this run asked (a refusal known before stands until it expires).
    if (multiRange.refused !== known || multiRange.asked) {
      run.outcome.multiRange = { origin, refused: multiRange.refused };
    }
  }
  if (!outcome.done) {
    const message =
      `${run.where}: no delta update of ${label}: ${outcome.reason} Downloading it in full.`;
    if (outcome.noIndex) run.log.info(message);
    else run.log.warn(message);
    return undefined;
  }
  const how = outcome.whole
    ? " (the origin ignored Range and sent the whole image)"
    : outcome.repaired
    ? " (the index matched wrong local bytes; fetched them from the origin)"
    : "";
  run.log.info(`${run.where}: ${deltaSummary(label, outcome.stats)}${how}.`);
  const cost = { sha256: entry.sha256, ...outcome.stats };
  run.outcome.bytes += cost.downloaded;
  run.outcome.delta = cost;
  return cost;
}

/** The paths of the local images worth scanning, best first (core `localCandidates`). */
/**
 * The local images worth matching, best first (core `localCandidates`), each
 * with its own chunk index when one is kept beside it (from the delta update
 * that built it). Never asked of the origin: for a packed format it would be
 * bytes for nothing, and reading the image costs only time.
 */
async function localImages(run: DeltaRun, target: string): Promise<Local[]> {
  const dest = run.dest;
  const latest = await readLatest(dest).catch(() => undefined);
  const state = await readState(dest).catch(() => undefined);
  const stored = await listStore(dest);
  const dated = await Promise.all(stored.map(async ({ sha256 }) => {
    const info = await Deno.stat(`${dest}/store/${sha256}`).catch(() => undefined);
    return { sha256, mtime: info?.mtime?.getTime() ?? 0 };
  }));
  dated.sort((a, b) => b.mtime - a.mtime);
  const candidates = localCandidates(
    target,
    typeof latest === "string" ? latest : undefined,
    state?.previous,
    dated.map((d) => d.sha256),
  );
  const locals: Local[] = [];
  for (const sha256 of candidates) {
    const path = `${dest}/store/${sha256}`;
    locals.push({ path, index: await cachedIndex(path, sha256) });
  }
  return locals;
}
