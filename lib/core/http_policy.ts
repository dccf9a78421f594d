/**
 * Tako's HTTP header policy (SPEC §5, §7): which validators of a response are
 * kept and sent back, which one may go into `If-Range`, what a ranged answer
 * must say, and which redirects are followed. Header text in, values out: no
 * I/O, so every rule is tested from tables.
 *
 * @module
 */
import { printable, shownUrl, TakoError } from "./errors.ts";
import {
  type ProxyEnvironment,
  proxyFor,
  requestFailureCause,
  requestFailureHint,
} from "./net_errors.ts";

/** Anything with `get(name)`, such as `Headers`. */
export interface HeaderLookup {
  get(name: string): string | null;
}

/** An origin's validators of its manifest, as sent (ETag, Last-Modified). */
export interface Validators {
  readonly etag: string | undefined;
  readonly lastModified: string | undefined;
}

/** A header value worth keeping and sending back: printable ASCII, bounded. */
const HEADER_VALUE = /^[\x20-\x7e]{1,256}$/;
/** A canonical decimal: no sign, no leading zero. */
const DECIMAL = "(0|[1-9][0-9]*)";
const CONTENT_RANGE = new RegExp(`^bytes ${DECIMAL}-${DECIMAL}/${DECIMAL}$`);

/**
 * Whether `value` may be stored and sent back as a header value.
 *
 * @example
 * ```ts
 * import { isHeaderValue } from "./http_policy.ts";
 * isHeaderValue('"abc"'); // true
 * isHeaderValue("a\nb"); // false
 * ```
 */
export function isHeaderValue(value: string): boolean {
  return HEADER_VALUE.test(value);
}

/**
 * `<origin>/<path>` for an origin URL with or without trailing slash.
 *
 * @example
 * ```ts
 * import { originUrl } from "./http_policy.ts";
 * originUrl("https://images.example.com/app-foo/", "manifest"); // "https://images.example.com/app-foo/manifest"
 * ```
 */
export function originUrl(origin: string, path: string): string {
  const base = origin.endsWith("/") ? origin.slice(0, -1) : origin;
  return `${base}/${path.replace(/^\/+/, "")}`;
}

/**
 * The redirect policy: throws a runtime TakoError unless `to` keeps the scheme
 * of `from` (so never https → http, nor to file: or anything else).
 */
function checkRedirect(from: URL, to: URL): void {
  if (to.protocol === from.protocol) return;
  const why = from.protocol === "https:" && to.protocol === "http:"
    ? "it would drop https"
    : `it changes the scheme from ${from.protocol} to ${printable(to.protocol, 20)}`;
  throw new TakoError(
    "runtime",
    `Refusing the redirect from ${shownUrl(from)} to ${shownUrl(to)}: ${why}.`,
  );
}

/** A redirect answer, as {@link redirectTarget} needs it. */
export interface RedirectHop {
  /** The URL first asked for. */
  readonly start: URL;
  /** The URL that answered with the redirect. */
  readonly from: URL;
  /** Its status for messages, e.g. "302 Found". */
  readonly status: string;
  /** Its Location header. */
  readonly location: string | null;
  /** The URLs (href) requested so far, `start` included. */
  readonly visited: ReadonlySet<string>;
  readonly maxRedirects: number;
}

/**
 * Where a redirect leads, by Tako's policy: a valid Location, the same scheme
 * ({@link checkRedirect}), no loop, at most `maxRedirects` hops. Throws a
 * runtime TakoError otherwise.
 *
 * @example
 * ```ts
 * import { redirectTarget } from "./http_policy.ts";
 * const start = new URL("https://a.example/m");
 * redirectTarget({
 *   start,
 *   from: start,
 *   status: "302 Found",
 *   location: "/mirror/m",
 *   visited: new Set([start.href]),
 *   maxRedirects: 5,
 * }); // https://a.example/mirror/m
 * ```
 */
export function redirectTarget(hop: RedirectHop): URL {
  const { start, from } = hop;
  if (hop.location === null) {
    throw new TakoError(
      "runtime",
      `${shownUrl(from)} answered ${hop.status} without a Location header.`,
    );
  }
  let next: URL;
  try {
    next = new URL(hop.location, from);
  } catch {
    throw new TakoError(
      "runtime",
      `${shownUrl(from)} redirects to an invalid location "${printable(hop.location)}".`,
    );
  }
  checkRedirect(from, next);
  if (hop.visited.has(next.href)) {
    throw new TakoError(
      "runtime",
      `${shownUrl(start)} redirects in a loop (back to ${shownUrl(next)}).`,
    );
  }
  if (hop.visited.size > hop.maxRedirects) {
    throw new TakoError(
      "runtime",
      `${shownUrl(start)} redirects more than ${hop.maxRedirects} times.`,
    );
  }
  return next;
}

/** The request headers that make a manifest request conditional on `validators`. */
export function conditionalHeaders(validators: Validators | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  const { etag, lastModified } = validators ?? {};
  if (etag !== undefined && isHeaderValue(etag)) headers["if-none-match"] = etag;
  if (lastModified !== undefined && isHeaderValue(lastModified)) {
    headers["if-modified-since"] = lastModified;
  }
  return headers;
}

/**
 * The request headers asking for the bytes from `offset` on (up to `end`,
 * exclusive, when given), if `ifRange` still holds.
 */
export function rangeHeaders(
  offset: number,
  ifRange: string | undefined,
  end?: number,
): Record<string, string> {
  const headers: Record<string, string> = {
    range: `bytes=${offset}-${end === undefined ? "" : end - 1}`,
  };
  if (ifRange !== undefined && isHeaderValue(ifRange)) headers["if-range"] = ifRange;
  return headers;
}

/**
 * A Last-Modified date that is safe to send back as If-Modified-Since, or
 * undefined. HTTP dates have one-second resolution: a file changed again
 * within the second its response was made would keep the same date, and a
 * 304 would hide the change. Only a date at least one second before the
 * response's own Date header (the server's clock, not ours) is therefore
 * kept (RFC 9110 §8.8.2.2 calls such a date a strong validator).
 */
function safeLastModified(headers: HeaderLookup): string | undefined {
  const lastModified = headers.get("last-modified");
  const date = headers.get("date");
  if (lastModified === null || date === null || !isHeaderValue(lastModified)) return undefined;
  const modifiedAt = Date.parse(lastModified);
  const answeredAt = Date.parse(date);
  if (Number.isNaN(modifiedAt) || Number.isNaN(answeredAt)) return undefined;
  return modifiedAt + 1000 <= answeredAt ? lastModified : undefined;
}

/**
 * The validators of a manifest response worth sending next time: its ETag,
 * and its Last-Modified when that is at least a second older than the
 * response's Date; undefined when neither is.
 *
 * @example
 * ```ts
 * import { keptValidators } from "./http_policy.ts";
 * keptValidators(new Headers({ etag: '"abc"' })); // { etag: '"abc"', lastModified: undefined }
 * ```
 */
export function keptValidators(headers: HeaderLookup): Validators | undefined {
  const raw = headers.get("etag");
  const etag = raw !== null && isHeaderValue(raw) ? raw : undefined;
  const lastModified = safeLastModified(headers);
  return etag === undefined && lastModified === undefined ? undefined : { etag, lastModified };
}

/**
 * The validator an `If-Range` may carry for this response: a strong ETag (a
 * weak one is not allowed there), else a Last-Modified that is strong.
 *
 * @example
 * ```ts
 * import { rangeValidator } from "./http_policy.ts";
 * rangeValidator(new Headers({ etag: 'W/"abc"' })); // undefined
 * ```
 */
export function rangeValidator(headers: HeaderLookup): string | undefined {
  const etag = headers.get("etag");
  if (etag !== null && isHeaderValue(etag) && !etag.startsWith("W/")) return etag;
  return safeLastModified(headers);
}

/** A Content-Length header as a number, if it is one. */
export function declaredLength(value: string | null): bigint | undefined {
  const text = value?.trim();
  return text !== undefined && /^[0-9]+$/.test(text) ? BigInt(text) : undefined;
}

/** A `Content-Range: bytes <first>-<last>/<size>` header, parsed; undefined when it is not one. */
function parseContentRange(
  value: string | null,
): { first: bigint; last: bigint; size: bigint } | undefined {
  const m = value?.trim().match(CONTENT_RANGE);
  if (!m) return undefined;
  return { first: BigInt(m[1]!), last: BigInt(m[2]!), size: BigInt(m[3]!) };
}

/**
 * Checks the headers of a whole-image (200) answer: a Content-Length, if
 * any, must be the signed size. Throws an integrity TakoError naming `url`.
 */
export function checkFullAnswer(url: URL, headers: HeaderLookup, size: number): void {
  const declared = declaredLength(headers.get("content-length"));
  if (declared !== undefined && declared !== BigInt(size)) {
    throw new TakoError(
      "integrity",
      `${
        shownUrl(url)
      } announces ${declared} bytes, but the manifest lists ${size} for this image.`,
    );
  }
}

/**
 * Checks the headers of an answer to a request for the bytes `[offset, end)`
 * (end: default the size) of an image of `size` bytes: a 206 must hold exactly
 * those bytes; 416 means the origin's copy does not reach them. Throws an
 * integrity TakoError.
 */
export function checkPartialAnswer(
  url: URL,
  status: number,
  headers: HeaderLookup,
  offset: number,
  size: number,
  end = size,
): void {
  const asked = end === size ? `bytes ${offset} onwards` : `bytes ${offset}-${end - 1}`;
  if (status === 416) {
    throw new TakoError(
      "integrity",
      `${
        shownUrl(url)
      } cannot serve ${asked} (416): its copy is shorter than the ${size} bytes the manifest lists.`,
    );
  }
  const raw = headers.get("content-range") ?? "";
  const range = parseContentRange(raw);
  const expected = `bytes ${offset}-${end - 1}/${size}`;
  if (
    range === undefined || range.first !== BigInt(offset) || range.last !== BigInt(end - 1) ||
    range.size !== BigInt(size)
  ) {
    throw new TakoError(
      "integrity",
      `${shownUrl(url)} answered the request for ${asked} with Content-Range "${
        printable(raw, 80)
      }"; expected "${expected}".`,
    );
  }
  const declared = declaredLength(headers.get("content-length"));
  if (declared !== undefined && declared !== BigInt(end - offset)) {
    throw new TakoError(
      "integrity",
      `${shownUrl(url)} announces ${declared} bytes for ${asked} of an image of ${size}.`,
    );
  }
}

/**
 * Checks what an image download received against the manifest: `received`
 * bytes in all (at most one more than `size` is ever read) with SHA-256
 * `actual`. `offset` is where a resumed download continued. Throws an
 * integrity TakoError naming `url`.
 */
export function checkReceived(
  url: URL,
  expected: { readonly size: number; readonly sha256: string },
  got: { readonly received: number; readonly actual: string; readonly offset: number },
): void {
  const { size, sha256 } = expected;
  if (got.received > size) {
    throw new TakoError(
      "integrity",
      `${shownUrl(url)} sends more than the ${size} bytes the manifest lists.`,
    );
  }
  if (got.received < size) {
    throw new TakoError(
      "integrity",
      `${shownUrl(url)} ended after ${got.received} of the ${size} bytes the manifest lists.`,
    );
  }
  if (got.actual !== sha256) {
    const resumed = got.offset > 0 ? ` (resumed at byte ${got.offset})` : "";
    throw new TakoError(
      "integrity",
      `${
        shownUrl(url)
      } sent data with SHA-256 ${got.actual}${resumed}, but the manifest lists ${sha256}.`,
    );
  }
}

/**
 * The useful words of an error of Deno's fetch, without the URL it repeats
 * (Deno puts the real cause at the end: "error sending request from … for …:
 * …"), shortened from the front so that the cause survives.
 *
 * @example
 * ```ts
 * import { fetchErrorDetail } from "./http_policy.ts";
 * fetchErrorDetail(new TypeError("fetch failed", { cause: new Error("Connection refused") })); // "Connection refused"
 * ```
 */
export function fetchErrorDetail(e: unknown): string {
  const inner = e instanceof Error && e.cause instanceof Error ? e.cause : e;
  return requestFailureCause(inner instanceof Error ? inner.message : String(inner));
}

/**
 * The error for a request that got no answer: the cause Deno gave, kept from
 * its end, and a hint when a private CA or a proxy is the likely reason.
 *
 * @example
 * ```ts
 * import { unreachable } from "./http_policy.ts";
 * unreachable(new URL("https://h/manifest"), new TypeError("fetch failed"), {}).kind; // "runtime"
 * ```
 */
export function unreachable(url: URL, e: unknown, proxies: ProxyEnvironment): TakoError {
  const detail = fetchErrorDetail(e);
  if (url.protocol === "file:") {
    return new TakoError("runtime", `Cannot read ${printable(filePath(url), 200)}: ${detail}.`, {
      cause: e,
    });
  }
  const text = e instanceof Error ? `${e.message} ${String(e.cause)}` : String(e);
  const hint = requestFailureHint(text, proxyFor(url, proxies));
  return new TakoError(
    "runtime",
    `Cannot reach ${shownUrl(url)}: ${detail}.${hint === undefined ? "" : ` ${hint}`}`,
    { cause: e },
  );
}

/** A file URL's path for messages; a malformed escape is shown as written, never thrown. */
function filePath(url: URL): string {
  try {
    return decodeURIComponent(url.pathname);
  } catch {
    return url.pathname;
  }
}

/** A duration in seconds for messages: "0.3 s", "30 s". */
export function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}
