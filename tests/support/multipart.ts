/**
 * Multi-range answers of the test origin (origin_server.ts): the ranges a
 * `Range` header asks for, and a `multipart/byteranges` body as nginx
 * writes it, optionally with adjacent or overlapping ranges joined (as
 * Apache does) or built by a test to be hostile.
 *
 * @module
 */
import { TakoError } from "../../lib/core/errors.ts";
import { AskedBytes, type AskedRange, MultipartFraming } from "../../lib/core/byteranges.ts";
import { concat } from "./bytes.ts";

/** A range asked for: bytes `[first, last]`. */
export interface Part {
  readonly first: number;
  readonly last: number;
}

/** The boundary the test origin uses. */
export const BOUNDARY = "00000000000000000042";

/**
 * The ranges of a `Range: bytes=a-b,c-d,…` header with two or more ranges
 * (all `first-last`, within `size`); undefined for anything else.
 */
export function parseMultiRange(header: string | null, size: number): Part[] | undefined {
  const m = header?.match(/^bytes=(\d+-\d+(?:,\s*\d+-\d+)+)$/);
  if (!m) return undefined;
  const parts = m[1]!.split(",").map((spec) => {
    const [first, last] = spec.trim().split("-").map(Number) as [number, number];
    return { first, last: Math.min(last, size - 1) };
  });
  return parts.every((p) => p.first <= p.last) ? parts : undefined;
}

/** `parts` with adjacent and overlapping ones joined (RFC 9110 §14.6 allows it). */
export function coalesce(parts: readonly Part[]): Part[] {
  const sorted = [...parts].sort((a, b) => a.first - b.first);
  const out: Part[] = [];
  for (const p of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && p.first <= last.last + 1) {
      out[out.length - 1] = { first: last.first, last: Math.max(last.last, p.last) };
    } else out.push(p);
  }
  return out;
}

/** Builds a multipart body from pieces of text and bytes. */
export function concatParts(pieces: readonly (string | Uint8Array)[]): Uint8Array {
  const enc = new TextEncoder();
  return concat(...pieces.map((p) => typeof p === "string" ? enc.encode(p) : p));
}

/** The body nginx sends for `parts` of `file` (`size` bytes). */
export function multipartBody(
  file: Uint8Array,
  parts: readonly Part[],
  boundary = BOUNDARY,
): Uint8Array {
  const pieces: (string | Uint8Array)[] = [];
  for (const p of parts) {
    pieces.push(
      `\r\n--${boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes ${p.first}-${p.last}/${file.length}\r\n\r\n`,
      file.subarray(p.first, p.last + 1),
    );
  }
  pieces.push(`\r\n--${boundary}--\r\n`);
  return concatParts(pieces);
}

/**
 * Reads a multipart/byteranges `body` as Tako does (core/byteranges.ts),
 * fed `chunk` bytes at a time: the asked bytes in order, or the
 * TakoError it is refused with.
 */
export function readMultipart(
  body: Uint8Array,
  boundary: string,
  ranges: readonly AskedRange[],
  size: number,
  chunk = body.length,
): Uint8Array {
  const framing = new MultipartFraming(boundary, "http://origin/store/x");
  const asked = new AskedBytes(ranges, size, "http://origin/store/x");
  const out: Uint8Array[] = [];
  let at = 0;
  let left: Uint8Array = new Uint8Array(0);
  const next = (): Uint8Array => {
    if (left.length > 0) return left;
    if (at >= body.length) throw new TakoError("integrity", "ended before its closing delimiter");
    const piece = body.subarray(at, Math.min(body.length, at + chunk));
    at += piece.length;
    return piece;
  };
  for (;;) {
    const bytes = next();
    left = new Uint8Array(0);
    const step = framing.feed(bytes);
    if (step.kind === "more") continue;
    left = bytes.subarray(step.used);
    if (step.kind === "end") {
      asked.finish();
      return concatParts(out);
    }
    let n = asked.startPart(step.range);
    while (n > 0) {
      const data = next();
      const take = data.subarray(0, Math.min(n, data.length));
      out.push(take.slice());
      left = data.subarray(take.length);
      asked.received(take.length);
      n -= take.length;
    }
  }
}
