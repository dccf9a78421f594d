/**
 * Tako's entry point: the only place that reads Deno.args, writes to the
 * console and exits. Everything else returns values or throws TakoError.
 *
 * @module
 */
import { type Command, parseArgs } from "./lib/core/cli.ts";
import {
  asTakoError,
  combinedExitCode,
  EXIT_CODES,
  EXIT_OK,
  printable,
  TakoError,
} from "./lib/core/errors.ts";
import { createLog, type Log } from "./lib/core/log.ts";
import { loadKeyCheck, mayHoldKeyBody, redactSecrets } from "./lib/core/secrets.ts";
import type { ServiceManager } from "./lib/shell/systemd.ts";

/** Tako's own version, printed by `tako --version`. */
export const TAKO_VERSION = "0.1.0";

const encoder = new TextEncoder();

function writeAll(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  let bytes = encoder.encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(stream.writeSync(bytes));
}

// Every output but gen-key's passes the secrets filter once more: messages mask secrets
// where they are built (printable()), and this catches any that was built otherwise.
const stdout = (text: string) => writeAll(Deno.stdout, redactSecrets(text));
const stderr = (text: string) => writeAll(Deno.stderr, redactSecrets(text));

/** An environment variable, or undefined when unset or not permitted. */
function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** Whether a path names anything on disk; one that cannot be checked counts as present. */
function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (e) {
    return !(e instanceof Deno.errors.NotFound);
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

/** The terminal's width, asked at each progress draw so that a resized pane is followed. */
function terminalColumns(): number {
  try {
    return Deno.consoleSize().columns;
  } catch {
    return 80;
  }
}

/**
 * systemctl, its module loaded on the first call: most runs of fetch restart
 * no unit, and a check answered 304 should not load it (docs/performance.md).
 */
const services: ServiceManager = {
  show: async (units, scope) =>
    (await import("./lib/shell/systemd.ts")).systemctl.show(units, scope),
  restart: async (units, scope) =>
    (await import("./lib/shell/systemd.ts")).systemctl.restart(units, scope),
};

/** The logger for a command; before the command line is parsed, `command` is undefined. */
function makeLog(command: Command | undefined, journal: boolean): Log {
  return createLog({
    verbosity: command !== undefined && "verbosity" in command ? command.verbosity : "normal",
    journal,
    terminal: Deno.stderr.isTerminal(),
    write: stderr,
    columns: terminalColumns,
  });
}

async function run(command: Command, log: Log): Promise<number> {
  switch (command.name) {
    case "help": {
      const { usage } = await import("./lib/core/help.ts");
      stdout(usage(command.topic) + "\n");
      return EXIT_OK;
    }
    case "version":
      stdout(`tako ${TAKO_VERSION}\n`);
      return EXIT_OK;
    case "gen-key": {
      const { formatSecretKey, generateSecretKey } = await import("./lib/core/keys.ts");
      const { formatPublicKey } = await import("./lib/core/public_key.ts");
      const key = generateSecretKey();
      if (command.output !== undefined) {
        const { keyFilePaths, writeKeyPair } = await import("./lib/shell/key_file.ts");
        await writeKeyPair(command.output, key);
        const paths = keyFilePaths(command.output);
        log.info(
          `Wrote the secret key to ${printable(paths.secret, 200)} (mode 0600) and the public ` +
            `key ${formatPublicKey(key.publicKey)} to ${printable(paths.public, 200)}.`,
        );
        return EXIT_OK;
      }
      writeAll(
        Deno.stdout,
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
    case "resign": {
      const { resign } = await import("./lib/commands/resign.ts");
      await resign({ ...command, envKey: env("TAKO_SECRET_KEY") }, log);
      return EXIT_OK;
    }
    case "index": {
      const { indexOrigin } = await import("./lib/commands/index.ts");
      await indexOrigin(command.output, log);
      return EXIT_OK;
    }
    case "fetch": {
      const { fetchEach, fetchContext } = await import("./lib/commands/fetch.ts");
      const ctx = {
        ...fetchContext(command.net, log, services),
        skipSpread: command.now,
        delta: command.delta,
      };
      const mode = { init: command.init, dryRun: command.dryRun };
      const result = await fetchEach(command.configs, mode, ctx);
      if (command.json) {
        const { formatFetchJson } = await import("./lib/core/fetch_report.ts");
        stdout(formatFetchJson(command.dryRun, result.entries));
      }
      return outcome(result.failures);
    }
    case "status": {
      const { statusAll } = await import("./lib/commands/status.ts");
      const format = command.json ? "json" : command.prometheus ? "prometheus" : "text";
      const result = await statusAll(command.configs, { log, format });
      stdout(result.output);
      return outcome(result.failures);
    }
    case "verify": {
      const { verifyAll } = await import("./lib/commands/verify.ts");
      return outcome(await verifyAll(command.configs, { log }));
    }
    case "prune": {
      const { pruneAll } = await import("./lib/commands/prune.ts");
      return outcome(await pruneAll(command.configs, { log }));
    }
    case "rollback": {
      const { rollbackAll } = await import("./lib/commands/rollback.ts");
      const failures = await rollbackAll(command.configs, {
        log,
        services,
        now: () => new Date(),
        clear: command.clear,
      });
      return outcome(failures);
    }
  }
}

/** The exit code of a run over configs; with TAKO_DEBUG=1, the stack traces of its bugs. */
function outcome(failures: readonly TakoError[]): number {
  if (env("TAKO_DEBUG") === "1") {
    for (const failure of failures) {
      if (failure.kind === "internal" && failure.cause instanceof Error) {
        stderr(`${failure.cause.stack}\n`);
      }
    }
  }
  return combinedExitCode(failures);
}

/** Runs Tako with the given arguments and returns the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  // Known before parsing, so that a usage error under systemd carries its priority too.
  const journal = stderrIsJournal();
  let log = makeLog(undefined, journal);
  try {
    // The exact check for a secret key without its prefix needs the curve library (secrets.ts).
    if (args.some(mayHoldKeyBody)) await loadKeyCheck();
    const command = parseArgs(args, { exists });
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
    const bug = asTakoError(e);
    log.error(bug.message);
    if (env("TAKO_DEBUG") === "1" && e instanceof Error) stderr(`${e.stack}\n`);
    return bug.exitCode;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
