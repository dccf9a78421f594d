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
import { BLOCK_SIZE, indexable, indexLength, parseIndex } from "../core/chunk_index.ts";
import { type DeltaStats, planDelta, repairPlan } from "../core/delta_plan.ts";
import { TakoError } from "../core/errors.ts";
import { assemble, type RequestRange } from "./assemble.ts";
import { commitTemp, createTemp } from "./fs.ts";
import { scanLocalImages } from "./local_scan.ts";

/** The origin's side of a delta update. */
export interface DeltaSource {
  /** How messages name the index (its URL). */
  readonly indexName: string;
  /** Downloads the index, refusing more than `maxBytes`. */
  fetchIndex(maxBytes: number): Promise<Uint8Array>;
  readonly requestRange: RequestRange;
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
    /** Bytes fetched before giving up. */
    readonly fetched: number;
  };

/**
 * Builds `storeDir/<sha256>` from `locals` (paths of local images, best
 * first) and the origin. Throws only what is not a TakoError (a bug).
 *
 * @example
 * ```ts
 * const outcome = await downloadDelta(`${dest}/store`, entry, paths, source);
 * if (!outcome.done) await downloadInFull();
 * ```
 */
export async function downloadDelta(
  storeDir: string,
  target: DeltaTarget,
  locals: readonly string[],
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
    const bytes = await source.fetchIndex(indexLength(size));
    fetched += bytes.length;
    requests++;
    const index = parseIndex(bytes, size, sha256, source.indexName);
    const matcher = new BlockMatcher(index);
    await scanLocalImages(matcher, locals.map((path, id) => ({ id, path })));
    const plan = planDelta(size, BLOCK_SIZE, matcher);
    if (size > 0 && plan.localBytes === 0) {
      return { done: false, reason: "No block of it is in the local images.", fetched };
    }
    await using temp = await createTemp(storeDir);
    const first = await assemble(plan, locals, temp, source.requestRange, onProgress);
    fetched += first.fetched;
    requests += first.requests;
    const finalPath = `${storeDir}/${sha256}`;
    const stats = (reused: number): DeltaStats => ({ size, reused, downloaded: fetched, requests });
    if (first.sha256 === sha256) {
      await commitTemp(temp, finalPath);
      return { done: true, stats: stats(first.whole ? 0 : plan.localBytes), repaired: false, whole: first.whole };
    }
    if (first.whole) {
      throw new TakoError(
        "integrity",
        `The origin sent an image with SHA-256 ${first.sha256}, but the manifest lists ${sha256}.`,
      );
    }
    await using second = await createTemp(storeDir);
    const again = await assemble(repairPlan(plan, 0), [temp.path], second, source.requestRange);
    fetched += again.fetched;
    requests += again.requests;
    if (again.sha256 !== sha256) {
      return {
        done: false,
        reason: `The image assembled from the origin's bytes has SHA-256 ${again.sha256}, not ${sha256}.`,
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
