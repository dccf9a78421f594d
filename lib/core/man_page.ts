/**
 * Man pages from the help texts (help.ts): `tako(1)` from the overview and
 * `tako-<command>(1)` from each command's `--help`, so that the two say the
 * same thing. dev/man.ts writes them; `make install` installs them. Pure.
 *
 * The help texts are made of blocks separated by blank lines. A block that
 * starts with `Usage:` becomes SYNOPSIS, `Options...:` OPTIONS, `Exit codes:`
 * EXIT STATUS and `Documentation:` is replaced by SEE ALSO; any other block is
 * a paragraph of DESCRIPTION. Aligned blocks are kept as they are (no fill).
 *
 * @module
 */
import { type CommandName, COMMANDS } from "./cli.ts";
import { SUMMARIES, usage } from "./help.ts";

/** Text safe in a roff line: backslashes, hyphen-minus and leading control characters. */
function roffText(line: string): string {
  const escaped = line.replaceAll("\\", "\\e").replaceAll("-", "\\-");
  return /^[.']/.test(escaped) ? `\\&${escaped}` : escaped;
}

function verbatim(lines: readonly string[]): string[] {
  return [".nf", ...lines.map(roffText), ".fi"];
}

/** Removes the indentation every line shares. */
function dedent(lines: readonly string[]): string[] {
  const indents = lines.filter((l) => l.trim() !== "").map((l) => l.length - l.trimStart().length);
  const common = Math.min(...indents);
  return lines.map((l) => l.slice(common));
}

/** The sections of one help text, in man page order. */
function sections(text: string): { title: string; lines: string[] }[] {
  const synopsis: string[] = [];
  const description: string[] = [];
  const options: string[] = [];
  const exit: string[] = [];
  for (const block of text.split("\n\n")) {
    const lines = block.split("\n");
    const first = lines[0]!;
    if (first.startsWith("Usage:")) {
      // "Usage:" becomes spaces, so that continuation lines keep their alignment.
      const rest = [" ".repeat(6) + first.slice(6), ...lines.slice(1)].filter((l) => l.trim());
      synopsis.push(...verbatim(dedent(rest)));
    } else if (/^Options[^:]*:$/.test(first)) {
      if (options.length > 0) options.push(".PP");
      if (first !== "Options:") options.push(roffText(first));
      options.push(...verbatim(dedent(lines.slice(1))));
    } else if (first === "Exit codes:") {
      exit.push(...verbatim(dedent(lines.slice(1))));
    } else if (!first.startsWith("Documentation:")) {
      const aligned = lines.some((l) => l.startsWith(" "));
      description.push(".PP", ...(aligned ? verbatim(lines) : lines.map(roffText)));
    }
  }
  return [
    { title: "SYNOPSIS", lines: synopsis },
    { title: "DESCRIPTION", lines: description },
    { title: "OPTIONS", lines: options },
    { title: "EXIT STATUS", lines: exit },
  ].filter((s) => s.lines.length > 0);
}

/** The page names: `tako` and `tako-<command>` for each command. */
export function manPageNames(): string[] {
  return ["tako", ...COMMANDS.map((c) => `tako-${c}`)];
}

/**
 * The roff source of `tako(1)` (topic undefined) or `tako-<topic>(1)`.
 *
 * @example
 * ```ts
 * manPage("fetch", "0.1.0"); // ".TH TAKO-FETCH 1 ...\n.SH NAME\ntako-fetch \- update ..."
 * ```
 */
export function manPage(topic: CommandName | undefined, version: string): string {
  const name = topic === undefined ? "tako" : `tako-${topic}`;
  const summary = topic === undefined ? "take images: signed, versioned images" : SUMMARIES[topic];
  const seeAlso = manPageNames().filter((n) => n !== name).map((n) => `.BR ${roffText(n)} (1)`);
  const lines = [
    `.TH ${roffText(name.toUpperCase())} 1 "" "tako ${roffText(version)}" "Tako manual"`,
    ".SH NAME",
    `${roffText(name)} \\- ${roffText(summary)}`,
  ];
  for (const section of sections(usage(topic))) {
    lines.push(`.SH ${section.title}`, ...section.lines);
  }
  lines.push(".SH SEE ALSO", ...seeAlso.flatMap((l, i) => i === 0 ? [l] : [".br", l]));
  lines.push(".PP", "The documentation in docs/ of the source tree.");
  return lines.join("\n") + "\n";
}
