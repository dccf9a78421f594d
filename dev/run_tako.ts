/**
 * Runs Tako the way the compiled binary runs: `deno run` with exactly the
 * permission flags of the `tako` task in deno.json (the `compile` task uses
 * the same ones). Used by the CLI tests, the demo and the benchmarks.
 *
 * @module
 */

const ROOT = new URL("..", import.meta.url);

/** The permission flags of the `tako` task, read from deno.json. */
export async function takoFlags(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  const task: string = config.tasks.tako;
  const words = task.split(/\s+/);
  if (words[0] !== "deno" || words[1] !== "run" || words.at(-1) !== "main.ts") {
    throw new Error(`unexpected tako task in deno.json: ${task}`);
  }
  return words.slice(2, -1);
}

/** The path of main.ts. */
export const MAIN = new URL("main.ts", ROOT).pathname;

/** What a Tako process printed and how it ended. */
export interface TakoResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly env?: Record<string, string>;
  readonly cwd?: string;
  /** Text for stdin; stdin is closed when absent. */
  readonly stdin?: string;
}

/** A Deno.Command for Tako with the binary's permissions; NO_COLOR keeps output plain. */
export async function takoCommand(
  args: readonly string[],
  options: RunOptions & { stdout?: "piped" | "inherit"; stderr?: "piped" | "inherit" } = {},
): Promise<Deno.Command> {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--cached-only", ...await takoFlags(), MAIN, ...args],
    env: { NO_COLOR: "1", ...options.env },
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: options.stdout ?? "piped",
    stderr: options.stderr ?? "piped",
  });
}

/** Runs Tako to completion and collects its output. */
export async function runTako(
  args: readonly string[],
  options: RunOptions = {},
): Promise<TakoResult> {
  const child = (await takoCommand(args, options)).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}
