/**
 * `make bench`: Tako against what an operator would otherwise script, side by
 * side in one run on this machine (see docs/performance.md).
 *
 * - fetch: `curl -o file`, `curl -o file && sync file`, `curl -o file &&
 *   sha256sum file` and `tako fetch` (the binary's permissions, its final
 *   fdatasync included) of a random image from `python3 -m http.server`.
 * - store: `cp`, `sha256sum && cp` and `tako store`.
 * - periodic check when nothing changed: `tako fetch` (answered 304, bytes on
 *   the wire counted by a proxy) against an empty `deno run`.
 * - start-up: `deno run` of entry files that import one module each.
 * - a 100,000-entry manifest: verify + parse + select, timed in process.
 *
 * Everything lives in a temporary directory and is removed at the end; the
 * server listens on 127.0.0.1 only. Page cache warm (the data was just
 * written): nothing here can drop it reliably.
 *
 * Environment: BENCH_SIZES_MB (default "1024,4096"), BENCH_RUNS (default 3,
 * at least 3), BENCH_KEEP=1 keeps the temporary directory. A run with the
 * default sizes writes bench/results.json and docs/performance.svg.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { MAIN, takoFlags } from "../dev/run_tako.ts";
import { formatPublicKey, formatSecretKey, generateSecretKey } from "../lib/core/keys.ts";
import {
  compatibleEntries,
  type Entry,
  signManifest,
  verifyManifest,
} from "../lib/core/manifest.ts";
import { parsePattern } from "../lib/core/pattern.ts";
import { benchChart, formatFile } from "./chart.ts";
import { startCountingProxy } from "./wire_proxy.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const MB = 1_000_000;
const MIB = 1024 * 1024;
const DEFAULT_SIZES = [1024, 4096];
const sizesMb = (Deno.env.get("BENCH_SIZES_MB") ?? DEFAULT_SIZES.join(","))
  .split(",").map((s) => Number(s.trim())).filter((n) => Number.isFinite(n) && n > 0);
const RUNS = Math.max(3, Number(Deno.env.get("BENCH_RUNS") ?? "3") || 3);
const PERIODIC_RUNS = Math.max(RUNS, 10);
const FULL_RUN = Deno.env.get("BENCH_SIZES_MB") === undefined;
const TIME = "/usr/bin/time";

// ------------------------------------------------------------------ results

/** One measured command: its wall times and peak RSS per run. */
interface Case {
  readonly group: string;
  readonly name: string;
  readonly bytes: number | undefined;
  readonly seconds: number[];
  readonly rssKb: (number | undefined)[];
}

/** A target of the issue and how this run did against it. */
interface Check {
  readonly target: string;
  readonly measured: string;
  readonly pass: boolean;
}

const cases: Case[] = [];
const checks: Check[] = [];
const notes: string[] = [];

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function caseOf(group: string, name: string, bytes?: number): Case {
  let found = cases.find((c) => c.group === group && c.name === name);
  if (found === undefined) {
    found = { group, name, bytes, seconds: [], rssKb: [] };
    cases.push(found);
  }
  return found;
}

function medianOf(group: string, name: string): number {
  return median(caseOf(group, name).seconds);
}

function peakRssMb(c: Case): number | undefined {
  const known = c.rssKb.filter((r): r is number => r !== undefined);
  return known.length === 0 ? undefined : Math.max(...known) * 1024 / MB;
}

function check(target: string, measured: string, pass: boolean): void {
  checks.push({ target, measured, pass });
}

// ------------------------------------------------------------------ running commands

let haveTime = false;

/** Makes sure GNU time is there for peak RSS (installs it with apt-get when root and missing). */
async function ensureTime(): Promise<void> {
  haveTime = await exists(TIME);
  if (haveTime || Deno.uid() !== 0) return;
  console.log("installing GNU time (apt-get install -y time) for peak RSS …");
  await new Deno.Command("sh", {
    args: ["-c", "apt-get update -qq && apt-get install -y -qq time"],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => undefined);
  haveTime = await exists(TIME);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Runs a command once; returns wall seconds and peak RSS (KiB) of it and its children. */
async function measure(
  argv: readonly string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<{ seconds: number; rssKb: number | undefined }> {
  const rssFile = `${work}/rss.txt`;
  const full = haveTime ? [TIME, "-f", "%M", "-o", rssFile, ...argv] : [...argv];
  const started = performance.now();
  const out = await new Deno.Command(full[0]!, {
    args: full.slice(1),
    stdout: "null",
    stderr: "piped",
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  }).output();
  const seconds = (performance.now() - started) / 1000;
  if (!out.success) {
    throw new Error(`${argv.join(" ")} failed:\n${new TextDecoder().decode(out.stderr)}`);
  }
  let rssKb: number | undefined;
  if (haveTime) {
    const text = await Deno.readTextFile(rssFile);
    rssKb = Number(text.trim().split("\n").at(-1));
  }
  return { seconds, rssKb };
}

async function record(
  group: string,
  name: string,
  bytes: number | undefined,
  argv: readonly string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<void> {
  const result = await measure(argv, options);
  const c = caseOf(group, name, bytes);
  c.seconds.push(result.seconds);
  c.rssKb.push(result.rssKb);
}

async function fresh(path: string): Promise<void> {
  await Deno.remove(path, { recursive: true }).catch(() => {});
}

const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

// ------------------------------------------------------------------ setup

const flags = await takoFlags();
const deno = Deno.execPath();
const tako = [deno, "run", "--cached-only", ...flags, MAIN];
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
  };
}

/** The share of time some task waited for a CPU over the last 60 s (/proc/pressure/cpu), if known. */
async function cpuPressure(): Promise<number | null> {
  const text = await Deno.readTextFile("/proc/pressure/cpu").catch(() => "");
  const match = /^some .*avg60=([0-9.]+)/m.exec(text);
  return match ? Number(match[1]) : null;
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

/** python3 -m http.server on a free port of 127.0.0.1, with its request log. */
async function startPython(root: string) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const child = new Deno.Command("python3", {
    args: ["-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory", root, String(port)],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const decoder = new TextDecoder();
  const reading = (async () => {
    for await (const chunk of child.stderr) log += decoder.decode(chunk, { stream: true });
  })();
  const url = `http://127.0.0.1:${port}`;
  for (let tries = 0;; tries++) {
    try {
      await (await fetch(`${url}/`)).body?.cancel();
      break;
    } catch {
      if (tries > 200) throw new Error("python3 -m http.server did not start");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return {
    url,
    port,
    log: () => log,
    async close() {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await child.status;
      await reading.catch(() => {});
    },
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

async function benchSize(mb: number, python: { url: string }, version: string, sha: string) {
  const bytes = mb * MIB;
  const image = `${origin}/store/${sha}`;
  const url = `${python.url}/store/${sha}`;
  const out = `${work}/out.bin`;
  const dest = `${work}/dest-${mb}`;
  const cfg = `${work}/fetch-${mb}.tako`;
  await config(cfg, python.url, dest, version);
  const fetchGroup = `fetch ${label(mb)}`;
  const storeGroup = `store ${label(mb)}`;
  console.log(`\n${fetchGroup} and ${storeGroup}: ${RUNS} runs each, interleaved …`);
  for (let run = 0; run < RUNS; run++) {
    await fresh(out);
    await record(fetchGroup, "curl -o file", bytes, ["curl", "-s", "-o", out, url]);
    await fresh(out);
    await record(fetchGroup, "curl -o file && sync file", bytes, [
      "sh",
      "-c",
      `curl -s -o ${q(out)} ${q(url)} && sync ${q(out)}`,
    ]);
    await fresh(out);
    await record(fetchGroup, "curl -o file && sha256sum file", bytes, [
      "sh",
      "-c",
      `curl -s -o ${q(out)} ${q(url)} && sha256sum ${q(out)} >/dev/null`,
    ]);
    await fresh(out);
    await fresh(dest);
    await record(fetchGroup, "tako fetch", bytes, [...tako, "fetch", "--quiet", cfg]);
    const stored = await Deno.stat(`${dest}/store/${sha}`);
    if (stored.size !== bytes) throw new Error("tako fetch stored a wrong size");

    const outDir = `${work}/publish`;
    await fresh(outDir);
    await Deno.mkdir(outDir);
    await record(storeGroup, "cp", bytes, ["cp", image, `${outDir}/copy`]);
    await fresh(outDir);
    await Deno.mkdir(outDir);
    await record(storeGroup, "sha256sum && cp", bytes, [
      "sh",
      "-c",
      `sha256sum ${q(image)} >/dev/null && cp ${q(image)} ${q(outDir)}/copy`,
    ]);
    await fresh(outDir);
    await Deno.mkdir(outDir);
    await record(storeGroup, "sha256sum && cp && sync", bytes, [
      "sh",
      "-c",
      `sha256sum ${q(image)} >/dev/null && cp ${q(image)} ${q(outDir)}/copy && sync ${
        q(outDir)
      }/copy`,
    ]);
    await fresh(outDir);
    await Deno.mkdir(outDir);
    await record(storeGroup, "tako store", bytes, [
      ...tako,
      "store",
      "--quiet",
      "-k",
      formatSecretKey(key),
      "-o",
      outDir,
      image,
      "1.0.0",
    ]);
    await fresh(outDir);
  }
  await fresh(out);

  const takoFetch = medianOf(fetchGroup, "tako fetch");
  const curl = medianOf(fetchGroup, "curl -o file");
  const curlSha = medianOf(fetchGroup, "curl -o file && sha256sum file");
  check(
    `${fetchGroup}: tako ≤ 0.5 × (curl + sha256sum)`,
    `${ratio(takoFetch / curlSha)} (${secs(takoFetch)} vs ${secs(curlSha)})`,
    takoFetch <= 0.5 * curlSha,
  );
  check(
    `${fetchGroup}: tako (with its fdatasync) ≤ 1.5 × curl -o file`,
    `${ratio(takoFetch / curl)} (${secs(takoFetch)} vs ${secs(curl)})`,
    takoFetch <= 1.5 * curl,
  );
  const rss = peakRssMb(caseOf(fetchGroup, "tako fetch"));
  if (rss !== undefined) {
    check(`${fetchGroup}: tako peak RSS ≤ 100 MB`, `${rss.toFixed(0)} MB`, rss <= 100);
  }
  const takoStore = medianOf(storeGroup, "tako store");
  const shaCp = medianOf(storeGroup, "sha256sum && cp");
  check(
    `${storeGroup}: tako store ≤ 1.2 × (sha256sum + cp)`,
    `${ratio(takoStore / shaCp)} (${secs(takoStore)} vs ${secs(shaCp)})`,
    takoStore <= 1.2 * shaCp,
  );
  return { dest, cfg };
}

/** The periodic check of an unchanged origin, through a proxy that counts the bytes. */
async function benchPeriodic(
  python: { url: string; port: number; log: () => string },
  version: string,
) {
  const group = "periodic check";
  const proxy = await startCountingProxy(python.port);
  try {
    const dest = `${work}/dest-periodic`;
    const cfg = `${work}/periodic.tako`;
    await config(cfg, proxy.url, dest, version);
    // The first run downloads; the second sees a Last-Modified old enough to keep (it only
    // keeps one at least a second older than the server's Date); from then on, 304.
    for (let i = 0; i < 2; i++) await measure([...tako, "fetch", "--quiet", cfg]);
    const empty = `${work}/empty.ts`;
    await Deno.writeTextFile(empty, "");
    const before = (python.log().match(/"GET \/manifest HTTP\/1\.[01]" 304/g) ?? []).length;
    const wire: number[] = [];
    console.log(`\n${group}: ${PERIODIC_RUNS} runs each, interleaved …`);
    for (let run = 0; run < PERIODIC_RUNS; run++) {
      await record(group, "deno run (empty file)", undefined, [
        deno,
        "run",
        "--cached-only",
        empty,
      ]);
      await record(group, "tako --version", undefined, [...tako, "--version"]);
      proxy.reset();
      await record(group, "tako fetch, nothing changed (304)", undefined, [
        ...tako,
        "fetch",
        "--quiet",
        cfg,
      ]);
      wire.push(proxy.total());
    }
    const answered304 = (python.log().match(/"GET \/manifest HTTP\/1\.[01]" 304/g) ?? []).length -
      before;
    const takoCheck = medianOf(group, "tako fetch, nothing changed (304)");
    const emptyRun = medianOf(group, "deno run (empty file)");
    check(
      `${group}: origin answers 304`,
      `${answered304} of ${PERIODIC_RUNS} runs`,
      answered304 === PERIODIC_RUNS,
    );
    const bytes = median(wire);
    check(`${group}: < 1 KB on the wire`, `${bytes} bytes (request + response)`, bytes < 1000);
    check(
      `${group}: tako ≤ 5 × empty deno run`,
      `${ratio(takoCheck / emptyRun)} (${ms(takoCheck)} vs ${ms(emptyRun)})`,
      takoCheck <= 5 * emptyRun,
    );
    return { wireBytes: bytes, answered304 };
  } finally {
    await proxy.close();
  }
}

/** Start-up: `deno run` of an entry file that imports one module (nothing is run). */
async function benchStartup() {
  const group = "start-up (import only)";
  const entries: [string, string][] = [
    ["nothing", ""],
    ["main.ts (tako --version path)", `import "${ROOT}main.ts";`],
    ["lib/cli.ts + lib/log.ts", `import "${ROOT}lib/cli.ts"; import "${ROOT}lib/log.ts";`],
    ["node:crypto", `import "node:crypto";`],
    ["@noble/curves (lib/keys.ts)", `import "${ROOT}lib/keys.ts";`],
    ["semver", `import "semver";`],
    ["lib/fetch.ts (the fetch command)", `import "${ROOT}lib/fetch.ts";`],
    ["lib/publish.ts (the store command)", `import "${ROOT}lib/publish.ts";`],
  ];
  const files: [string, string][] = [];
  for (const [i, [name, text]] of entries.entries()) {
    const path = `${work}/entry-${i}.ts`;
    await Deno.writeTextFile(path, text + "\n");
    files.push([name, path]);
  }
  const run = (path: string) => [
    deno,
    "run",
    "--cached-only",
    "--config",
    `${ROOT}deno.json`,
    "-A",
    path,
  ];
  for (const [, path] of files) await measure(run(path)); // warm Deno's module cache
  console.log(`\n${group}: ${PERIODIC_RUNS} runs each, interleaved …`);
  for (let i = 0; i < PERIODIC_RUNS; i++) {
    for (const [name, path] of files) await record(group, name, undefined, run(path));
  }
}

/** A 100,000-entry manifest: verify, parse and select, timed in this process. */
async function benchManifest() {
  const group = "100,000-entry manifest (in process)";
  console.log(`\n${group} …`);
  const entries: Entry[] = [];
  for (let i = 0; i < 100_000; i++) {
    const sha256 = createHash("sha256").update(String(i)).digest("hex");
    entries.push({
      version: `${1 + (i >> 14)}.${(i >> 7) & 127}.${i & 127}`,
      size: BigInt(i),
      sha256,
    });
  }
  const bytes = signManifest(entries, key);
  const patterns = ["*", "2.*", "^3.4.0", "2.3 <= v < 5"];
  for (let run = 0; run < Math.max(RUNS, 5); run++) {
    for (const text of patterns) {
      const started = performance.now();
      const verified = verifyManifest(bytes, [key.publicKey], "bench manifest");
      const pattern = await parsePattern(text);
      const chosen = compatibleEntries(verified, pattern)[0];
      const seconds = (performance.now() - started) / 1000;
      if (chosen === undefined) throw new Error(`nothing matches ${text}`);
      caseOf(group, `verify + parse + select, Version=${text}`, bytes.length).seconds.push(seconds);
      caseOf(group, `verify + parse + select, Version=${text}`).rssKb.push(undefined);
    }
  }
  const worst = Math.max(
    ...patterns.map((p) => medianOf(group, `verify + parse + select, Version=${p}`)),
  );
  check(`${group}: ≤ 500 ms`, `${ms(worst)} (slowest pattern, median)`, worst <= 0.5);
  notes.push(`the 100,000-entry manifest is ${(bytes.length / MB).toFixed(1)} MB`);
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
  const rows: string[][] = [["case", "median", "min", "max", "MB/s", "peak RSS"]];
  let group = "";
  for (const c of cases) {
    if (c.group !== group) {
      group = c.group;
      rows.push([`[${group}]`, "", "", "", "", ""]);
    }
    const m = median(c.seconds);
    const fast = m < 1;
    const show = (s: number) => (fast ? ms(s) : secs(s));
    const rss = peakRssMb(c);
    rows.push([
      `  ${c.name}`,
      show(m),
      show(Math.min(...c.seconds)),
      show(Math.max(...c.seconds)),
      c.bytes === undefined || c.group.startsWith("100,000") ? "" : (c.bytes / MB / m).toFixed(0),
      rss === undefined ? "" : `${rss.toFixed(0)} MB`,
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) =>
    r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ")
  ).join("\n");
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const info = await machine();
  await ensureTime();
  if (!haveTime) notes.push("GNU time is missing: no peak RSS figures");
  console.log(
    `tako bench: ${info.nproc} × ${info.model}, ${info.memoryGiB} GiB RAM, Deno ${info.deno}; ` +
      `sizes ${sizesMb.map(label).join(", ")}; ${RUNS} runs; load average ${
        info.loadavgAtStart.join(" ")
      }`,
  );
  await Deno.mkdir(`${origin}/store`, { recursive: true });
  const python = await startPython(origin);
  stopServer = python.close;
  let periodic: { wireBytes: number; answered304: number } | undefined;
  try {
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
      const { dest } = await benchSize(mb, python, version, sha);
      if (periodic === undefined) {
        periodic = await benchPeriodic(python, version);
      }
      // Only one size's data at a time on disk.
      await fresh(dest);
      await fresh(`${work}/dest-periodic`);
      await fresh(`${origin}/store/${sha}`);
    }
    await benchStartup();
    await benchManifest();
  } finally {
    await python.close();
  }

  const results = {
    machine: { ...info, loadavgAtEnd: Deno.loadavg(), cpuPressureAtEnd: await cpuPressure() },
    sizesMb,
    runs: RUNS,
    periodicRuns: PERIODIC_RUNS,
    cases: cases.map((c) => ({
      ...c,
      medianSeconds: median(c.seconds),
      peakRssMb: peakRssMb(c) ?? null,
      rssKb: c.rssKb.map((r) => r ?? null),
    })),
    periodic: periodic ?? null,
    checks,
    notes,
  };
  console.log(`\n${table()}\n`);
  for (const c of checks) console.log(`${c.pass ? "PASS" : "MISS"}  ${c.target}: ${c.measured}`);
  for (const n of notes) console.log(`note: ${n}`);
  console.log(
    `load average at the end: ${Deno.loadavg().join(" ")} (${info.nproc} CPUs); ` +
      `CPU pressure (some, avg60) ${info.cpuPressureAtStart ?? "?"} % at the start, ` +
      `${results.machine.cpuPressureAtEnd ?? "?"} % at the end`,
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

/** Stops the origin server; set while it runs, so that Ctrl-C does not leave it behind. */
let stopServer: (() => Promise<void>) | undefined;

const cleanup = async () => {
  await stopServer?.().catch(() => {});
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
