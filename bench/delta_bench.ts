/**
 * `make bench-delta`: Tako's delta update against a full Tako fetch, zsync
 * and casync, on real filesystem images, side by side in one run.
 *
 * Method: a tree of real files from this machine's /usr (bench/delta/tree.ts)
 * and three successors of it (security fix, minor release, metadata only);
 * each built as squashfs (gzip), erofs (plain and lz4hc), ext4 and tar with
 * Debian's tools, reproducibly (bench/delta/formats.ts checks a rebuild gives
 * the same bytes). nginx on 127.0.0.1 serves the Tako origin, the zsync files
 * and the casync chunk store; its access log counts every request and every
 * byte sent, headers included. Each client starts from a host that holds the
 * base image (copied afresh, then flushed, on memory the VM has handed back to
 * the hypervisor, as a timer-started fetch finds it: measure.ts
 * `settleMemory`) and ends with the new one, whose SHA-256 is checked:
 *
 * - Tako delta: `tako fetch` into a destination holding the base image;
 * - Tako full: the same with `--no-delta`;
 * - zsync: `zsync -i base.img` with a `.zsync` from `zsyncmake` (4 KiB blocks);
 * - casync: `casync extract --seed=base.img` from a chunk store made by `casync make`.
 *
 * Then, for memory: a random image of 1 GiB and of 4 GiB with three 100 KiB
 * regions changed, fetched as a delta under GNU time (peak RSS).
 *
 * Environment: BENCH_DELTA_TREE_MB (default 300), BENCH_DELTA_RUNS (wall
 * time runs per case, default 5), BENCH_DELTA_LARGE_MB (default "1024,4096";
 * "" skips), BENCH_KEEP=1 keeps the work directory. `make bench-delta-quick`
 * is an 80 MB tree, one run, no large images. A run with the defaults writes
 * bench/results-delta.json.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { MAIN, takoFlags } from "../dev/run_tako.ts";
import { formatSecretKey, generateSecretKey } from "../lib/core/keys.ts";
import { formatPublicKey } from "../lib/core/public_key.ts";
import { buildImage, type Format, FORMATS } from "./delta/formats.ts";
import { startNginx } from "../tests/support/nginx.ts";
import { ensurePrograms, run, type Timed, timed } from "./delta/tools.ts";
import { settleMemory, warmMemory } from "./measure.ts";
import { applyChange, buildTree, CHANGE_KINDS, type ChangeKind, listTree } from "./delta/tree.ts";
import { formatFile } from "./chart.ts";
import { type DeltaCase, deltaChart, deltaChecks, deltaTable } from "./delta/report.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const MB = 1_000_000;
const env = (name: string, fallback: string) => Deno.env.get(name) ?? fallback;
const TREE_MB = Number(env("BENCH_DELTA_TREE_MB", "300"));
const RUNS = Math.max(1, Number(env("BENCH_DELTA_RUNS", "5")));
const LARGE_MB = env("BENCH_DELTA_LARGE_MB", "1024,4096").split(",").map(Number).filter((n) =>
  n > 0
);
const DEFAULTS = ["BENCH_DELTA_TREE_MB", "BENCH_DELTA_RUNS", "BENCH_DELTA_LARGE_MB"].every((n) =>
  Deno.env.get(n) === undefined
);
const VERSIONS: Record<"base" | ChangeKind, string> = {
  base: "1.0.0",
  security: "1.1.0",
  minor: "1.2.0",
  metadata: "1.3.0",
};

await ensurePrograms({
  "/usr/bin/time": "time",
  nginx: "nginx-light",
  mksquashfs: "squashfs-tools",
  "mkfs.erofs": "erofs-utils",
  mke2fs: "e2fsprogs",
  debugfs: "e2fsprogs",
  zsync: "zsync",
  zsyncmake: "zsync",
  casync: "casync",
});

const work = await Deno.makeTempDir({ prefix: "tako-bench-delta-" });
const srv = `${work}/srv`;
const tako = [Deno.execPath(), "run", "--cached-only", ...await takoFlags(), MAIN];
const key = generateSecretKey(new TextEncoder().encode("tako-delta-bench-key-not-secret!"));
const keyFile = `${work}/bench.key`;
await Deno.writeTextFile(keyFile, formatSecretKey(key) + "\n", { mode: 0o600 });

async function sha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

async function store(origin: string, image: string, version: string): Promise<void> {
  await Deno.mkdir(origin, { recursive: true });
  await run([...tako, "store", "-f", keyFile, "-o", origin, image, version]);
}

async function writeConfig(path: string, origin: string, dest: string, version: string) {
  await Deno.writeTextFile(
    path,
    `Origin=${origin}\nPublicKey=${
      formatPublicKey(key.publicKey)
    }\nDestination=${dest}\nVersion=${version}\n`,
  );
}

const cases: DeltaCase[] = [];
const notes: string[] = [];

await Deno.mkdir(srv, { recursive: true });
await using nginx = await startNginx(srv);
let logged = 0;
/** Bytes nginx sent (headers included) for each request since the previous call. */
function takeLog(): number[] {
  const all = nginx.wireBytes();
  const fresh = all.slice(logged);
  logged = all.length;
  return fresh;
}

/** The longest wait for settled memory before a run, ms; undefined: no free page reporting. */
let settledMs: number | undefined;

/**
 * Runs one client `RUNS` times from a fresh copy of the starting host; checks its result.
 * Each run starts flushed and on settled memory (measure.ts `settleMemory`), or, where the
 * kernel does not report free memory or `start` is "warm", right after a scratch write of the
 * image's size (`warmMemory`).
 */
async function measure(
  c: Omit<DeltaCase, "bytes" | "requests" | "seconds" | "rssKb">,
  prepare: () => Promise<void>,
  client: () => Promise<Timed>,
  result: string,
  expected: string,
  start: "settled" | "warm" = "settled",
): Promise<void> {
  const seconds: number[] = [];
  const rssKb: number[] = [];
  let bytes = 0;
  let requests = 0;
  for (let i = 0; i < RUNS; i++) {
    await prepare();
    // The same start for every tool: nothing left to flush, memory as a timer-started fetch finds it.
    await run(["sync"]);
    const waited = start === "settled" ? await settleMemory() : undefined;
    // The scratch file is removed unflushed: nothing of it is left to write back.
    if (waited === undefined) await warmMemory(work, c.imageBytes);
    else settledMs = Math.max(settledMs ?? 0, waited);
    takeLog();
    const t = await client();
    const log = takeLog();
    if (t.code !== 0) throw new Error(`${c.tool} ${c.format} ${c.change} failed: ${t.stderr}`);
    const digest = await sha256(result);
    if (digest !== expected) {
      throw new Error(`${c.tool} ${c.format} ${c.change} built a wrong image (${digest})`);
    }
    seconds.push(t.seconds);
    rssKb.push(t.rssKb);
    bytes = log.reduce((n, b) => n + b, 0);
    requests = log.length;
  }
  cases.push({ ...c, bytes, requests, seconds, rssKb });
  console.error(
    `${c.format} ${c.change} ${c.tool}: ${(bytes / MB).toFixed(2)} MB in ${requests} requests, ${
      seconds.join("/")
    } s`,
  );
}

async function fresh(dir: string): Promise<void> {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
}

async function benchFormat(format: Format, trees: Record<string, string>, treeBytes: number) {
  const img = (kind: string) => `${work}/img/${format.name}-${kind}.img`;
  await Deno.mkdir(`${work}/img`, { recursive: true });
  for (const kind of ["base", ...CHANGE_KINDS]) {
    await buildImage(format, trees[kind]!, img(kind), treeBytes);
  }
  // Reproducible, or the delta measures the builder: a rebuild of the base tree gives the same bytes.
  await buildImage(format, trees.base!, `${img("base")}.again`, treeBytes);
  if (await sha256(img("base")) !== await sha256(`${img("base")}.again`)) {
    throw new Error(`${format.name}: a rebuild of the same tree gave other bytes`);
  }
  await Deno.remove(`${img("base")}.again`);

  const origin = `${srv}/tako/${format.name}`;
  for (const kind of ["base", ...CHANGE_KINDS] as const) {
    await store(origin, img(kind), VERSIONS[kind]);
  }
  const originUrl = `${nginx.url}/tako/${format.name}`;
  const baseHost = `${work}/hosts/${format.name}-base`;
  await Deno.mkdir(`${work}/hosts`, { recursive: true });
  await writeConfig(`${work}/base.conf`, originUrl, baseHost, VERSIONS.base);
  await run([...tako, "fetch", `${work}/base.conf`]);

  await Deno.mkdir(`${srv}/zsync`, { recursive: true });
  await Deno.mkdir(`${srv}/casync`, { recursive: true });
  for (const kind of CHANGE_KINDS) {
    const target = img(kind);
    const size = (await Deno.stat(target)).size;
    const expected = await sha256(target);
    const common = { format: format.name, change: kind, imageBytes: size };
    const host = `${work}/hosts/run`;
    const conf = `${work}/run.conf`;
    await writeConfig(conf, originUrl, host, VERSIONS[kind]);
    const prepareHost = async () => {
      await Deno.remove(host, { recursive: true }).catch(() => {});
      await run(["cp", "-a", baseHost, host]);
    };
    const latest = `${host}/latest`;
    await measure(
      { ...common, tool: "tako delta" },
      prepareHost,
      () => timed([...tako, "fetch", conf]),
      latest,
      expected,
    );
    await measure(
      { ...common, tool: "tako full" },
      prepareHost,
      () => timed([...tako, "fetch", "--no-delta", conf]),
      latest,
      expected,
    );

    const name = `${format.name}-${kind}.img`;
    await Deno.link(target, `${srv}/zsync/${name}`);
    await run(["zsyncmake", "-b", "4096", "-u", name, "-o", `${srv}/zsync/${name}.zsync`, target]);
    const out = `${work}/client`;
    await measure(
      { ...common, tool: "zsync" },
      () => fresh(out),
      () =>
        timed([
          "zsync",
          "-q",
          "-i",
          img("base"),
          "-o",
          `${out}/new.img`,
          `${nginx.url}/zsync/${name}.zsync`,
        ], {
          cwd: out,
        }),
      `${out}/new.img`,
      expected,
    );

    const castr = `${srv}/casync/${format.name}.castr`;
    await run(["casync", "make", `--store=${castr}`, `${srv}/casync/${name}.caibx`, target]);
    await measure(
      { ...common, tool: "casync" },
      () => fresh(out),
      () =>
        timed([
          "casync",
          "extract",
          `--store=${nginx.url}/casync/${format.name}.castr`,
          `--seed=${img("base")}`,
          `${nginx.url}/casync/${name}.caibx`,
          `${out}/new.img`,
        ]),
      `${out}/new.img`,
      expected,
    );
  }
  await Deno.remove(`${srv}/zsync`, { recursive: true });
  await Deno.remove(`${srv}/casync`, { recursive: true });
  await Deno.remove(`${work}/hosts`, { recursive: true });
  for (const kind of ["base", ...CHANGE_KINDS]) await Deno.remove(img(kind));
}

/** A random image with three 100 KiB regions changed: peak RSS of a delta fetch by size. */
async function benchLarge(mb: number): Promise<void> {
  const base = `${work}/large-base.img`;
  const next = `${work}/large-next.img`;
  await run([
    "sh",
    "-c",
    `head -c ${mb * 1024 * 1024} /dev/urandom > ${base} && cp ${base} ${next}`,
  ]);
  const size = mb * 1024 * 1024;
  using file = await Deno.open(next, { write: true });
  for (const at of [0.1, 0.5, 0.9]) {
    await file.seek(Math.floor(size * at), Deno.SeekMode.Start);
    await file.write(crypto.getRandomValues(new Uint8Array(65536)));
    await file.write(crypto.getRandomValues(new Uint8Array(36864)));
  }
  file.close();
  const origin = `${srv}/tako/large-${mb}`;
  await store(origin, base, "1.0.0");
  await store(origin, next, "1.1.0");
  const host = `${work}/hosts/large`;
  await Deno.mkdir(`${work}/hosts`, { recursive: true });
  await writeConfig(`${work}/large.conf`, `${nginx.url}/tako/large-${mb}`, host, "1.0.0");
  await run([...tako, "fetch", `${work}/large.conf`]);
  const hostBase = `${host}-base`;
  await run(["cp", "-a", host, hostBase]);
  await writeConfig(`${work}/large.conf`, `${nginx.url}/tako/large-${mb}`, host, "1.1.0");
  const expected = await sha256(next);
  await measure(
    { format: `random ${mb} MiB`, change: "3 × 100 KiB", tool: "tako delta", imageBytes: size },
    async () => {
      await Deno.remove(host, { recursive: true });
      await run(["cp", "-a", hostBase, host]);
    },
    () => timed([...tako, "fetch", `${work}/large.conf`]),
    `${host}/latest`,
    expected,
    // Peak RSS is what these rows are for; settling 2–8 GiB of freed memory takes minutes.
    "warm",
  );
  await Deno.remove(origin, { recursive: true });
  await Deno.remove(host, { recursive: true });
  await Deno.remove(hostBase, { recursive: true });
  await Deno.remove(base);
  await Deno.remove(next);
}

async function loadAverage(): Promise<string> {
  return (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
}

try {
  const started = new Date();
  const loadBefore = await loadAverage();
  const trees: Record<string, string> = { base: `${work}/tree/base` };
  const treeBytes = await buildTree(trees.base!, TREE_MB * MB);
  const files = (await listTree(trees.base!)).length;
  for (const [i, kind] of CHANGE_KINDS.entries()) {
    trees[kind] = `${work}/tree/${kind}`;
    await run(["cp", "-a", trees.base!, trees[kind]!]);
    await applyChange(trees[kind]!, kind, 1000 + i);
  }
  console.error(`tree: ${(treeBytes / MB).toFixed(0)} MB in ${files} files`);
  for (const format of FORMATS) await benchFormat(format, trees, treeBytes);
  await Deno.remove(`${work}/tree`, { recursive: true });
  for (const mb of LARGE_MB) await benchLarge(mb);

  const checks = deltaChecks(cases);
  const machine = {
    started: started.toISOString(),
    cpus: navigator.hardwareConcurrency,
    loadavgBefore: loadBefore,
    loadavgAfter: await loadAverage(),
  };
  console.log(deltaTable(cases, { treeBytes, files, runs: RUNS, machine }));
  for (const c of checks) {
    console.log(`${c.pass ? "met   " : "missed"}  ${c.target}: ${c.measured}`);
  }
  const memory = settledMs === undefined
    ? "each run of the tree's images started right after a scratch write of the image's size"
    : `each run of the tree's images started on settled memory (longest wait ${
      (settledMs / 1000).toFixed(1)
    } s)${
      LARGE_MB.length > 0
        ? "; the large images' runs right after a scratch write of their size"
        : ""
    }`;
  notes.push(`Memory: ${memory}.`);
  for (const n of notes) console.log(n);
  if (DEFAULTS) {
    const results = { machine, memory, treeBytes, files, runs: RUNS, cases, checks };
    await Deno.writeTextFile(
      `${ROOT}bench/results-delta.json`,
      JSON.stringify(results, null, 2) + "\n",
    );
    await Deno.writeTextFile(`${ROOT}docs/delta.svg`, deltaChart(cases));
    await formatFile(`${ROOT}docs/delta.svg`); // as `deno fmt --check` in make test wants it
  }
} finally {
  if (Deno.env.get("BENCH_KEEP") !== "1") await Deno.remove(work, { recursive: true });
  else console.error(`kept ${work}`);
}
