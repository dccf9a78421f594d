/**
 * nginx on 127.0.0.1 serving a directory, with an access log that records
 * each request's bytes on the wire (headers included) and its Range header,
 * so that a benchmark can count what a client really fetched.
 *
 * @module
 */

export interface LoggedRequest {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  /** Bytes nginx sent for the request, headers included. */
  readonly bytes: number;
}

export interface Nginx extends AsyncDisposable {
  readonly url: string;
  /** The requests logged since the previous call. */
  takeLog(): Promise<LoggedRequest[]>;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Starts nginx in the foreground of a child process; disposing stops it. */
export async function startNginx(root: string, work: string): Promise<Nginx> {
  await Deno.mkdir(`${work}/temp`, { recursive: true });
  const port = freePort();
  const log = `${work}/access.log`;
  // tcp_nopush off: with it on, nginx held each odd-sized range answer ~5 ms.
  const conf = `daemon off;
master_process off;
worker_processes 1;
pid ${work}/nginx.pid;
error_log ${work}/error.log warn;
events { worker_connections 512; }
http {
  log_format tally '$request_method $uri $status $bytes_sent';
  access_log ${log} tally;
  sendfile on;
  tcp_nopush off;
  keepalive_requests 100000;
  default_type application/octet-stream;
  client_body_temp_path ${work}/temp/body;
  proxy_temp_path ${work}/temp/proxy;
  fastcgi_temp_path ${work}/temp/fastcgi;
  uwsgi_temp_path ${work}/temp/uwsgi;
  scgi_temp_path ${work}/temp/scgi;
  server {
    listen 127.0.0.1:${port};
    root ${root};
  }
}
`;
  await Deno.writeTextFile(`${work}/nginx.conf`, conf);
  await Deno.writeTextFile(log, "");
  const child = new Deno.Command("nginx", {
    args: ["-p", work, "-c", `${work}/nginx.conf`, "-e", `${work}/error.log`],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0;; i++) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      break;
    } catch {
      if (i > 200) throw new Error("nginx did not start listening within 10 s");
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  let offset = 0;
  return {
    url,
    async takeLog() {
      const text = await Deno.readTextFile(log);
      const fresh = text.slice(offset);
      offset = text.length;
      return fresh.split("\n").filter((l) => l !== "").map((l) => {
        const [method, path, status, bytes] = l.split(" ");
        return { method: method!, path: path!, status: Number(status), bytes: Number(bytes) };
      });
    },
    async [Symbol.asyncDispose]() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}
