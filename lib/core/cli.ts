/**
 * The command line: argv → a {@link Command} value (command.ts). Pure. The
 * help texts are in help.ts.
 *
 * Two dialects are accepted: the current one (`tako fetch [--init] <config>...`)
 * and the original one (`tako [--if-not-exists] <config>...`).
 *
 * @module
 */
import { printable, TakoError } from "./errors.ts";
import { holdsSecretKey } from "./secrets.ts";
import { closestWord } from "./suggest.ts";
import { type Command, type CommandName, COMMANDS, type Verbosity } from "./command.ts";
import { COMMON_OPTIONS, OPTIONS, type OptionSpec } from "./cli_options.ts";

export {
  type Command,
  type CommandName,
  COMMANDS,
  type Common,
  type NetFlags,
  type Verbosity,
} from "./command.ts";

interface Parsed {
  readonly options: Map<string, string | true>;
  readonly operands: string[];
}

function usageError(command: CommandName | undefined, message: string): TakoError {
  const help = command === undefined ? "tako --help" : `tako ${command} --help`;
  return new TakoError("usage", `${message} See '${help}'.`);
}

/** Splits args into options (by long name) and operands; `--` ends the options. */
function parseOptions(
  command: CommandName | undefined,
  specs: readonly OptionSpec[],
  args: readonly string[],
): Parsed {
  const all = [...specs, ...COMMON_OPTIONS];
  const options = new Map<string, string | true>();
  const operands: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      operands.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      operands.push(arg);
      continue;
    }
    if (!arg.startsWith("--") && arg.length > 2) {
      // Bundled short options (`-qv`); a value option takes the rest (`-fkey.txt`) or the next argument.
      for (let j = 1; j < arg.length; j++) {
        const spec = all.find((s) => s.short === arg[j]);
        if (spec === undefined) throw unknownOption(command, `-${arg[j]}`);
        const rest = arg.slice(j + 1);
        if (!spec.value) {
          setOption(command, options, spec, true);
          continue;
        }
        const value = rest !== "" ? rest : args[++i];
        if (value === undefined) throw usageError(command, `Option --${spec.long} needs a value.`);
        setOption(command, options, spec, value);
        break;
      }
      continue;
    }
    const { spec, inline } = findOption(all, arg);
    if (spec === undefined) throw unknownOption(command, arg);
    if (!spec.value) {
      if (inline !== undefined) throw usageError(command, `Option --${spec.long} takes no value.`);
      setOption(command, options, spec, true);
      continue;
    }
    const value = inline ?? args[++i];
    if (value === undefined) throw usageError(command, `Option --${spec.long} needs a value.`);
    setOption(command, options, spec, value);
  }
  return { options, operands };
}

/** Records an option once; a secret key is refused where anything else belongs. */
function setOption(
  command: CommandName | undefined,
  options: Map<string, string | true>,
  spec: OptionSpec,
  value: string | true,
): void {
  if (options.has(spec.long)) {
    throw usageError(command, `Option --${spec.long} is given twice.`);
  }
  if (typeof value === "string" && spec.long !== "key" && holdsSecretKey(value)) {
    throw usageError(
      command,
      `Option --${spec.long} holds a secret key; it takes ${spec.takes ?? "a value"}.`,
    );
  }
  options.set(spec.long, value);
}

function splitInline(text: string): [string, string | undefined] {
  const eq = text.indexOf("=");
  return eq < 0 ? [text, undefined] : [text.slice(0, eq), text.slice(eq + 1)];
}

/** The spec an option argument (`--name`, `--name=value` or `-n`) names, and its inline value. */
function findOption(
  specs: readonly OptionSpec[],
  arg: string,
): { spec: OptionSpec | undefined; inline: string | undefined } {
  const long = arg.startsWith("--");
  const [name, inline] = long ? splitInline(arg.slice(2)) : [arg.slice(1), undefined];
  return { spec: specs.find((s) => long ? s.long === name : s.short === name), inline };
}

/**
 * The error for an option nobody knows. An inline value is left out (`--kye=SECRET+...`
 * must not print the key) and control characters are escaped.
 */
function unknownOption(command: CommandName | undefined, arg: string): TakoError {
  const name = arg.startsWith("--") ? splitInline(arg)[0] : arg;
  return usageError(command, `Unknown option '${printable(name)}'.`);
}

function verbosityOf(command: CommandName, options: Map<string, string | true>): Verbosity {
  if (options.has("quiet") && options.has("verbose")) {
    throw usageError(command, "Options --quiet and --verbose exclude each other.");
  }
  return options.has("quiet") ? "quiet" : options.has("verbose") ? "verbose" : "normal";
}

function stringOption(options: Map<string, string | true>, name: string): string | undefined {
  const value = options.get(name);
  return typeof value === "string" ? value : undefined;
}

/** Seconds as written on the command line → milliseconds. */
function secondsOption(
  command: CommandName,
  options: Map<string, string | true>,
  name: string,
): number | undefined {
  const text = stringOption(options, name);
  if (text === undefined) return undefined;
  const seconds = /^[0-9]+(\.[0-9]+)?$/.test(text) ? Number(text) : NaN;
  if (!(seconds > 0 && seconds <= 86_400)) {
    throw usageError(
      command,
      `Option --${name} expects a number of seconds above 0 and at most 86400 (one day), such as 30; got '${
        printable(text)
      }'.`,
    );
  }
  return Math.round(seconds * 1000);
}

/** The key and the origin directory of store and resign. */
function signingOptions(
  command: CommandName,
  options: Map<string, string | true>,
): { key: string | undefined; keyFile: string | undefined; output: string } {
  const output = stringOption(options, "output");
  if (output === undefined) throw usageError(command, "Option --output (-o) is required.");
  if (options.has("key") && options.has("key-file")) {
    throw usageError(command, "Options --key and --key-file exclude each other.");
  }
  return { key: stringOption(options, "key"), keyFile: stringOption(options, "key-file"), output };
}

function needConfigs(command: CommandName, operands: string[]): string[] {
  if (operands.length === 0) throw usageError(command, "Expected at least one config file.");
  return operands;
}

/** Whether `--help` or `-h` appears before `--`: asking for help wins over a malformed line. */
function asksForHelp(args: readonly string[]): boolean {
  const end = args.indexOf("--");
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === "--help" || a === "-h");
}

function parseCommand(command: CommandName, args: readonly string[]): Command {
  let parsed: Parsed;
  try {
    parsed = parseOptions(command, OPTIONS[command], args);
  } catch (e) {
    if (asksForHelp(args)) return { name: "help", topic: command };
    throw e;
  }
  const { options, operands } = parsed;
  if (options.has("help")) return { name: "help", topic: command };
  const secret = operands.findIndex(holdsSecretKey);
  if (secret >= 0) {
    const expected = command === "store" ? "<image> <version>" : "config files";
    throw usageError(
      command,
      `Operand ${
        secret + 1
      } holds a secret key; expected ${expected}. A secret key goes in TAKO_SECRET_KEY or a key file (store -f).`,
    );
  }
  const verbosity = verbosityOf(command, options);
  switch (command) {
    case "fetch": {
      const net: { connectTimeoutMs?: number; idleTimeoutMs?: number } = {};
      const connect = secondsOption(command, options, "connect-timeout");
      const idle = secondsOption(command, options, "idle-timeout");
      if (connect !== undefined) net.connectTimeoutMs = connect;
      if (idle !== undefined) net.idleTimeoutMs = idle;
      const init = options.has("init") || options.has("if-not-exists");
      if (init && options.has("dry-run")) {
        throw usageError(command, "Options --init and --dry-run exclude each other.");
      }
      return {
        name: "fetch",
        verbosity,
        init,
        dryRun: options.has("dry-run"),
        json: options.has("json"),
        now: options.has("now"),
        configs: needConfigs(command, operands),
        net,
        delta: !options.has("no-delta"),
      };
    }
    case "store": {
      if (operands.length !== 2) {
        throw usageError(command, `Expected <image> <version>, got ${operands.length} operand(s).`);
      }
      return {
        name: "store",
        verbosity,
        ...signingOptions(command, options),
        image: operands[0]!,
        version: operands[1]!,
      };
    }
    case "index": {
      const output = stringOption(options, "output");
      if (output === undefined) throw usageError(command, "Option --output (-o) is required.");
      if (operands.length > 0) throw usageError(command, "index takes no operands.");
      return { name: "index", verbosity, output };
    }
    case "resign": {
      if (operands.length > 0) throw usageError(command, "resign takes no operands.");
      const previousKey = stringOption(options, "previous-key");
      if (previousKey === undefined) {
        throw usageError(command, "Option --previous-key is required.");
      }
      return { name: "resign", verbosity, ...signingOptions(command, options), previousKey };
    }
    case "gen-key": {
      if (operands.length > 0) throw usageError(command, "gen-key takes no operands.");
      const output = stringOption(options, "output");
      if (output === "" || output?.endsWith("/")) {
        throw usageError(command, "Option --output needs a file name such as keys/app-signing.");
      }
      return { name: "gen-key", verbosity, output };
    }
    case "status":
      if (options.has("json") && options.has("prometheus")) {
        throw usageError(command, "Options --json and --prometheus exclude each other.");
      }
      return {
        name: "status",
        verbosity,
        json: options.has("json"),
        prometheus: options.has("prometheus"),
        configs: needConfigs(command, operands),
      };
    case "verify":
      return { name: "verify", verbosity, configs: needConfigs(command, operands) };
    case "prune":
      return { name: "prune", verbosity, configs: needConfigs(command, operands) };
    case "rollback": {
      const clear = stringOption(options, "clear");
      const configs = needConfigs(command, operands);
      return { name: "rollback", verbosity, configs, ...(clear === undefined ? {} : { clear }) };
    }
  }
}

function isCommandName(text: string): text is CommandName {
  return (COMMANDS as readonly string[]).includes(text);
}

/** What parsing may ask of the file system; main.ts answers it. */
export interface ParseContext {
  /** Whether a path names something on disk (any kind of file). */
  readonly exists?: (path: string) => boolean;
}

/** A bare word (no dot, no slash), like every command: meant as a command, not a path. */
const COMMAND_WORD = /^[A-Za-z][A-Za-z0-9_-]{0,30}$/;

function unknownCommand(word: string, why: string): TakoError {
  const suggestion = closestWord(word.toLowerCase(), [...COMMANDS, "help"]);
  const hint = suggestion === undefined ? "" : ` (did you mean ${suggestion}?)`;
  return usageError(undefined, `Unknown command '${printable(word)}'${hint}${why}.`);
}

/** Whether `arg` is an option fetch takes, alone or as bundled short options (`-qv`). */
function isFetchOption(arg: string): boolean {
  const all = [...OPTIONS.fetch, ...COMMON_OPTIONS];
  if (findOption(all, arg).spec !== undefined) return true;
  return !arg.startsWith("--") && arg.length > 2 &&
    [...arg.slice(1)].every((letter) => all.some((s) => s.short === letter));
}

/**
 * Parses the arguments after the program name. In the original dialect, a
 * first operand that looks like a command word and names no file is an
 * unknown command (`tako stauts /etc/tako/app` must not fetch anything);
 * `context.exists` says what is on disk.
 *
 * @example
 * ```ts
 * parseArgs(["fetch", "--init", "/etc/tako/app"]); // { name: "fetch", init: true, ... }
 * parseArgs(["--if-not-exists", "/etc/tako/app"]); // the same, in the original dialect
 * ```
 */
export function parseArgs(args: readonly string[], context: ParseContext = {}): Command {
  const first = args[0];
  if (first === undefined) throw usageError(undefined, "Expected a command or a config file.");
  if (first === "--help" || first === "-h" || first === "help") {
    const topic = args[1];
    if (first === "help" && topic !== undefined) {
      if (!isCommandName(topic)) throw unknownCommand(topic, "");
      return { name: "help", topic };
    }
    return { name: "help", topic: undefined };
  }
  if (first === "--version" || first === "-V") return { name: "version" };
  if (isCommandName(first)) return parseCommand(first, args.slice(1));
  // The original dialect: `tako [--if-not-exists] <config>...` means `tako fetch`. Any
  // option of fetch may come first (`tako --verbose <config>`), as --help promises.
  const operand = !first.startsWith("-") || first === "-" || first === "--";
  if (!operand && !isFetchOption(first)) throw unknownOption(undefined, first);
  const command = parseCommand("fetch", args);
  const word = firstOperand(args);
  if (
    command.name === "fetch" && word !== undefined && COMMAND_WORD.test(word) &&
    context.exists !== undefined && !context.exists(word)
  ) {
    throw unknownCommand(word, "; no config file of that name exists either, so nothing was done");
  }
  return command;
}

/** The first operand before any `--` (after it, a word is surely meant as a file). */
function firstOperand(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") return undefined;
    if (!arg.startsWith("-") || arg === "-") return arg;
    // A value option in the original dialect's position takes the next argument.
    const { spec, inline } = findOption(OPTIONS.fetch, arg);
    if (spec?.value === true && inline === undefined) i++;
  }
  return undefined;
}
