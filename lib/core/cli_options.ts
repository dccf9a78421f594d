/**
 * The options each command takes, as the grammar (cli.ts) reads them. Pure data.
 *
 * @module
 */
import type { CommandName } from "./command.ts";

/** One option: its names, whether it takes a value and what that value is. */
export interface OptionSpec {
  /** Long name without dashes. */
  readonly long: string;
  readonly short?: string;
  /** Whether the option takes a value. */
  readonly value: boolean;
  /** What the value is, for messages ("the path of a key file"). */
  readonly takes?: string;
}

/** The options every command takes. */
export const COMMON_OPTIONS: readonly OptionSpec[] = [
  { long: "quiet", short: "q", value: false },
  { long: "verbose", short: "v", value: false },
  { long: "help", short: "h", value: false },
];

/** The options of the commands that sign: the secret key and the origin directory. */
const KEY_OPTIONS: readonly OptionSpec[] = [
  { long: "key", short: "k", value: true },
  { long: "key-file", short: "f", value: true, takes: "the path of a file that holds the key" },
  { long: "output", short: "o", value: true, takes: "the origin directory" },
];

/** Each command's own options. */
export const OPTIONS: Record<CommandName, readonly OptionSpec[]> = {
  "fetch": [
    { long: "init", value: false },
    { long: "if-not-exists", value: false },
    { long: "now", value: false },
    { long: "dry-run", value: false },
    { long: "json", value: false },
    { long: "connect-timeout", value: true, takes: "a number of seconds" },
    { long: "idle-timeout", value: true, takes: "a number of seconds" },
    { long: "no-delta", value: false },
  ],
  "store": KEY_OPTIONS,
  "index": [{ long: "output", short: "o", value: true, takes: "the origin directory" }],
  "resign": [...KEY_OPTIONS, { long: "previous-key", value: true, takes: "a public key" }],
  "gen-key": [{ long: "output", short: "o", value: true, takes: "a file name" }],
  "status": [{ long: "json", value: false }, { long: "prometheus", value: false }],
  "verify": [],
  "prune": [],
  "rollback": [{ long: "clear", value: true }],
};
