/**
 * `python3 -m http.server` serving a directory on 127.0.0.1: the plain static
 * server operators test with first (If-Modified-Since, no ETag, no Range), for
 * the tests that must meet it and for the benchmark's python row.
 *
 * @example
 * ```ts
 * import { hasPython, startPython } from "./python_server.ts";
 * if (await hasPython()) {
 *   await using server = await startPython("/tmp/origin");
 *   await (await fetch(`${server.url}/manifest`)).body?.cancel();
 *   server.log(); // one line per request: `... "GET /manifest HTTP/1.1" 200 -`
 * }
 * ```
 *
 * @module
 */

/** A running python3 -m http.server. */
export interface PythonServer extends AsyncDisposable {
  /** "http://127.0.0.1:<port>", no trailing slash. */
  readonly url: string;
  readonly port: number;
  /** The process id, to read its CPU time from /proc (benchmarks). */
  readonly pid: number;
  /** Its request log (stderr) so far. */
  log(): string;
  /** Stops the server and waits for it. Safe to call twice. */
  close(): Promise<void>;
}

/** Whether python3 can be run here. */
export async function hasPython(): Promise<boolean> {
  try {
    const out = await new Deno.Command("python3", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

/** Starts python3 -m http.server on a free port of 127.0.0.1 and waits until it answers. */
export async function startPython(root: string): Promise<PythonServer> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const child = new Deno.Command("python3", {
    args: ["-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory", root, String(port)],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const decoder = new TextDecoder();
  const reading = (async () => {
    for await (const chunk of child.stderr) log += decoder.decode(chunk, { stream: true });
  })();
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
    await reading.catch(() => {});
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await (await fetch(`${url}/nothing-here`)).body?.cancel();
      break;
    } catch {
      if (Date.now() > deadline) {
        await close();
        throw new Error("python3 -m http.server did not start");
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return { url, port, pid: child.pid, log: () => log, close, [Symbol.asyncDispose]: close };
}
