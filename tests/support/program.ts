/**
 * Running an outside program in tests (groff, promtool, jq, make, man,
 * systemd-analyze): its exit code and output, or undefined when it is not
 * installed, so that the test can skip what needs it and say so.
 *
 * @example
 * ```ts
 * import { runProgram } from "./program.ts";
 * const out = await runProgram("jq", ["-e", ".ok"], { stdin: '{"ok": true}' });
 * if (out !== undefined) out.code; // 0
 * ```
 *
 * @module
 */

/** What a program did. */
export interface ProgramOutput {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ProgramOptions {
  /** Text written to its stdin (otherwise stdin is closed). */
  readonly stdin?: string;
  readonly cwd?: string;
  /** Variables added to the test's environment. */
  readonly env?: Record<string, string>;
}

/** Runs `program` to its end; undefined when no such program is installed. */
export async function runProgram(
  program: string,
  args: readonly string[],
  options: ProgramOptions = {},
): Promise<ProgramOutput | undefined> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program, {
      args: [...args],
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      ...(options.env === undefined ? {} : { env: options.env }),
      stdin: options.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const out = await child.output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}
