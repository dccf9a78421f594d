/**
 * Writes the man pages (`tako.1`, `tako-<command>.1`) into the directory
 * given as the only argument, from the same help texts as `--help`
 * (lib/core/man_page.ts). Used by `make man` and `make install`.
 *
 * @module
 */
import { COMMANDS } from "../lib/core/cli.ts";
import { manPage } from "../lib/core/man_page.ts";
import { TAKO_VERSION } from "../main.ts";

const dir = Deno.args[0];
if (dir === undefined || Deno.args.length !== 1) {
  console.error("usage: deno run --allow-write dev/man.ts <directory>");
  Deno.exit(2);
}
await Deno.mkdir(dir, { recursive: true });
for (const topic of [undefined, ...COMMANDS]) {
  const name = topic === undefined ? "tako" : `tako-${topic}`;
  await Deno.writeTextFile(`${dir}/${name}.1`, manPage(topic, TAKO_VERSION));
}
