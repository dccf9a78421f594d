/**
 * The bodies of the test origin (origin_server.ts): content from bytes or a
 * file (whole or a range), and the misbehaviours applied as it is sent
 * (truncation, stalls, drips, resets, endless and gzip bodies).
 *
 * @module
 */
import type { Behaviour } from "./origin_server.ts";

const CHUNK_SIZE = 256 * 1024;

/** The error a `resetAtByte` body fails with; expected, so the server does not report it. */
export class DeliberateReset extends Error {
  constructor() {
    super("deliberate connection reset");
  }
}

/** Sleeps for `ms` (Infinity: forever) or until `signal` aborts, whichever is first. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = () => {
      if (timer !== undefined) clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    if (Number.isFinite(ms)) timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

/** What a response carries before any misbehaviour: a byte array or a slice of a file. */
export type Content =
  | { readonly bytes: Uint8Array }
  | { readonly path: string; readonly start: number; readonly end: number };

export function contentLength(content: Content): number {
  return "bytes" in content ? content.bytes.length : content.end - content.start;
}

async function* contentChunks(content: Content): AsyncGenerator<Uint8Array> {
  if ("bytes" in content) {
    for (let at = 0; at < content.bytes.length; at += CHUNK_SIZE) {
      // A copy: the stream may take ownership of what it is given.
      yield content.bytes.slice(at, at + CHUNK_SIZE);
    }
    return;
  }
  using file = await Deno.open(content.path);
  await file.seek(content.start, Deno.SeekMode.Start);
  let left = content.end - content.start;
  while (left > 0) {
    const buf = new Uint8Array(Math.min(CHUNK_SIZE, left));
    const n = await file.read(buf);
    if (n === null) return;
    left -= n;
    yield buf.subarray(0, n);
  }
}

export async function* bodyChunks(content: Content, b: Behaviour): AsyncGenerator<Uint8Array> {
  yield* contentChunks(content);
  if (b.extraBytes) yield new Uint8Array(b.extraBytes).fill(0x58);
  while (b.endless) yield new Uint8Array(CHUNK_SIZE);
}

/** The byte positions where the body changes course, nearest first. */
function nextEvent(b: Behaviour, sent: number, stalled: boolean): number {
  const marks = [b.truncateAt, b.resetAtByte, stalled ? undefined : b.stallAtByte];
  return Math.min(...marks.filter((m): m is number => m !== undefined && m >= sent));
}

/** Applies truncation, stalls, drip and reset to the body as it is sent. */
export async function* misbehave(
  chunks: AsyncGenerator<Uint8Array>,
  b: Behaviour,
  signal: AbortSignal,
): AsyncGenerator<Uint8Array> {
  let sent = 0;
  let stalled = false;
  const atMark = async (): Promise<"stop" | "go"> => {
    if (sent === b.truncateAt) return "stop";
    if (sent === b.resetAtByte) throw new DeliberateReset();
    if (sent === b.stallAtByte && !stalled) {
      stalled = true;
      await sleep(b.stallMs ?? Infinity, signal);
    }
    return signal.aborted ? "stop" : "go";
  };
  try {
    if (await atMark() === "stop") return;
    for await (let chunk of chunks) {
      while (chunk.length > 0) {
        const room = nextEvent(b, sent, stalled) - sent;
        const piece = b.dripMs === undefined ? Infinity : b.dripBytes ?? 1;
        const step = Math.min(room, chunk.length, piece);
        if (b.dripMs !== undefined && sent > 0) await sleep(b.dripMs, signal);
        if (signal.aborted) return;
        // Whole chunks pass as they are; a piece is copied, since the stream may take ownership.
        const whole = step === chunk.length;
        yield whole ? chunk : chunk.slice(0, step);
        chunk = whole ? new Uint8Array(0) : chunk.subarray(step);
        sent += step;
        if (sent === nextEvent(b, sent, stalled) && await atMark() === "stop") return;
      }
    }
  } finally {
    await chunks.return(undefined);
  }
}

export async function gzip(content: Content): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of contentChunks(content)) parts.push(chunk);
  const stream = new Blob(parts as BlobPart[]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export const REASONS: Readonly<Record<number, string>> = {
  200: "OK",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  410: "Gone",
  416: "Range Not Satisfiable",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

export function textContent(status: number): Content {
  return { bytes: new TextEncoder().encode(`${status} ${REASONS[status] ?? "Status"}\n`) };
}

/** A parsed single `bytes=a-b` / `bytes=a-` / `bytes=-n` range; undefined if absent or not of that form. */
export function parseRange(
  header: string | null,
  size: number,
): { start: number; end: number } | "bad" | undefined {
  const m = header?.match(/^bytes=(\d*)-(\d*)$/);
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    return suffix === 0 ? "bad" : { start: Math.max(0, size - suffix), end: size };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size : Math.min(size, Number(m[2]) + 1);
  return start >= size || end <= start ? "bad" : { start, end };
}
