/**
 * Tako's entry point: the only place that reads Deno.args, writes to the
 * console and exits. Everything else returns values or throws TakoError.
 *
 * @module
 */
import { type Command, parseArgs, usage } from "./lib/core/cli.ts";
import { combinedExitCode, EXIT_CODES, EXIT_OK, printable, TakoError } from "./lib/core/errors.ts";
import { createLog, type Log } from "./lib/core/log.ts";

/** Tako's own version, printed by `tako --version`. */
export const TAKO_VERSION = "0.1.0";

/** Exit code for a bug: an error Tako did not expect (EX_SOFTWARE). */
const EXIT_INTERNAL = 70;

const encoder = new TextEncoder();

function writeAll(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  let bytes = encoder.encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(stream.writeSync(bytes));
}

const stdout = (text: string) => writeAll(Deno.stdout, text);
const stderr = (text: string) => writeAll(Deno.stderr, text);

/** An environment variable, or undefined when unset or not permitted. */
function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/**
 * Whether systemd connected stderr to the journal (JOURNAL_STREAM is "<dev>:<ino>" of it).
 * A terminal never is. Deno refuses to stat /dev/stderr without --allow-all, so
 * usually JOURNAL_STREAM being set decides: under systemd, stderr goes to the
 * journal unless the unit says otherwise.
 */
function stderrIsJournal(): boolean {
  const stream = env("JOURNAL_STREAM");
  if (stream === undefined || Deno.stderr.isTerminal()) return false;
  try {
    const info = Deno.statSync("/dev/stderr");
    return stream === `${info.dev}:${info.ino}`;
  } catch {
    return true;
  }
}

/** The logger for a command; before the command line is parsed, `command` is undefined. */
function makeLog(command: Command | undefined, journal: boolean): Log {
  return createLog({
    verbosity: command !== undefined && "verbosity" in command ? command.verbosity : "normal",
    journal,
    terminal: Deno.stderr.isTerminal(),
    write: stderr,
  });
}

async function run(command: Command, log: Log): Promise<number> {
  switch (command.name) {
    case "help":
      stdout(usage(command.topic) + "\n");
      return EXIT_OK;
    case "version":
      stdout(`tako ${TAKO_VERSION}\n`);
      return EXIT_OK;
    case "gen-key": {
      const { formatPublicKey, formatSecretKey, generateSecretKey } = await import(
        "./lib/core/keys.ts"
      );
      const key = generateSecretKey();
      stdout(
        `# Secret key: keep it in a secret store; never publish it or copy it to clients.\n` +
          `${formatSecretKey(key)}\n` +
          `# Public key: for the PublicKey= line of the clients' configs.\n` +
          `${formatPublicKey(key.publicKey)}\n`,
      );
      return EXIT_OK;
    }
    case "store": {
      const { store } = await import("./lib/commands/store.ts");
      await store({ ...command, envKey: env("TAKO_SECRET_KEY") }, log);
      return EXIT_OK;
    }
    case "index": {
      const { indexOrigin } = await import("./lib/commands/index.ts");
      await indexOrigin(command.output, log);
      return EXIT_OK;
    }
    case "fetch": {
      const { fetchAll, fetchContext } = await import("./lib/commands/fetch.ts");
      const { systemctl } = await import("./lib/shell/systemd.ts");
      const ctx = { ...fetchContext(command.net, log, systemctl), delta: command.delta };
      return combinedExitCode(await fetchAll(command.configs, command.init, ctx));
    }
    case "status": {
      const { statusAll } = await import("./lib/commands/status.ts");
      const result = await statusAll(command.configs, { log, json: command.json });
      stdout(result.output);
      return combinedExitCode(result.failures);
    }
    case "prune": {
      const { pruneAll } = await import("./lib/commands/prune.ts");
      return combinedExitCode(await pruneAll(command.configs, { log }));
    }
  }
}

/** Runs Tako with the given arguments and returns the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  // Known before parsing, so that a usage error under systemd carries its priority too.
  const journal = stderrIsJournal();
  let log = makeLog(undefined, journal);
  try {
    const command = parseArgs(args);
    log = makeLog(command, journal);
    return await run(command, log);
  } catch (e) {
    if (e instanceof TakoError) {
      log.error(e.message);
      if (env("TAKO_DEBUG") === "1") stderr(`${e.stack}\n`);
      return e.exitCode;
    }
    if (e instanceof Deno.errors.BrokenPipe) {
      // `tako status --json | head` closed our stdout: not a bug, but the output is incomplete.
      log.error("stdout was closed before all output was written.");
      return EXIT_CODES.runtime;
    }
    const detail = e instanceof Error ? e.message : String(e);
    log.error(
      `internal error: ${printable(detail, 300)} (this is a bug in Tako; ` +
        `TAKO_DEBUG=1 shows the stack trace).`,
    );
    if (env("TAKO_DEBUG") === "1" && e instanceof Error) stderr(`${e.stack}\n`);
    return EXIT_INTERNAL;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
