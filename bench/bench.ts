/**
 * `make bench`: Tako against what an operator would otherwise script, side by
 * side in one run on this machine (see docs/performance.md). Every row states
 * its method (`method` in bench/results.json, and below the table), and every
 * run records the load it competed with (bench/measure.ts).
 *
 * - fetch, from `python3 -m http.server` and from nginx (sendfile,
 *   tests/support/nginx.ts): `curl -o file`, `curl -o file && sync file`,
 *   `curl -o file && sha256sum file` and `tako fetch` (the binary's
 *   permissions; its fdatasync before the rename included);
 * - store: `cp`, `sha256sum && cp && sync` and `tako store`;
 * - the periodic check of an unchanged origin: `tako fetch` answered 304
 *   against an empty `deno run`; the bytes on the wire counted by a proxy in
 *   separate runs;
 * - start-up: `deno run` of entry files that import one module each;
 * - a 100,000-entry manifest: verify + parse + select, timed in process.
 *
 * Each run of a case starts after a `sync` (no dirty pages of an earlier case
 * left to write back), in memory just used (measure.ts `warmMemory`: this
 * machine's kernel pays dearly for memory handed back to its host), with the
 * source in the page cache (warm: the data was
 * just written, and nothing here can drop the cache reliably). The cases of a
 * size are interleaved run by run, so drift in the machine's load hits them
 * alike. A target is met only when the median meets it.
 *
 * Everything lives in a temporary directory, removed at the end; the servers
 * listen on 127.0.0.1 only and are stopped at the end. GNU time and nginx are
 * installed with apt-get when missing (as root).
 *
 * Environment: BENCH_SIZES_MB (default "1024,4096"), BENCH_RUNS (default 3,
 * at least 3), BENCH_KEEP=1 keeps the temporary directory. A run with the
 * default sizes writes bench/results.json and docs/performance.svg; other
 * sizes write bench/results-quick.json and bench/performance-quick.svg.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { MAIN, takoFlags } from "../dev/run_tako.ts";
import { formatSecretKey, generateSecretKey } from "../lib/core/keys.ts";
import { formatPublicKey } from "../lib/core/public_key.ts";
import { type Entry } from "../lib/core/manifest.ts";
import { signManifest } from "../lib/core/manifest_signature.ts";
import { findNginx, type Nginx, startNginx } from "../tests/support/nginx.ts";
import { type PythonServer, startPython } from "../tests/support/python_server.ts";
import { benchChart, formatFile } from "./chart.ts";
import { benchManifest } from "./manifest_bench.ts";
import {
  measure,
  type MeasureOptions,
  median,
  othersCpus,
  type Run,
  TIME,
  warmMemory,
} from "./measure.ts";
import { startCountingProxy } from "./wire_proxy.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const MB = 1_000_000;
const MIB = 1024 * 1024;
const DEFAULT_SIZES = [1024, 4096];
const sizesMb = (Deno.env.get("BENCH_SIZES_MB") ?? DEFAULT_SIZES.join(","))
  .split(",").map((s) => Number(s.trim())).filter((n) => Number.isFinite(n) && n > 0);
const RUNS = Math.max(3, Number(Deno.env.get("BENCH_RUNS") ?? "3") || 3);
const PERIODIC_RUNS = Math.max(RUNS, 15);
const FULL_RUN = Deno.env.get("BENCH_SIZES_MB") === undefined;
/** A median of other processes' CPU above this (in CPUs) makes a row "busy". */
const BUSY_CPUS = 0.15;

// ------------------------------------------------------------------ results

/** One measured command: how it was measured and each run. */
interface Case {
  readonly group: string;
  readonly name: string;
  readonly method: string;
  readonly bytes: number | undefined;
  readonly runs: Run[];
}

/** A target of the issue and how the medians of this run did against it. */
interface Check {
  readonly target: string;
  readonly measured: string;
  readonly pass: boolean;
}

const cases: Case[] = [];
const checks: Check[] = [];
const notes: string[] = [];

function caseOf(group: string, name: string, method: string, bytes?: number): Case {
  let found = cases.find((c) => c.group === group && c.name === name);
  if (found === undefined) {
    found = { group, name, method, bytes, runs: [] };
    cases.push(found);
  }
  return found;
}

function find(group: string, name: string): Case {
  const found = cases.find((c) => c.group === group && c.name === name);
  if (found === undefined) throw new Error(`no case ${group} / ${name}`);
  return found;
}

const seconds = (c: Case) => c.runs.map((r) => r.seconds);
const medianOf = (group: string, name: string) => median(seconds(find(group, name)));

function peakRssMb(c: Case): number | undefined {
  const known = c.runs.map((r) => r.rssKb).filter((r): r is number => r !== null);
  return known.length === 0 ? undefined : Math.max(...known) * 1024 / MB;
}

function check(target: string, measured: string, pass: boolean): void {
  checks.push({ target, measured, pass });
}

// ------------------------------------------------------------------ running commands

let haveTime = false;

/**
 * Installs a Debian package with apt-get when `present` says it is missing
 * and we are root. Services the package would start (nginx's) are not
 * started: a policy-rc.d that refuses them is in place during the install
 * when the machine has none, and removed afterwards.
 */
async function ensurePackage(
  name: string,
  pkg: string,
  present: () => Promise<boolean>,
): Promise<boolean> {
  if (await present()) return true;
  if (Deno.uid() !== 0) return false;
  console.log(`installing ${name} (apt-get install -y ${pkg}) …`);
  const policy = "/usr/sbin/policy-rc.d";
  const ownPolicy = !(await exists(policy));
  if (ownPolicy) await Deno.writeTextFile(policy, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  try {
    await new Deno.Command("sh", {
      args: [
        "-c",
        `apt-get install -y -qq ${pkg} || (apt-get update -qq && apt-get install -y -qq ${pkg})`,
      ],
      stdout: "null",
      stderr: "null",
      env: { DEBIAN_FRONTEND: "noninteractive" },
    }).output().catch(() => undefined);
  } finally {
    if (ownPolicy) await Deno.remove(policy).catch(() => {});
  }
  return await present();
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

function isFileSync(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

async function syncAll(): Promise<void> {
  await new Deno.Command("sync").output();
}

/**
 * Measures one run of a case and records it: after memory for its output was
 * just used (`warmMemory`; `bytes` is what the case writes) and after a sync.
 */
async function record(
  group: string,
  name: string,
  method: string,
  bytes: number | undefined,
  argv: readonly string[],
  options: Omit<MeasureOptions, "timeFile"> = {},
): Promise<void> {
  if (bytes !== undefined) await warmMemory(work, bytes);
  await syncAll();
  const run = await measure(argv, { ...options, ...(haveTime ? { timeFile: timeFile() } : {}) });
  caseOf(group, name, method, bytes).runs.push(run);
}

const timeFile = () => `${work}/time.txt`;

async function fresh(path: string): Promise<void> {
  await Deno.remove(path, { recursive: true }).catch(() => {});
}

const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

// ------------------------------------------------------------------ setup

const flags = await takoFlags();
const deno = Deno.execPath();
const tako = [deno, "run", "--cached-only", ...flags, MAIN];
const TAKO_METHOD =
  `\`deno run --cached-only\` with the tako task's permission flags (deno.json) ` +
  `of main.ts: Deno's start-up included`;
const key = generateSecretKey(new TextEncoder().encode("tako-bench-key-not-a-secret-key!"));
// Made last before the try that removes it: nothing above can leave it behind.
const work = await Deno.makeTempDir({ prefix: "tako-bench-" });
const origin = `${work}/origin`;

async function machine() {
  const text = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const model = /^model name\s*:\s*(.*)$/m.exec(text)?.[1] ?? "unknown";
  const nproc = (text.match(/^processor\s*:/gm) ?? []).length || navigator.hardwareConcurrency;
  const memory = Deno.systemMemoryInfo();
  return {
    date: new Date().toISOString(),
    nproc,
    model,
    kernel: Deno.osRelease(),
    deno: Deno.version.deno,
    memoryGiB: Math.round(memory.total / 1024 ** 3),
    loadavgAtStart: Deno.loadavg(),
    cpuPressureAtStart: await cpuPressure(),
    busiestAtStart: await busiestProcesses(),
  };
}

/** The share of time some task waited for a CPU over the last 60 s (/proc/pressure/cpu), if known. */
async function cpuPressure(): Promise<number | null> {
  const text = await Deno.readTextFile("/proc/pressure/cpu").catch(() => "");
  const match = /^some .*avg60=([0-9.]+)/m.exec(text);
  return match ? Number(match[1]) : null;
}

/** The processes that used the most CPU over one second, as `ps` would name them. */
async function busiestProcesses(): Promise<string[]> {
  const sample = async () => {
    const found = new Map<string, { name: string; cpu: number }>();
    for await (const entry of Deno.readDir("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      const text = await Deno.readTextFile(`/proc/${entry.name}/stat`).catch(() => "");
      if (text === "") continue;
      const name = text.slice(text.indexOf("(") + 1, text.lastIndexOf(")"));
      const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
      found.set(entry.name, { name, cpu: Number(fields[11]) + Number(fields[12]) });
    }
    return found;
  };
  const before = await sample();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const after = await sample();
  const used: { name: string; percent: number }[] = [];
  for (const [pid, now] of after) {
    const percent = now.cpu - (before.get(pid)?.cpu ?? now.cpu);
    if (percent >= 5 && pid !== String(Deno.pid)) {
      used.push({ name: `${now.name}[${pid}]`, percent });
    }
  }
  return used.sort((a, b) => b.percent - a.percent).slice(0, 8).map((u) =>
    `${u.name} ${u.percent}%`
  );
}

/** Free bytes of the file system holding `dir`. */
async function freeBytes(dir: string): Promise<number> {
  const out = await new Deno.Command("df", { args: ["-B1", "--output=avail", dir] }).output();
  return Number(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1));
}

/** Writes `mb` MiB of random bytes; returns the SHA-256. */
async function randomImage(path: string, mb: number): Promise<string> {
  const out = await new Deno.Command("sh", {
    args: ["-c", `head -c ${mb * MIB} /dev/urandom > ${q(path)}`],
  }).output();
  if (!out.success) throw new Error(`cannot write ${path}`);
  using file = await Deno.open(path);
  const hash = createHash("sha256");
  const buffer = new Uint8Array(4 * MIB);
  for (;;) {
    const n = await file.read(buffer);
    if (n === null) break;
    hash.update(buffer.subarray(0, n));
  }
  return hash.digest("hex");
}

/** An origin server under test: its URL and the pid whose CPU time is its own. */
interface Server {
  readonly label: string;
  readonly method: string;
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** How many requests for `path` it answered with `status`. */
  answered(path: string, status: number): number;
  close(): Promise<void>;
}

/** python3 -m http.server (tests/support/python_server.ts) as a benchmark's origin. */
async function startPythonServer(root: string): Promise<Server> {
  const server: PythonServer = await startPython(root);
  const version = new TextDecoder().decode(
    (await new Deno.Command("python3", { args: ["--version"] }).output()).stdout,
  ).trim();
  return {
    label: "python",
    method: `\`python3 -m http.server\` (${version}, one thread per connection, read/write copy)`,
    url: server.url,
    port: server.port,
    pid: server.pid,
    answered: (path, status) =>
      server.log().split("\n").filter((l) => l.includes(`"GET ${path} HTTP/1.1" ${status} `))
        .length,
    close: () => server.close(),
  };
}

async function startNginxServer(root: string): Promise<Server> {
  const server: Nginx = await startNginx(root);
  const version = new TextDecoder().decode(
    (await new Deno.Command(await findNginx() ?? "nginx", { args: ["-v"] }).output()).stderr,
  ).trim().replace(/^nginx version: /, "");
  return {
    label: "nginx",
    method: `${version}, one process, sendfile on, tcp_nopush off (tests/support/nginx.ts)`,
    url: server.url,
    port: server.port,
    pid: server.pid,
    answered: (path, status) =>
      server.requests().filter((l) => l.startsWith(`${status} `) && l.includes(` ${path} `))
        .length,
    close: () => server.close(),
  };
}

function config(path: string, originUrl: string, dest: string, version: string): Promise<void> {
  return Deno.writeTextFile(
    path,
    `Origin=${originUrl}\nPublicKey=${
      formatPublicKey(key.publicKey)
    }\nDestination=${dest}\nVersion=${version}\n`,
  );
}

// ------------------------------------------------------------------ the cases

const CURL = "`curl -s -o <file> <url>` into a removed file (no flush: the data may still be " +
  "in the page cache when it exits)";

async function benchSize(mb: number, servers: readonly Server[], version: string, sha: string) {
  const bytes = mb * MIB;
  const image = `${origin}/store/${sha}`;
  const out = `${work}/out.bin`;
  const storeGroup = `store ${label(mb)}`;
  console.log(
    `\n${label(mb)}: fetch from ${servers.map((s) => s.label).join(" and ")}, ` +
      `and store; ${RUNS} runs each, interleaved …`,
  );
  for (let run = 0; run < RUNS; run++) {
    for (const server of servers) {
      const group = `fetch ${label(mb)} (${server.label})`;
      const url = `${server.url}/store/${sha}`;
      const via = { serverPid: server.pid };
      await fresh(out);
      await record(
        group,
        "curl -o file",
        CURL,
        bytes,
        ["curl", "-s", "-o", out, url],
        via,
      );
      await fresh(out);
      await record(
        group,
        "curl -o file && sync file",
        "`curl -s -o <file> <url> && sync <file>` (sync of one file: its fsync)",
        bytes,
        ["sh", "-c", `curl -s -o ${q(out)} ${q(url)} && sync ${q(out)}`],
        via,
      );
      await fresh(out);
      await record(
        group,
        "curl -o file && sha256sum file",
        "`curl -s -o <file> <url> && sha256sum <file>` (GNU coreutils)",
        bytes,
        ["sh", "-c", `curl -s -o ${q(out)} ${q(url)} && sha256sum ${q(out)} >/dev/null`],
        via,
      );
      await fresh(out);
      const dest = `${work}/dest`;
      const cfg = `${work}/fetch-${server.label}.tako`;
      await config(cfg, server.url, dest, version);
      await fresh(dest);
      await record(
        group,
        "tako fetch",
        `\`tako fetch --quiet <config>\` into an empty destination: manifest, image, its ` +
          `fdatasync and rename, .state; ${TAKO_METHOD}`,
        bytes,
        [...tako, "fetch", "--quiet", cfg],
        via,
      );
      const stored = await Deno.stat(`${dest}/store/${sha}`);
      if (stored.size !== bytes) throw new Error("tako fetch stored a wrong size");
      await fresh(dest);
    }

    const outDir = `${work}/publish`;
    const copy = `${outDir}/copy`;
    await fresh(outDir);
    await Deno.mkdir(outDir);
    await record(storeGroup, "cp", "`cp <image> <dir>/copy` (no flush)", bytes, [
      "cp",
      image,
      copy,
    ]);
    await fresh(outDir);
    await Deno.mkdir(outDir);
    await record(
      storeGroup,
      "sha256sum && cp && sync",
      "`sha256sum <image> && cp <image> <dir>/copy && sync <dir>/copy`",
      bytes,
      [
        "sh",
        "-c",
        `sha256sum ${q(image)} >/dev/null && cp ${q(image)} ${q(copy)} && sync ${q(copy)}`,
      ],
    );
    await fresh(outDir);
    await Deno.mkdir(outDir);
    await record(
      storeGroup,
      "tako store",
      `\`tako store --quiet -k <key> -o <dir> <image> 1.0.0\` into an empty origin directory: ` +
        `hash and copy in one pass, the copy's fdatasync and rename, the signed manifest; ${TAKO_METHOD}`,
      bytes,
      [...tako, "store", "--quiet", "-k", formatSecretKey(key), "-o", outDir, image, "1.0.0"],
    );
    await fresh(outDir);
  }
  await fresh(out);

  for (const server of servers) {
    const group = `fetch ${label(mb)} (${server.label})`;
    const takoFetch = medianOf(group, "tako fetch");
    const curlSync = medianOf(group, "curl -o file && sync file");
    const curlSha = medianOf(group, "curl -o file && sha256sum file");
    check(
      `${group}: tako ≤ 1.2 × (curl -o file && sync file)`,
      `${ratio(takoFetch / curlSync)} (${secs(takoFetch)} vs ${secs(curlSync)})`,
      takoFetch <= 1.2 * curlSync,
    );
    check(
      `${group}: tako ≤ 0.35 × (curl -o file && sha256sum file)`,
      `${ratio(takoFetch / curlSha)} (${secs(takoFetch)} vs ${secs(curlSha)})`,
      takoFetch <= 0.35 * curlSha,
    );
    const rss = peakRssMb(find(group, "tako fetch"));
    if (rss !== undefined) {
      check(`${group}: tako peak RSS ≤ 100 MB`, `${rss.toFixed(0)} MB`, rss <= 100);
    }
  }
  const takoStore = medianOf(storeGroup, "tako store");
  const shaCpSync = medianOf(storeGroup, "sha256sum && cp && sync");
  check(
    `${storeGroup}: tako store ≤ 0.35 × (sha256sum && cp && sync)`,
    `${ratio(takoStore / shaCpSync)} (${secs(takoStore)} vs ${secs(shaCpSync)})`,
    takoStore <= 0.35 * shaCpSync,
  );
}

/** Peak RSS flat from the smallest to the largest size: at most 10 % more. */
function checkFlatRss(servers: readonly Server[]): void {
  if (sizesMb.length < 2) return;
  const [small, large] = [Math.min(...sizesMb), Math.max(...sizesMb)];
  const takoFetch = (mb: number, server: Server) =>
    cases.find((c) =>
      c.group === `fetch ${label(mb)} (${server.label})` && c.name === "tako fetch"
    );
  for (const server of servers) {
    // A size skipped for lack of disk space has no rows (the notes say so).
    const [smallCase, largeCase] = [takoFetch(small, server), takoFetch(large, server)];
    if (smallCase === undefined || largeCase === undefined) continue;
    const a = peakRssMb(smallCase);
    const b = peakRssMb(largeCase);
    if (a === undefined || b === undefined) continue;
    check(
      `fetch (${server.label}): peak RSS flat from ${label(small)} to ${label(large)} (≤ +10 %)`,
      `${a.toFixed(0)} MB → ${b.toFixed(0)} MB`,
      b <= a * 1.1,
    );
  }
}

/**
 * The periodic check of an unchanged origin: a small image under
 * `<origin>/periodic`, fetched once, then `tako fetch` again and again, each
 * answered 304. Timed straight against the server; the bytes on the wire
 * come from separate runs through a counting proxy.
 */
async function benchPeriodic(servers: readonly Server[]) {
  const group = "periodic check";
  const root = `${origin}/periodic`;
  await Deno.mkdir(`${root}/store`, { recursive: true });
  const data = crypto.getRandomValues(new Uint8Array(64 * 1024));
  const sha = createHash("sha256").update(data).digest("hex");
  await Deno.writeFile(`${root}/store/${sha}`, data);
  await Deno.writeFile(
    `${root}/manifest`,
    signManifest([{ version: "1.0.0", size: BigInt(data.length), sha256: sha }], key),
  );
  // Python sends no ETag; its Last-Modified is kept only when older than the answer's Date by 1 s.
  const hourAgo = new Date(Date.now() - 3600_000);
  await Deno.utime(`${root}/manifest`, hourAgo, hourAgo);
  const empty = `${work}/empty.ts`;
  await Deno.writeTextFile(empty, "");
  const prepared: { server: Server; cfg: string }[] = [];
  for (const server of servers) {
    const cfg = `${work}/periodic-${server.label}.tako`;
    await config(cfg, `${server.url}/periodic`, `${work}/dest-periodic-${server.label}`, "1.0.0");
    await measure([...tako, "fetch", "--quiet", cfg]); // the download
    prepared.push({ server, cfg });
  }
  const before = prepared.map(({ server }) => server.answered("/periodic/manifest", 304));
  console.log(`\n${group}: ${PERIODIC_RUNS} runs each, interleaved …`);
  for (let run = 0; run < PERIODIC_RUNS; run++) {
    await record(
      group,
      "deno run (empty file)",
      "`deno run --cached-only <empty file>`: the floor of any Deno program",
      undefined,
      [deno, "run", "--cached-only", empty],
    );
    await record(group, "tako --version", `\`tako --version\`; ${TAKO_METHOD}`, undefined, [
      ...tako,
      "--version",
    ]);
    for (const { server, cfg } of prepared) {
      await record(
        group,
        `tako fetch, nothing changed (304, ${server.label})`,
        `\`tako fetch --quiet <config>\` of a destination holding the newest image, its ` +
          `manifest request answered 304; ${TAKO_METHOD}`,
        undefined,
        [...tako, "fetch", "--quiet", cfg],
        { serverPid: server.pid },
      );
    }
  }
  const emptyRun = medianOf(group, "deno run (empty file)");
  for (const [i, { server }] of prepared.entries()) {
    const name = `tako fetch, nothing changed (304, ${server.label})`;
    const answered = server.answered("/periodic/manifest", 304) - before[i]!;
    check(
      `${group} (${server.label}): the origin answers 304`,
      `${answered} of ${PERIODIC_RUNS} runs`,
      answered === PERIODIC_RUNS,
    );
    const takoCheck = medianOf(group, name);
    check(
      `${group} (${server.label}): tako ≤ 2.5 × empty deno run`,
      `${ratio(takoCheck / emptyRun)} (${ms(takoCheck)} vs ${ms(emptyRun)})`,
      takoCheck <= 2.5 * emptyRun,
    );
    const proxy = await startCountingProxy(server.port);
    const wire: number[] = [];
    try {
      const proxied = `${work}/periodic-proxied-${server.label}.tako`;
      await config(
        proxied,
        `${proxy.url}/periodic`,
        `${work}/dest-periodic-${server.label}`,
        "1.0.0",
      );
      // Validators are kept per origin URL: the first run through the proxy gets the manifest
      // in full, the next ones 304.
      await measure([...tako, "fetch", "--quiet", proxied]);
      for (let run = 0; run < 3; run++) {
        proxy.reset();
        await measure([...tako, "fetch", "--quiet", proxied]);
        wire.push(proxy.total());
      }
    } finally {
      await proxy.close();
    }
    const bytes = median(wire);
    check(
      `${group} (${server.label}): < 1 KB on the wire`,
      `${bytes} bytes, request and response (median of 3 runs through a counting proxy)`,
      bytes < 1000,
    );
  }
}

/** Start-up: `deno run` of an entry file that imports one module (nothing is run). */
async function benchStartup() {
  const group = "start-up (import only)";
  const entries: [string, string | undefined][] = [
    ["nothing", ""],
    ["main.ts (tako --version path)", "main.ts"],
    ["lib/core/cli.ts + lib/core/log.ts", "lib/core/cli.ts lib/core/log.ts"],
    ["node:crypto", "node:crypto"],
    ["@noble/curves", "@noble/curves/ed25519"],
    ["semver", "semver"],
    ["lib/commands/fetch.ts (the fetch command)", "lib/commands/fetch.ts"],
    ["lib/commands/store.ts (the store command)", "lib/commands/store.ts"],
  ];
  const files: [string, string][] = [];
  for (const [i, [name, modules]] of entries.entries()) {
    const specifiers = (modules ?? "").split(" ").filter((m) => m !== "");
    const missing = specifiers.filter((m) => m.endsWith(".ts") && !isFileSync(`${ROOT}${m}`));
    if (missing.length > 0) {
      notes.push(`start-up: ${missing.join(", ")} not found, row left out`);
      continue;
    }
    const text = specifiers.map((m) => `import "${m.endsWith(".ts") ? ROOT + m : m}";`).join(" ");
    const path = `${work}/entry-${i}.ts`;
    await Deno.writeTextFile(path, text + "\n");
    files.push([name, path]);
  }
  const run = (
    path: string,
  ) => [deno, "run", "--cached-only", "--config", `${ROOT}deno.json`, "-A", path];
  for (const [, path] of files) await measure(run(path)); // warm Deno's module cache
  console.log(`\n${group}: ${PERIODIC_RUNS} runs each, interleaved …`);
  for (let i = 0; i < PERIODIC_RUNS; i++) {
    for (const [name, path] of files) {
      await record(
        group,
        name,
        "`deno run --cached-only --config deno.json -A <entry>` of an entry file that only imports it",
        undefined,
        run(path),
      );
    }
  }
}

// ------------------------------------------------------------------ output

function label(mb: number): string {
  return mb % 1024 === 0 ? `${mb / 1024} GiB` : `${mb} MiB`;
}
function secs(s: number): string {
  return `${s.toFixed(2)} s`;
}
function ms(s: number): string {
  return `${(s * 1000).toFixed(0)} ms`;
}
function ratio(r: number): string {
  return `${r.toFixed(2)}×`;
}

function table(): string {
  const rows: string[][] = [["case", "median", "min", "max", "MB/s", "peak RSS", "others' CPU"]];
  let group = "";
  for (const c of cases) {
    if (c.group !== group) {
      group = c.group;
      rows.push([`[${group}]`, "", "", "", "", "", ""]);
    }
    const s = seconds(c);
    const m = median(s);
    const show = (x: number) => (m < 1 ? ms(x) : secs(x));
    const rss = peakRssMb(c);
    const others = othersCpus(c.runs);
    rows.push([
      `  ${c.name}`,
      show(m),
      show(Math.min(...s)),
      show(Math.max(...s)),
      c.bytes === undefined ? "" : (c.bytes / MB / m).toFixed(0),
      rss === undefined ? "" : `${rss.toFixed(0)} MB`,
      `${others.toFixed(2)}${others > BUSY_CPUS ? " busy" : ""}`,
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) =>
    r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ")
  ).join("\n");
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const startedAt = performance.now();
  const info = await machine();
  haveTime = await ensurePackage("GNU time", "time", () => exists(TIME));
  if (!haveTime) notes.push("GNU time is missing: no peak RSS or own CPU figures");
  const haveNginx = await ensurePackage(
    "nginx",
    "nginx",
    async () => await findNginx() !== undefined,
  );
  if (!haveNginx) notes.push("nginx is missing and could not be installed: no nginx rows");
  console.log(
    `tako bench: ${info.nproc} × ${info.model}, ${info.memoryGiB} GiB RAM, Deno ${info.deno}; ` +
      `sizes ${sizesMb.map(label).join(", ")}; ${RUNS} runs; load average ${
        info.loadavgAtStart.map((x) => x.toFixed(2)).join(" ")
      }; busiest processes over 1 s: ${info.busiestAtStart.join(", ") || "none over 5 %"}`,
  );
  await Deno.mkdir(`${origin}/store`, { recursive: true });
  const servers: Server[] = [];
  try {
    servers.push(await startPythonServer(origin));
    if (haveNginx) servers.push(await startNginxServer(origin));
    stopServers = () => Promise.all(servers.map((s) => s.close())).then(() => {});
    await benchPeriodic(servers);
    const versions: { mb: number; version: string; sha: string }[] = [];
    for (const [i, mb] of sizesMb.entries()) {
      // Room for the origin's copy and one downloaded or stored copy at a time, plus 10 %.
      const need = 2.2 * mb * MIB;
      const free = await freeBytes(work);
      if (free < need) {
        const message = `skipped ${label(mb)}: ${(free / MB).toFixed(0)} MB free in ${work}, ` +
          `${(need / MB).toFixed(0)} MB needed`;
        console.log(message);
        notes.push(message);
        continue;
      }
      console.log(`\ngenerating ${label(mb)} of random data …`);
      const path = `${origin}/image-${mb}`;
      const sha = await randomImage(path, mb);
      await Deno.rename(path, `${origin}/store/${sha}`);
      const version = `${i + 1}.0.0`;
      versions.push({ mb, version, sha });
      const listed: Entry[] = versions.map((v) => ({
        version: v.version,
        size: BigInt(v.mb * MIB),
        sha256: v.sha,
      }));
      await Deno.writeFile(`${origin}/manifest`, signManifest(listed, key));
      await benchSize(mb, servers, version, sha);
      // Only one size's data at a time on disk.
      await fresh(`${origin}/store/${sha}`);
    }
    checkFlatRss(servers);
    await benchStartup();
    const manifest = await benchManifest(key, RUNS);
    for (const row of manifest.rows) {
      caseOf(manifest.group, row.name, manifest.method, undefined).runs.push(...row.runs);
    }
    check(manifest.target, manifest.measured, manifest.pass);
    notes.push(manifest.note);
  } finally {
    await Promise.all(servers.map((s) => s.close()));
  }

  const methods = [...new Set(cases.map((c) => `${c.name}: ${c.method}`))];
  const busy = cases.filter((c) => othersCpus(c.runs) > BUSY_CPUS).map((c) =>
    `${c.group} / ${c.name}`
  );
  if (busy.length > 0) {
    notes.push(
      `other processes kept more than ${BUSY_CPUS} CPUs busy during ${busy.length} rows ` +
        `(marked "busy"): their figures are not those of a quiet machine`,
    );
  }
  const results = {
    command: `${FULL_RUN ? "" : `BENCH_SIZES_MB=${sizesMb.join(",")} `}${
      RUNS === 3 ? "" : `BENCH_RUNS=${RUNS} `
    }make bench`,
    durationSeconds: (performance.now() - startedAt) / 1000,
    machine: {
      ...info,
      loadavgAtEnd: Deno.loadavg(),
      cpuPressureAtEnd: await cpuPressure(),
      busiestAtEnd: await busiestProcesses(),
    },
    sizesMb,
    runs: RUNS,
    periodicRuns: PERIODIC_RUNS,
    servers: servers.map((s) => ({ label: s.label, method: s.method })),
    cases: cases.map((c) => {
      const s = seconds(c);
      return {
        group: c.group,
        name: c.name,
        method: c.method,
        bytes: c.bytes ?? null,
        medianSeconds: median(s),
        minSeconds: Math.min(...s),
        maxSeconds: Math.max(...s),
        peakRssMb: peakRssMb(c) ?? null,
        othersCpus: othersCpus(c.runs),
        runs: c.runs,
      };
    }),
    checks,
    notes,
  };
  console.log(`\n${table()}\n`);
  console.log("servers (on 127.0.0.1, serving the origin directory from the page cache):");
  for (const s of servers) console.log(`  ${s.label}: ${s.method}`);
  console.log("methods (wall time from spawn to exit of the process tree):");
  for (const m of methods) console.log(`  ${m}`);
  console.log(
    "  others' CPU: the CPUs other processes kept busy during the runs (/proc/stat less this " +
      "command's, the server's and the benchmark's own CPU time), over the runs' wall time\n",
  );
  for (const c of checks) console.log(`${c.pass ? "MET " : "MISS"}  ${c.target}: ${c.measured}`);
  for (const n of notes) console.log(`note: ${n}`);
  console.log(
    `load average at the end: ${Deno.loadavg().map((x) => x.toFixed(2)).join(" ")} ` +
      `(${info.nproc} CPUs); CPU pressure (some, avg60) ${info.cpuPressureAtStart ?? "?"} % ` +
      `at the start, ${
        results.machine.cpuPressureAtEnd ?? "?"
      } % at the end; busiest at the end: ` +
      `${results.machine.busiestAtEnd.join(", ") || "none over 5 %"}; took ${
        results.durationSeconds.toFixed(0)
      } s`,
  );

  const json = JSON.stringify(results, null, 2) + "\n";
  await Deno.writeTextFile(`${ROOT}bench/results${FULL_RUN ? "" : "-quick"}.json`, json);
  const svg = benchChart(info, results.cases);
  const svgPath = FULL_RUN ? `${ROOT}docs/performance.svg` : `${ROOT}bench/performance-quick.svg`;
  await Deno.writeTextFile(svgPath, svg);
  await formatFile(svgPath);
  console.log(
    `wrote ${FULL_RUN ? "bench/results.json" : "bench/results-quick.json"} and ${
      svgPath.slice(ROOT.length)
    }`,
  );
}

/** Stops the servers; set while they run, so that Ctrl-C does not leave them behind. */
let stopServers: (() => Promise<void>) | undefined;

const cleanup = async () => {
  await stopServers?.().catch(() => {});
  if (Deno.env.get("BENCH_KEEP") === "1") {
    console.log(`kept ${work}`);
    return;
  }
  await Deno.remove(work, { recursive: true }).catch(() => {});
};
Deno.addSignalListener("SIGINT", () => {
  cleanup().finally(() => Deno.exit(130));
});
try {
  await main();
} finally {
  await cleanup();
}
