/**
 * The command line: argv → a {@link Command} value. Pure. The help texts are in help.ts.
 *
 * Two dialects are accepted: the current one (`tako fetch [--init] <config>...`)
 * and the original one (`tako [--if-not-exists] <config>...`).
 *
 * @module
 */
import { printable, TakoError } from "./errors.ts";

/** How much Tako says on stderr. */
export type Verbosity = "quiet" | "normal" | "verbose";

/** Options every command takes. */
export interface Common {
  readonly verbosity: Verbosity;
}

/** Network limits given on the command line, in milliseconds; absent means the default. */
export interface NetFlags {
  readonly connectTimeoutMs?: number;
  readonly idleTimeoutMs?: number;
}

/** A parsed command line. */
export type Command =
  | { readonly name: "help"; readonly topic: CommandName | undefined }
  | { readonly name: "version" }
  | Common & {
    readonly name: "gen-key";
    /** Write `<output>.key` and `<output>.pub` instead of printing the pair. */
    readonly output: string | undefined;
  }
  | Common & {
    readonly name: "store";
    readonly key: string | undefined;
    readonly keyFile: string | undefined;
    readonly output: string;
    readonly image: string;
    readonly version: string;
  }
  | Common & {
    readonly name: "resign";
    readonly key: string | undefined;
    readonly keyFile: string | undefined;
    readonly output: string;
    /** The public key the manifest is signed with now, as given (parsed by resign). */
    readonly previousKey: string;
  }
  | Common & {
    readonly name: "fetch";
    readonly init: boolean;
    /** Manifest only: report what a fetch would do, write nothing. */
    readonly dryRun: boolean;
    /** One JSON document with every config's outcome on stdout. */
    readonly json: boolean;
    readonly configs: readonly string[];
    readonly net: NetFlags;
  }
  | Common & {
    readonly name: "status";
    readonly json: boolean;
    readonly prometheus: boolean;
    readonly configs: readonly string[];
  }
  | Common & { readonly name: "verify"; readonly configs: readonly string[] }
  | Common & { readonly name: "prune"; readonly configs: readonly string[] };

/** The commands, in the order `--help` lists them. */
export const COMMANDS = [
  "fetch",
  "store",
  "resign",
  "gen-key",
  "status",
  "verify",
  "prune",
] as const;
export type CommandName = typeof COMMANDS[number];

interface OptionSpec {
  /** Long name without dashes. */
  readonly long: string;
  readonly short?: string;
  /** Whether the option takes a value. */
  readonly value: boolean;
}

const COMMON_OPTIONS: readonly OptionSpec[] = [
  { long: "quiet", short: "q", value: false },
  { long: "verbose", short: "v", value: false },
  { long: "help", short: "h", value: false },
];

/** The options of the commands that sign: the secret key and the origin directory. */
const KEY_OPTIONS: readonly OptionSpec[] = [
  { long: "key", short: "k", value: true },
  { long: "key-file", short: "f", value: true },
  { long: "output", short: "o", value: true },
];

const OPTIONS: Record<CommandName, readonly OptionSpec[]> = {
  "fetch": [
    { long: "init", value: false },
    { long: "if-not-exists", value: false },
    { long: "dry-run", value: false },
    { long: "json", value: false },
    { long: "connect-timeout", value: true },
    { long: "idle-timeout", value: true },
  ],
  "store": KEY_OPTIONS,
  "resign": [...KEY_OPTIONS, { long: "previous-key", value: true }],
  "gen-key": [{ long: "output", short: "o", value: true }],
  "status": [{ long: "json", value: false }, { long: "prometheus", value: false }],
  "verify": [],
  "prune": [],
};

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
    const { spec, inline } = findOption(all, arg);
    if (spec === undefined) throw unknownOption(command, arg);
    if (options.has(spec.long)) {
      throw usageError(command, `Option --${spec.long} is given twice.`);
    }
    if (!spec.value) {
      if (inline !== undefined) throw usageError(command, `Option --${spec.long} takes no value.`);
      options.set(spec.long, true);
      continue;
    }
    const value = inline ?? args[++i];
    if (value === undefined) throw usageError(command, `Option --${spec.long} needs a value.`);
    options.set(spec.long, value);
  }
  return { options, operands };
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
      `Option --${name} expects a number of seconds between 0 and 86400, not '${printable(text)}'.`,
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
        configs: needConfigs(command, operands),
        net,
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
  }
}

function isCommandName(text: string): text is CommandName {
  return (COMMANDS as readonly string[]).includes(text);
}

/**
 * Parses the arguments after the program name.
 *
 * @example
 * ```ts
 * parseArgs(["fetch", "--init", "/etc/tako/app"]); // { name: "fetch", init: true, ... }
 * parseArgs(["--if-not-exists", "/etc/tako/app"]); // the same, in the original dialect
 * ```
 */
export function parseArgs(args: readonly string[]): Command {
  const first = args[0];
  if (first === undefined) throw usageError(undefined, "Expected a command or a config file.");
  if (first === "--help" || first === "-h" || first === "help") {
    const topic = args[1];
    if (first === "help" && topic !== undefined) {
      if (!isCommandName(topic)) {
        throw usageError(undefined, `Unknown command '${printable(topic)}'.`);
      }
      return { name: "help", topic };
    }
    return { name: "help", topic: undefined };
  }
  if (first === "--version" || first === "-V") return { name: "version" };
  if (isCommandName(first)) return parseCommand(first, args.slice(1));
  // The original dialect: `tako [--if-not-exists] <config>...` means `tako fetch`. Any
  // option of fetch may come first (`tako --verbose <config>`), as --help promises.
  const fetchOptions = [...OPTIONS.fetch, ...COMMON_OPTIONS];
  const operand = !first.startsWith("-") || first === "-" || first === "--";
  if (operand || findOption(fetchOptions, first).spec !== undefined) {
    return parseCommand("fetch", args);
  }
  throw unknownOption(undefined, first);
}
