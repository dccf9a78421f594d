/**
 * One error type for everything Tako reports, with a kind that decides the
 * exit code. Messages are whole sentences that name the file, line, URL or
 * version concerned and say what was expected.
 *
 * @module
 */

/** What went wrong, coarsely: decides the exit code. */
export type ErrorKind =
  /** A failure of the environment: network, I/O, systemctl, a busy lock. */
  | "runtime"
  /** The command line is wrong. */
  | "usage"
  /** A config file, key or version pattern is invalid. */
  | "config"
  /** Signature, digest, size or history check failed: do not trust the data. */
  | "integrity";

/** Reasons that callers distinguish beyond the kind. */
export type ErrorTag =
  /** The origin answered 410 Gone: the publisher withdrew the image. */
  | "gone"
  /** Another run holds the destination's lock and did not release it in time. */
  | "busy";

/** Exit code of each kind; documented in docs/exit-codes.md and `--help`. */
export const EXIT_CODES: Readonly<Record<ErrorKind, number>> = {
  runtime: 1,
  usage: 2,
  config: 3,
  integrity: 4,
};

/** The exit code for success. */
export const EXIT_OK = 0;

/**
 * An error Tako expects and explains. Anything else that escapes is a bug and
 * is reported as such.
 *
 * @example
 * ```ts
 * throw new TakoError("config", "example.tako line 3: expected 'Key=Value'.");
 * ```
 */
export class TakoError extends Error {
  readonly kind: ErrorKind;
  /** A finer reason that callers act on, such as an image withdrawn with 410 Gone. */
  readonly tag: ErrorTag | undefined;

  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown; tag?: ErrorTag }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "TakoError";
    this.kind = kind;
    this.tag = options?.tag;
  }

  /** The process exit code for this error. */
  get exitCode(): number {
    return EXIT_CODES[this.kind];
  }
}

/** The exit code for a set of outcomes: the highest code among the failures, 0 if none. */
export function combinedExitCode(errors: readonly TakoError[]): number {
  return errors.reduce((code, e) => Math.max(code, e.exitCode), EXIT_OK);
}

/**
 * The one way to show untrusted text (from the network, a file, the command
 * line) in a message: control characters and non-ASCII are shown as escapes,
 * and it is shortened to `max` characters.
 *
 * @example
 * ```ts
 * printable("1.0\x1b[2J"); // "1.0\\u{1b}[2J"
 * ```
 */
export function printable(text: string, max = 80): string {
  let out = "";
  for (const ch of text) {
    if (out.length >= max) return out + "…";
    const code = ch.codePointAt(0)!;
    out += code >= 0x20 && code < 0x7f ? ch : `\\u{${code.toString(16)}}`;
  }
  return out;
}

/**
 * Makes one of Tako's own messages safe to print: escapes control characters
 * and invisible bidirectional marks, and keeps any other text (a message is a
 * sentence that may quote a path already made {@link printable}, with its "…").
 *
 * @example
 * ```ts
 * safeText("a\x1b[2Jb"); // "a\\u{1b}[2Jb"
 * ```
 */
export function safeText(text: string): string {
  return text.replace(
    /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu,
    (ch) => `\\u{${ch.codePointAt(0)!.toString(16)}}`,
  );
}
