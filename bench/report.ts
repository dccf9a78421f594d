/**
 * Prints the results of the last full `make bench` (bench/results.json) as the
 * Markdown tables of docs/performance.md, so the page quotes the run exactly:
 * `deno run --allow-read bench/report.ts [results.json]`. With `--update
 * <file>` (and --allow-write) it puts them between the page's
 * `<!-- bench results -->` and `<!-- end of bench results -->` lines instead;
 * with `--svg <file>` (and --allow-write --allow-run) it also draws the chart
 * of those results again.
 *
 * @module
 */
import { benchChart, formatFile } from "./chart.ts";

interface CaseResult {
  readonly group: string;
  readonly name: string;
  readonly method: string;
  readonly bytes: number | null;
  readonly medianSeconds: number;
  readonly minSeconds: number;
  readonly maxSeconds: number;
  readonly peakRssMb: number | null;
  readonly othersCpus: number;
}

interface Results {
  readonly command: string;
  readonly durationSeconds: number;
  readonly machine: Record<string, unknown>;
  readonly servers: { label: string; method: string }[];
  readonly cases: CaseResult[];
  readonly checks: { target: string; measured: string; pass: boolean }[];
  readonly notes: string[];
  readonly runs: number;
  readonly periodicRuns: number;
}

const MB = 1_000_000;
/** The value of `--name <value>`, and the arguments without it. */
function option(args: readonly string[], name: string): [string | undefined, string[]] {
  const at = args.indexOf(name);
  if (at < 0) return [undefined, [...args]];
  return [args[at + 1], args.filter((_, i) => i !== at && i !== at + 1)];
}
const [svgPath, afterSvg] = option(Deno.args, "--svg");
const [updatePath, rest] = option(afterSvg, "--update");
const path = rest[0] ?? new URL("results.json", import.meta.url).pathname;
const START = "<!-- bench results -->";
const END = "<!-- end of bench results -->";
const lines: string[] = [];
const print = (text = "") => lines.push(text);
const results: Results = JSON.parse(await Deno.readTextFile(path));

function time(s: number): string {
  return s < 1 ? `${(s * 1000).toFixed(0)} ms` : `${s.toFixed(2)} s`;
}
const loads = (x: unknown) => (x as number[]).map((v) => v.toFixed(2)).join(" ");

const m = results.machine;
print(
  `\`${results.command}\`, ${
    results.durationSeconds.toFixed(0)
  } s. Machine: ${m.nproc} × ${m.model}, ` +
    `${m.memoryGiB} GiB RAM, Linux ${m.kernel}, Deno ${m.deno}; run of ${
      String(m.date).slice(0, 16).replace("T", " ")
    } UTC; load average ${loads(m.loadavgAtStart)} at the start, ${loads(m.loadavgAtEnd)} at the ` +
    `end; CPU pressure (some, avg60) ${m.cpuPressureAtStart} % / ${m.cpuPressureAtEnd} %; ` +
    `busiest other processes at the start: ${
      (m.busiestAtStart as string[]).join(", ") || "none over 5 %"
    }.\n`,
);
for (const s of results.servers) print(`- server ${s.label}: ${s.method}`);

let group = "";
for (const c of results.cases) {
  if (c.group !== group) {
    group = c.group;
    print(`\n**${group}**\n`);
    print("| case | median | min | max | MB/s | peak RSS | others' CPU |");
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
  }
  const rate = c.bytes ? (c.bytes / MB / c.medianSeconds).toFixed(0) : "";
  const rss = c.peakRssMb === null ? "" : `${c.peakRssMb.toFixed(0)} MB`;
  print(
    `| ${c.name.replaceAll("|", "\\|")} | ${time(c.medianSeconds)} | ${time(c.minSeconds)} | ${
      time(c.maxSeconds)
    } | ${rate} | ${rss} | ${c.othersCpus.toFixed(2)} |`,
  );
}

print("\n**Methods**\n");
for (const method of new Set(results.cases.map((c) => `- ${c.name}: ${c.method}`))) {
  print(method);
}

print("\n| target | measured (medians) | |\n| --- | --- | --- |");
for (const c of results.checks) {
  print(`| ${c.target} | ${c.measured} | ${c.pass ? "met" : "**missed**"} |`);
}
for (const n of results.notes) print(`\nNote: ${n}`);
if (updatePath === undefined) {
  console.log(lines.join("\n"));
} else {
  const page = await Deno.readTextFile(updatePath);
  const start = page.indexOf(START);
  const end = page.indexOf(END);
  if (start < 0 || end < start) throw new Error(`${updatePath} lacks the ${START} … ${END} lines`);
  await Deno.writeTextFile(
    updatePath,
    `${page.slice(0, start + START.length)}\n\n${lines.join("\n")}\n\n${page.slice(end)}`,
  );
  await formatFile(updatePath);
}
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
