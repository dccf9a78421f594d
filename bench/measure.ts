/**
 * How `make bench` measures one run of a command, and what it records beside
 * the time so that a reader can judge the figure: the command's own CPU time,
 * its peak RSS, the CPU time of the server it talked to, and how much CPU
 * every other process on the machine used meanwhile (the load the run
 * competed with).
 *
 * - wall time: `performance.now()` from spawning the process to its exit;
 * - peak RSS and own CPU: GNU time (`%M`, `%U + %S`) of the process tree
 *   (the largest RSS of it and its waited-for children);
 * - the others' CPU: busy time of all CPUs (/proc/stat: user, nice, system,
 *   irq, softirq, steal) over the run, less the command's own CPU, the
 *   server's (/proc/<pid>/stat) and this benchmark process's, divided by the
 *   wall time: in CPUs (0 = nothing else ran, 2 = both CPUs busy elsewhere).
 *   Its resolution is the kernel's clock tick (10 ms), so it means little for
 *   a run of a few milliseconds; the summaries add up a case's runs.
 *
 * @module
 */

export const TIME = "/usr/bin/time";
/** USER_HZ: the unit of the CPU times in /proc. */
const TICKS_PER_SECOND = 100;

/** One measured run. */
export interface Run {
  readonly seconds: number;
  /** Peak RSS of the process tree, KiB (GNU time %M); null without GNU time. */
  readonly rssKb: number | null;
  /** User + system CPU seconds of the process tree; null without GNU time. */
  readonly cpuSeconds: number | null;
  /** CPU seconds the server used during the run; null when there was none. */
  readonly serverCpuSeconds: number | null;
  /** CPU seconds every other process used during the run. */
  readonly othersCpuSeconds: number;
  /** The 1-minute load average when the run started. */
  readonly loadavg1: number;
}

export interface MeasureOptions {
  readonly env?: Record<string, string>;
  readonly cwd?: string;
  /** The server process whose CPU time is the command's doing, not other load. */
  readonly serverPid?: number;
  /** Where GNU time writes its figures; GNU time is not used when undefined. */
  readonly timeFile?: string;
}

/** The busy CPU seconds of the whole machine since boot (/proc/stat). */
async function machineBusySeconds(): Promise<number> {
  const text = await Deno.readTextFile("/proc/stat");
  const fields = text.slice(0, text.indexOf("\n")).trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return (user + nice + system + irq + softirq + steal) / TICKS_PER_SECOND;
}

/** User + system CPU seconds of one process (/proc/<pid>/stat), 0 when it is gone. */
export async function processCpuSeconds(pid: number | "self"): Promise<number> {
  try {
    const text = await Deno.readTextFile(`/proc/${pid}/stat`);
    // The command name (field 2) is in parentheses and may hold spaces.
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** Runs `argv` once to its end and measures it; throws with its stderr when it fails. */
export async function measure(argv: readonly string[], options: MeasureOptions = {}): Promise<Run> {
  const timed = options.timeFile !== undefined;
  const full = timed ? [TIME, "-f", "%M %U %S", "-o", options.timeFile!, ...argv] : [...argv];
  const loadavg1 = Deno.loadavg()[0] ?? 0;
  const serverBefore = options.serverPid === undefined
    ? 0
    : await processCpuSeconds(options.serverPid);
  const selfBefore = await processCpuSeconds("self");
  const busyBefore = await machineBusySeconds();
  const started = performance.now();
  const out = await new Deno.Command(full[0]!, {
    args: full.slice(1),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  }).output();
  const seconds = (performance.now() - started) / 1000;
  const busy = await machineBusySeconds() - busyBefore;
  const self = await processCpuSeconds("self") - selfBefore;
  const server = options.serverPid === undefined
    ? null
    : await processCpuSeconds(options.serverPid) - serverBefore;
  if (!out.success) {
    throw new Error(`${argv.join(" ")} failed:\n${new TextDecoder().decode(out.stderr)}`);
  }
  let rssKb: number | null = null;
  let cpuSeconds: number | null = null;
  if (timed) {
    const last = (await Deno.readTextFile(options.timeFile!)).trim().split("\n").at(-1) ?? "";
    const [rss, user, system] = last.split(" ").map(Number);
    rssKb = rss ?? null;
    cpuSeconds = (user ?? 0) + (system ?? 0);
  }
  const others = Math.max(0, busy - (cpuSeconds ?? 0) - (server ?? 0) - self);
  return {
    seconds,
    rssKb,
    cpuSeconds,
    serverCpuSeconds: server,
    othersCpuSeconds: others,
    loadavg1,
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The CPUs other processes kept busy over a set of runs: their CPU time over the wall time. */
export function othersCpus(runs: readonly Run[]): number {
  const wall = runs.reduce((sum, r) => sum + r.seconds, 0);
  const others = runs.reduce((sum, r) => sum + r.othersCpuSeconds, 0);
  return wall === 0 ? 0 : others / wall;
}

/**
 * Writes and removes a scratch file of `bytes` in `dir`, so that the memory
 * the next run writes its output into is memory this machine's kernel has
 * just used. On the virtual machines measured, memory that stays free for a
 * few seconds is handed back to the host, and the first write into it cost
 * the kernel 4–8 s of system time per GiB instead of 0.6–0.7 s (`dd bs=1M` of
 * 1 GiB, docs/performance.md "Fresh memory"): without this, whichever tool
 * happened to run after a pause paid that, by the order of the cases alone.
 * The scratch file is removed unflushed: its pages are dropped, not written.
 */
export async function warmMemory(dir: string, bytes: number): Promise<void> {
  const path = `${dir}/warm.scratch`;
  const chunk = new Uint8Array(1024 * 1024);
  {
    using file = await Deno.open(path, { write: true, create: true, truncate: true });
    for (let left = bytes; left > 0; left -= chunk.length) {
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      for (let at = 0; at < piece.length;) at += await file.write(piece.subarray(at));
    }
  }
  await Deno.remove(path);
}

/** Free page reporting's running total, KiB: memory the kernel has handed back to the hypervisor. */
const REPORTED_KIB = "/sys/module/page_reporting/parameters/reported_kib";

async function reportedKib(): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(REPORTED_KIB);
  } catch {
    return undefined;
  }
}

/**
 * Waits until the memory freed before this call has been handed back to the
 * hypervisor: until free page reporting's total has not moved for `quietMs`
 * (its passes come every 2 s while there is memory to report), at most
 * `limitMs`. Returns the milliseconds waited, or undefined where the kernel
 * has no free page reporting (memory there stays as warm as it was).
 *
 * Why not `warmMemory`: the memory it warms is taken back within 1–3 s
 * (`dd` of 300 MB into memory freed 1 s before: 1.4–2.5 GB/s; 3 s before:
 * 0.6–0.8 GB/s; 12 s before: 0.43 GB/s, as into memory never used), so a
 * client that writes its image later in its run, after scanning or planning,
 * loses that race more often than one that writes at once. Settled, every
 * client starts as a timer-started fetch on such a VM does: the memory it
 * writes into is the hypervisor's to fault in again, for every client alike.
 */
export async function settleMemory(quietMs = 3000, limitMs = 60_000): Promise<number | undefined> {
  const start = performance.now();
  let last = await reportedKib();
  if (last === undefined) return undefined;
  let changed = start;
  while (performance.now() - changed < quietMs && performance.now() - start < limitMs) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const now = await reportedKib();
    if (now !== last) {
      last = now;
      changed = performance.now();
    }
  }
  return Math.round(performance.now() - start);
}
