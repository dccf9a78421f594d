/**
 * The service manager: reading units' state, restarting them, and watching
 * them after a restart (SPEC §6 step 6), through `systemctl` or
 * `systemctl --user`, behind a small interface so the fetch procedure can be
 * tested with a stand-in. The judging is pure, in core/unit_health.ts.
 *
 * @module
 */
import { printable, TakoError } from "../core/errors.ts";
import type { UnitScope } from "../core/rollout_keys.ts";
import {
  type Baseline,
  baselineOf,
  parseUnitStates,
  problemOf,
  UNIT_PROPERTIES,
  type UnitState,
} from "../core/unit_health.ts";
import { formatSpan } from "../core/timespan.ts";
import { rolloutPlace } from "../core/rollout.ts";

/** What the fetch procedure needs from the service manager (of the system, or `--user`). */
export interface ServiceManager {
  /** Reads the units' state, one per name, in order; throws TakoError("runtime") on failure. */
  show(units: readonly string[], scope?: UnitScope): Promise<UnitState[]>;
  /** Restarts all units in one call; throws TakoError("runtime") on failure. */
  restart(units: readonly string[], scope?: UnitScope): Promise<void>;
}

/** `systemctl`'s arguments for a scope: `--user` for the calling user's manager. */
function scopeArgs(scope: UnitScope): string[] {
  return scope === "user" ? ["--user"] : [];
}

/** The arguments of the one restart call: `--` keeps a unit name from being read as an option. */
export function restartArgs(units: readonly string[], scope: UnitScope = "system"): string[] {
  return [...scopeArgs(scope), "restart", "--", ...units];
}

function showArgs(units: readonly string[], scope: UnitScope): string[] {
  return [...scopeArgs(scope), "show", "-p", UNIT_PROPERTIES.join(","), "--", ...units];
}

async function run(args: string[], what: string): Promise<string> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("systemctl", {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    const reason = spawnFailure(e, "systemctl was not found on PATH");
    throw new TakoError("runtime", `Cannot run systemctl to ${what}: ${reason}.`, { cause: e });
  }
  if (!output.success) {
    const detail = new TextDecoder().decode(output.stderr).trim().split("\n")[0] ?? "";
    throw new TakoError(
      "runtime",
      `systemctl ${what} failed with exit code ${output.code}` +
        (detail === "" ? "." : `: ${printable(detail, 200)}`),
    );
  }
  return new TextDecoder().decode(output.stdout);
}

/**
 * The service managers through `systemctl` found on PATH, as systemd's own
 * tools do; `--user` for the calling user's manager.
 */
export const systemctl: ServiceManager = {
  async show(units, scope = "system") {
    const flag = scope === "user" ? "--user " : "";
    const names = printable(units.join(" "), 300);
    const text = await run(showArgs(units, scope), `${flag}show ${names}`);
    const states = parseUnitStates(text, units);
    if (states === undefined) {
      throw new TakoError(
        "runtime",
        `systemctl ${flag}show ${names} gave output Tako cannot read; expected one block of properties per unit.`,
      );
    }
    return states;
  },
  async restart(units, scope = "system") {
    const flag = scope === "user" ? "--user " : "";
    await run(restartArgs(units, scope), `${flag}restart ${printable(units.join(" "), 300)}`);
  },
};

/** How a watch is run; the clock and sleep are injectable for tests. */
export interface WatchOptions {
  /** HealthCheckSec= in ms: how long each unit must stay up; 0: no watch, only the command. */
  readonly windowMs: number;
  /** HealthCommand=, if any: program and arguments. */
  readonly command: readonly string[] | undefined;
  /** The time limit of the command when there is no watch window. */
  readonly commandLimitMs: number;
  /** When the restart was asked for (ms, performance.now()), for the times in messages. */
  readonly restartedAtMs: number;
}

/** Why a watch failed: one sentence fragment, plus output lines of a failed command. */
export interface Unhealthy {
  readonly problem: string;
  readonly output: readonly string[];
}

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/**
 * Watches restarted units: each must become active and then stay active for
 * `windowMs`, with the same main process and no restart by systemd; the
 * health command, if any, starts once all are active and must exit 0 within
 * the window. Returns undefined when healthy.
 */
export async function watchUnits(
  manager: ServiceManager,
  units: readonly string[],
  scope: UnitScope,
  options: WatchOptions,
): Promise<Unhealthy | undefined> {
  const pollMs = Math.min(500, Math.max(50, Math.floor(options.windowMs / 10)));
  const startLimitMs = Math.max(options.windowMs, options.commandLimitMs);
  const baselines = new Map<string, Baseline>();
  const elapsed = () => performance.now() - options.restartedAtMs;
  let upSince: number | undefined;
  let check: Promise<Unhealthy | undefined> | undefined;
  let checkResult: Unhealthy | undefined | "running" = "running";
  const controller = new AbortController();
  try {
    while (true) {
      for (const s of await manager.show(units, scope)) {
        const problem = problemOf(s, baselines.get(s.name), elapsed());
        if (problem !== undefined) return { problem, output: [] };
        const baseline = baselines.get(s.name) ?? baselineOf(s);
        if (baseline !== undefined) baselines.set(s.name, baseline);
      }
      const now = performance.now();
      if (baselines.size < units.length) {
        if (now - options.restartedAtMs > startLimitMs) {
          return { problem: notActive(units, baselines, startLimitMs), output: [] };
        }
      } else {
        if (upSince === undefined) {
          upSince = now;
          if (options.command !== undefined) {
            const limit = options.windowMs > 0 ? options.windowMs : options.commandLimitMs;
            check = runHealthCommand(options.command, limit, controller.signal);
            check.then((r) => checkResult = r, () => {});
          }
        }
        if (checkResult !== "running" && checkResult !== undefined) return checkResult;
        const commandDone = check === undefined || checkResult !== "running";
        if (commandDone && now - upSince >= options.windowMs) return undefined;
      }
      await sleep(pollMs);
    }
  } finally {
    controller.abort();
    await check?.catch(() => {});
  }
}

function notActive(
  units: readonly string[],
  baselines: Map<string, Baseline>,
  limitMs: number,
): string {
  const waiting = units.filter((u) => !baselines.has(u)).map((u) => printable(u, 255));
  return `${waiting.join(", ")} did not become active within ${formatSpan(limitMs)} of the restart`;
}

/** How many lines of a failed health command's output the log shows. */
const OUTPUT_LINES = 5;

/**
 * Runs the health command (no shell) with stdin closed; healthy when it
 * exits 0 within `limitMs`. It is killed at the limit or when `signal` aborts.
 */
async function runHealthCommand(
  argv: readonly string[],
  limitMs: number,
  signal: AbortSignal,
): Promise<Unhealthy | undefined> {
  const shown = printable(argv.join(" "), 200);
  const started = performance.now();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(argv[0]!, {
      args: argv.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    const reason = spawnFailure(e, "the program does not exist");
    return { problem: `HealthCommand=${shown} could not be started (${reason})`, output: [] };
  }
  let timedOut = false;
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  };
  const timer: ReturnType<typeof setTimeout> = setTimeout(() => {
    timedOut = true;
    kill();
  }, limitMs);
  signal.addEventListener("abort", kill, { once: true });
  const tails = [tail(child.stdout), tail(child.stderr)];
  const outputs = Promise.all(tails.map((t) => t.kept));
  const status = await child.status;
  clearTimeout(timer);
  signal.removeEventListener("abort", kill);
  // A child the command left behind may hold its output open: wait for it only briefly.
  let graceTimer: ReturnType<typeof setTimeout> | undefined;
  const grace = new Promise<void>((done) => graceTimer = setTimeout(done, OUTPUT_GRACE_MS));
  await Promise.race([outputs, grace]);
  clearTimeout(graceTimer);
  for (const t of tails) t.stop();
  if (status.success && !timedOut) return undefined;
  const [stdout = new Uint8Array(0), stderr = new Uint8Array(0)] = await outputs;
  const lines = lastLines(stdout, stderr);
  const took = formatSpan(performance.now() - started);
  const problem = timedOut
    ? `HealthCommand=${shown} did not finish within ${formatSpan(limitMs)}`
    : status.signal !== null
    ? `HealthCommand=${shown} was killed by ${status.signal} after ${took}`
    : `HealthCommand=${shown} exited with code ${status.code} after ${took}`;
  return { problem, output: lines };
}

/** How long the output may stay open after the health command ended. */
const OUTPUT_GRACE_MS = 200;

/**
 * Reads a stream to its end, keeping only its last bytes (a chatty command
 * cannot fill memory); `stop()` ends the reading early.
 */
function tail(stream: ReadableStream<Uint8Array>): { kept: Promise<Uint8Array>; stop(): void } {
  const keep = 16 * 1024;
  const reader = stream.getReader();
  const kept = (async () => {
    let last = new Uint8Array(0);
    try {
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        const joined = new Uint8Array(last.length + r.value.length);
        joined.set(last);
        joined.set(r.value, last.length);
        last = joined.subarray(Math.max(0, joined.length - keep));
      }
    } catch {
      // Cancelled or broken off: what was read is enough.
    }
    return last;
  })();
  return { kept, stop: () => void reader.cancel().catch(() => {}) };
}

function lastLines(stdout: Uint8Array, stderr: Uint8Array): string[] {
  const decoder = new TextDecoder();
  const lines = [decoder.decode(stdout), decoder.decode(stderr)]
    .flatMap((text) => text.split("\n"))
    .map((line) => line.trimEnd())
    .filter((line) => line !== "");
  return lines.slice(-OUTPUT_LINES).map((line) => printable(line, 200));
}

/**
 * This host's place in a phased rollout for each version, from its machine id;
 * loads the hash only now (a run that needs no place loads none).
 */
export async function hostPlace(): Promise<(version: string) => number> {
  const machineId = await readMachineId();
  const { createHash } = await import("node:crypto");
  const sha256 = (text: string) => createHash("sha256").update(text).digest();
  return (version) => rolloutPlace(machineId, version, sha256);
}

/**
 * This host's machine id, for its place in a phased rollout: the environment
 * variable TAKO_MACHINE_ID when set (containers without one, tests), else
 * /etc/machine-id. Throws a runtime error saying how to provide one.
 */
async function readMachineId(): Promise<string> {
  let fromEnv: string | undefined;
  try {
    fromEnv = Deno.env.get("TAKO_MACHINE_ID");
  } catch {
    // Not permitted: fall back to the file.
  }
  if (fromEnv !== undefined && fromEnv.trim() !== "") return fromEnv.trim();
  let text = "";
  try {
    text = (await Deno.readTextFile("/etc/machine-id")).trim();
  } catch {
    // Reported below.
  }
  if (/^[0-9a-f]{32}$/.test(text)) return text;
  throw new TakoError(
    "runtime",
    "RolloutSpreadSec= needs this host's machine id, but /etc/machine-id is missing or not 32 hex digits; run systemd-machine-id-setup or set TAKO_MACHINE_ID.",
  );
}

/** Why a program could not be started: `notFound` when it does not exist, else the system's words. */
function spawnFailure(e: unknown, notFound: string): string {
  if (e instanceof Deno.errors.NotFound) return notFound;
  return e instanceof Error ? e.message : String(e);
}
