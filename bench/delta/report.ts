/**
 * The delta benchmark's results as a table, the issue's targets as checks,
 * and a chart of bytes on the wire. Pure: cases in, text out.
 *
 * @module
 */

/** One client on one format and change, over one or more runs. */
export interface DeltaCase {
  readonly format: string;
  readonly change: string;
  readonly tool: string;
  readonly imageBytes: number;
  /** Bytes nginx sent, headers and indexes included (the last run). */
  readonly bytes: number;
  readonly requests: number;
  readonly seconds: readonly number[];
  readonly rssKb: readonly number[];
}

export interface Check {
  readonly target: string;
  readonly measured: string;
  readonly pass: boolean;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const percent = (c: DeltaCase) => (100 * c.bytes) / c.imageBytes;
const pct = (n: number) => `${n.toFixed(2)} %`;
const secs = (values: readonly number[]) =>
  values.length === 1
    ? `${values[0]!.toFixed(2)} s`
    : `${median(values).toFixed(2)} s (${Math.min(...values).toFixed(2)}–${
      Math.max(...values).toFixed(2)
    })`;

function find(cases: readonly DeltaCase[], format: string, change: string, tool: string) {
  return cases.find((c) => c.format === format && c.change === change && c.tool === tool);
}

/** The markdown table: one row per format and change, each client's bytes, requests, time. */
export function deltaTable(
  cases: readonly DeltaCase[],
  about: { treeBytes: number; files: number; runs: number; machine: Record<string, unknown> },
): string {
  const tools = ["tako delta", "tako full", "zsync", "casync"];
  const lines = [
    `Tree: ${
      (about.treeBytes / 1e6).toFixed(0)
    } MB in ${about.files} files; ${about.runs} run(s) per case (median, min–max); machine ${
      JSON.stringify(about.machine)
    }`,
    "",
    `| format | change | image MB | ${
      tools.map((t) => `${t}: bytes, requests, time`).join(" | ")
    } |`,
    `|---|---|---|${tools.map(() => "---").join("|")}|`,
  ];
  const rows = new Map<string, DeltaCase[]>();
  for (const c of cases) {
    rows.set(`${c.format}\u0000${c.change}`, [
      ...(rows.get(`${c.format}\u0000${c.change}`) ?? []),
      c,
    ]);
  }
  for (const group of rows.values()) {
    const first = group[0]!;
    const cells = tools.map((t) => {
      const c = group.find((g) => g.tool === t);
      return c === undefined ? "–" : `${pct(percent(c))}, ${c.requests}, ${secs(c.seconds)}`;
    });
    lines.push(
      `| ${first.format} | ${first.change} | ${(first.imageBytes / 1e6).toFixed(0)} | ${
        cells.join(" | ")
      } |`,
    );
  }
  const large = cases.filter((c) => c.format.startsWith("random"));
  if (large.length > 0) {
    lines.push("", "| image | tako delta peak RSS | time |", "|---|---|---|");
    for (const c of large) {
      lines.push(
        `| ${c.format} | ${(Math.max(...c.rssKb) / 1024).toFixed(0)} MB | ${secs(c.seconds)} |`,
      );
    }
  }
  return lines.join("\n");
}

/** The issue's targets, each judged on this run's figures (medians for times). */
export function deltaChecks(cases: readonly DeltaCase[]): Check[] {
  const checks: Check[] = [];
  for (const d of cases.filter((c) => c.tool === "tako delta" && !c.format.startsWith("random"))) {
    const at = `${d.format} ${d.change}`;
    const zsync = find(cases, d.format, d.change, "zsync");
    const full = find(cases, d.format, d.change, "tako full");
    if (zsync !== undefined) {
      checks.push({
        target: `${at}: Tako's bytes ≤ zsync's`,
        measured: `${pct(percent(d))} vs ${pct(percent(zsync))}`,
        pass: d.bytes <= zsync.bytes,
      });
      checks.push({
        target: `${at}: delta wall time ≤ zsync's`,
        measured: `${median(d.seconds).toFixed(2)} s vs ${median(zsync.seconds).toFixed(2)} s`,
        pass: median(d.seconds) <= median(zsync.seconds),
      });
    }
    if (full !== undefined) {
      checks.push({
        target: `${at}: delta wall time ≤ 1.5 × a full Tako fetch`,
        measured: `${(median(d.seconds) / median(full.seconds)).toFixed(2)} ×`,
        pass: median(d.seconds) <= 1.5 * median(full.seconds),
      });
    }
    if (d.change === "security") {
      checks.push({
        target: `${at}: ≤ 4 % of the image in ≤ 64 requests`,
        measured: `${pct(percent(d))} in ${d.requests} requests`,
        pass: percent(d) <= 4 && d.requests <= 64,
      });
    }
  }
  const large = cases.filter((c) => c.format.startsWith("random"));
  for (const c of large) {
    const mb = Math.max(...c.rssKb) / 1024;
    checks.push({
      target: `${c.format}: delta peak RSS ≤ 150 MB`,
      measured: `${mb.toFixed(0)} MB`,
      pass: mb <= 150,
    });
  }
  if (large.length >= 2) {
    const rss = large.map((c) => Math.max(...c.rssKb));
    checks.push({
      target: "delta peak RSS flat from the smallest to the largest image (within 20 %)",
      measured: large.map((c, i) => `${c.format} ${(rss[i]! / 1024).toFixed(0)} MB`).join(", "),
      pass: Math.max(...rss) <= 1.2 * Math.min(...rss),
    });
  }
  return checks;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;" })[c]!);
}

/** Bars of bytes on the wire (% of the new image) per format and change, one per client. */
export function deltaChart(cases: readonly DeltaCase[]): string {
  const tools = ["tako delta", "zsync", "casync"];
  const colours: Record<string, string> = {
    "tako delta": "#d9480f",
    zsync: "#495057",
    casync: "#adb5bd",
  };
  const groups = [
    ...new Set(
      cases.filter((c) => !c.format.startsWith("random")).map((c) => `${c.format} ${c.change}`),
    ),
  ];
  const bar = 12;
  const groupHeight = tools.length * bar + 10;
  const left = 190;
  const width = 760;
  const top = 40;
  const height = top + groups.length * groupHeight + 20;
  const max = Math.max(
    1,
    ...cases.filter((c) => tools.includes(c.tool)).map(percent),
  );
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<text x="10" y="20" font-size="14">Bytes on the wire for an update, % of the new image (lower is better)</text>`,
    ...tools.map((t, i) =>
      `<rect x="${left + i * 110}" y="28" width="10" height="10" fill="${colours[t]}"/><text x="${
        left + i * 110 + 14
      }" y="37">${t}</text>`
    ),
  ];
  groups.forEach((g, gi) => {
    const y = top + gi * groupHeight;
    parts.push(`<text x="10" y="${y + 20}">${escapeXml(g)}</text>`);
    tools.forEach((t, ti) => {
      const c = cases.find((x) => `${x.format} ${x.change}` === g && x.tool === t);
      if (c === undefined) return;
      const w = ((width - left - 70) * percent(c)) / max;
      const by = y + ti * bar + 4;
      parts.push(
        `<rect x="${left}" y="${by}" width="${w.toFixed(1)}" height="${bar - 2}" fill="${
          colours[t]
        }"/>`,
        `<text x="${(left + w + 4).toFixed(1)}" y="${by + 9}">${pct(percent(c))}</text>`,
      );
    });
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
