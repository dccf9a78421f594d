/**
 * Secrets that must never reach an output: secret keys (the `SECRET+…` form
 * that `tako gen-key` prints, or its base64 without the prefix) and passwords
 * in URLs (`https://user:password@host/…`). {@link redactSecrets} masks both
 * in any text, and `printable()` applies it, so a message, status output or
 * debug line never repeats one; parsers use {@link holdsSecretKey} to refuse a
 * secret key where something else belongs, saying so in words.
 *
 * @module
 */
import { ed25519 } from "@noble/curves/ed25519";
import { decodeBase64Strict } from "./base64.ts";

/** What a masked secret key reads as. */
export const HIDDEN_KEY = "SECRET+<hidden>";
/** What a masked URL password reads as. */
export const HIDDEN_PASSWORD = "***";

/** The prefix and as much base64 as follows it (any case: a key must not slip through as `secret+`). */
const PREFIXED = /SECRET\+[A-Za-z0-9+/=]*/gi;
/** A run of base64 long enough to hold a key body without its prefix (88 or 128 characters). */
const BASE64_RUN = /[A-Za-z0-9+/]{86,}={0,2}/g;
/** Body lengths in characters and the bytes they encode: seed and public key (twice or once). */
const BODY_FORMS: readonly (readonly [chars: number, bytes: number])[] = [[128, 96], [88, 64]];
/**
 * A URL's user information with a password: after `//` or a scheme's `:` (and
 * any slashes: a path made of a URL has one), a user name, `:`, and the
 * password up to the last `@` of the authority.
 */
const URL_PASSWORD = /(\/\/|[A-Za-z][A-Za-z0-9+.-]*:[/\\]*)([^\s/\\?#:]*):([^\s/\\?#]*)@/g;

/** Whether `body` is the base64 of a seed followed by the public key that seed gives. */
function isKeyBody(body: string): boolean {
  for (const [chars, bytes] of BODY_FORMS) {
    if (body.length !== chars) continue;
    const decoded = decodeBase64Strict(body, bytes);
    if (decoded === undefined) return false;
    const derived = ed25519.getPublicKey(decoded.subarray(0, 32));
    return derived.every((byte, i) => byte === decoded[32 + i]);
  }
  return false;
}

/**
 * The [start, end) spans of unprefixed key bodies within a base64 run: the run
 * itself, or a body that starts or ends it, or follows a `/` in it (a path).
 */
function bodySpans(run: string): [number, number][] {
  const starts = new Set([0]);
  for (let i = run.indexOf("/"); i >= 0; i = run.indexOf("/", i + 1)) starts.add(i + 1);
  const spans: [number, number][] = [];
  for (const [chars] of BODY_FORMS) {
    const candidates: [number, number][] = [...starts].map((s) => [s, s + chars]);
    candidates.push([run.length - chars, run.length]);
    for (const [s, e] of candidates) {
      if (s >= 0 && e <= run.length && isKeyBody(run.slice(s, e))) spans.push([s, e]);
    }
  }
  return spans;
}

/** Masks unprefixed key bodies in `text`. */
function maskKeyBodies(text: string): string {
  return text.replace(BASE64_RUN, (run) => {
    const spans = bodySpans(run);
    if (spans.length === 0) return run;
    const [s, e] = spans[0]!;
    return maskKeyBodies(run.slice(0, s)) + HIDDEN_KEY + maskKeyBodies(run.slice(e));
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
 * `https://deploy:hunter2@host/` reads `https://deploy:***@host/`.
 */
export function maskUrlPasswords(text: string): string {
  return text.replace(URL_PASSWORD, `$1$2:${HIDDEN_PASSWORD}@`);
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
