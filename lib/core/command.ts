/**
 * What a command line means: the {@link Command} values that `parseArgs()`
 * (cli.ts) returns and main.ts runs, and the list of commands. Pure.
 *
 * @module
 */

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
    /** Skip the wait of a phased rollout (RolloutSpreadSec=). */
    readonly now: boolean;
    readonly configs: readonly string[];
    readonly net: NetFlags;
    /** False with --no-delta: full downloads only (docs/delta.md). */
    readonly delta: boolean;
  }
  | Common & {
    readonly name: "status";
    readonly json: boolean;
    readonly prometheus: boolean;
    readonly configs: readonly string[];
  }
  | Common & { readonly name: "verify"; readonly configs: readonly string[] }
  | Common & { readonly name: "prune"; readonly configs: readonly string[] }
  /** `clear`: instead of rolling back, clear the rejection of this version (or digest). */
  | Common & {
    readonly name: "rollback";
    readonly clear?: string;
    readonly configs: readonly string[];
  }
  /** Write the chunk indexes an origin's images lack (docs/delta.md). */
  | Common & { readonly name: "index"; readonly output: string };

/** The commands, in the order `--help` lists them. */
export const COMMANDS = [
  "fetch",
  "store",
  "index",
  "resign",
  "gen-key",
  "status",
  "verify",
  "prune",
  "rollback",
] as const;
export type CommandName = typeof COMMANDS[number];
