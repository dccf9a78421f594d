/**
 * What the periodic check loads (docs/performance.md). A real check answered
 * 304, its image in place, run under V8's inspector (tests/support/loaded_modules.ts),
 * evaluates none of the modules that only a download, a delta, a signature
 * check, a switch, a restart, a prune or a partial download needs; the first
 * run, which downloads, shows that the trace sees modules loaded on demand.
 * And main.ts, read from Deno's own module graph (`deno info --json`, which
 * tells static from dynamic imports), loads no command before the command
 * line is parsed.
 */
import { assert } from "../../support/assert.ts";
import { modulesLoadedBy } from "../../support/loaded_modules.ts";
import { withSetup } from "../../support/publish.ts";
import { THREE_IMAGES } from "../../support/vectors.ts";

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

/** What a check answered 304 with its image in place never needs. */
const NOT_ON_THE_CHECK = [
  "lib/shell/delta_download.ts",
  "lib/shell/image_download.ts",
  "lib/shell/assemble.ts",
  "lib/shell/local_scan.ts",
  "lib/shell/copy.ts",
  "lib/shell/partial.ts",
  "lib/core/partial_record.ts",
  "lib/core/block_match.ts",
  "lib/core/chunk_index.ts",
  "lib/core/delta_plan.ts",
  "lib/core/manifest_signature.ts",
  "lib/core/keys.ts",
  "lib/shell/switch.ts",
  "lib/shell/systemd.ts",
  "lib/core/unit_health.ts",
  "lib/shell/store_prune.ts",
];

Deno.test("a check answered 304 loads no download, switch, systemd, prune or curve module", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    const first = await modulesLoadedBy(["fetch", "--quiet", s.config], {
      cwd: s.dir,
      env: s.systemctl.env,
    });
    assert.equal(first.code, 0, first.stderr);
    // Seen through the trace: the modules the first run loaded on demand to download and restart.
    const downloaded = ["lib/shell/image_download.ts", "lib/shell/copy.ts", "lib/shell/systemd.ts"];
    for (const module of ["lib/commands/fetch.ts", ...downloaded]) {
      assert.ok(first.modules.includes(module), `${module} not in ${first.modules.join(" ")}`);
    }
    s.origin.clear();
    const check = await modulesLoadedBy(["fetch", "--quiet", s.config], {
      cwd: s.dir,
      env: s.systemctl.env,
    });
    assert.equal(check.code, 0, check.stderr);
    assert.deepEqual(s.origin.requests.map((r) => `${r.path} ${r.status}`), ["/manifest 304"]);
    assert.ok(check.modules.includes("lib/shell/http.ts"), check.modules.join(" "));
    assert.deepEqual(check.modules.filter((m) => NOT_ON_THE_CHECK.includes(m)), []);
    assert.deepEqual(check.foreign, [], "no npm package (the curve library)");
  }, { restart: ["app.service"] });
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
