/**
 * Reads from an origin (SPEC §5): the manifest into memory with a size cap
 * (conditionally, with the validators of the copy the client holds), images
 * streamed to a file while hashing (resuming with `Range` + `If-Range` where
 * the origin allows it). Schemes https, http and file.
 *
 * Hardening (SPEC §7): `Accept-Encoding: identity` and bodies taken exactly as
 * received (never decoded); a deadline for the response headers and an idle
 * timeout between body chunks; redirects followed by hand, a few at most,
 * never to another scheme; Content-Length checked before any body byte is
 * read; never more bytes read than the signed size plus one.
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import { requireDigest } from "../core/digest.ts";
import { printable, TakoError } from "../core/errors.ts";

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

/** What an image download reports as it goes. */
export interface ImageOptions extends NetOptions {
  /** Called as bytes arrive (throttling is the caller's business). */
  readonly onProgress?: (received: number, total: number) => void;
  /** How error messages name the file written to; default "the temporary file for store/<sha256>". */
  readonly fileName?: string;
  /**
   * Continue an interrupted download: the file holds the first `offset` bytes
   * of the image (0 < offset < size) and `hash` has consumed exactly them. The
   * origin is asked for the rest (`Range`, plus `If-Range` when `ifRange` is
   * given); when it answers with the whole image instead, the file is
   * truncated and written from byte 0.
   */
  readonly resume?: ResumePoint;
  /**
   * Awaited when the origin sends the whole image, after the file was emptied
   * and before any body byte is written to it; gets the validator that a later
   * `If-Range` may use (a strong ETag, else a Last-Modified that is one).
   */
  readonly onFullBody?: (validator: string | undefined) => Promise<void>;
  /**
   * Flush the data written so far in the background (fdatasync) after every
   * `everyBytes` (default 64 MiB), through `file`: a second handle of the file
   * written to. Deno runs the operations of one handle one at a time, so a
   * flush through the handle being written would hold up the writes behind it
   * (the kernel does not). The caller still flushes at the end; this only
   * leaves that flush little to do, overlapping the disk with the network.
   * Without it, nothing is flushed in the background.
   */
  readonly backgroundFlush?: {
    readonly file: { syncData(): Promise<void> };
    readonly everyBytes?: number;
  };
}

/** Where a resumed image download starts. */
export interface ResumePoint {
  readonly offset: number;
  readonly hash: Hash;
  readonly ifRange: string | undefined;
}

/** An origin's validators of its manifest, as sent (ETag, Last-Modified). */
export interface Validators {
  readonly etag: string | undefined;
  readonly lastModified: string | undefined;
}

/** What a conditional manifest request got. */
export type ManifestAnswer =
  | { readonly notModified: true }
  | {
    readonly notModified: false;
    readonly bytes: Uint8Array;
    /** The validators worth sending next time (see {@link keptValidators}); undefined: none. */
    readonly validators: Validators | undefined;
  };

/**
 * The size of each of the two buffers an image streams through: large writes
 * are what make it fast. 4 MiB is as fast here as 8 MiB and keeps the peak RSS
 * of a fetch about 10 MB lower (docs/performance.md).
 */
const BUFFER_SIZE = 4 * 1024 * 1024;
/** Default bytes written between two background flushes of an image. */
const FLUSH_EVERY = 64 * 1024 * 1024;
const SCHEMES = new Set(["https:", "http:", "file:"]);
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** A header value worth keeping and sending back: printable ASCII, bounded. */
const HEADER_VALUE = /^[\x20-\x7e]{1,256}$/;
const OK = new Set([200]);
const OK_OR_NOT_MODIFIED = new Set([200, 304]);
/** 416 is answered to a range the origin's copy does not reach: reported, not thrown as HTTP. */
const RANGE_ANSWERS = new Set([200, 206, 416]);

/**
 * `<origin>/<path>` for an origin URL with or without trailing slash.
 *
 * @example
 * ```ts
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
 *
 * @example
 * ```ts
 * checkRedirect(new URL("https://a.example/m"), new URL("https://cdn.example/m")); // fine
 * checkRedirect(new URL("https://a.example/m"), new URL("http://a.example/m"));    // throws
 * ```
 */
export function checkRedirect(from: URL, to: URL): void {
  if (to.protocol === from.protocol) return;
  const why = from.protocol === "https:" && to.protocol === "http:"
    ? "it would drop https"
    : `it changes the scheme from ${from.protocol} to ${printable(to.protocol, 20)}`;
  throw new TakoError(
    "runtime",
    `Refusing the redirect from ${shown(from)} to ${shown(to)}: ${why}.`,
  );
}

/**
 * Downloads `<origin>/manifest` into memory, refusing more than `maxBytes`
 * (checked against Content-Length first, then counted while reading). Returns
 * the raw bytes; the caller verifies them.
 */
export async function fetchManifest(
  origin: string,
  options: NetOptions & { maxBytes: number },
): Promise<Uint8Array> {
  const answer = await fetchManifestIfChanged(origin, options);
  // Without validators no 304 is accepted, so there always are bytes.
  return answer.notModified ? new Uint8Array(0) : answer.bytes;
}

/**
 * {@link fetchManifest}, conditionally: with `validators` (from the response
 * that brought the manifest the client holds) it sends `If-None-Match` and
 * `If-Modified-Since`, and a 304 answer resolves to `{ notModified: true }`
 * with no body read. A 200 answer carries the bytes and the validators worth
 * keeping for next time.
 *
 * @example
 * ```ts
 * declare const origin: string, net: NetOptions, maxBytes: number;
 * declare const saved: Parameters<typeof fetchManifestIfChanged>[1]["validators"];
 * declare function useStoredManifest(): void;
 * const answer = await fetchManifestIfChanged(origin, { ...net, maxBytes, validators: saved });
 * if (answer.notModified) useStoredManifest();
 * ```
 */
export async function fetchManifestIfChanged(
  origin: string,
  options: NetOptions & { maxBytes: number; validators?: Validators | undefined },
): Promise<ManifestAnswer> {
  const conditions = conditionalRequestHeaders(options.validators);
  const conditional = Object.keys(conditions).length > 0;
  const opened = await open(
    parseOrigin(origin, "manifest"),
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
  const reader = response.body?.getReader();
  const idle = new IdleTimer(options.idleTimeoutMs, opened.abort);
  try {
    const declared = declaredLength(response);
    if (declared !== undefined && declared > BigInt(options.maxBytes)) {
      throw oversize(url, `announces ${declared} bytes, more`, options.maxBytes);
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    while (reader) {
      const { value, done } = await idle.watch(() => reader.read(), url, total);
      if (done) break;
      total += value.length;
      // The chunk that crosses the cap is never kept: at most maxBytes are buffered.
      if (total > options.maxBytes) throw oversize(url, "sends more", options.maxBytes);
      chunks.push(value);
    }
    return {
      notModified: false,
      bytes: concat(chunks, total),
      validators: keptValidators(response.headers),
    };
  } catch (e) {
    await opened.discard(reader);
    throw e;
  }
}

/**
 * Streams `<origin>/store/<sha256>` into `file` (open for writing at position
 * 0, or at `options.resume.offset` to resume), hashing as it writes. Accepts
 * exactly `size` bytes with that SHA-256: a Content-Length (or, resuming, a
 * Content-Range) other than the one expected is refused before the body is
 * read, and at most one byte more than expected is read. Does not flush or
 * close the file.
 *
 * Errors: runtime for the network, timeouts, HTTP errors (410 Gone carries the
 * tag "gone") and the disk; integrity for size and digest, and for a range the
 * origin cannot serve (416) or serves other than asked.
 *
 * @example
 * ```ts
 * declare const tmp: string, origin: string, sha256: string, size: number;
 * using file = await Deno.open(tmp, { write: true, createNew: true });
 * await downloadImage(origin, sha256, size, file, DEFAULT_NET_OPTIONS);
 * await file.syncData();
 * ```
 */
export async function downloadImage(
  origin: string,
  sha256: string,
  size: number,
  file: Deno.FsFile,
  options: ImageOptions,
): Promise<void> {
  requireDigest(sha256);
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new TakoError(
      "integrity",
      `Image size ${size} is not a whole number of bytes this client can handle.`,
    );
  }
  const resume = options.resume;
  const ranged = resume !== undefined && resume.offset > 0 && resume.offset < size;
  const opened = await open(
    parseOrigin(origin, `store/${sha256}`),
    options,
    true,
    ranged ? rangeRequestHeaders(resume) : {},
    ranged ? RANGE_ANSWERS : OK,
  );
  const { response, url } = opened;
  const reader = response.body === null ? undefined : byteReader(response.body);
  const fileName = options.fileName ?? `the temporary file for store/${sha256}`;
  try {
    let offset = 0;
    let hash = createHash("sha256");
    if (ranged && response.status !== 200) {
      checkPartialAnswer(response, url, resume.offset, size);
      offset = resume.offset;
      hash = resume.hash;
      await onFile(fileName, () => file.seek(offset, Deno.SeekMode.Start));
    } else {
      checkLength(response, url, size);
      // A resume the origin answered in full (no Range support, or If-Range failed): start over.
      if (resume !== undefined) await emptyFile(file, fileName);
      await options.onFullBody?.(rangeValidator(response.headers));
    }
    const sink = new Sink(file, fileName, hash, options.backgroundFlush);
    const idle = new IdleTimer(options.idleTimeoutMs, opened.abort);
    const onProgress = options.onProgress;
    const received = offset + await copy(
      reader ?? EMPTY_SOURCE,
      sink,
      idle,
      url,
      size - offset,
      onProgress && ((n: number) => onProgress(offset + n, size)),
    );
    if (received > size) {
      throw new TakoError(
        "integrity",
        `${shown(url)} sends more than the ${size} bytes the manifest lists.`,
      );
    }
    if (received < size) {
      throw new TakoError(
        "integrity",
        `${shown(url)} ended after ${received} of the ${size} bytes the manifest lists.`,
      );
    }
    const actual = sink.digest();
    if (actual !== sha256) {
      const resumed = offset > 0 ? ` (resumed at byte ${offset})` : "";
      throw new TakoError(
        "integrity",
        `${
          shown(url)
        } sent data with SHA-256 ${actual}${resumed}, but the manifest lists ${sha256}.`,
      );
    }
  } catch (e) {
    await opened.discard(reader);
    throw e;
  }
}

/** A whole-image answer must announce the signed size, if it announces any. */
function checkLength(response: Response, url: URL, size: number): void {
  const declared = declaredLength(response);
  if (declared !== undefined && declared !== BigInt(size)) {
    throw new TakoError(
      "integrity",
      `${shown(url)} announces ${declared} bytes, but the manifest lists ${size} for this image.`,
    );
  }
}

/**
 * A 206 answer must hold exactly the bytes asked for, `offset` to the end of
 * an image of the signed size; 416 means the origin's copy does not reach them.
 */
function checkPartialAnswer(response: Response, url: URL, offset: number, size: number): void {
  if (response.status === 416) {
    throw new TakoError(
      "integrity",
      `${
        shown(url)
      } cannot serve bytes ${offset} onwards (416): its copy is shorter than the ${size} bytes the manifest lists.`,
    );
  }
  const range = response.headers.get("content-range") ?? "";
  const expected = `bytes ${offset}-${size - 1}/${size}`;
  if (range.trim() !== expected) {
    throw new TakoError(
      "integrity",
      `${shown(url)} answered the request for bytes ${offset} onwards with Content-Range "${
        printable(range, 80)
      }"; expected "${expected}".`,
    );
  }
  const declared = declaredLength(response);
  if (declared !== undefined && declared !== BigInt(size - offset)) {
    throw new TakoError(
      "integrity",
      `${
        shown(url)
      } announces ${declared} bytes for bytes ${offset} onwards of an image of ${size}.`,
    );
  }
}

/** Truncates the file being written and moves back to its start. */
async function emptyFile(file: Deno.FsFile, name: string): Promise<void> {
  await onFile(name, async () => {
    await file.truncate(0);
    await file.seek(0, Deno.SeekMode.Start);
  });
}

/** Runs a file operation, turning its failure into a runtime TakoError naming the file. */
async function onFile<T>(name: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (e) {
    throw new TakoError("runtime", `Cannot write ${name}: ${errorDetail(e)}.`, { cause: e });
  }
}

function rangeRequestHeaders(resume: ResumePoint): Record<string, string> {
  const headers: Record<string, string> = { range: `bytes=${resume.offset}-` };
  if (resume.ifRange !== undefined && HEADER_VALUE.test(resume.ifRange)) {
    headers["if-range"] = resume.ifRange;
  }
  return headers;
}

function conditionalRequestHeaders(validators: Validators | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  const { etag, lastModified } = validators ?? {};
  if (etag !== undefined && HEADER_VALUE.test(etag)) headers["if-none-match"] = etag;
  if (lastModified !== undefined && HEADER_VALUE.test(lastModified)) {
    headers["if-modified-since"] = lastModified;
  }
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
function safeLastModified(headers: Headers): string | undefined {
  const lastModified = headers.get("last-modified");
  const date = headers.get("date");
  if (lastModified === null || date === null || !HEADER_VALUE.test(lastModified)) return undefined;
  const modifiedAt = Date.parse(lastModified);
  const answeredAt = Date.parse(date);
  if (Number.isNaN(modifiedAt) || Number.isNaN(answeredAt)) return undefined;
  return modifiedAt + 1000 <= answeredAt ? lastModified : undefined;
}

/**
 * The validators of a manifest response worth sending next time: its ETag,
 * and its Last-Modified when that is safely in the past (see
 * {@link safeLastModified}); undefined when neither is.
 *
 * @example
 * ```ts
 * keptValidators(new Headers({ etag: '"abc"' })); // { etag: '"abc"', lastModified: undefined }
 * ```
 */
export function keptValidators(headers: Headers): Validators | undefined {
  const raw = headers.get("etag");
  const etag = raw !== null && HEADER_VALUE.test(raw) ? raw : undefined;
  const lastModified = safeLastModified(headers);
  return etag === undefined && lastModified === undefined ? undefined : { etag, lastModified };
}

/**
 * The validator an `If-Range` may carry for this response: a strong ETag (a
 * weak one is not allowed there), else a Last-Modified that is strong.
 *
 * @example
 * ```ts
 * rangeValidator(new Headers({ etag: 'W/"abc"' })); // undefined
 * ```
 */
export function rangeValidator(headers: Headers): string | undefined {
  const etag = headers.get("etag");
  if (etag !== null && HEADER_VALUE.test(etag) && !etag.startsWith("W/")) return etag;
  return safeLastModified(headers);
}

// ---------------------------------------------------------------- requests

/** A response whose headers arrived, with the means to abort its body. */
interface Opened {
  readonly response: Response;
  /** The URL that answered (after redirects). */
  readonly url: URL;
  /** Aborts the request, body included. */
  readonly abort: () => void;
  /** Stops the body on an error path so no connection or timer is left behind. */
  readonly discard: (reader?: { cancel(): Promise<void> }) => Promise<void>;
}

function parseOrigin(origin: string, path: string): URL {
  let url: URL;
  try {
    url = new URL(originUrl(origin, path));
  } catch {
    throw new TakoError("config", `Origin "${printable(origin)}" is not a valid URL.`);
  }
  if (!SCHEMES.has(url.protocol)) {
    throw new TakoError(
      "config",
      `Origin ${shown(url)} has an unsupported scheme; expected https:, http: or file:.`,
    );
  }
  return url;
}

/**
 * Requests `start` with `headers`, following redirects by hand; resolves with a
 * response whose status is in `accept` (default 200 only), throws otherwise.
 */
async function open(
  start: URL,
  options: NetOptions,
  isImage: boolean,
  headers: Record<string, string> = {},
  accept: ReadonlySet<number> = OK,
): Promise<Opened> {
  const visited = new Set<string>([start.href]);
  let url = start;
  for (let hops = 0;; hops++) {
    const opened = await request(url, options, headers);
    const { response } = opened;
    if (accept.has(response.status)) return opened;
    await opened.discard();
    if (!REDIRECTS.has(response.status)) throw httpError(url, response, isImage);
    const next = redirectTarget(url, response);
    checkRedirect(url, next);
    if (visited.has(next.href)) {
      throw new TakoError(
        "runtime",
        `${shown(start)} redirects in a loop (back to ${shown(next)}).`,
      );
    }
    if (hops + 1 > options.maxRedirects) {
      throw new TakoError(
        "runtime",
        `${shown(start)} redirects more than ${options.maxRedirects} times.`,
      );
    }
    visited.add(next.href);
    url = next;
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
  let timedOut = false;
  const timer: ReturnType<typeof setTimeout> = setTimeout(() => {
    timedOut = true;
    abort();
  }, options.connectTimeoutMs);
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
    if (timedOut) {
      throw new TakoError(
        "runtime",
        `No answer from ${shown(url)} within ${seconds(options.connectTimeoutMs)}.`,
        {
          cause: e,
        },
      );
    }
    throw unreachable(url, e);
  } finally {
    clearTimeout(timer);
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

function redirectTarget(url: URL, response: Response): URL {
  const location = response.headers.get("location");
  if (location === null) {
    throw new TakoError(
      "runtime",
      `${shown(url)} answered ${status(response)} without a Location header.`,
    );
  }
  try {
    return new URL(location, url);
  } catch {
    throw new TakoError(
      "runtime",
      `${shown(url)} redirects to an invalid location "${printable(location)}".`,
    );
  }
}

function httpError(url: URL, response: Response, isImage: boolean): TakoError {
  const gone = isImage && response.status === 410;
  return new TakoError(
    "runtime",
    `${shown(url)} answered ${status(response)}.`,
    gone ? { tag: "gone" } : undefined,
  );
}

function unreachable(url: URL, e: unknown): TakoError {
  const detail = errorDetail(e);
  const message = url.protocol === "file:"
    ? `Cannot read ${printable(decodeURIComponent(url.pathname), 200)}: ${detail}.`
    : `Cannot reach ${shown(url)}: ${detail}.`;
  return new TakoError("runtime", message, { cause: e });
}

/** The useful words of a fetch error, without the URL it repeats. */
function errorDetail(e: unknown): string {
  const inner = e instanceof Error && e.cause instanceof Error ? e.cause : e;
  const text = inner instanceof Error ? inner.message : String(inner);
  const trimmed = text
    .replace(/^error sending request for url \(.*?\): /, "")
    .replace(/^Error fetching file '.*?': /, "");
  return printable(trimmed, 160);
}

/** The Content-Length header as a number, if it is one. */
function declaredLength(response: Response): bigint | undefined {
  const value = response.headers.get("content-length")?.trim();
  return value !== undefined && /^[0-9]+$/.test(value) ? BigInt(value) : undefined;
}

function oversize(url: URL, what: string, maxBytes: number): TakoError {
  return new TakoError(
    "integrity",
    `${shown(url)} ${what} than the ${maxBytes} bytes a manifest may have.`,
  );
}

/** A URL for messages: printable, without a password. */
function shown(url: URL): string {
  let text = url.href;
  if (url.password !== "") {
    const safe = new URL(url.href);
    safe.password = "***";
    text = safe.href;
  }
  return printable(text, 300);
}

function status(response: Response): string {
  const reason = printable(response.statusText, 60);
  return reason === "" ? String(response.status) : `${response.status} ${reason}`;
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1 && chunks[0]!.length === total) return chunks[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

// ---------------------------------------------------------------- streaming

/** Arms a timer around each read; when a read waits too long, aborts the request. */
class IdleTimer {
  #fired = false;

  constructor(readonly ms: number, readonly abort: () => void) {}

  /** Runs one read under the timer and turns its failures into TakoErrors. */
  async watch<T>(read: () => Promise<T>, url: URL, received: number): Promise<T> {
    const timer: ReturnType<typeof setTimeout> = setTimeout(() => {
      this.#fired = true;
      this.abort();
    }, this.ms);
    try {
      return await read();
    } catch (e) {
      if (this.#fired) {
        throw new TakoError("runtime", `No data from ${shown(url)} for ${seconds(this.ms)}.`, {
          cause: e,
        });
      }
      throw new TakoError(
        "runtime",
        `The download of ${shown(url)} broke off after ${received} bytes: ${errorDetail(e)}.`,
        { cause: e },
      );
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Reads into a caller's buffer. BYOB reads hand back the (transferred) buffer holding the data. */
export interface ByteSource {
  read(
    buffer: ArrayBuffer,
    offset: number,
    max: number,
  ): Promise<{ buffer: ArrayBuffer; n: number; end: boolean }>;
  cancel(): Promise<void>;
}

const EMPTY_SOURCE: ByteSource = {
  read: (buffer) => Promise.resolve({ buffer, n: 0, end: true }),
  cancel: () => Promise.resolve(),
};

/**
 * A BYOB reader when the body supports one (it fills our buffers in place),
 * else the default reader, copying. Exported for tests only.
 */
export function byteReader(body: ReadableStream<Uint8Array>): ByteSource {
  let byob: ReadableStreamBYOBReader;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch {
    return copyingSource(body.getReader());
  }
  return {
    async read(buffer, offset, max) {
      const { value, done } = await byob.read(new Uint8Array(buffer, offset, max));
      // A cancelled stream gives no view back; the old buffer is detached.
      if (value === undefined) {
        return { buffer: new ArrayBuffer(buffer.byteLength), n: 0, end: true };
      }
      return { buffer: value.buffer as ArrayBuffer, n: value.length, end: done };
    },
    cancel: () => byob.cancel(),
  };
}

function copyingSource(reader: ReadableStreamDefaultReader<Uint8Array>): ByteSource {
  let pending: Uint8Array = new Uint8Array(0);
  return {
    async read(buffer, offset, max) {
      if (pending.length === 0) {
        const { value, done } = await reader.read();
        if (done) return { buffer, n: 0, end: true };
        pending = value;
      }
      const n = Math.min(max, pending.length);
      new Uint8Array(buffer, offset, n).set(pending.subarray(0, n));
      pending = pending.subarray(n);
      return { buffer, n, end: false };
    },
    cancel: () => reader.cancel(),
  };
}

/** Hashes and writes whole buffers; one write in flight at a time, in order. */
class Sink {
  readonly #hash: Hash;
  #writing: Promise<void> = Promise.resolve();
  /** Bytes written since the last background flush started. */
  #unflushed = 0;
  #flushing: Promise<void> | undefined;
  #flushFailure: unknown;
  readonly #flushEvery: number;

  constructor(
    readonly file: Deno.FsFile,
    readonly name: string,
    hash: Hash,
    readonly flush: ImageOptions["backgroundFlush"],
  ) {
    this.#hash = hash;
    this.#flushEvery = flush === undefined ? Infinity : flush.everyBytes ?? FLUSH_EVERY;
  }

  /** Hashes `data` and starts writing it once the previous write is done; `data` must stay untouched until then. */
  async push(data: Uint8Array): Promise<void> {
    this.#hash.update(data);
    await this.#writing;
    this.#writing = this.#writeAll(data);
    // A failed write surfaces at the next push or at finish; until then it must not count as unhandled.
    this.#writing.catch(() => {});
  }

  /** Waits for the write and the background flush in flight; reports a failed flush. */
  async finish(): Promise<void> {
    await this.#writing;
    await this.#flushing;
    if (this.#flushFailure !== undefined) {
      const e = this.#flushFailure;
      throw new TakoError("runtime", `Cannot flush ${this.name}: ${errorDetail(e)}.`, { cause: e });
    }
  }

  digest(): string {
    return this.#hash.digest("hex");
  }

  async #writeAll(data: Uint8Array): Promise<void> {
    let at = 0;
    try {
      while (at < data.length) {
        // A full disk first gives a short count, then throws ENOSPC on the next write.
        const n = await this.file.write(data.subarray(at));
        if (n <= 0) throw new Error("the write made no progress");
        at += n;
      }
      this.#unflushed += data.length;
      if (this.#unflushed >= this.#flushEvery) this.#flushInBackground();
    } catch (e) {
      const full = (e as { code?: unknown }).code === "ENOSPC";
      const detail = full ? "the disk is full" : errorDetail(e);
      throw new TakoError("runtime", `Cannot write ${this.name}: ${detail}.`, { cause: e });
    }
  }

  /**
   * Starts an fdatasync unless one is running. The kernel would otherwise keep
   * the whole image in dirty pages until the caller's final flush, which then
   * writes it all while nothing else happens; flushing as we go overlaps the
   * disk with the network, and bounds what a crash can lose of a partial file.
   */
  #flushInBackground(): void {
    if (this.#flushing !== undefined || this.flush === undefined) return;
    this.#unflushed = 0;
    this.#flushing = this.flush.file.syncData().then(
      () => {
        this.#flushing = undefined;
      },
      (e) => {
        this.#flushFailure ??= e;
        this.#flushing = undefined;
      },
    );
  }
}

/**
 * Copies up to `size + 1` bytes (the extra one detects a body that is too long)
 * from `source` into `sink`, filling one buffer while the other is written.
 * Returns the count read; waits for the last write.
 */
async function copy(
  source: ByteSource,
  sink: Sink,
  idle: IdleTimer,
  url: URL,
  size: number,
  onProgress: ((received: number) => void) | undefined,
): Promise<number> {
  const limit = size + 1;
  const bufferSize = Math.min(BUFFER_SIZE, limit);
  const buffers = [new ArrayBuffer(bufferSize), new ArrayBuffer(bufferSize)];
  let received = 0;
  let end = false;
  let failure: unknown;
  try {
    for (let which = 0; !end && received < limit; which ^= 1) {
      // Before this buffer is filled again, its previous write finished: push() awaits it.
      let buffer = buffers[which]!;
      const want = Math.min(bufferSize, limit - received);
      let filled = 0;
      while (filled < want) {
        const got = await idle.watch(
          () => source.read(buffer, filled, want - filled),
          url,
          received,
        );
        buffer = got.buffer;
        if (got.end) {
          end = true;
          break;
        }
        filled += got.n;
        received += got.n;
        onProgress?.(Math.min(received, size));
      }
      buffers[which] = buffer;
      if (received > size) break;
      if (filled > 0) await sink.push(new Uint8Array(buffer, 0, filled));
    }
  } catch (e) {
    failure = e;
  }
  // Never return with a write in flight: the caller closes or removes the file next.
  try {
    await sink.finish();
  } catch (e) {
    failure ??= e; // when a read failed first, that error is the one to report
  }
  if (failure !== undefined) throw failure;
  return received;
}
