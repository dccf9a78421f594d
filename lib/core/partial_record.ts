/**
 * The record beside a partial download (`store/.partial-<sha256>.json`): the
 * signed size of the image, the URL whose answer the partial data came from
 * and the validator a later `If-Range` to that URL may send. JSON, one line.
 *
 * @module
 */
import { isHeaderValue } from "./http_policy.ts";

/** What the record beside a partial file says about it. */
export interface PartialRecord {
  /** The signed size of the image. */
  readonly size: number;
  /** The image URL whose answer the partial data came from. */
  readonly url: string;
  /** The validator to send as If-Range to that URL; undefined: none was offered. */
  readonly validator: string | undefined;
}

/**
 * The record from its text; undefined when it is missing or damaged (the
 * partial is then not resumed). A validator that is no safe header value is
 * dropped.
 *
 * @example
 * ```ts
 * import { parsePartialRecord } from "./partial_record.ts";
 * parsePartialRecord('{"size":10,"url":"http://o/store/ab","validator":"\\"e1\\""}');
 * ```
 */
export function parsePartialRecord(text: string | undefined): PartialRecord | undefined {
  if (text === undefined) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof raw !== "object" || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  if (typeof r.size !== "number" || !Number.isSafeInteger(r.size) || r.size < 0) return undefined;
  if (typeof r.url !== "string" || r.url.length > 4000) return undefined;
  const validator = typeof r.validator === "string" && isHeaderValue(r.validator)
    ? r.validator
    : undefined;
  return { size: r.size, url: r.url, validator };
}

/**
 * The record's file text.
 *
 * @example
 * ```ts
 * import { serializePartialRecord } from "./partial_record.ts";
 * serializePartialRecord({ size: 10, url: "http://o/store/ab", validator: undefined });
 * ```
 */
export function serializePartialRecord(record: PartialRecord): string {
  return JSON.stringify(record) + "\n";
}
