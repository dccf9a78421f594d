/**
 * Secrets that must never reach an output: secret keys (the `SECRET+…` form
 * that `tako gen-key` prints, or its base64 without the prefix) and passwords
 * in URLs (`https://user:password@host/…`). {@link redactSecrets} masks both
 * in any text, and `printable()` applies it, so a message, status output or
 * debug line never repeats one; parsers use {@link holdsSecretKey} to refuse a
 * secret key where something else belongs, saying so in words.
 *
 * What counts as a secret key: `SECRET+` (any case) and the base64 after it,
 * anywhere; or, without the prefix, the base64 of a seed followed by its own
 * public key (checked by deriving it), standing alone, in a path, or with
 * other text glued to one side. Both forms that `tako gen-key` has printed
 * (96 and 64 bytes) are recognised. Masking takes linear time on any text.
 *
 * The derivation needs the curve library, which most runs never load
 * (docs/performance.md): it is loaded by {@link loadKeyCheck}, which the
 * readers of local input (the command line, config files) call first when
 * the text has a run of base64 long enough to be a key body. Until it is
 * loaded, such a run is taken for a key body whenever it decodes to one's
 * length: masked, and refused where a key does not belong. That is only ever
 * more cautious, never less.
 *
 * @module
 */
import { decodeBase64Strict } from "./base64.ts";

/** What a masked secret key reads as. */
export const HIDDEN_KEY = "SECRET+<hidden>";
/** What a masked URL password reads as. */
export const HIDDEN_PASSWORD = "***";

/** The prefix and as much base64 as follows it (any case: a key must not slip through as `secret+`). */
const PREFIXED = /SECRET\+[A-Za-z0-9+/=]*/gi;
/** A run of base64 long enough to hold a key body without its prefix (88 or 128 characters). */
const BASE64_RUN = /[A-Za-z0-9+/]{86,}={0,2}/g;
/** The start of such a run (no global state: for a plain test). */
const BASE64_RUN_START = /[A-Za-z0-9+/]{86}/;
/** Body lengths in characters and the bytes they encode: seed and public key (twice or once). */
const BODY_FORMS: readonly (readonly [chars: number, bytes: number])[] = [[128, 96], [88, 64]];
/** Characters that end a URL's authority, looking back from its `@`. */
const AUTHORITY_END = /[\s/\\?#'"<>()[\]{}|^`]/;
/** The longest user information looked at: a password longer than this is not masked. */
const MAX_USERINFO = 256;
/** What comes right before a URL's user name: `//`, or a scheme's `:` (and any slashes: a path made of a URL has one). */
const BEFORE_USER = /(?:\/\/|[A-Za-z][A-Za-z0-9+.-]{0,31}:[/\\]*)$/;

/** Derives an Ed25519 public key from its seed, once {@link loadKeyCheck} loaded the curve library. */
let derivePublicKey: ((seed: Uint8Array) => Uint8Array) | undefined;

/**
 * Loads the curve library for the exact check of key bodies without their
 * prefix (see the module's comment). Idempotent.
 *
 * @example
 * ```ts
 * declare const configText: string;
 * if (mayHoldKeyBody(configText)) await loadKeyCheck();
 * ```
 */
export async function loadKeyCheck(): Promise<void> {
  if (derivePublicKey !== undefined) return;
  const { ed25519 } = await import("@noble/curves/ed25519");
  derivePublicKey = (seed) => ed25519.getPublicKey(seed);
}

/**
 * Whether `text` has a run of base64 long enough to hold a key body without
 * its prefix: the only text whose check needs {@link loadKeyCheck}.
 *
 * @example
 * ```ts
 * mayHoldKeyBody("Destination=/var/lib/images/app"); // false
 * ```
 */
export function mayHoldKeyBody(text: string): boolean {
  return BASE64_RUN_START.test(text);
}

/** Whether `body` is the base64 of a seed followed by the public key that seed gives. */
function isKeyBody(body: string): boolean {
  for (const [chars, bytes] of BODY_FORMS) {
    if (body.length !== chars) continue;
    const decoded = decodeBase64Strict(body, bytes);
    if (decoded === undefined) return false;
    // Without the curve library, anything shaped like a key body counts as one.
    if (derivePublicKey === undefined) return true;
    const derived = derivePublicKey(decoded.subarray(0, 32));
    return derived.every((byte, i) => byte === decoded[32 + i]);
  }
  return false;
}

/**
 * How many windows of one text are checked for a key body (an Ed25519
 * derivation each): bounds the time on hostile text. Secrets come from
 * configs and command lines, which never hold that many candidates.
 */
const MAX_KEY_CHECKS = 256;

/**
 * The first [start, end) span of an unprefixed key body within a base64 run:
 * a window that starts at the run's start or after a `/`, or ends at the
 * run's end or before a `/` or `=` — a body in a path, or with text glued to
 * one side of it.
 */
function bodySpan(run: string, budget: { left: number }): [number, number] | undefined {
  for (const [chars] of BODY_FORMS) {
    const check = (s: number): boolean =>
      s >= 0 && s + chars <= run.length && budget.left-- > 0 &&
      isKeyBody(run.slice(s, s + chars));
    if (check(0)) return [0, chars];
    if (check(run.length - chars)) return [run.length - chars, run.length];
    // Windows at slashes (and padding), checked as they come until the budget is spent.
    for (let i = 0; i < run.length && budget.left > 0; i++) {
      const ch = run[i];
      if (ch === "/" && check(i + 1)) return [i + 1, i + 1 + chars];
      if ((ch === "/" || ch === "=") && check(i - chars)) return [i - chars, i];
    }
  }
  return undefined;
}

/** Masks unprefixed key bodies in `text`. */
function maskKeyBodies(text: string, budget = { left: MAX_KEY_CHECKS }): string {
  return text.replace(BASE64_RUN, (run) => {
    const span = bodySpan(run, budget);
    if (span === undefined) return run;
    const [s, e] = span;
    return maskKeyBodies(run.slice(0, s), budget) + HIDDEN_KEY +
      maskKeyBodies(run.slice(e), budget);
  });
}

/**
 * Whether `text` holds a secret key: `SECRET+` with base64 after it, in any
 * case, or the base64 of a seed followed by its own public key.
 *
 * @example
 * ```ts
 * holdsSecretKey("PublicKey=SECRET+l0D2…"); // true
 * holdsSecretKey("PublicKey=l0D28J2fiIXvWPbeZP7wkaq+dB55Gl2ysigl9mQH29k="); // false
 * ```
 */
export function holdsSecretKey(text: string): boolean {
  return /SECRET\+[A-Za-z0-9+/]/i.test(text) || maskKeyBodies(text) !== text;
}

/**
 * Masks the password of every URL in `text`, keeping the user name:
 * `https://deploy:hunter2@host/` reads `https://deploy:***@host/`. As URL
 * parsers do, the user information runs to the last `@` of the authority.
 * One pass over the text with a bounded look back: linear however it is made.
 */
export function maskUrlPasswords(text: string): string {
  const masks: [number, number][] = [];
  let authority = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (AUTHORITY_END.test(ch)) authority = i + 1;
    if (ch !== "@") continue;
    const span = passwordSpan(text, Math.max(authority, i - MAX_USERINFO), i);
    if (span === undefined) continue;
    const last = masks[masks.length - 1];
    // A later '@' of the same authority extends the password (WHATWG: the last '@' counts).
    if (last !== undefined && span[0] <= last[1]) last[1] = span[1];
    else masks.push(span);
  }
  let out = "";
  let done = 0;
  for (const [from, to] of masks) {
    out += text.slice(done, from) + HIDDEN_PASSWORD;
    done = to;
  }
  return out + text.slice(done);
}

/** The [from, at) span of the password in the user information `text[start, at)`, if it is one. */
function passwordSpan(text: string, start: number, at: number): [number, number] | undefined {
  let from = start;
  let before = text.slice(Math.max(0, start - 40), start);
  // "https:u:pw@host" (no slashes): the scheme is within what was looked back over.
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]{0,31}:/.exec(text.slice(start, Math.min(at, start + 33)));
  if (!BEFORE_USER.test(before) && scheme !== null) {
    before += scheme[0];
    from += scheme[0].length;
  }
  const colon = text.slice(from, at).indexOf(":");
  if (colon < 0 || !BEFORE_USER.test(before)) return undefined;
  return [from + colon + 1, at];
}

/**
 * Masks an origin URL as written in a config, even one too malformed for the
 * URL parser: everything from the `:` after the user name to the last `@` of
 * the text is the password (a space or `/` in it must not end the mask early).
 *
 * @example
 * ```ts
 * maskUrl("https://deploy:s3cr et@host/app"); // "https://deploy:***@host/app"
 * ```
 */
export function maskUrl(url: string): string {
  const at = url.lastIndexOf("@");
  if (at < 0) return maskUrlPasswords(url);
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:[/\\]*/.exec(url)?.[0] ?? "";
  const colon = url.indexOf(":", scheme.length);
  if (colon < 0 || colon > at) return maskUrlPasswords(url);
  return url.slice(0, colon + 1) + HIDDEN_PASSWORD + maskUrlPasswords(url.slice(at));
}

/**
 * Masks every secret key and URL password in `text`.
 *
 * @example
 * ```ts
 * redactSecrets("key SECRET+AAAA… from https://u:pw@host/"); // "key SECRET+<hidden> from https://u:***@host/"
 * ```
 */
export function redactSecrets(text: string): string {
  // Fast path: most text has neither a long base64 run nor an '@' nor the prefix.
  if (!/@|[A-Za-z0-9+/]{86}|SECRET\+/i.test(text)) return text;
  return maskUrlPasswords(maskKeyBodies(text.replace(PREFIXED, HIDDEN_KEY)));
}
