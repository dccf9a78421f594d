/**
 * A test origin: serves a directory laid out as a Tako origin (`manifest`,
 * `store/<sha256>`) on 127.0.0.1, logs every request and misbehaves on demand
 * per path.
 *
 * The work is done by a pure `Request → Response` handler ({@link OriginHandler})
 * that tests may also call without a socket; {@link startOrigin} puts it behind
 * `Deno.serve` on 127.0.0.1, port 0.
 *
 * @example
 * ```ts
 * const origin = await startOrigin(dir);
 * try {
 *   origin.behave("/manifest", { status: 503, times: 1 }); // fails once, then serves the file
 *   origin.behave(`/store/${sha}`, { stallAtByte: 10 });   // sends 10 bytes, then nothing
 *   origin.behave(`/store/${other}`, { dripBytes: 65536, dripMs: 10 }); // 64 KiB every 10 ms
 *   // ... run the client against origin.url ...
 *   assert.equal(origin.requestsFor("/manifest").length, 2);
 * } finally {
 *   await origin.close(); // also ends stalled responses
 * }
 * ```
 *
 * Default Content-Length: the length of the bytes the server means to send
 * (content plus `extraBytes`; `truncateAt`, `resetAtByte` and stalls keep it,
 * so the body breaks off short of it). Endless and gzip-encoded bodies are
 * chunked. Set `contentLength` to a number to lie, or to `"none"` to send a
 * chunked body that ends cleanly wherever it ends.
 *
 * @module
 */

import {
  bodyChunks,
  type Content,
  contentLength,
  DeliberateReset,
  gzip,
  misbehave,
  parseRange,
  REASONS,
  sleep,
  textContent,
} from "./_origin_body.ts";
import { BOUNDARY, coalesce, multipartBody, parseMultiRange, type Part } from "./multipart.ts";

/** How the origin answers one path. Fields combine; unset fields mean "behave normally". */
export interface Behaviour {
  /** Answer with this status; without `body`, a short text body ("404 Not Found\n"). */
  readonly status?: number;
  /** Serve these bytes instead of the file (an HTML error page with 200, say). */
  readonly body?: string | Uint8Array;
  /** Response headers to add or override (e.g. `{"content-encoding": "gzip"}` on a plain file). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Content-Length to announce whatever the body is, or "none" for a chunked body. */
  readonly contentLength?: number | "none";
  /** Redirect to this location (a path, or an absolute URL), with `status` or 302. */
  readonly redirect?: string;
  /** Compress the body with gzip and say so in Content-Encoding (chunked). */
  readonly gzip?: boolean;
  /** End the body after this many bytes. */
  readonly truncateAt?: number;
  /** Send this many bytes ("X") after the content. */
  readonly extraBytes?: number;
  /** After the content, send zero bytes forever (until the client or `close()` stops it). */
  readonly endless?: boolean;
  /** Wait this long before answering at all (Infinity: until the client gives up or `close()`). */
  readonly delayHeadersMs?: number;
  /** After this many body bytes, pause for `stallMs`. */
  readonly stallAtByte?: number;
  /** How long the mid-body stall lasts; default Infinity. */
  readonly stallMs?: number;
  /** Send the body in pieces of `dripBytes`, this many ms apart ("N bytes every M ms"). */
  readonly dripMs?: number;
  /** The size of each piece with `dripMs`; default 1 byte. */
  readonly dripBytes?: number;
  /** After this many body bytes, break the connection (the body stream errors). */
  readonly resetAtByte?: number;
  /** Misbehave for this many requests of the path only, then serve normally again. */
  readonly times?: number;
  /**
   * The answer to a multi-range request (with `ranges`): its body and
   * Content-Type, built from the ranges asked and the file (a hostile one, say).
   */
  readonly multipart?: (
    asked: Part[],
    file: Uint8Array,
  ) => { body: Uint8Array; type?: string; headers?: Record<string, string> };
}

/** One request as the origin saw it; `status` and `bytesSent` are filled in as it is answered. */
export interface RequestRecord {
  readonly method: string;
  /** The URL path, e.g. "/store/ab12…". */
  readonly path: string;
  /** The headers in {@link LOGGED_HEADERS} that the request carried, by lowercase name. */
  readonly headers: Readonly<Record<string, string>>;
  /** Status answered; 0 while the answer is still delayed. */
  status: number;
  /** Body bytes handed to the connection so far. */
  bytesSent: number;
}

/** The request headers that are logged. */
export const LOGGED_HEADERS = [
  "accept-encoding",
  "range",
  "if-range",
  "if-none-match",
  "if-modified-since",
  "user-agent",
] as const;

/** Options of the whole origin. */
export interface OriginOptions {
  /**
   * Honour Range and If-Range (206, 416). Off by default, like python's
   * http.server, which ignores Range.
   */
  readonly ranges?: boolean;
  /**
   * How a request for several ranges is answered (with `ranges`): "parts"
   * (default) as nginx does, 206 multipart/byteranges; "coalesce" joins
   * adjacent and overlapping ranges first, as Apache does; "whole" answers
   * 200 with the whole file, as S3 and GCS do.
   */
  readonly multiRange?: "parts" | "coalesce" | "whole";
  /** Serve https with this PEM certificate chain and key (the URL then starts with https://). */
  readonly tls?: { readonly cert: string; readonly key: string };
}

/** The file a URL path names inside `root`, or undefined for paths that try to leave it. */
function filePath(root: string, path: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return undefined;
  }
  const segments = decoded.split("/").filter((s) => s !== "");
  if (segments.some((s) => s === ".." || s === "." || s.includes("\0"))) return undefined;
  return [root.replace(/\/+$/, ""), ...segments].join("/");
}

function normalisePath(path: string): string {
  return path.startsWith("/") ? path : `/${path}`;
}

/** A strong ETag of a file: its size and modification time. */
function etagOf(info: Deno.FileInfo): string {
  return `"${info.size.toString(16)}-${(info.mtime?.getTime() ?? 0).toString(16)}"`;
}

/**
 * The pure part of the test origin: answers requests from `root`, with the
 * behaviours set per path, and logs them. Long waits end when {@link stop} is
 * called, so a server built on it can always shut down.
 */
export class OriginHandler {
  /** Every request received, oldest first. */
  readonly requests: RequestRecord[] = [];
  /** Errors of the response streams other than deliberate resets (for debugging). */
  readonly errors: unknown[] = [];
  readonly #behaviours = new Map<string, { behaviour: Behaviour; left: number }>();
  readonly #stopped = new AbortController();

  constructor(readonly root: string, readonly options: OriginOptions = {}) {}

  /** Makes `path` (e.g. "/manifest" or "store/<sha>") misbehave; replaces an earlier behaviour. */
  behave(path: string, behaviour: Behaviour): void {
    this.#behaviours.set(normalisePath(path), { behaviour, left: behaviour.times ?? Infinity });
  }

  /** Forgets all behaviours and the request log. */
  clear(): void {
    this.#behaviours.clear();
    this.requests.length = 0;
  }

  /** The logged requests for one path. */
  requestsFor(path: string): RequestRecord[] {
    const p = normalisePath(path);
    return this.requests.filter((r) => r.path === p);
  }

  /** Ends every delayed answer and stalled or endless body (used before shutting down). */
  stop(): void {
    this.#stopped.abort();
  }

  /** Answers one request. */
  handle = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const headers: Record<string, string> = {};
    for (const name of LOGGED_HEADERS) {
      const value = req.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    const record: RequestRecord = {
      method: req.method,
      path: url.pathname,
      headers,
      status: 0,
      bytesSent: 0,
    };
    this.requests.push(record);
    const behaviour = this.#take(url.pathname);
    if (behaviour.delayHeadersMs !== undefined) {
      await sleep(behaviour.delayHeadersMs, this.#stopped.signal);
      if (this.#stopped.signal.aborted) return this.#finish(record, 503, textContent(503), {}, req);
    }
    return await this.#answer(req, url, record, behaviour);
  };

  #take(path: string): Behaviour {
    const entry = this.#behaviours.get(path);
    if (entry === undefined || entry.left <= 0) return {};
    entry.left--;
    return entry.behaviour;
  }

  async #answer(req: Request, url: URL, record: RequestRecord, b: Behaviour): Promise<Response> {
    if (b.redirect !== undefined) {
      const status = b.status ?? 302;
      return await this.#send(
        req,
        record,
        status,
        textContent(status),
        { location: b.redirect },
        b,
      );
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return this.#finish(record, 405, textContent(405), { allow: "GET, HEAD" }, req);
    }
    if (b.status !== undefined || b.body !== undefined) {
      const status = b.status ?? 200;
      const content = b.body === undefined
        ? textContent(status)
        : { bytes: typeof b.body === "string" ? new TextEncoder().encode(b.body) : b.body };
      return await this.#send(req, record, status, content, {}, b);
    }
    return await this.#serveFile(req, url, record, b);
  }

  async #serveFile(req: Request, url: URL, record: RequestRecord, b: Behaviour): Promise<Response> {
    const path = filePath(this.root, url.pathname);
    let info: Deno.FileInfo | undefined;
    try {
      if (path !== undefined) info = await Deno.stat(path);
    } catch {
      info = undefined;
    }
    if (path === undefined || info === undefined || !info.isFile) {
      return await this.#send(req, record, 404, textContent(404), {}, b);
    }
    const etag = etagOf(info);
    const meta: Record<string, string> = { etag, "content-type": "application/octet-stream" };
    if (info.mtime) meta["last-modified"] = info.mtime.toUTCString();
    if (this.options.ranges) meta["accept-ranges"] = "bytes";
    if (req.headers.get("if-none-match") === etag) {
      return this.#finish(record, 304, undefined, meta, req);
    }

    let content: Content = { path, start: 0, end: info.size };
    let status = 200;
    const ifRange = req.headers.get("if-range");
    if (
      this.options.ranges &&
      (ifRange === null || ifRange === etag || ifRange === meta["last-modified"])
    ) {
      const asked = parseMultiRange(req.headers.get("range"), info.size);
      if (asked !== undefined && this.options.multiRange !== "whole") {
        const file = await Deno.readFile(path);
        const parts = this.options.multiRange === "coalesce" ? coalesce(asked) : asked;
        const made = b.multipart?.(asked, file) ?? { body: multipartBody(file, parts) };
        meta["content-type"] = made.type ?? `multipart/byteranges; boundary=${BOUNDARY}`;
        Object.assign(meta, made.headers);
        return await this.#send(req, record, 206, { bytes: made.body }, meta, b);
      }
      const range = parseRange(req.headers.get("range"), info.size);
      if (range === "bad") {
        return this.#finish(record, 416, textContent(416), {
          "content-range": `bytes */${info.size}`,
        }, req);
      }
      if (range !== undefined) {
        status = 206;
        content = { path, ...range };
        meta["content-range"] = `bytes ${range.start}-${range.end - 1}/${info.size}`;
      }
    }
    return await this.#send(req, record, status, content, meta, b);
  }

  async #send(
    req: Request,
    record: RequestRecord,
    status: number,
    content: Content,
    meta: Record<string, string>,
    b: Behaviour,
  ): Promise<Response> {
    const headers: Record<string, string> = { ...meta };
    let length: number | undefined = contentLength(content) + (b.extraBytes ?? 0);
    if (b.gzip) {
      content = { bytes: await gzip(content) };
      headers["content-encoding"] = "gzip";
      length = undefined;
    }
    if (b.endless) length = undefined;
    if (b.contentLength !== undefined) {
      length = b.contentLength === "none" ? undefined : b.contentLength;
    }
    if (length !== undefined) headers["content-length"] = String(length);
    return this.#finish(record, status, content, { ...headers, ...b.headers }, req, b);
  }

  #finish(
    record: RequestRecord,
    status: number,
    content: Content | undefined,
    headers: Record<string, string>,
    req: Request,
    b: Behaviour = {},
  ): Response {
    record.status = status;
    const body = content === undefined || req.method === "HEAD" || status === 304
      ? null
      : this.#stream(content, b, record);
    return new Response(body, { status, statusText: REASONS[status] ?? "", headers });
  }

  /** The body as a pull stream that counts what it hands out and stops on cancel or `stop()`. */
  #stream(content: Content, b: Behaviour, record: RequestRecord): ReadableStream<Uint8Array> {
    const cancelled = new AbortController();
    const signal = AbortSignal.any([cancelled.signal, this.#stopped.signal]);
    const chunks = misbehave(bodyChunks(content, b), b, signal);
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        const next = await chunks.next();
        if (next.done) {
          controller.close();
        } else {
          record.bytesSent += next.value.length;
          controller.enqueue(next.value);
        }
      },
      async cancel() {
        cancelled.abort();
        await chunks.return(undefined);
      },
    }, { highWaterMark: 0 });
  }

  /** For Deno.serve's onError: a deliberate reset is expected, anything else is kept. */
  onError = (error: unknown): Response => {
    if (!(error instanceof DeliberateReset)) this.errors.push(error);
    return new Response("500 Internal Server Error\n", { status: 500 });
  };
}

/** A running test origin. */
export interface TestOrigin {
  /** The origin URL, "http://127.0.0.1:<port>" or "https://…" (no trailing slash). */
  readonly url: string;
  /** The directory served. */
  readonly root: string;
  /** Every request received, oldest first. */
  readonly requests: RequestRecord[];
  /** Errors of the server other than deliberate resets. */
  readonly errors: unknown[];
  /** The handler behind the server. */
  readonly handler: OriginHandler;
  /** Makes `path` misbehave; see {@link Behaviour}. */
  behave(path: string, behaviour: Behaviour): void;
  /** The logged requests for one path. */
  requestsFor(path: string): RequestRecord[];
  /** Forgets behaviours and the request log. */
  clear(): void;
  /** Ends stalled answers and shuts the server down; safe to call twice. */
  close(): Promise<void>;
}

/**
 * Serves `root` on 127.0.0.1 at a free port.
 *
 * @example
 * ```ts
 * const origin = await startOrigin(dir, { ranges: true });
 * try { await fetch(`${origin.url}/manifest`); } finally { await origin.close(); }
 * ```
 */
export function startOrigin(root: string, options: OriginOptions = {}): Promise<TestOrigin> {
  const handler = new OriginHandler(root, options);
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
    onError: handler.onError,
    ...(options.tls ?? {}),
  }, handler.handle);
  let closing: Promise<void> | undefined;
  return Promise.resolve({
    url: `${options.tls ? "https" : "http"}://127.0.0.1:${server.addr.port}`,
    root,
    requests: handler.requests,
    errors: handler.errors,
    handler,
    behave: (path, behaviour) => handler.behave(path, behaviour),
    requestsFor: (path) => handler.requestsFor(path),
    clear: () => handler.clear(),
    close() {
      handler.stop();
      closing ??= server.shutdown();
      return closing;
    },
  });
}
