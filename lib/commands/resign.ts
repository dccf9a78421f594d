/**
 * `tako resign`: re-sign an origin directory's manifest with a new key, for
 * key rotation (docs/distributing-images.md).
 *
 * @module
 */
import { equalBytes } from "../core/bytes.ts";
import { asKind, printable, TakoError } from "../core/errors.ts";
import { formatPublicKey, parsePublicKey } from "../core/public_key.ts";
import type { Log } from "../core/log.ts";
import { MAX_MANIFEST_BYTES } from "../core/manifest.ts";
import { resignManifest } from "../core/resign.ts";
import { readFileCapped, writeFileAtomic } from "../shell/fs.ts";
import { acquireLock, BRIEF_LOCK_WAIT_MS } from "../shell/lock.ts";
import { originDirectory } from "../shell/origin_dir.ts";
import { type KeySource, loadSecretKey } from "../shell/key_file.ts";

/** What `tako resign` was asked to do. */
export interface ResignRequest extends KeySource {
  readonly output: string;
  /** `--previous-key`, as given. */
  readonly previousKey: string;
}

/** Re-signs `<output>/manifest`; returns whether its bytes changed. */
export async function resign(request: ResignRequest, log: Log): Promise<{ changed: boolean }> {
  const key = await loadSecretKey(request, log);
  let previous: Uint8Array;
  try {
    previous = parsePublicKey(request.previousKey.trim(), "--previous-key");
  } catch (e) {
    // A bad key on the command line is a usage error (exit 2), not a config error.
    throw e instanceof TakoError ? asKind(e, "usage") : e;
  }
  const dir = await originDirectory(request.output);
  const manifestPath = `${dir}/manifest`;
  const shown = printable(manifestPath, 200);

  using _lock = await acquireLock(dir, BRIEF_LOCK_WAIT_MS, (message) => log.info(message));
  const bytes = await readFileCapped(manifestPath, MAX_MANIFEST_BYTES);
  if (bytes === undefined) {
    throw new TakoError("usage", `${shown} does not exist; there is nothing to re-sign.`);
  }
  const { manifest, entries } = resignManifest(bytes, [previous], key, shown);
  const changed = !equalBytes(bytes, manifest);
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
