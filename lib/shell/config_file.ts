/**
 * Reading a config file from disk: the thin I/O step before the pure
 * parser of config.ts. Shared by fetch, status and prune.
 *
 * @module
 */
import { type Config, MAX_CONFIG_SIZE, parseConfig } from "../core/config.ts";
import { readFileCapped } from "./destination.ts";
import { printable, TakoError } from "../core/errors.ts";
import { safeText } from "../core/status_report.ts";

/** A config path as it may be printed. */
export function shownPath(configPath: string): string {
  return printable(configPath, 1000);
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Reads and parses a config file; every error message starts with the path. */
export async function loadConfig(path: string): Promise<Config> {
  const name = shownPath(path);
  let bytes: Uint8Array | undefined;
  try {
    bytes = await readFileCapped(path, MAX_CONFIG_SIZE);
  } catch (e) {
    throw new TakoError("config", `${name}: cannot read the config file: ${messageOf(e)}`, {
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

/** Prefixes a message with the config it concerns, unless it already names it (status, prune). */
export function inContext(configPath: string, e: TakoError): TakoError {
  const name = safeText(configPath);
  const message = safeText(e.message);
  const full = message.includes(name) ? message : `${name}: ${message}`;
  if (full === e.message) return e;
  return new TakoError(e.kind, full, {
    cause: e.cause,
    ...(e.tag === undefined ? {} : { tag: e.tag }),
  });
}
