/**
 * `tako resign`: re-sign an origin directory's manifest with a new key, for
 * key rotation (docs/distributing-images.md).
 *
 * @module
 */
import { printable, TakoError } from "../core/errors.ts";
import { formatPublicKey, parsePublicKey } from "../core/public_key.ts";
import type { Log } from "../core/log.ts";
import { MAX_MANIFEST_BYTES } from "../core/manifest.ts";
import { resignManifest } from "../core/resign.ts";
import { fileError, readFileCapped, writeFileAtomic } from "../shell/fs.ts";
import { acquireLock } from "../shell/lock.ts";
import { type KeySource, loadSecretKey } from "../shell/key_file.ts";

/** What `tako resign` was asked to do. */
export interface ResignRequest extends KeySource {
  readonly output: string;
  /** `--previous-key`, as given. */
  readonly previousKey: string;
}

/** As long as `tako store` waits for the directory's lock. */
const LOCK_WAIT_MS = 60_000;

/** Re-signs `<output>/manifest`; returns whether its bytes changed. */
export async function resign(request: ResignRequest, log: Log): Promise<{ changed: boolean }> {
  const key = await loadSecretKey(request, log);
  let previous: Uint8Array;
  try {
    previous = parsePublicKey(request.previousKey.trim(), "--previous-key");
  } catch (e) {
    // A bad key on the command line is a usage error (exit 2), not a config error.
    throw e instanceof TakoError ? new TakoError("usage", e.message, { cause: e }) : e;
  }
  const dir = request.output.replace(/\/+$/, "") || "/";
  const manifestPath = `${dir}/manifest`;
  const shown = printable(manifestPath, 200);

  await requireDirectory(dir);
  using _lock = await acquireLock(dir, LOCK_WAIT_MS);
  const bytes = await readFileCapped(manifestPath, MAX_MANIFEST_BYTES);
  if (bytes === undefined) {
    throw new TakoError("usage", `${shown} does not exist; there is nothing to re-sign.`);
  }
  const { manifest, entries } = resignManifest(bytes, [previous], key, shown);
  const changed = !sameBytes(bytes, manifest);
  if (changed) await writeFileAtomic(dir, "manifest", manifest, 0o444);
  log.info(
    changed
      ? `Re-signed ${shown} (${entries.length} entries) with the key ${
        formatPublicKey(key.publicKey)
      }.`
      : `${shown} is already signed with the key ${formatPublicKey(key.publicKey)}.`,
  );
  return { changed };
}

async function requireDirectory(dir: string): Promise<void> {
  const info = await Deno.stat(dir).catch((e) => {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw fileError("use", dir, e);
  });
  if (info?.isDirectory !== true) {
    throw new TakoError("usage", `The origin directory ${printable(dir, 200)} does not exist.`);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
