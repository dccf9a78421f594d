/**
 * One error type for everything Tako reports, with a kind that decides the
 * exit code. Messages are whole sentences that name the file, line, URL or
 * version concerned and say what was expected.
 *
 * @module
 */
import { maskUrl, redactSecrets } from "./secrets.ts";

/** What went wrong, coarsely: decides the exit code. */
export type ErrorKind =
  /** A failure of the environment: network, I/O, systemctl, a busy lock. */
  | "runtime"
  /** The command line is wrong. */
  | "usage"
  /** A config file, key or version pattern is invalid. */
  | "config"
  /** Signature, digest, size or history check failed: do not trust the data. */
  | "integrity"
  /** Not expected at all: a bug in Tako (EX_SOFTWARE). */
  | "internal";

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
  internal: 70,
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
 * line) in a message: secret keys and URL passwords are masked (see
 * secrets.ts), control characters and non-ASCII are shown as escapes, and it
 * is shortened to about `max` characters. `keep` says which end survives
 * shortening: "end" for an error whose cause comes last.
 *
 * @example
 * ```ts
 * printable("1.0\x1b[2J"); // "1.0\\u{1b}[2J"
 * ```
 */
export function printable(text: string, max = 80, keep: "start" | "end" = "start"): string {
  // Masked within a margin around what is shown, so that a cut never splits a secret open.
  const margin = max + 4096;
  const window = text.length <= margin
    ? text
    : keep === "end"
    ? text.slice(-margin)
    : text.slice(0, margin);
  const chars = Array.from(redactSecrets(window));
  const escape = (ch: string) => {
    const code = ch.codePointAt(0)!;
    return code >= 0x20 && code < 0x7f ? ch : `\\u{${code.toString(16)}}`;
  };
  let out = "";
  if (keep === "end") {
    for (let i = chars.length - 1; i >= 0; i--) {
      if (out.length >= max) return "…" + out;
      out = escape(chars[i]!) + out;
    }
    return window.length < text.length ? "…" + out : out;
  }
  for (const ch of chars) {
    if (out.length >= max) return out + "…";
    out += escape(ch);
  }
  return window.length < text.length ? out + "…" : out;
}

/**
 * An origin or image URL as messages show it: its password masked, printable
 * and shortened. Every message that names an origin URL goes through here.
 *
 * @example
 * ```ts
 * shownUrl("https://deploy:hunter2@images.example.com/app"); // "https://deploy:***@images.example.com/app"
 * ```
 */
export function shownUrl(url: string | URL, max = 300): string {
  return printable(maskUrl(String(url)), max);
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
  return redactSecrets(text).replace(
    /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu,
    (ch) => `\\u{${ch.codePointAt(0)!.toString(16)}}`,
  );
}

/**
 * Any failure as a TakoError: one Tako explains passes through; anything
 * else is a bug, reported as an "internal" error (exit 70) so that the run
 * can go on with the next config. The original error is its `cause`.
 *
 * @example
 * ```ts
 * asTakoError(new TypeError("x is undefined")).exitCode; // 70
 * ```
 */
export function asTakoError(e: unknown): TakoError {
  if (e instanceof TakoError) return e;
  const detail = e instanceof Error ? e.message : String(e);
  return new TakoError(
    "internal",
    `internal error: ${
      printable(detail, 300)
    } (this is a bug in Tako; TAKO_DEBUG=1 shows the stack trace).`,
    { cause: e },
  );
}
