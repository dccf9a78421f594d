/**
 * The command line: argv → a {@link Command} value, and the usage texts. Pure.
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
  | Common & { readonly name: "gen-key" }
  | Common & {
    readonly name: "store";
    readonly key: string | undefined;
    readonly keyFile: string | undefined;
    readonly output: string;
    readonly image: string;
    readonly version: string;
  }
  | Common & {
    readonly name: "fetch";
    readonly init: boolean;
    readonly configs: readonly string[];
    readonly net: NetFlags;
    /** False with --no-delta: full downloads only. */
    readonly delta: boolean;
  }
  | Common & {
    readonly name: "status";
    readonly json: boolean;
    readonly configs: readonly string[];
  }
  | Common & { readonly name: "prune"; readonly configs: readonly string[] }
  | Common & { readonly name: "index"; readonly output: string };

/** The commands, in the order `--help` lists them. */
export const COMMANDS = ["fetch", "store", "index", "gen-key", "status", "prune"] as const;
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

const OPTIONS: Record<CommandName, readonly OptionSpec[]> = {
  "fetch": [
    { long: "init", value: false },
    { long: "if-not-exists", value: false },
    { long: "connect-timeout", value: true },
    { long: "idle-timeout", value: true },
    { long: "no-delta", value: false },
  ],
  "store": [
    { long: "key", short: "k", value: true },
    { long: "key-file", short: "f", value: true },
    { long: "output", short: "o", value: true },
  ],
  "index": [{ long: "output", short: "o", value: true }],
  "gen-key": [],
  "status": [{ long: "json", value: false }],
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
      return {
        name: "fetch",
        verbosity,
        init: options.has("init") || options.has("if-not-exists"),
        configs: needConfigs(command, operands),
        net,
        delta: !options.has("no-delta"),
      };
    }
    case "store": {
      const output = stringOption(options, "output");
      if (output === undefined) throw usageError(command, "Option --output (-o) is required.");
      if (operands.length !== 2) {
        throw usageError(command, `Expected <image> <version>, got ${operands.length} operand(s).`);
      }
      if (options.has("key") && options.has("key-file")) {
        throw usageError(command, "Options --key and --key-file exclude each other.");
      }
      return {
        name: "store",
        verbosity,
        key: stringOption(options, "key"),
        keyFile: stringOption(options, "key-file"),
        output,
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
    case "gen-key":
      if (operands.length > 0) throw usageError(command, "gen-key takes no operands.");
      return { name: "gen-key", verbosity };
    case "status":
      return {
        name: "status",
        verbosity,
        json: options.has("json"),
        configs: needConfigs(command, operands),
      };
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

const EXIT_TABLE = `Exit codes:
  0  success
  1  runtime failure (network, disk, systemctl, busy lock, no compatible image)
  2  usage error (command line; for store also its key, image and version)
  3  configuration error (config file, public key, version pattern)
  4  integrity failure (signature, digest, size, rolled-back history)
  70 internal error (a bug in Tako; TAKO_DEBUG=1 shows the stack trace)
  When several configs fail, the highest code is returned.`;

const MAIN_USAGE = `Tako takes images: it downloads signed, versioned images from a static HTTP
origin, verifies them, keeps them in a local store and points 'latest' at the
newest compatible one.

Usage:
  tako fetch [--init] [--] <config>...     update the images of these configs
  tako [--if-not-exists] <config>...       the same (original dialect)
  tako store [-k <key> | -f <file>] -o <dir> [--] <image> <version>
                                           publish an image to an origin directory
  tako index -o <dir>                      add chunk indexes to the images of an origin
  tako gen-key                             make a new key pair
  tako status [--json] <config>...         show what is stored (no network)
  tako prune <config>...                   apply KeepImages= and MaxStoreSize=
  tako --help | tako <command> --help | tako --version

Options for every command:
  -q, --quiet      only errors
  -v, --verbose    more detail

${EXIT_TABLE}

Documentation: docs/ in the source tree.`;

const COMMAND_USAGE: Record<CommandName, string> = {
  "fetch": `Usage: tako fetch [--init] [options] [--] <config>...
       tako [--if-not-exists] <config>...

For each config: download and verify the origin's manifest, pick the newest
version that Version= allows, download and verify that image, point 'latest'
at it and restart the Restart= units if 'latest' changed. One failing config
does not stop the next; the exit code reports any failure.

Options:
  --init, --if-not-exists   do nothing (no network, no lock) when the stored
                            manifest verifies and 'latest' points to a present
                            image of it; never restart units (for ExecStartPre=)
  --connect-timeout <s>     deadline for each response's headers (default 30)
  --idle-timeout <s>        longest pause within a response body (default 60)
  --no-delta                download images in full, never by delta from the
                            local images (docs/delta.md)
  -q, --quiet | -v, --verbose`,
  "store": `Usage: tako store [-k <key> | -f <file>] -o <dir> [--] <image> <version>

Copy <image> to <dir>/store/<sha256> (read-only), add '<version> <size> <sha256>'
to <dir>/manifest in version order and sign the manifest. Storing an identical
entry again changes nothing; the same version with other contents is refused.

Options:
  -k, --key <secret-key>    the secret key (SECRET+...)
  -f, --key-file <file>     read the secret key from a file
  -o, --output <dir>        the origin directory (must exist)
The secret key may also come from the environment variable TAKO_SECRET_KEY;
the options win.`,
  "index": `Usage: tako index -o <dir>

Write <dir>/store/<sha256>.index (the chunk index that lets clients update by
delta) for each image in <dir>/store/ without a valid one, checking its digest.
'tako store' indexes the images it adds. Upload indexes before the manifest.

Options:
  -o, --output <dir>        the origin directory`,
  "gen-key": `Usage: tako gen-key

Print a new secret key (for your secret store; never publish it) and its
public key (for the PublicKey= line of the clients' configs) on stdout.
Nothing is written to disk.`,
  "status": `Usage: tako status [--json] <config>...

Show, for each config, the origins, the version pattern, the versions of the
stored manifest (present / latest / newest compatible), the store size and the
time of the last successful fetch. Never touches the network.

Options:
  --json    machine-readable output on stdout (schema in docs/tako-status.md)`,
  "prune": `Usage: tako prune <config>...

Remove old images from the store according to KeepImages= and MaxStoreSize=.
The image 'latest' points to and the one before it are always kept; files
that Tako did not write are never removed.`,
};

/** The help text for a command, or the overview. */
export function usage(topic: CommandName | undefined): string {
  return topic === undefined ? MAIN_USAGE : `${COMMAND_USAGE[topic]}\n\n${EXIT_TABLE}`;
}
