/**
 * What the periodic check loads (docs/performance.md): the modules that
 * `tako fetch` evaluates before it knows it needs them are lib/commands/fetch.ts
 * and everything it imports statically. Read from Deno's own module graph
 * (`deno info --json`), which tells static from dynamic imports and leaves
 * type-only imports out, so the check is exactly what the runtime loads.
 */
import { assert } from "../../support/assert.ts";

const ROOT = new URL("../../../", import.meta.url);

interface GraphModule {
  readonly specifier: string;
  readonly dependencies?: readonly {
    readonly code?: { readonly specifier: string };
    readonly isDynamic?: boolean;
  }[];
}

/** Deno's module graph of main.ts, every module by its specifier. */
async function moduleGraph(): Promise<Map<string, GraphModule>> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--no-lock", new URL("main.ts", ROOT).pathname],
    cwd: ROOT.pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  const graph = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    modules: GraphModule[];
  };
  return new Map(graph.modules.map((m) => [m.specifier, m]));
}

/** The modules `root` loads before running any code: its static imports, transitively. */
function staticClosure(graph: Map<string, GraphModule>, root: string): Set<string> {
  const seen = new Set<string>();
  const pending = [root];
  while (pending.length > 0) {
    const specifier = pending.pop()!;
    if (seen.has(specifier)) continue;
    seen.add(specifier);
    for (const dep of graph.get(specifier)?.dependencies ?? []) {
      if (dep.code !== undefined && dep.isDynamic !== true) pending.push(dep.code.specifier);
    }
  }
  return seen;
}

/** A specifier as the messages show it: relative to the project, or as written (node:, npm:). */
function shown(specifier: string): string {
  return specifier.startsWith(ROOT.href) ? specifier.slice(ROOT.href.length) : specifier;
}

/** What only a download, a delta or a signature check needs: never loaded before it is needed. */
const NOT_ON_THE_CHECK = [
  "lib/shell/delta_download.ts",
  "lib/shell/image_download.ts",
  "lib/shell/assemble.ts",
  "lib/shell/local_scan.ts",
  "lib/core/block_match.ts",
  "lib/core/chunk_index.ts",
  "lib/core/delta_plan.ts",
  "lib/core/manifest_signature.ts",
  "lib/core/keys.ts",
];

Deno.test("tako fetch loads no download, delta or curve module before it needs one", async () => {
  const graph = await moduleGraph();
  const fetchCommand = new URL("lib/commands/fetch.ts", ROOT).href;
  // The graph holds them all (through dynamic imports), so their absence below means something.
  for (const path of NOT_ON_THE_CHECK) {
    assert.ok(graph.has(new URL(path, ROOT).href), `${path} is not in main.ts's graph`);
  }
  const loaded = [...staticClosure(graph, fetchCommand)].map(shown);
  assert.ok(loaded.includes("lib/shell/http.ts"), "the closure holds the modules fetch uses");
  const early = loaded.filter((s) =>
    NOT_ON_THE_CHECK.includes(s) || s.startsWith("node:") || s.startsWith("npm:")
  );
  assert.deepEqual(early, []);
});

Deno.test("main.ts loads no command's modules before the command line is parsed", async () => {
  const graph = await moduleGraph();
  const loaded = [...staticClosure(graph, new URL("main.ts", ROOT).href)].map(shown);
  // help.ts is the help command's: its texts are loaded only to be printed.
  const commands = loaded.filter((s) =>
    s.startsWith("lib/commands/") || s.startsWith("lib/shell/") || s.startsWith("node:") ||
    s.startsWith("npm:") || s === "lib/core/help.ts"
  );
  assert.deepEqual(commands, []);
});
