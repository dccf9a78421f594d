import { type CommandName, COMMANDS } from "../../../lib/core/cli.ts";
import { usage } from "../../../lib/core/help.ts";
import { manPage, manPageNames } from "../../../lib/core/man_page.ts";
import { assert } from "../../support/assert.ts";

/** groff's rendering of a page as plain text, with every warning; undefined without groff. */
async function render(source: string): Promise<{ text: string; warnings: string } | undefined> {
  let child;
  try {
    child = new Deno.Command("groff", {
      // No hyphenation and long lines, so that every word of the help text survives intact.
      args: ["-man", "-Tascii", "-ww", "-rHY=0", "-rLL=200n", "-P", "-cbou"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(source));
  await writer.close();
  const out = await child.output();
  assert.equal(out.code, 0);
  const decoder = new TextDecoder();
  return { text: decoder.decode(out.stdout), warnings: decoder.decode(out.stderr) };
}

const words = (text: string) => text.split(/\s+/).filter((w) => w !== "");

Deno.test("every man page renders without warnings and says what --help says, word for word", async (t) => {
  const groff = await render(".TH X 1\n");
  if (groff === undefined) {
    t.step({ name: "groff is not installed", ignore: true, fn: () => {} });
    return;
  }
  for (const topic of [undefined, ...COMMANDS] as (CommandName | undefined)[]) {
    const page = await render(manPage(topic, "9.8.7"));
    assert.equal(page!.warnings, "", String(topic));
    const rendered = words(page!.text).join(" ");
    // Every line of the help text appears (sections move: the overview's first paragraph
    // follows SYNOPSIS), once "Usage:" and the pointer to the documentation (replaced by
    // SEE ALSO) are set aside.
    for (const line of usage(topic).split("\n")) {
      const text = words(line.replace(/^Usage:/, "")).join(" ");
      if (
        text === "" || line.startsWith("Documentation:") || /^Options:$|^Exit codes:$/.test(line)
      ) {
        continue;
      }
      assert.ok(rendered.includes(text), `${topic ?? "tako"}: '${text}' missing from the page`);
    }
    assert.ok(rendered.includes("9.8.7"), "the version is on the page");
    for (const section of ["NAME", "SYNOPSIS", "DESCRIPTION", "EXIT STATUS", "SEE ALSO"]) {
      assert.ok(page!.text.includes(`\n${section}\n`), `${topic}: ${section}`);
    }
  }
});

Deno.test("`manPageNames()` has one page per command and the overview", () => {
  assert.deepEqual(manPageNames(), ["tako", ...COMMANDS.map((c) => `tako-${c}`)]);
  assert.ok(manPage("fetch", "1").startsWith(".TH TAKO\\-FETCH 1 "));
  // A help line starting with a dot or quote must not turn into a roff request.
  assert.ok(!manPage("store", "1").split("\n").some((l) => /^\.\\-|^'/.test(l)));
});
