/**
 * The throughput chart of docs/performance.svg: a horizontal bar chart written
 * as SVG text by hand (no libraries). Pure: bars in, text out.
 *
 * @module
 */

/** One bar: a tool's throughput in one group (e.g. "fetch 1 GiB"). */
export interface Bar {
  readonly group: string;
  readonly label: string;
  /** MB/s (10^6 bytes per second). */
  readonly value: number;
  /** Tako's own bars are drawn in the accent colour. */
  readonly tako: boolean;
}

const WIDTH = 760;
const LABEL_WIDTH = 250;
const VALUE_WIDTH = 90;
const BAR_HEIGHT = 18;
const BAR_GAP = 6;
const GROUP_GAP = 22;
const TOP = 56;

function escapeXml(text: string): string {
  return text.replace(
    /[<>&"']/g,
    (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!,
  );
}

/**
 * Renders the bars, grouped in the order given; each group has its own scale
 * (a plain `cp` of a cached file would otherwise flatten every other bar).
 *
 * @example
 * ```ts
 * const svg = throughputChart("Throughput", "subtitle", [{ group: "fetch 1 GiB", label: "curl -o file", value: 1000, tako: false }]);
 * ```
 */
export function throughputChart(title: string, subtitle: string, bars: readonly Bar[]): string {
  const groups: string[] = [];
  for (const bar of bars) if (!groups.includes(bar.group)) groups.push(bar.group);
  const plot = WIDTH - LABEL_WIDTH - VALUE_WIDTH - 20;
  const parts: string[] = [];
  let y = TOP;
  for (const group of groups) {
    parts.push(
      `<text x="10" y="${y + 12}" font-weight="bold">${escapeXml(group)}</text>`,
    );
    y += 20;
    const members = bars.filter((b) => b.group === group);
    const max = Math.max(1, ...members.map((b) => b.value));
    for (const bar of members) {
      const width = Math.max(1, Math.round((bar.value / max) * plot));
      const fill = bar.tako ? "#d9480f" : "#868e96";
      parts.push(
        `<text x="${LABEL_WIDTH - 8}" y="${y + 13}" text-anchor="end">${
          escapeXml(bar.label)
        }</text>`,
        `<rect x="${LABEL_WIDTH}" y="${y}" width="${width}" height="${BAR_HEIGHT}" fill="${fill}"/>`,
        `<text x="${LABEL_WIDTH + width + 6}" y="${y + 13}">${Math.round(bar.value)} MB/s</text>`,
      );
      y += BAR_HEIGHT + BAR_GAP;
    }
    y += GROUP_GAP;
  }
  const height = y + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="10" y="22" font-size="16" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="10" y="40" fill="#495057">${escapeXml(subtitle)}</text>`,
    ...parts,
    `</svg>`,
    "",
  ].join("\n");
}

/** What a chart needs of a measured case. */
export interface MeasuredCase {
  readonly group: string;
  readonly name: string;
  readonly bytes?: number | null | undefined;
  readonly medianSeconds: number;
}

/** The bars of the fetch and store groups: MB/s of each tool's median. */
export function barsOf(cases: readonly MeasuredCase[]): Bar[] {
  return cases
    .filter((c) => typeof c.bytes === "number" && /^(fetch|store) /.test(c.group))
    .map((c) => ({
      group: c.group,
      label: c.name,
      value: (c.bytes as number) / 1_000_000 / c.medianSeconds,
      tako: c.name.startsWith("tako"),
    }));
}

/** The chart of a run: title and machine line, then the bars. */
export function benchChart(
  machine: { nproc: unknown; model: unknown; deno: unknown; date: unknown },
  cases: readonly MeasuredCase[],
): string {
  return throughputChart(
    "Throughput by tool (MB/s of the median run; page cache warm)",
    `${machine.nproc} × ${machine.model}, Deno ${machine.deno}, ${
      String(machine.date).slice(0, 10)
    }; loopback from python3 -m http.server and nginx; each group on its own scale`,
    barsOf(cases),
  );
}

/** Formats a written chart the way `deno fmt` (and so `make test`) wants SVG files. */
export async function formatFile(path: string): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", path],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`deno fmt ${path}: ${new TextDecoder().decode(out.stderr)}`);
}
