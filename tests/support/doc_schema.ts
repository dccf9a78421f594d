/**
 * A JSON validator driven by the documentation: it reads a key table
 * (`| key | type | meaning |`) from a docs/ page and checks that an object
 * has exactly the documented keys, each of the documented type. The tests of
 * `--json` outputs use it, so the document and its documentation cannot
 * drift apart.
 *
 * Types as the docs write them: `string`, `number`, `boolean`, `string[]`,
 * the name of another table's object (`image`, `error`), each optionally
 * `or null`.
 *
 * @module
 */

/** The documented type of each key, by key. */
export type KeyTable = ReadonlyMap<string, string>;

/**
 * The key table that follows the first line of `markdown` containing
 * `marker` (a heading or a sentence introducing the table).
 */
export function keyTable(markdown: string, marker: string): KeyTable {
  const start = markdown.indexOf(marker);
  if (start < 0) throw new Error(`no '${marker}' in the documentation`);
  const lines = markdown.slice(start).split("\n");
  const first = lines.findIndex((l) => l.startsWith("| key"));
  if (first < 0) throw new Error(`no key table after '${marker}'`);
  const table = new Map<string, string>();
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith("|")) break;
    const [key, type] = line.split("|").slice(1, 3).map((cell) => cell.trim());
    const name = /^`([a-z0-9_]+)`$/.exec(key ?? "")?.[1];
    if (name === undefined || type === undefined) throw new Error(`bad table row: ${line}`);
    table.set(name, type);
  }
  return table;
}

/**
 * Checks `value` against `table`: exactly its keys, of its types. `objects`
 * gives the tables of named object types. Returns the problems, `[]` when it
 * conforms.
 */
export function validate(
  value: unknown,
  table: KeyTable,
  objects: Readonly<Record<string, KeyTable>> = {},
  where = "$",
): string[] {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return [`${where}: expected an object`];
  }
  const problems: string[] = [];
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!table.has(key)) problems.push(`${where}.${key}: not documented`);
  }
  for (const [key, type] of table) {
    if (!(key in record)) {
      problems.push(`${where}.${key}: missing`);
      continue;
    }
    problems.push(...checkType(record[key], type, objects, `${where}.${key}`));
  }
  return problems;
}

function checkType(
  value: unknown,
  type: string,
  objects: Readonly<Record<string, KeyTable>>,
  where: string,
): string[] {
  const nullable = type.endsWith(" or null");
  const base = nullable ? type.slice(0, -" or null".length) : type;
  if (value === null) return nullable ? [] : [`${where}: null, but ${type}`];
  if (base.endsWith("[]")) {
    if (!Array.isArray(value)) return [`${where}: expected ${type}`];
    return value.flatMap((v, i) => checkType(v, base.slice(0, -2), objects, `${where}[${i}]`));
  }
  switch (base) {
    case "string":
      return typeof value === "string" ? [] : [`${where}: expected a string`];
    case "number":
      return typeof value === "number" && Number.isFinite(value) ? [] : [
        `${where}: expected a number`,
      ];
    case "boolean":
      return typeof value === "boolean" ? [] : [`${where}: expected a boolean`];
  }
  const table = objects[base];
  if (table === undefined) return [`${where}: the docs name an unknown type '${base}'`];
  return validate(value, table, objects, where);
}

const DOCS = new URL("../../docs/", import.meta.url);

/**
 * The documented schema of `tako fetch --json` (docs/tako-fetch.md): problems
 * of a whole document, `[]` when it conforms.
 */
export async function fetchJsonProblems(document: unknown): Promise<string[]> {
  const doc = await Deno.readTextFile(new URL("tako-fetch.md", DOCS));
  const section = doc.slice(doc.indexOf("## JSON output (`--json`)"));
  const objects = {
    entry: keyTable(section, "An `entry`:"),
    image: keyTable(section, "An `image`:"),
    error: keyTable(section, "An `error`:"),
    delta: keyTable(section, "A `delta`,"),
    rollback: keyTable(section, "A `rollback`,"),
  };
  const problems = validate(document, keyTable(section, "The document:"), objects);
  const d = document as { schema?: unknown; configs?: { error?: { kind?: unknown } | null }[] };
  if (d.schema !== 1) problems.push("$.schema: not 1");
  for (const [i, entry] of (d.configs ?? []).entries()) {
    const kind = entry.error?.kind;
    if (
      kind !== undefined &&
      !["runtime", "usage", "config", "integrity", "internal"].includes(String(kind))
    ) {
      problems.push(`$.configs[${i}].error.kind: '${kind}' is not a documented kind`);
    }
  }
  return problems;
}
