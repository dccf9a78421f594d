/**
 * Prints the results of the last full `make bench` (bench/results.json) as the
 * Markdown tables of docs/performance.md, so the page quotes the run exactly:
 * `deno run --allow-read bench/report.ts [results.json]`. With `--svg <file>`
 * (and --allow-write --allow-run) it also draws the chart of those results again.
 *
 * @module
 */
import { benchChart, formatFile } from "./chart.ts";

interface CaseResult {
  readonly group: string;
  readonly name: string;
  readonly bytes?: number | null;
  readonly seconds: number[];
  readonly medianSeconds: number;
  readonly peakRssMb: number | null;
}

interface Results {
  readonly machine: Record<string, unknown>;
  readonly cases: CaseResult[];
  readonly checks: { target: string; measured: string; pass: boolean }[];
  readonly notes: string[];
  readonly runs: number;
  readonly periodicRuns: number;
}

const MB = 1_000_000;
const svgAt = Deno.args.indexOf("--svg");
const svgPath = svgAt >= 0 ? Deno.args[svgAt + 1] : undefined;
const rest = svgAt >= 0 ? Deno.args.filter((_, i) => i !== svgAt && i !== svgAt + 1) : Deno.args;
const path = rest[0] ?? new URL("results.json", import.meta.url).pathname;
const results: Results = JSON.parse(await Deno.readTextFile(path));

function time(s: number): string {
  return s < 1 ? `${(s * 1000).toFixed(0)} ms` : `${s.toFixed(2)} s`;
}

const m = results.machine;
console.log(
  `Machine: ${m.nproc} × ${m.model}, ${m.memoryGiB} GiB RAM, Linux ${m.kernel}, Deno ${m.deno}; ` +
    `run of ${String(m.date).slice(0, 16).replace("T", " ")} UTC; ` +
    `load average ${
      (m.loadavgAtStart as number[]).map((x) => x.toFixed(2)).join(" ")
    } at the start, ` +
    `${(m.loadavgAtEnd as number[]).map((x) => x.toFixed(2)).join(" ")} at the end; ` +
    `CPU pressure (some, avg60) ${m.cpuPressureAtStart} % / ${m.cpuPressureAtEnd} %.\n`,
);

let group = "";
for (const c of results.cases) {
  if (c.group !== group) {
    group = c.group;
    console.log(`\n**${group}**\n`);
    console.log("| case | median | min | max | MB/s | peak RSS |");
    console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
  }
  const rate = c.bytes && !c.group.startsWith("100,000")
    ? (c.bytes / MB / c.medianSeconds).toFixed(0)
    : "";
  const rss = c.peakRssMb === null ? "" : `${c.peakRssMb.toFixed(0)} MB`;
  console.log(
    `| ${c.name.replaceAll("|", "\\|")} | ${time(c.medianSeconds)} | ${
      time(Math.min(...c.seconds))
    } | ${time(Math.max(...c.seconds))} | ${rate} | ${rss} |`,
  );
}

console.log("\n| target | measured | |\n| --- | --- | --- |");
for (const c of results.checks) {
  console.log(`| ${c.target} | ${c.measured} | ${c.pass ? "met" : "**missed**"} |`);
}
for (const n of results.notes) console.log(`\nNote: ${n}`);
if (svgPath !== undefined) {
  await Deno.writeTextFile(
    svgPath,
    benchChart(
      results.machine as { nproc: unknown; model: unknown; deno: unknown; date: unknown },
      results.cases,
    ),
  );
  await formatFile(svgPath);
}
