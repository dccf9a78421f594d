/**
 * Requests to an origin (SPEC §5): the manifest into memory with a size cap
 * (conditionally, with the validators of the copy the client holds), and an
 * image as a body to stream ({@link requestImage}; ranged to resume). Schemes
 * https, http and file. What the headers mean is decided in
 * core/http_policy.ts.
 *
 * Hardening (SPEC §7): `Accept-Encoding: identity` and bodies taken exactly as
 * received (never decoded); a deadline for the response headers and an idle
 * timeout between body chunks; redirects followed by hand, a few at most,
 * never to another scheme; Content-Length checked before any body byte is
 * read.
 *
 * @module
 */
import { concatBytes } from "../core/bytes.ts";
import { shownUrl, TakoError } from "../core/errors.ts";
import { httpError, oversize, parseOrigin, status } from "../core/request_errors.ts";
import { proxyEnvironment } from "./proxy_env.ts";
import {
  checkFullAnswer,
  checkPartialAnswer,
  conditionalHeaders,
  declaredLength,
  keptValidators,
  rangeHeaders,
  rangeValidator,
  redirectTarget,
  seconds,
  unreachable,
  type Validators,
} from "../core/http_policy.ts";
import { type ByteSource, streamSource } from "./byte_source.ts";
import { IdleTimer, watchedSource } from "./idle_read.ts";

/** Network limits of one request. */
export interface NetOptions {
  /** Deadline for the response headers of each request (connect + server think time). */
  readonly connectTimeoutMs: number;
  /** Longest pause between two body chunks. */
  readonly idleTimeoutMs: number;
  readonly maxRedirects: number;
  /** A client with extra CA certificates or a proxy; tests use it for https. Default: Deno's. */
  readonly httpClient?: Deno.HttpClient;
}

/**
 * The defaults. 30 s for the headers covers a slow TLS handshake and a CDN that
 * fetches a cold object from its backend, yet a dead server still ends a run
 * started by a timer well before the next one. 60 s between chunks rides out a
 * congested link or a CDN pausing mid-stream; an origin silent for longer is
 * stalled. 5 redirects are enough for http → CDN → bucket chains; more is a
 * misconfiguration or a loop.
 */
export const DEFAULT_NET_OPTIONS: NetOptions = Object.freeze({
  connectTimeoutMs: 30_000,
  idleTimeoutMs: 60_000,
  maxRedirects: 5,
});

/** What a conditional manifest request got. */
export type ManifestAnswer =
  | { readonly notModified: true }
  | {
    readonly notModified: false;
    readonly bytes: Uint8Array;
    /** The validators worth sending next time (core `keptValidators`); undefined: none. */
    readonly validators: Validators | undefined;
  };

/**
 * The answer to an image request, its headers checked, its body not read yet.
 * `full`: the whole image (also when a range was asked for and the origin
 * ignored it or its If-Range failed), with the validator a later `If-Range`
 * may send. `partial`: the bytes from `offset` on. Dispose of it when done
 * (`await using`): that stops a body not read to its end.
 */
export type ImageAnswer =
  & (
    | { readonly kind: "full"; readonly validator: string | undefined }
    | { readonly kind: "partial"; readonly offset: number }
  )
  & {
    /** The URL that answered (after redirects). */
    readonly url: URL;
    /** The bytes the body should hold: the image's size, less `offset` for a partial answer. */
    readonly length: number;
    /** The body, read with the idle timeout; read errors are runtime TakoErrors naming `url`. */
    readonly body: ByteSource;
    [Symbol.asyncDispose](): Promise<void>;
  };

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const OK = new Set([200]);
const OK_OR_NOT_MODIFIED = new Set([200, 304]);
/** 416 is answered to a range the origin's copy does not reach: reported, not thrown as HTTP. */
const RANGE_ANSWERS = new Set([200, 206, 416]);

/**
 * Downloads `<origin>/manifest` into memory, refusing more than `maxBytes`
 * (checked against Content-Length first, then counted while reading). With
 * `validators` (from the response that brought the manifest the client holds)
 * it sends `If-None-Match` and `If-Modified-Since`, and a 304 answer resolves
 * to `{ notModified: true }` with no body read. A 200 answer carries the raw
 * bytes (the caller verifies them) and the validators worth keeping.
 *
 * @example
 * ```ts
 * import { DEFAULT_NET_OPTIONS, fetchManifestIfChanged } from "./http.ts";
 * const answer = await fetchManifestIfChanged("https://images.example.com/app", {
 *   ...DEFAULT_NET_OPTIONS,
 *   maxBytes: 1 << 20,
 * });
 * ```
 */
export async function fetchManifestIfChanged(
  origin: string,
  options: SmallGet,
): Promise<ManifestAnswer> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const answer = await fetchInto(origin, options, (piece) => {
    chunks.push(piece.slice());
    total += piece.length;
  });
  return answer.notModified ? answer : { ...answer, bytes: concatBytes(chunks, total) };
}

/** Bytes per read of a small file's body ({@link fetchInto}): a network chunk or more. */
const SMALL_GET_PIECE = 64 * 1024;

/** A GET of a small file: its limit and path, validators for a conditional request. */
export type SmallGet = NetOptions & {
  readonly maxBytes: number;
  readonly validators?: Validators | undefined;
  /** Default "manifest". */
  readonly path?: string;
  /** How an oversize message names the limit; default "a manifest may have". */
  readonly limit?: string;
};

/**
 * {@link fetchManifestIfChanged} handing the body to `sink` piece by piece
 * as it arrives, for a body parsed as it comes (a chunk index: never held
 * whole). Each piece is a view of one reused buffer, valid only during the
 * call. An error `sink` throws stops the download and is thrown.
 *
 * @example
 * ```ts
 * import { DEFAULT_NET_OPTIONS, fetchInto } from "./http.ts";
 * let bytes = 0;
 * await fetchInto("https://images.example.com/app", {
 *   ...DEFAULT_NET_OPTIONS,
 *   maxBytes: 1 << 20,
 * }, (piece) => bytes += piece.length);
 * ```
 */
export async function fetchInto(
  origin: string,
  options: SmallGet,
  sink: (piece: Uint8Array) => void,
): Promise<
  | { readonly notModified: true }
  | { readonly notModified: false; readonly validators: Validators | undefined }
> {
  const conditions = conditionalHeaders(options.validators);
  const conditional = Object.keys(conditions).length > 0;
  const opened = await open(
    parseOrigin(origin, options.path ?? "manifest"),
    options,
    false,
    conditions,
    conditional ? OK_OR_NOT_MODIFIED : OK,
  );
  const { response, url } = opened;
  if (response.status === 304) {
    await opened.discard();
    return { notModified: true };
  }
  const reader = streamSource(response.body ?? new Blob([]).stream());
  const idle = new IdleTimer(options.idleTimeoutMs, opened.abort, url);
  const { maxBytes, limit } = options;
  try {
    const declared = declaredLength(response.headers.get("content-length"));
    if (declared !== undefined && declared > BigInt(maxBytes)) {
      throw oversize(url, `announces ${declared} bytes, more`, maxBytes, limit);
    }
    // One buffer, filled in place: a 6 MiB index left 6 MiB of network chunks to collect.
    let buffer = new ArrayBuffer(SMALL_GET_PIECE);
    for (let total = 0, end = false; !end;) {
      const got = await idle.watch(() => reader.read(buffer, 0, buffer.byteLength), total);
      ({ buffer, end } = got);
      total += got.n;
      // The chunk that crosses the cap is never taken: at most maxBytes reach the sink.
      if (total > maxBytes) throw oversize(url, "sends more", maxBytes, limit);
      if (got.n > 0) sink(new Uint8Array(buffer, 0, got.n));
    }
    return { notModified: false, validators: keptValidators(response.headers) };
  } catch (e) {
    await opened.discard(reader);
    throw e;
  }
}

/**
 * Requests `<origin>/store/<sha256>`, an image of `size` bytes, or with
 * `resume` the bytes from `resume.offset` on (`Range`, plus `If-Range` when
 * `resume.ifRange` is given). Checks the headers before any body byte is
 * read: a Content-Length other than expected, a 206 for other bytes than
 * asked and a 416 are integrity errors.
 *
 * Errors: runtime for the network, timeouts and HTTP errors (410 Gone carries
 * the tag "gone"); integrity as above.
 *
 * @example
 * ```ts
 * import { DEFAULT_NET_OPTIONS, requestImage } from "./http.ts";
 * await using answer = await requestImage("https://images.example.com/app", "ab".repeat(32), 10, {
 *   net: DEFAULT_NET_OPTIONS,
 * });
 * ```
 */
export async function requestImage(
  origin: string,
  sha256: string,
  size: number,
  options: {
    readonly net: NetOptions;
    /** The bytes `[offset, end)`; `end` defaults to the size. */
    readonly resume?: { offset: number; end?: number; ifRange: string | undefined } | undefined;
  },
): Promise<ImageAnswer> {
  const resume = options.resume;
  const end = resume?.end ?? size;
  const ranged = resume !== undefined && resume.offset < end && (resume.offset > 0 || end < size);
  const opened = await openImage(
    origin,
    sha256,
    options.net,
    ranged ? rangeHeaders(resume.offset, resume.ifRange, end < size ? end : undefined) : {},
    ranged ? RANGE_ANSWERS : OK,
  );
  const { status, headers, url, body } = opened;
  const common = { url, body, [Symbol.asyncDispose]: opened[Symbol.asyncDispose] };
  try {
    if (ranged && status !== 200) {
      checkPartialAnswer(url, status, headers, resume.offset, size, end);
      return { kind: "partial", offset: resume.offset, length: end - resume.offset, ...common };
    }
    checkFullAnswer(url, headers, size);
    return { kind: "full", validator: rangeValidator(headers), length: size, ...common };
  } catch (e) {
    await opened[Symbol.asyncDispose]();
    throw e;
  }
}

/** An image response whose status is one accepted, its body under the idle timer, not read yet. */
export interface OpenedImage {
  readonly status: number;
  readonly headers: Headers;
  /** The URL that answered (after redirects). */
  readonly url: URL;
  readonly body: ByteSource;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Requests `<origin>/store/<sha256>` with `headers`; resolves when the
 * answer's status is in `accept` (200, 206 and 416 for a Range request),
 * throws a runtime TakoError for any other. Disposing of it stops the body.
 */
export function openImage(
  origin: string,
  sha256: string,
  net: NetOptions,
  headers: Record<string, string>,
  accept: ReadonlySet<number> = RANGE_ANSWERS,
): Promise<OpenedImage> {
  return openStoreFile(origin, `store/${sha256}`, net, headers, accept, true);
}

/**
 * {@link openImage} for any file under the origin, `path` relative to it
 * (the chunk index `store/<sha256>.index`); only a 200 is accepted unless
 * `accept` says more. `isImage`: a 410 answer means the image is withdrawn.
 */
export async function openStoreFile(
  origin: string,
  path: string,
  net: NetOptions,
  headers: Record<string, string> = {},
  accept: ReadonlySet<number> = OK,
  isImage = false,
): Promise<OpenedImage> {
  const opened = await open(parseOrigin(origin, path), net, isImage, headers, accept);
  const { response, url } = opened;
  const reader = streamSource(response.body ?? new Blob([]).stream());
  const idle = new IdleTimer(net.idleTimeoutMs, opened.abort, url);
  return {
    status: response.status,
    headers: response.headers,
    url,
    body: watchedSource(reader, idle),
    [Symbol.asyncDispose]: () => opened.discard(reader),
  };
}

// ---------------------------------------------------------------- requests

/** A response whose headers arrived, with the means to abort its body. */
interface Opened {
  readonly response: Response;
  /** The URL that answered (after redirects). */
  readonly url: URL;
  /** Aborts the request, body included. */
  readonly abort: () => void;
  /** Stops the body so that no connection or timer is left behind. */
  readonly discard: (reader?: { cancel(): Promise<void> }) => Promise<void>;
}

/**
 * Requests `start` with `headers`, following redirects by hand; resolves with a
 * response whose status is in `accept`, throws otherwise.
 */
async function open(
  start: URL,
  options: NetOptions,
  isImage: boolean,
  headers: Record<string, string>,
  accept: ReadonlySet<number>,
): Promise<Opened> {
  const visited = new Set<string>([start.href]);
  let url = start;
  for (;;) {
    const opened = await request(url, options, headers);
    const { response } = opened;
    if (accept.has(response.status)) return opened;
    await opened.discard();
    if (!REDIRECTS.has(response.status)) throw httpError(url, response, isImage);
    url = redirectTarget({
      start,
      from: url,
      status: status(response),
      location: response.headers.get("location"),
      visited,
      maxRedirects: options.maxRedirects,
    });
    visited.add(url.href);
  }
}

/** One request with a deadline on its headers; the returned abort also stops its body. */
async function request(
  url: URL,
  options: NetOptions,
  headers: Record<string, string>,
): Promise<Opened> {
  const controller = new AbortController();
  const abort = () => controller.abort();
  // AbortSignal.timeout, not setTimeout: Deno loads its Node timers for the
  // first setTimeout, 4-5 ms of a periodic check that sets no other timer.
  const deadline = AbortSignal.timeout(options.connectTimeoutMs);
  deadline.addEventListener("abort", abort);
  let response: Response;
  try {
    response = await fetch(url, {
      redirect: "manual",
      // A body is counted and hashed as received: no transparent decompression.
      headers: { ...headers, "accept-encoding": "identity" },
      signal: controller.signal,
      ...(options.httpClient === undefined ? {} : { client: options.httpClient }),
    });
  } catch (e) {
    if (deadline.aborted) {
      throw new TakoError(
        "runtime",
        `No answer from ${shownUrl(url)} within ${seconds(options.connectTimeoutMs)}.`,
        { cause: e },
      );
    }
    throw unreachable(url, e, proxyEnvironment());
  } finally {
    deadline.removeEventListener("abort", abort);
  }
  const discard = async (reader?: { cancel(): Promise<void> }) => {
    try {
      await (reader ? reader.cancel() : response.body?.cancel());
    } catch {
      // Already errored or aborted: nothing left to release.
    }
    abort();
  };
  return { response, url, abort, discard };
}
