/**
 * The house plan (docs/architecture.md) as a test: it reads every module's
 * imports and fails when a layer reaches where it must not.
 */
import { assert } from "../support/assert.ts";

const LIB = new URL("../../lib/", import.meta.url);

async function modules(layer: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(new URL(`${layer}/`, LIB))) {
    if (entry.isFile && entry.name.endsWith(".ts")) found.push(`${layer}/${entry.name}`);
  }
  return found.sort();
}

/** The specifiers a module imports, statically or dynamically. */
function importsOf(source: string): string[] {
  const found: string[] = [];
  for (const m of source.matchAll(/(?:from|import)\s*\(?\s*"([^"]+)"/g)) found.push(m[1]!);
  return found;
}

/** Source without comments, so that a JSDoc example does not count as code. */
function code(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

/** What core may import besides itself: computation only, no I/O. */
const PURE_PACKAGES = new Set(["@noble/curves/ed25519", "semver", "node:crypto"]);

async function read(path: string): Promise<string> {
  return await Deno.readTextFile(new URL(path, LIB));
}

Deno.test("lib/ holds only the three layers", async () => {
  const names: string[] = [];
  for await (const entry of Deno.readDir(LIB)) names.push(entry.name);
  assert.deepEqual(names.sort(), ["commands", "core", "shell"]);
});

Deno.test("lib/core/ is pure: no Deno.*, imports only core and npm packages", async () => {
  const breaches: string[] = [];
  for (const path of await modules("core")) {
    const source = code(await read(path));
    if (/\bDeno\./.test(source)) breaches.push(`${path} uses Deno.*`);
    for (const spec of importsOf(source)) {
      const sibling = spec.startsWith("./") && !spec.includes("/", 2);
      if (!sibling && !PURE_PACKAGES.has(spec)) breaches.push(`${path} imports ${spec}`);
    }
  }
  assert.deepEqual(breaches, []);
});

Deno.test("lib/shell/ never imports lib/commands/", async () => {
  const breaches: string[] = [];
  for (const path of await modules("shell")) {
    for (const spec of importsOf(code(await read(path)))) {
      if (spec.includes("commands/")) breaches.push(`${path} imports ${spec}`);
    }
  }
  assert.deepEqual(breaches, []);
});

Deno.test("lib/commands/ never import each other", async () => {
  const breaches: string[] = [];
  for (const path of await modules("commands")) {
    for (const spec of importsOf(code(await read(path)))) {
      if (spec.startsWith("./")) breaches.push(`${path} imports ${spec}`);
    }
  }
  assert.deepEqual(breaches, []);
});

Deno.test("no module in lib/ is over 400 lines", async () => {
  const long: string[] = [];
  for (const layer of ["core", "shell", "commands"]) {
    for (const path of await modules(layer)) {
      const lines = (await read(path)).split("\n").length - 1;
      if (lines > 400) long.push(`${path}: ${lines} lines`);
    }
  }
  assert.deepEqual(long, []);
});
