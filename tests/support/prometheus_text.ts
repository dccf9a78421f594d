/**
 * A strict parser of the Prometheus text exposition format (0.0.4), for tests
 * of `tako status --prometheus`: it throws on anything the format (or
 * promtool's checks of it) refuses, and returns the samples by family.
 *
 * Checked: HELP/TYPE syntax, at most one of each per family and TYPE before
 * the family's first sample; metric and label names; label values quoted with
 * only the \\, \" and \n escapes; values as Go's ParseFloat reads them; every
 * family's samples contiguous; no series twice; counters named `_total`; no
 * control character anywhere; a final line feed.
 *
 * @module
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  help?: string;
  type?: string;
  readonly samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);
const FLOAT = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;

function parseValue(text: string, where: string): number {
  if (text === "NaN") return NaN;
  if (text === "+Inf" || text === "Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (!FLOAT.test(text)) throw new Error(`${where}: '${text}' is not a sample value`);
  return Number(text);
}

/** Reads `{name="value",...}` at `at` (just after the '{'); returns the labels and the end. */
function parseLabels(line: string, at: number, where: string): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  let i = at;
  while (line[i] !== "}") {
    const eq = line.indexOf("=", i);
    if (eq < 0) throw new Error(`${where}: label without '='`);
    const name = line.slice(i, eq);
    if (!LABEL_NAME.test(name)) throw new Error(`${where}: bad label name '${name}'`);
    if (name in labels) throw new Error(`${where}: label ${name} twice`);
    if (line[eq + 1] !== '"') throw new Error(`${where}: label value not quoted`);
    let value = "";
    let j = eq + 2;
    for (;; j++) {
      const ch = line[j];
      if (ch === undefined) throw new Error(`${where}: unterminated label value`);
      if (ch === '"') break;
      if (ch === "\\") {
        const next = line[++j];
        if (next === "\\" || next === '"') value += next;
        else if (next === "n") value += "\n";
        else throw new Error(`${where}: bad escape \\${next} in a label value`);
      } else value += ch;
    }
    labels[name] = value;
    i = j + 1;
    if (line[i] === ",") i++;
    else if (line[i] !== "}") throw new Error(`${where}: expected ',' or '}' after a label`);
  }
  return [labels, i + 1];
}

/** Parses a whole exposition; throws an Error naming the line for any violation. */
export function parsePrometheusText(text: string): Map<string, Family> {
  // deno-lint-ignore no-control-regex -- looking for control characters is the point
  if (/[\x00-\x09\x0b-\x1f\x7f]/.test(text)) throw new Error("a control character in the text");
  if (!text.endsWith("\n")) throw new Error("the text does not end with a line feed");
  const families = new Map<string, Family>();
  const closed = new Set<string>();
  const series = new Set<string>();
  let current: string | undefined;
  const family = (name: string) => {
    if (current !== name) {
      if (current !== undefined) closed.add(current);
      if (closed.has(name)) throw new Error(`family ${name} is not contiguous`);
      current = name;
    }
    let f = families.get(name);
    if (f === undefined) families.set(name, f = { samples: [] });
    return f;
  };
  const lines = text.slice(0, -1).split("\n");
  lines.forEach((line, index) => {
    const where = `line ${index + 1}`;
    if (line.trim() === "") return;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta !== null) {
      const [, keyword, name, rest] = meta as unknown as [string, string, string, string];
      if (!METRIC_NAME.test(name)) throw new Error(`${where}: bad metric name '${name}'`);
      const f = family(name);
      if (keyword === "HELP") {
        if (f.help !== undefined) throw new Error(`${where}: second HELP for ${name}`);
        f.help = rest;
      } else {
        if (f.type !== undefined) throw new Error(`${where}: second TYPE for ${name}`);
        if (f.samples.length > 0) throw new Error(`${where}: TYPE after samples of ${name}`);
        if (!TYPES.has(rest)) throw new Error(`${where}: unknown type '${rest}'`);
        if (rest === "counter" && !name.endsWith("_total")) {
          throw new Error(`${where}: counter ${name} should end in _total`);
        }
        f.type = rest;
      }
      return;
    }
    if (line.startsWith("#")) return;
    const nameEnd = line.search(/[{ ]/);
    if (nameEnd <= 0) throw new Error(`${where}: expected a sample`);
    const name = line.slice(0, nameEnd);
    if (!METRIC_NAME.test(name)) throw new Error(`${where}: bad metric name '${name}'`);
    let labels: Record<string, string> = {};
    let rest = nameEnd;
    if (line[nameEnd] === "{") [labels, rest] = parseLabels(line, nameEnd + 1, where);
    const fields = line.slice(rest).trim().split(/ +/);
    if (line[rest] !== " " || fields.length < 1 || fields.length > 2) {
      throw new Error(`${where}: expected '<value> [timestamp]' after the name`);
    }
    const value = parseValue(fields[0]!, where);
    if (fields[1] !== undefined && !/^-?[0-9]+$/.test(fields[1])) {
      throw new Error(`${where}: bad timestamp '${fields[1]}'`);
    }
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (series.has(key)) throw new Error(`${where}: series ${key} twice`);
    series.add(key);
    family(name).samples.push({ name, labels, value });
  });
  return families;
}
