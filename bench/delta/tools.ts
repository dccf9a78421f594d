/**
 * What the delta benchmark runs: Debian's packages installed when missing,
 * and one way to time a command as a whole process (GNU time: wall seconds
 * and peak RSS).
 *
 * @module
 */

export const TIME = "/usr/bin/time";

async function has(program: string): Promise<boolean> {
  const out = await new Deno.Command("sh", {
    args: ["-c", `command -v ${program}`],
    stdout: "null",
    stderr: "null",
  }).output();
  return out.success;
}

/** Installs the Debian packages whose programs are missing (root, apt-get). */
export async function ensurePrograms(programs: Record<string, string>): Promise<void> {
  const missing: string[] = [];
  for (const [program, pkg] of Object.entries(programs)) {
    if (!await has(program) && !missing.includes(pkg)) missing.push(pkg);
  }
  if (missing.length === 0) return;
  console.error(`installing ${missing.join(" ")} with apt-get ...`);
  for (
    const args of [["update", "-qq"], [
      "install",
      "-y",
      "-qq",
      "--no-install-recommends",
      ...missing,
    ]]
  ) {
    const out = await new Deno.Command("apt-get", {
      args: ["-o", "DPkg::Lock::Timeout=300", ...args],
      env: { DEBIAN_FRONTEND: "noninteractive" },
      stdout: "null",
      stderr: "inherit",
    }).output();
    if (!out.success) throw new Error(`apt-get ${args[0]} failed; install ${missing.join(" ")}`);
  }
}

/** One timed process: wall seconds, peak RSS in KiB, and what it printed. */
export interface Timed {
  readonly seconds: number;
  readonly rssKb: number;
  readonly code: number;
  readonly stderr: string;
}

/** Runs `argv` under GNU time; `cwd` and `env` as given. */
export async function timed(
  argv: readonly string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Timed> {
  const marker = "@@tako-bench-time";
  const out = await new Deno.Command(TIME, {
    args: ["-f", `${marker} %e %M`, ...argv],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stderr);
  const line = text.split("\n").reverse().find((l) => l.startsWith(marker));
  const [, seconds, rss] = line?.split(" ") ?? [];
  return {
    seconds: Number(seconds),
    rssKb: Number(rss),
    code: out.code,
    stderr: text.split("\n").filter((l) => !l.startsWith(marker)).join("\n"),
  };
}

/** Runs a command to completion; throws with its last words when it fails. */
export async function run(argv: readonly string[], cwd?: string): Promise<void> {
  const [program, ...args] = argv;
  const out = await new Deno.Command(program!, {
    args,
    ...(cwd === undefined ? {} : { cwd }),
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const text = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" ");
    throw new Error(`${argv.join(" ")} failed: ${text}`);
  }
}
