/**
 * Shared pieces of the fault-injection tests (docs/reliability.md): the
 * faultfs shim that numbers a run's file-system steps and injects a kill,
 * ENOSPC or EIO at step K; checks that
 * tolerate the temporaries a killed run leaves; snapshots that prove nothing
 * outside a destination was written.
 *
 * Heavy variants run only under `make torture` (TAKO_TORTURE=1); `make test`
 * runs short ones.
 *
 * @module
 */
import { takoCommand } from "../../dev/run_tako.ts";
import { assert } from "../support/assert.ts";
import { checkInvariants } from "../support/publish.ts";

/** Whether the heavy variants run (`make torture`). */
export const TORTURE: boolean = envOr("TAKO_TORTURE", "") === "1";

function envOr(name: string, fallback: string): string {
  try {
    return Deno.env.get(name) ?? fallback;
  } catch {
    return fallback;
  }
}

export { fuzzRuns } from "../support/fuzz.ts";

/** `light` under `make test`, `heavy` under `make torture`. */
export function scaled(light: number, heavy: number): number {
  return TORTURE ? heavy : light;
}

/**
 * All of `items` under `make torture`; under `make test` at most `n` of them,
 * evenly spread and always the first and the last (the smoke set).
 */
export function smokeSample<T>(items: readonly T[], n: number): readonly T[] {
  if (TORTURE || items.length <= n) return items;
  const last = items.length - 1;
  const picks = new Set(Array.from({ length: n }, (_, i) => Math.round((i * last) / (n - 1))));
  return [...picks].map((i) => items[i]!);
}

/** Whether a program runs here (`<program> --version` or `-V` exits 0). */
export function hasProgram(program: string, flag = "--version"): boolean {
  try {
    return new Deno.Command(program, { args: [flag], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** Whether a C compiler is there to build the faultfs shim. */
export const HAS_CC: boolean = hasProgram("cc");
/** Whether Debian's strace is there. */
export const HAS_STRACE: boolean = hasProgram("strace", "-V");

// ---------------------------------------------------------------------------
// faultfs

let shim: Promise<string> | undefined;

/** Builds tests/torture/faultfs.c once per test process; returns the .so path. */
export function faultfsLibrary(): Promise<string> {
  shim ??= (async () => {
    const out = await Deno.makeTempDir({ prefix: "tako-faultfs-" });
    const lib = `${out}/faultfs.so`;
    const source = new URL("./faultfs.c", import.meta.url).pathname;
    const built = await new Deno.Command("cc", {
      args: ["-O2", "-shared", "-fPIC", "-o", lib, source, "-ldl"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!built.success) {
      throw new Error(`cc faultfs.c failed:\n${new TextDecoder().decode(built.stderr)}`);
    }
    // The library is loaded by each child; the directory goes when the test process exits.
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(out, { recursive: true });
      } catch { /* already gone */ }
    });
    return lib;
  })();
  return shim;
}

/** What faultfs does at step K. */
export type FaultAction = "kill-before" | "kill-after" | "enospc" | "eio";

/** A fault to inject; without one, faultfs only numbers the steps. */
export interface Fault {
  readonly at: number;
  readonly action: FaultAction;
  /** Which operations count as steps: all (default), writes only, or flushes only. */
  readonly ops?: "all" | "write" | "sync";
}

/** One numbered file-system step: e.g. `{ n: 7, op: "write", path: ".../store/.tmp-…" }`. */
export interface Step {
  readonly n: number;
  readonly op: string;
  readonly path: string;
}

/** How a run under faultfs ended. */
export interface FaultedRun {
  readonly code: number;
  readonly signal: Deno.Signal | null;
  readonly stderr: string;
  readonly steps: Step[];
}

/**
 * Runs `tako <args>` with faultfs watching `root` (an absolute path without
 * symbolic links), optionally injecting `fault`.
 */
export async function runFaulted(
  args: readonly string[],
  root: string,
  options: { env?: Record<string, string>; cwd?: string; fault?: Fault },
): Promise<FaultedRun> {
  const lib = await faultfsLibrary();
  const log = await Deno.makeTempFile({ prefix: "tako-steps-" });
  try {
    const { fault } = options;
    const env: Record<string, string> = {
      ...options.env,
      LD_PRELOAD: lib,
      FAULTFS_ROOT: root,
      FAULTFS_LOG: log,
      ...(fault === undefined ? {} : {
        FAULTFS_AT: String(fault.at),
        FAULTFS_ACTION: fault.action,
        FAULTFS_OPS: fault.ops ?? "all",
      }),
    };
    const output = await (await takoCommand(args, {
      env,
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    })).output();
    return {
      code: output.code,
      signal: output.signal,
      stderr: new TextDecoder().decode(output.stderr),
      steps: parseSteps(await Deno.readTextFile(log)),
    };
  } finally {
    await Deno.remove(log).catch(() => {});
  }
}

function parseSteps(text: string): Step[] {
  return text.split("\n").filter((l) => l !== "").map((line) => {
    const [n, op, ...path] = line.split(" ");
    return { n: Number(n), op: op!, path: path.join(" ") };
  });
}

/** A step for messages, with the temporary's random name hidden: "17 rename …/store/.tmp-*". */
export function describeStep(step: Step, root: string): string {
  return `${step.n} ${step.op} ${
    step.path.replace(root, "<dest>").replace(/\.tmp-[0-9a-f]+/, ".tmp-*")
  }`;
}

// ---------------------------------------------------------------------------
// Checks

/** Copies a tree with `cp -a` (links stay links, modes stay). */
export async function copyTree(from: string, to: string): Promise<void> {
  const result = await new Deno.Command("cp", { args: ["-a", from, to], stderr: "piped" }).output();
  if (!result.success) {
    throw new Error(`cp -a ${from} ${to}: ${new TextDecoder().decode(result.stderr)}`);
  }
}

/**
 * SPEC §6's invariants after a killed run, where temporaries may remain (the
 * next run cleans them): checks a copy of `dest` without its `.tmp-*` names
 * with the strict {@link checkInvariants}. `damaged` names an image that the
 * test damaged before the run: its wrong contents are forgiven (restored in the
 * copy), but not its absence while `latest` points to it.
 */
export async function checkInvariantsAllowingTemporaries(
  dest: string,
  damaged?: { readonly sha256: string; readonly content: Uint8Array },
): Promise<void> {
  try {
    await Deno.lstat(dest);
  } catch {
    return; // no destination yet: nothing can be wrong in it
  }
  const scratch = await Deno.makeTempDir({ prefix: "tako-check-" });
  try {
    await copyTree(dest, `${scratch}/d`);
    for (const dir of [`${scratch}/d`, `${scratch}/d/store`]) {
      for (const entry of await Array.fromAsync(Deno.readDir(dir)).catch(() => [])) {
        if (entry.name.startsWith(".tmp-")) {
          await Deno.remove(`${dir}/${entry.name}`, { recursive: true });
        }
      }
    }
    if (damaged !== undefined) {
      const copy = `${scratch}/d/store/${damaged.sha256}`;
      const info = await Deno.lstat(copy).catch(() => undefined);
      if (info?.isFile) await Deno.writeFile(copy, damaged.content);
    }
    await checkInvariants(`${scratch}/d`);
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
}

/**
 * The temporaries in a destination and its store: `.tmp-*` names and, unless
 * `keepPartials`, the `.partial-*` downloads (and their records). A run that
 * failed may keep a partial download on purpose, for the next run to resume;
 * a run that succeeded leaves none.
 */
export async function temporariesIn(dest: string, keepPartials = false): Promise<string[]> {
  const found: string[] = [];
  const pattern = keepPartials ? /^\.tmp-/ : /^\.(tmp|partial)-/;
  for (const dir of [dest, `${dest}/store`]) {
    for (const entry of await Array.fromAsync(Deno.readDir(dir)).catch(() => [])) {
      if (pattern.test(entry.name)) found.push(`${dir}/${entry.name}`);
    }
  }
  return found;
}

/** Everything about a tree that a write would change: kinds, modes, sizes, contents, link targets. */
export type TreeSnapshot = Record<string, string>;

/** Snapshots a tree (not following links); a missing tree is an empty snapshot. */
export async function snapshotTree(root: string): Promise<TreeSnapshot> {
  const out: TreeSnapshot = {};
  async function walk(path: string, name: string): Promise<void> {
    const info = await Deno.lstat(path);
    const mode = (info.mode! & 0o7777).toString(8);
    if (info.isSymlink) {
      out[name] = `link ${await Deno.readLink(path)}`;
    } else if (info.isDirectory) {
      out[name] = `dir ${mode}`;
      for (const entry of await Array.fromAsync(Deno.readDir(path))) {
        await walk(`${path}/${entry.name}`, `${name}/${entry.name}`);
      }
    } else {
      const text = new TextDecoder().decode(await Deno.readFile(path));
      out[name] = `file ${mode} ${info.size} ${info.mtime?.getTime()} ${
        JSON.stringify(text.slice(0, 64))
      }`;
    }
  }
  try {
    await walk(root, ".");
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out;
}

/** Asserts that an outcome is a clean Tako error: the code is one of `codes`, no crash, no stack. */
export function assertCleanFailure(
  result: { code: number; stderr: string },
  codes: readonly number[],
) {
  const shown = `exit ${result.code}\nstderr: ${result.stderr}`;
  assert.ok(codes.includes(result.code), `expected exit ${codes.join(" or ")}:\n${shown}`);
  assert.match(result.stderr, /^tako: /m, shown);
  assert.doesNotMatch(
    result.stderr,
    /Stack backtrace|Uncaught|panicked|internal error|^\s+at /m,
    shown,
  );
  // No raw control characters from the network or a file (tabs and line feeds are ours).
  // deno-lint-ignore no-control-regex -- control characters are what it looks for
  assert.doesNotMatch(result.stderr, /[\x00-\x08\x0b-\x1f\x7f]/, shown);
}

/** A pseudo-random generator with a seed, so a failing torture run can be repeated. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    // xorshift32
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x1_0000_0000;
  };
}

/** The seed of this run: TAKO_TORTURE_SEED when set, else from the clock (printed by the tests). */
export function tortureSeed(): number {
  const given = Number(envOr("TAKO_TORTURE_SEED", ""));
  return Number.isSafeInteger(given) && given > 0 ? given : Date.now() % 1_000_000_007;
}
