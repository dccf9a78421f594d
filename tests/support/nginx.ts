/**
 * A real nginx serving a directory on 127.0.0.1, for tests and benchmarks
 * where server behaviour matters (sendfile, Range, ETag, If-None-Match,
 * If-Modified-Since, multipart ranges) and the test origin
 * (origin_server.ts) would only be a model of it.
 *
 * Each server runs in the foreground as one process (`daemon off`,
 * `master_process off`) with its configuration, logs and temporary files
 * under a fresh prefix directory; disposing of it stops the process, waits
 * for it and removes the prefix, so nothing is left behind. The static
 * handler is nginx's own: `sendfile on`, ETag and Range on (nginx's
 * defaults), `tcp_nopush off` (with it on, nginx held each odd-sized
 * Range answer back about 5 ms: a benchmark trap).
 *
 * @example
 * ```ts
 * import { startNginx } from "./nginx.ts";
 * await using server = await startNginx("/tmp/origin");
 * const response = await fetch(`${server.url}/manifest`, { headers: { range: "bytes=0-9" } });
 * await response.body?.cancel();
 * server.requests().length; // 1: the access log, one entry per request
 * ```
 *
 * @module
 */

/** A running nginx. */
export interface Nginx extends AsyncDisposable {
  /** "http://127.0.0.1:<port>", no trailing slash. */
  readonly url: string;
  readonly port: number;
  /** The process id, to read its CPU time from /proc (benchmarks). */
  readonly pid: number;
  /** The access log so far: one line per request, `<status> <bytes sent> "<request line>"`. */
  requests(): string[];
  /** Bytes on the wire per request so far, headers included (benchmarks count these). */
  wireBytes(): number[];
  /** The Range header of each request so far, and the Content-Type answered ("-": none). */
  ranges(): { range: string; type: string }[];
  /** Stops nginx, waits for it and removes its prefix directory. Safe to call twice. */
  close(): Promise<void>;
}

export interface NginxOptions {
  /** The nginx binary; default the first of PATH, /usr/sbin/nginx. */
  readonly binary?: string;
  /** Give up when nginx does not answer within this time; default 10 s. */
  readonly startTimeoutMs?: number;
}

const CANDIDATES = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"];

/** The path of the nginx binary, or undefined when none is installed. */
export async function findNginx(): Promise<string | undefined> {
  const which = await new Deno.Command("sh", {
    args: ["-c", "command -v nginx"],
    stdout: "piped",
    stderr: "null",
  }).output().catch(() => undefined);
  const found = which?.success ? new TextDecoder().decode(which.stdout).trim() : "";
  if (found !== "") return found;
  for (const path of CANDIDATES) {
    if (await isFile(path)) return path;
  }
  return undefined;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

function configText(prefix: string, root: string, port: number): string {
  // Quoted for nginx: the paths come from Deno.makeTempDir and the caller.
  const q = (path: string) => `"${path.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
  return `daemon off;
master_process off;
worker_processes 1;
pid ${q(`${prefix}/nginx.pid`)};
error_log ${q(`${prefix}/error.log`)} warn;
events { worker_connections 256; }
http {
  log_format tako '$status $body_bytes_sent "$request"';
  access_log ${q(`${prefix}/access.log`)} tako;
  log_format wire '$bytes_sent';
  access_log ${q(`${prefix}/wire.log`)} wire;
  log_format range '$http_range|$sent_http_content_type';
  access_log ${q(`${prefix}/range.log`)} range;
  client_body_temp_path ${q(`${prefix}/client_body`)};
  proxy_temp_path ${q(`${prefix}/proxy`)};
  fastcgi_temp_path ${q(`${prefix}/fastcgi`)};
  uwsgi_temp_path ${q(`${prefix}/uwsgi`)};
  scgi_temp_path ${q(`${prefix}/scgi`)};
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush off;
  tcp_nodelay on;
  keepalive_timeout 30s;
  server {
    listen 127.0.0.1:${port};
    server_name localhost;
    root ${q(root)};
    autoindex off;
    etag on;
    location / { }
  }
}
`;
}

/** A port that was free a moment ago (nginx binds it next; a lost race is retried). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

/**
 * Starts nginx serving `root` (an existing directory) on a free port of
 * 127.0.0.1 and waits until it answers. Throws when nginx is not installed
 * ({@link findNginx}) or does not start; then nothing is left running.
 */
export async function startNginx(root: string, options: NginxOptions = {}): Promise<Nginx> {
  const binary = options.binary ?? await findNginx();
  if (binary === undefined) {
    throw new Error("nginx is not installed (apt-get install nginx-light, or nginx)");
  }
  const absoluteRoot = await Deno.realPath(root);
  let lastError = "";
  for (let attempt = 0; attempt < 5; attempt++) {
    const prefix = await Deno.makeTempDir({ prefix: "tako-nginx-" });
    const port = freePort();
    await Deno.writeTextFile(`${prefix}/nginx.conf`, configText(prefix, absoluteRoot, port));
    const child = new Deno.Command(binary, {
      args: ["-p", `${prefix}/`, "-c", `${prefix}/nginx.conf`, "-e", `${prefix}/error.log`],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    const server = await answering(port, child, options.startTimeoutMs ?? 10_000);
    if (server === "up") return running(child, prefix, port);
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    const log = await Deno.readTextFile(`${prefix}/error.log`).catch(() => "");
    lastError = `${(await stderr).trim()} ${log.trim()}`.trim() || server;
    await Deno.remove(prefix, { recursive: true }).catch(() => {});
    // Another process took the port between freePort() and nginx's bind: try another.
    if (!/Address already in use|bind\(\)/.test(lastError)) break;
  }
  throw new Error(`nginx did not start: ${lastError}`);
}

/** Waits until something accepts on the port and nginx still runs; "up", or why not. */
async function answering(port: number, child: Deno.ChildProcess, timeoutMs: number) {
  let exited = false;
  child.status.then(() => exited = true);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited) return "nginx exited";
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      // The port may belong to someone else: only our nginx counts.
      await new Promise((resolve) => setTimeout(resolve, 20));
      if (!exited) return "up";
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  return `no answer on port ${port} within ${timeoutMs} ms`;
}

function logLines(path: string): string[] {
  try {
    return Deno.readTextFileSync(path).split("\n").filter((l) => l !== "");
  } catch {
    return [];
  }
}

function running(child: Deno.ChildProcess, prefix: string, port: number): Nginx {
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      await child.status;
      await child.stderr.cancel().catch(() => {});
      await Deno.remove(prefix, { recursive: true }).catch(() => {});
    })();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid,
    requests: () => logLines(`${prefix}/access.log`),
    wireBytes: () => logLines(`${prefix}/wire.log`).map(Number),
    ranges: () =>
      logLines(`${prefix}/range.log`).map((line) => {
        const [range, type] = line.split("|") as [string, string];
        return { range, type };
      }),
    close,
    [Symbol.asyncDispose]: close,
  };
}
