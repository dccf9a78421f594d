/**
 * Reading a config file from disk: the thin I/O step before the pure
 * parser of config.ts, and the config's name in front of every message
 * about it. Shared by fetch, status and prune.
 *
 * @module
 */
import { type Config, MAX_CONFIG_SIZE, parseConfig } from "../core/config.ts";
import { printable, safeText, TakoError } from "../core/errors.ts";
import { readFileCapped } from "./fs.ts";

/**
 * A config path as messages show it (it may hold any byte).
 *
 * @example
 * ```ts
 * console.error(`${shownPath("/etc/tako/app")}: nothing to prune.`);
 * ```
 */
export function shownPath(configPath: string): string {
  return printable(configPath, 1000);
}

/**
 * Reads and parses a config file; every error message starts with the path.
 *
 * @example
 * ```ts
 * const config = await loadConfig("/etc/tako/app");
 * ```
 */
export async function loadConfig(path: string): Promise<Config> {
  const name = shownPath(path);
  let bytes: Uint8Array | undefined;
  try {
    bytes = await readFileCapped(path, MAX_CONFIG_SIZE);
  } catch (e) {
    if (!(e instanceof TakoError)) throw e;
    throw new TakoError("config", `${name}: cannot read the config file: ${e.message}`, {
      cause: e,
    });
  }
  if (bytes === undefined) {
    throw new TakoError("config", `${name}: the config file does not exist.`);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new TakoError("config", `${name}: the config file is not UTF-8 text.`);
  }
  return await parseConfig(text, path);
}

/**
 * Puts the config a failure concerns in front of its message, unless the
 * message starts with it already, and makes the message safe to print. What
 * is not a TakoError (a bug) passes through unchanged.
 *
 * @example
 * ```ts
 * import { TakoError } from "../core/errors.ts";
 * const e = inContext("/etc/tako/app", new TakoError("runtime", "No answer."));
 * e.message; // "/etc/tako/app: No answer."
 * ```
 */
export function inContext(configPath: string, e: TakoError): TakoError;
export function inContext(configPath: string, e: unknown): unknown;
export function inContext(configPath: string, e: unknown): unknown {
  if (!(e instanceof TakoError)) return e;
  const name = shownPath(configPath);
  const message = safeText(e.message);
  const full = message.startsWith(name) ? message : `${name}: ${message}`;
  if (full === e.message) return e;
  return new TakoError(e.kind, full, {
    cause: e.cause,
    ...(e.tag === undefined ? {} : { tag: e.tag }),
  });
}
