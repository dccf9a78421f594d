/**
 * Which modules a run of Tako evaluates, as V8 itself reports them: the run
 * is started as `deno run --inspect-wait` on a loopback port (with the
 * binary's permission flags, dev/run_tako.ts), and every script V8 parses,
 * dynamic imports included, arrives as a `Debugger.scriptParsed` event on
 * the inspector's WebSocket. Nothing in Tako is changed for it.
 *
 * @example
 * ```ts
 * import { modulesLoadedBy } from "./loaded_modules.ts";
 * const run = await modulesLoadedBy(["--version"]);
 * run.modules.includes("main.ts"); // true
 * ```
 *
 * @module
 */
import { MAIN, takoFlags, type TakoResult } from "../../dev/run_tako.ts";

const ROOT = new URL("../../", import.meta.url);
/** How long to wait for the inspector to listen (the child is a fresh Deno). */
const LISTEN_TIMEOUT_MS = 15_000;

/** How a traced run ended, and the modules it evaluated. */
export interface TracedRun extends TakoResult {
  /** Tako's modules (relative to the project, e.g. `lib/shell/http.ts`), in the order V8 parsed them. */
  readonly modules: string[];
  /** Scripts from anywhere else that are not Deno's own (`ext:`): npm packages, remote modules. */
  readonly foreign: string[];
}

/** Runs `tako <args>` to its end under the inspector, collecting the scripts V8 parsed. */
export async function modulesLoadedBy(
  args: readonly string[],
  options: { readonly cwd?: string; readonly env?: Record<string, string> } = {},
): Promise<TracedRun> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--cached-only",
      `--inspect-wait=127.0.0.1:${port}`,
      ...await takoFlags(),
      MAIN,
      ...args,
    ],
    env: { NO_COLOR: "1", ...options.env },
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  const urls: string[] = [];
  try {
    const socket = new WebSocket(await debuggerUrl(port));
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new Error(`cannot connect to the inspector on port ${port}`));
    });
    const closed = new Promise((resolve) => socket.onclose = resolve);
    socket.onmessage = (event) => {
      const message = JSON.parse(String(event.data));
      if (message.method === "Debugger.scriptParsed") urls.push(message.params.url);
      // Deno keeps a finished program alive while a debugger is attached: let it exit.
      if (message.method === "Runtime.executionContextDestroyed") socket.close();
    };
    ["Runtime.enable", "Debugger.enable", "Runtime.runIfWaitingForDebugger"].forEach(
      (method, id) => socket.send(JSON.stringify({ id, method })),
    );
    await closed;
  } catch (e) {
    child.kill();
    await output;
    throw e;
  }
  const done = await output;
  const decoder = new TextDecoder();
  const files = urls.filter((url) => url !== "" && !url.startsWith("ext:"));
  return {
    code: done.code,
    stdout: decoder.decode(done.stdout),
    stderr: decoder.decode(done.stderr),
    modules: files.filter((url) => url.startsWith(ROOT.href)).map((url) =>
      url.slice(ROOT.href.length)
    ),
    foreign: files.filter((url) => !url.startsWith(ROOT.href)),
  };
}

/** A loopback port that was free a moment ago. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** The WebSocket address of the waiting program, from the inspector's `/json/list`. */
async function debuggerUrl(port: number): Promise<string> {
  const deadline = Date.now() + LISTEN_TIMEOUT_MS;
  let failure: unknown;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/json/list`);
      const targets = await response.json() as { webSocketDebuggerUrl: string }[];
      if (targets[0] !== undefined) return targets[0].webSocketDebuggerUrl;
    } catch (e) {
      failure = e; // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`the inspector did not listen on port ${port}`, { cause: failure });
}
