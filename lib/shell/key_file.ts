/**
 * Key files: reading the secret key that `store` and `resign` sign with, and
 * writing the pair that `gen-key -o <name>` makes (`<name>.key`, mode 0600,
 * and `<name>.pub`), never over an existing file.
 *
 * @module
 */
import { dirname } from "node:path";
import { printable, TakoError } from "../core/errors.ts";
import { formatSecretKey, parseSecretKey, type SecretKey } from "../core/keys.ts";
import { formatPublicKey } from "../core/public_key.ts";
import type { Log } from "../core/log.ts";
import { createTemp, fileError, readFileCapped, writeAll } from "./fs.ts";

/** Where a signing command may find its secret key; the first one given wins. */
export interface KeySource {
  /** `--key`. */
  readonly key: string | undefined;
  /** `--key-file`. */
  readonly keyFile: string | undefined;
  /** TAKO_SECRET_KEY, if set. */
  readonly envKey: string | undefined;
}

const MAX_KEY_FILE_BYTES = 4096;

function shown(path: string): string {
  return printable(path, 200);
}

/** Warns, as ssh and minisign do, when a key file is readable by group or others. */
async function warnIfShared(path: string, where: string, log: Log): Promise<void> {
  const mode = (await Deno.stat(path).catch(() => undefined))?.mode;
  if (mode === undefined || mode === null || (mode & 0o077) === 0) return;
  log.warn(
    `the ${where} is readable by ${(mode & 0o070) !== 0 ? "its group" : "others"}${
      (mode & 0o070) !== 0 && (mode & 0o007) !== 0 ? " and others" : ""
    } (mode ${(mode & 0o777).toString(8).padStart(4, "0")}); make it private with 'chmod 600'.`,
  );
}

/**
 * The secret key from --key, --key-file or TAKO_SECRET_KEY, in that order; a
 * key file that others can read is used, with a warning.
 */
export async function loadSecretKey(source: KeySource, log: Log): Promise<SecretKey> {
  if (source.key !== undefined) return parseSecretKey(source.key.trim(), "the --key option");
  if (source.keyFile !== undefined) {
    const where = `key file ${shown(source.keyFile)}`;
    let bytes: Uint8Array | undefined;
    try {
      bytes = await readFileCapped(source.keyFile, MAX_KEY_FILE_BYTES);
    } catch (e) {
      // A file named on the command line that cannot be read is the caller's mistake.
      const error = fileError("read", source.keyFile, e);
      throw new TakoError("usage", error.message, { cause: e });
    }
    if (bytes === undefined) throw new TakoError("usage", `The ${where} does not exist.`);
    const key = parseSecretKey(new TextDecoder().decode(bytes).trim(), where);
    await warnIfShared(source.keyFile, where, log);
    return key;
  }
  if (source.envKey !== undefined) {
    return parseSecretKey(source.envKey.trim(), "the TAKO_SECRET_KEY environment variable");
  }
  throw new TakoError(
    "usage",
    "No secret key: give --key, --key-file or the TAKO_SECRET_KEY environment variable.",
  );
}

/** The two files `gen-key -o <name>` writes. */
export function keyFilePaths(name: string): { secret: string; public: string } {
  return { secret: `${name}.key`, public: `${name}.pub` };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw fileError("inspect", path, e);
  }
}

/**
 * Writes `text` to `path` whole or not at all, and only if nothing has that
 * name: a temporary in the same directory (created 0600), flushed, given
 * `mode`, then hard-linked to `path` (link(2) fails on any existing name,
 * a symbolic link included); the temporary's own name goes when it is disposed of.
 */
async function createWhole(path: string, text: string, mode: number): Promise<void> {
  await using temp = await createTemp(dirname(path));
  await writeAll(temp.file, new TextEncoder().encode(text), temp.path);
  try {
    await temp.file.sync();
    await Deno.chmod(temp.path, mode);
    await Deno.link(temp.path, path);
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) throw refusal(path);
    throw fileError("write", path, e);
  }
}

function refusal(path: string): TakoError {
  return new TakoError(
    "usage",
    `${shown(path)} already exists; gen-key never overwrites a key file (choose another name).`,
  );
}

/**
 * Writes a key pair as `<name>.key` (the secret key, mode 0600) and
 * `<name>.pub` (the public key, mode 0644), each one line. Refuses, writing
 * nothing, when either exists; if the second cannot be written, the first is
 * removed again.
 */
export async function writeKeyPair(name: string, key: SecretKey): Promise<void> {
  const paths = keyFilePaths(name);
  for (const path of [paths.secret, paths.public]) {
    if (await exists(path)) throw refusal(path);
  }
  await createWhole(paths.secret, `${formatSecretKey(key)}\n`, 0o600);
  try {
    await createWhole(paths.public, `${formatPublicKey(key.publicKey)}\n`, 0o644);
  } catch (e) {
    await Deno.remove(paths.secret).catch(() => {});
    throw e;
  }
}
