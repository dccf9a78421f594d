/**
 * Multi-range requests of a delta update (docs/delta.md): the `Range`
 * header that asks for many ranges at once, and the reading of a
 * `206 multipart/byteranges` answer (RFC 9110 §14.6, RFC 2046 §5.1.1) as a
 * stream: {@link MultipartFraming} parses the boundary lines and part
 * headers between the parts' bytes, which the caller passes straight on;
 * {@link AskedBytes} checks that the parts bring every asked byte exactly
 * once, in order. Anything else is an integrity TakoError: the caller then
 * treats the answer as any answer that is not the bytes asked. Pure.
 *
 * @module
 */
import { printable, TakoError } from "./errors.ts";

/** One range asked for: bytes `[at, at + length)`, `length` > 0. */
export interface AskedRange {
  readonly at: number;
  readonly length: number;
}

/**
 * At most this many ranges in one request: Apache's default `MaxRanges`
 * (beyond it Apache answers with the whole image).
 */
export const MAX_RANGES = 200;
/** At most this many characters in one `Range` header: well under nginx's 8 KiB line limit. */
export const MAX_RANGE_HEADER_CHARS = 4000;
/** A part's header block longer than this is hostile (nginx sends about 90 bytes). */
export const MAX_PART_HEAD = 2048;

/**
 * How many of `ranges`, from index `from` on, one request asks for: at
 * most {@link MAX_RANGES}, within {@link MAX_RANGE_HEADER_CHARS}; at least one.
 *
 * @example
 * ```ts
 * rangesPerRequest([{ at: 0, length: 10 }, { at: 20, length: 5 }], 0); // 2
 * ```
 */
export function rangesPerRequest(ranges: readonly AskedRange[], from: number): number {
  let chars = "bytes=".length;
  let count = 0;
  for (let i = from; i < ranges.length && count < MAX_RANGES; i++) {
    chars += spec(ranges[i]!).length + 1;
    if (count > 0 && chars > MAX_RANGE_HEADER_CHARS) break;
    count++;
  }
  return Math.max(1, count);
}

function spec(range: AskedRange): string {
  return `${range.at}-${range.at + range.length - 1}`;
}

/**
 * The `Range` header value asking for `ranges` (in image order).
 *
 * @example
 * ```ts
 * rangeHeader([{ at: 0, length: 10 }, { at: 20, length: 5 }]); // "bytes=0-9,20-24"
 * ```
 */
export function rangeHeader(ranges: readonly AskedRange[]): string {
  return `bytes=${ranges.map(spec).join(",")}`;
}

/** RFC 2046 bcharsnospace plus space, 1 to 70 of them, not ending in a space. */
const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;

/**
 * The boundary of a `multipart/byteranges` Content-Type, or undefined when
 * the type is another one or names no valid boundary.
 *
 * @example
 * ```ts
 * multipartBoundary("multipart/byteranges; boundary=00000000000000000007"); // "00000000000000000007"
 * multipartBoundary("application/octet-stream"); // undefined
 * ```
 */
export function multipartBoundary(contentType: string | null): string | undefined {
  if (contentType === null) return undefined;
  const [type, ...params] = contentType.split(";");
  if (type!.trim().toLowerCase() !== "multipart/byteranges") return undefined;
  let boundary: string | undefined;
  for (const param of params) {
    const m = param.trim().match(/^boundary=(?:"([^"]*)"|([^\s"]*))$/i);
    if (!m) continue;
    if (boundary !== undefined) return undefined; // two boundaries: ambiguous
    boundary = m[1] ?? m[2]!;
  }
  return boundary !== undefined && BOUNDARY.test(boundary) ? boundary : undefined;
}

/** A part's `Content-Range`: bytes `[first, last]` of an image of `size`. */
export interface PartRange {
  readonly first: number;
  readonly last: number;
  readonly size: number;
}

/** What {@link MultipartFraming.feed} found. */
export type FramingStep =
  /** All bytes fed are framing; more are needed. */
  | { readonly kind: "more" }
  /** A part's headers ended after `used` of the bytes fed; its `last - first + 1` bytes follow. */
  | { readonly kind: "part"; readonly range: PartRange; readonly used: number }
  /** The closing delimiter ended after `used` of the bytes fed; what follows is the epilogue. */
  | { readonly kind: "end"; readonly used: number };

const CRLF = "\r\n";
const decoder = new TextDecoder("latin1");

/**
 * The framing of a multipart/byteranges body, fed in pieces: before the
 * first part a delimiter (`--boundary`, an empty line allowed before it),
 * between parts `CRLF--boundary`, each followed by optional spaces, CRLF,
 * the part's header lines and an empty line; after the last part
 * `CRLF--boundary--`. The caller feeds framing bytes until a step says a
 * part begins, passes on that part's bytes itself, then feeds again.
 *
 * @example
 * ```ts
 * const framing = new MultipartFraming("B", "http://h/store/x");
 * const text = "--B\r\nContent-Range: bytes 0-1/9\r\n\r\nab";
 * const step = framing.feed(new TextEncoder().encode(text)); // { kind: "part", range: { first: 0, last: 1, size: 9 }, used: 35 }
 * ```
 */
export class MultipartFraming {
  #pending = "";
  #first = true;
  #ended = false;

  constructor(readonly boundary: string, readonly name: string) {}

  /** Feeds bytes that follow the last part's bytes (or the body's start). */
  feed(bytes: Uint8Array): FramingStep {
    if (this.#ended) throw this.#bad("sends a part after its closing delimiter");
    const before = this.#pending.length;
    this.#pending += decoder.decode(bytes);
    const text = this.#pending;
    const delimiter = `--${this.boundary}`;
    let at = 0;
    if (!this.#first || text.startsWith("\r")) {
      if (!CRLF.startsWith(text.slice(0, 2))) {
        throw this.#bad("does not follow a part with CRLF and its boundary");
      }
      at = 2;
    }
    const head = text.slice(at, at + delimiter.length);
    if (!delimiter.startsWith(head)) {
      throw this.#bad(this.#first ? "does not start with its boundary" : "has another boundary");
    }
    if (text.length < at + delimiter.length + 2) return { kind: "more" };
    at += delimiter.length;
    if (text.startsWith("--", at)) {
      this.#ended = true;
      return { kind: "end", used: at + 2 - before };
    }
    const line = at;
    while (text[at] === " " || text[at] === "\t") at++;
    const end = text.indexOf(CRLF + CRLF, at);
    if (end < 0 || end > line + MAX_PART_HEAD) {
      if (text.length > line + MAX_PART_HEAD) {
        throw this.#bad(`has a part header over ${MAX_PART_HEAD} bytes`);
      }
      if (at + 2 <= text.length && !text.startsWith(CRLF, at)) {
        throw this.#bad("has another boundary");
      }
      return { kind: "more" };
    }
    if (!text.startsWith(CRLF, at)) throw this.#bad("has another boundary");
    const range = this.#partRange(text.slice(at + 2, end));
    this.#pending = "";
    this.#first = false;
    return { kind: "part", range, used: end + 4 - before };
  }

  /** The Content-Range of a part's header lines, the only header that must be there. */
  #partRange(lines: string): PartRange {
    let range: PartRange | undefined;
    for (const line of lines === "" ? [] : lines.split(CRLF)) {
      const m = line.match(/^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([\x20-\x7e]*?)[ \t]*$/);
      if (!m) throw this.#bad(`has a malformed part header "${printable(line, 80)}"`);
      if (m[1]!.toLowerCase() !== "content-range") continue;
      const r = m[2]!.match(/^bytes ([0-9]{1,15})-([0-9]{1,15})\/([0-9]{1,15})$/);
      if (range !== undefined || !r) {
        throw this.#bad(`has a part with Content-Range "${printable(m[2]!, 80)}"`);
      }
      range = { first: Number(r[1]), last: Number(r[2]), size: Number(r[3]) };
      if (range.first > range.last) throw this.#bad(`has a part with Content-Range "${m[2]}"`);
    }
    if (range === undefined) throw this.#bad("has a part without Content-Range");
    return range;
  }

  #bad(what: string): TakoError {
    return new TakoError("integrity", `${this.name} ${what} (multipart/byteranges).`);
  }
}

/**
 * The bytes asked for in one request, as the parts of its answer bring
 * them: each part must start at the first byte not received yet and stay
 * within the asked ranges (a server may join adjacent ones into one part),
 * so every asked byte comes exactly once and in order; the image's size
 * must be the signed one. Parts in another order, repeated or overlapping
 * are refused: the pieces are written front to back as they come.
 *
 * @example
 * ```ts
 * const asked = new AskedBytes([{ at: 0, length: 4 }, { at: 8, length: 2 }], 16, "http://h/x");
 * asked.startPart({ first: 0, last: 3, size: 16 }); // 4 bytes follow
 * asked.received(4);
 * asked.position; // 8
 * ```
 */
export class AskedBytes {
  #range = 0;
  #offset = 0;
  /** Bytes of the current part still to come. */
  partLeft = 0;

  constructor(
    readonly ranges: readonly AskedRange[],
    readonly size: number,
    readonly name: string,
  ) {}

  /** The next asked byte not received; undefined when all have come. */
  get position(): number | undefined {
    const range = this.ranges[this.#range];
    return range === undefined ? undefined : range.at + this.#offset;
  }

  /** Checks a part's range against what is still to come; returns its length. */
  startPart(part: PartRange): number {
    const want = this.position;
    const shown = `bytes ${part.first}-${part.last}/${part.size}`;
    if (part.size !== this.size) throw this.#bad(`${shown}, but the image has ${this.size} bytes`);
    if (want === undefined) throw this.#bad(`${shown} after every byte asked for`);
    if (part.first !== want) throw this.#bad(`${shown} where byte ${want} was due`);
    // The end of the run of adjacent asked ranges this part starts in.
    let i = this.#range;
    let end = this.ranges[i]!.at + this.ranges[i]!.length;
    while (this.ranges[i + 1]?.at === end) end += this.ranges[++i]!.length;
    if (part.last >= end) throw this.#bad(`${shown}, beyond the bytes asked for`);
    this.partLeft = part.last - part.first + 1;
    return this.partLeft;
  }

  /** Counts `n` bytes of the current part as received. */
  received(n: number): void {
    this.partLeft -= n;
    this.#offset += n;
    while (
      this.ranges[this.#range] !== undefined && this.#offset >= this.ranges[this.#range]!.length
    ) {
      this.#offset -= this.ranges[this.#range]!.length;
      this.#range++;
    }
  }

  /** Throws unless every asked byte has come (at the closing delimiter). */
  finish(): void {
    const want = this.position;
    if (want !== undefined) throw this.#bad(`its closing delimiter where byte ${want} was due`);
  }

  #bad(what: string): TakoError {
    return new TakoError("integrity", `${this.name} sent ${what} (multipart/byteranges).`);
  }
}
