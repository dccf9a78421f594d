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
} from "../core/chunk_index.ts";
import { IndexReader } from "../core/index_reader.ts";
import {
  type DeltaStats,
  deltaSummary,
  localCandidates,
  planDelta,
  repairPlan,
} from "../core/delta_plan.ts";
import { printable, shownUrl, TakoError } from "../core/errors.ts";
import type { Entry } from "../core/manifest.ts";
import type { Outcome } from "../core/fetch_report.ts";
import type { DeltaRecord } from "../core/state.ts";
import { listStore, readLatest } from "./store.ts";
import { readState } from "./state_file.ts";
import { refusedMultiRange } from "../core/range_refusals.ts";
import { assemble } from "./assemble.ts";
import { commitTemp, createTemp } from "./fs.ts";
import { originUrl } from "../core/http_policy.ts";
import { cachedIndex, type DeltaAttempt, type IndexRun, keepIndex } from "./kept_index.ts";
import { scanLocalImages, type ScanReport } from "./local_scan.ts";
import { type DeltaSource, httpDeltaSource, type MultiRange } from "./delta_source.ts";

/** A local image: its path and how to read its own chunk index, when one is kept beside it. */
export interface Local {
  readonly path: string;
  readonly readIndex?: (() => Promise<ChunkIndex | undefined>) | undefined;
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
    /** How the local images were matched: by their kept indexes, by reading them. */
    readonly scan: ScanReport;
  }
  | {
    readonly done: false;
    /** Why not, as a sentence for the log. */
    readonly reason: string;
    /** The origin offers no index (or could not be asked): nothing odd, Tako 1 origins have none. */
    readonly noIndex?: boolean;
    /** Bytes fetched before giving up. */
    readonly fetched: number;
    /** The origin's index of the image, when it was fetched and parsed before giving up. */
    readonly index?: ChunkIndex;
  };

/**
 * Builds `storeDir/<sha256>` from `locals` (local images, best
 * first) and the origin. Throws only what is not a TakoError (a bug).
 *
 * @example
 * ```ts
 * import type { DeltaSource } from "./delta_source.ts";
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
  let parsed: ChunkIndex | undefined;
  try {
    // Parsed as it arrives: its bytes are never held beside the parsed index (6 per block).
    const reader = new IndexReader(size, sha256, source.indexName);
    try {
      await source.fetchIndex(indexReadLimit(size), reader);
    } catch (e) {
      fetched += reader.received;
      if (!(e instanceof TakoError) || e.kind !== "runtime") throw e;
      return { done: false, reason: e.message, fetched, noIndex: true };
    }
    fetched += reader.received;
    requests++;
    const index = reader.finish();
    parsed = index;
    const matcher = new BlockMatcher(index);
    const indexed = locals.map((local, id) => ({ id, ...local }));
    const scan = await scanLocalImages(matcher, indexed);
    const plan = planDelta(size, BLOCK_SIZE, matcher);
    if (size > 0 && plan.localBytes === 0) {
      return { done: false, reason: "No block of it is in the local images.", fetched, index };
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
      await keepIndex(storeDir, sha256, index);
      return {
        done: true,
        stats: stats(first.whole ? 0 : plan.localBytes),
        repaired: false,
        whole: first.whole,
        scan,
      };
    }
    if (first.whole) {
      throw new TakoError(
        "integrity",
        `The origin sent an image with SHA-256 ${first.sha256}, but the manifest lists ${sha256}.`,
      );
    }
    // A kept index that matched wrong bytes would mislead every later update: drop them all.
    // The new image's own index may be the one that lied: not kept either, whatever follows.
    parsed = undefined;
    for (const local of indexed) {
      if (local.readIndex !== undefined) {
        await Deno.remove(local.path + INDEX_SUFFIX).catch(() => {});
      }
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
    return { done: true, stats: stats(0), repaired: true, whole: false, scan };
  } catch (e) {
    if (!(e instanceof TakoError)) throw e;
    return {
      done: false,
      reason: e.message,
      fetched,
      ...(parsed === undefined ? {} : { index: parsed }),
    };
  }
}

/** What {@link updateByDelta} needs to know about the run: what keeping an index does, and more. */
export interface DeltaRun extends IndexRun {
  /** The run's outcome: a delta update adds its bytes and its cost (`delta`). */
  readonly outcome: Outcome;
}

/** What {@link updateByDelta} did. */
export type DeltaResult =
  | { readonly done: true; readonly cost: DeltaRecord }
  | { readonly done: false } & DeltaAttempt;

/**
 * Tries to build `store/<sha256>` of `entry` by delta from the images the
 * destination holds (docs/delta.md); logs what it did. Returns what it cost
 * when the image is in place; not done when the caller must download it in
 * full (nothing to reuse, or any doubt, logged as a warning with the reason),
 * with the origin's index when the attempt had fetched one that belongs to it.
 *
 * @example
 * ```ts
 * import type { Entry } from "../core/manifest.ts";
 * declare const run: DeltaRun, entry: Entry;
 * const result = await updateByDelta(run, entry);
 * if (!result.done) console.log("download it in full");
 * ```
 */
export async function updateByDelta(run: DeltaRun, entry: Entry): Promise<DeltaResult> {
  const origin = run.config.origins[0];
  if (run.delta === false || origin === undefined) return { done: false };
  const size = Number(entry.size);
  const storeDir = `${run.dest}/store`;
  const locals = await localImages(run, entry.sha256);
  // A file: origin is read as fast as a local image: nothing to save.
  if (locals.length === 0 || size === 0 || origin.startsWith("file:")) return { done: false };
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
    // What the attempt received counts with the full download that follows (fetch --json, .state).
    run.outcome.bytes += outcome.fetched;
    return {
      done: false,
      tried: true,
      ...(outcome.index === undefined ? {} : { index: outcome.index }),
    };
  }
  const how = outcome.whole
    ? " (the origin ignored Range and sent the whole image)"
    : outcome.repaired
    ? " (the index matched wrong local bytes; fetched them from the origin)"
    : "";
  const { joined, scanned, bytesRead, work } = outcome.scan;
  run.log.debug(
    `${run.where}: matched ${joined} local image(s) by their kept index, read ${scanned} (${bytesRead} bytes; rolled through ${work.rolledBytes}, ${work.strongChecks} block checksums).`,
  );
  run.log.info(`${run.where}: ${deltaSummary(label, outcome.stats)}${how}.`);
  const cost = { sha256: entry.sha256, ...outcome.stats };
  run.outcome.bytes += cost.downloaded;
  run.outcome.delta = cost;
  return { done: true, cost };
}

/**
 * The local images worth matching, best first (core `localCandidates`), each
 * with a reader of its own chunk index, when one is kept beside it (from the
 * delta update that built it, or kept after its full download:
 * kept_index.ts), read only when it is joined.
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
    locals.push({ path, readIndex: () => cachedIndex(path, sha256) });
  }
  return locals;
}
