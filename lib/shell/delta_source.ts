/**
 * The origin's side of a delta update (docs/delta.md): the chunk index of
 * an image and Range requests for its bytes, many ranges per request unless
 * the origin refused them.
 *
 * @module
 */
import type { AskedRange } from "../core/byteranges.ts";
import { indexPath } from "../core/chunk_index.ts";
import type { IndexReader } from "../core/index_reader.ts";
import { shownUrl } from "../core/errors.ts";
import { originUrl } from "../core/http_policy.ts";
import { fetchInto, type NetOptions, requestImage } from "./http.ts";
import { requestRanges } from "./multi_range_request.ts";
import type { RangeClient } from "./range_queue.ts";

/** The origin's side of a delta update. */
export interface DeltaSource {
  /** How messages name the index (its URL). */
  readonly indexName: string;
  /**
   * Downloads the index into `reader` as it arrives, refusing more than
   * `maxBytes`; what `reader` throws (an index that does not belong) stops it.
   */
  fetchIndex(maxBytes: number, reader: IndexReader): Promise<void>;
  /** The Range requests for the image's bytes (one or many ranges per request). */
  readonly ranges: RangeClient;
}

/** Whether the origin refused multi-range requests (known before, or found out in this run). */
export interface MultiRange {
  refused: boolean;
  /** Whether a multi-range request was answered with parts in this run. */
  asked?: boolean;
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
    async fetchIndex(maxBytes, reader) {
      const limit = "an index of this image has";
      // Asked without validators: a 304 is no answer to that (open refuses it).
      await fetchInto(origin, { ...net, maxBytes, path, limit }, (piece) => reader.push(piece));
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
