/**
 * The lock that serialises runs on one directory: an exclusive flock(2) on
 * `<dir>/.lock`, in a destination or in an origin directory that `tako store`
 * writes.
 *
 * @module
 */
import { join } from "../core/path.ts";
import { printable, TakoError } from "../core/errors.ts";
import { attempt, fileError, kindOf, lstatOrUndefined } from "./fs.ts";
import { keepPrivate, PRIVATE_MODE } from "./private_mode.ts";

/**
 * How long fetch, prune and rollback wait for another run's lock on a
 * destination: runs from timers must not fail because another one is
 * downloading, which can take minutes (docs/systemd.md).
 */
export const DESTINATION_LOCK_WAIT_MS = 10 * 60_000;

/**
 * How long the commands an operator or a publisher runs by hand wait for a
 * lock: `tako verify` on a destination; store, resign and index on an origin
 * directory.
 */
export const BRIEF_LOCK_WAIT_MS = 60_000;

const LOCK = ".lock";
const LOCK_POLL_MS = 100;

/** A held lock on a directory: release it when the run is done (`using` does). */
export interface Lock extends Disposable {
  /** Unlocks and closes the lock file; calling it again does nothing. */
  release(): void;
}

/**
 * Takes an exclusive flock(2) on `<dir>/.lock` (a destination, or an origin
 * directory that `tako store` writes), polling until `waitMs` has passed,
 * then fails with a TakoError tagged "busy". The lock file is never opened
 * through a symbolic link, and it is private (mode 0600, repaired when wider):
 * anyone who can open it can hold the lock.
 *
 * `onWait` is told once, at the first refusal, that the run is waiting.
 *
 * @example
 * ```ts
 * using _lock = await acquireLock("/var/lib/tako/app", 60_000, (m) => console.error(m));
 * ```
 */
export async function acquireLock(
  dir: string,
  waitMs: number,
  onWait?: (message: string) => void,
): Promise<Lock> {
  const path = join(dir, LOCK);
  const file = await openLockFile(path);
  try {
    const deadline = Date.now() + Math.max(0, waitMs);
    let told = false;
    // A non-blocking try (LOCK_NB): it never waits, so it runs on the main thread.
    while (!(await attempt("lock", path, () => file.tryLockSync(true)))) {
      if (!told && waitMs > 0) {
        // Said at once, as apt does: a silent wait of minutes looks like a hang.
        told = true;
        onWait?.(
          `waiting for another tako run, which holds ${printable(path, 300)}, to finish (at most ${
            formatSeconds(waitMs)
          }).`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new TakoError(
          "runtime",
          `${printable(dir, 300)} is busy: another tako run holds ${printable(path, 300)} (waited ${
            formatSeconds(waitMs)
          }).`,
          { tag: "busy" },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(LOCK_POLL_MS, left)));
    }
  } catch (e) {
    file.close();
    throw e;
  }
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    // Closing the only descriptor drops the flock even if unlocking failed.
    try {
      file.unlockSync();
    } catch { /* closed below anyway */ }
    try {
      file.close();
    } catch { /* already closed */ }
  };
  return { release, [Symbol.dispose]: release };
}

/**
 * Opens `.lock`, creating it exclusively when absent. An existing name must be
 * a regular file: a planted symbolic link would make us create or touch a file
 * outside the destination.
 */
async function openLockFile(path: string): Promise<Deno.FsFile> {
  try {
    return Deno.openSync(path, { read: true, write: true, createNew: true, mode: PRIVATE_MODE });
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw fileError("create lock file", path, e);
  }
  const before = await lstatOrUndefined(path);
  if (before === undefined || !before.isFile) {
    throw new TakoError(
      "runtime",
      `Lock file ${printable(path, 300)} is ${
        before === undefined ? "gone" : kindOf(before)
      }; expected a regular file.`,
    );
  }
  const file = await attempt("open lock file", path, () => Deno.openSync(path, { read: true }));
  const opened = await attempt("inspect", path, () => file.statSync());
  if (opened.ino !== before.ino || opened.dev !== before.dev) {
    file.close();
    throw new TakoError(
      "runtime",
      `Lock file ${printable(path, 300)} changed while it was being opened.`,
    );
  }
  try {
    await keepPrivate(path, opened);
  } catch (e) {
    file.close();
    throw e;
  }
  return file;
}

function formatSeconds(ms: number): string {
  return `${Math.round(Math.max(0, ms) / 100) / 10} s`;
}
