/**
 * Reading and writing a destination's `.state`: the small I/O steps that
 * fetch, status and prune share around the pure format of core/state.ts.
 *
 * @module
 */
import { join } from "../core/path.ts";
import { readFileCapped, writeFileAtomic } from "./fs.ts";
import { keepPrivateIfPresent, PRIVATE_MODE } from "./private_mode.ts";
import {
  EMPTY_STATE,
  MAX_FAILURE_CHARS,
  parseState,
  serializeState,
  type State,
  STATE_FILE,
  withDownloaded,
} from "../core/state.ts";

/** `.state` is a few hundred bytes; the cap keeps a planted huge file from being read. */
const MAX_STATE_BYTES = 64 * 1024;

/**
 * The destination's state; a missing, unreadable or damaged file reads as the
 * empty state (it costs work, never safety).
 *
 * @example
 * ```ts
 * const state = await readState("/var/lib/tako/app");
 * ```
 */
export async function readState(dest: string): Promise<State> {
  try {
    const bytes = await readFileCapped(join(dest, STATE_FILE), MAX_STATE_BYTES);
    return parseState(bytes === undefined ? undefined : new TextDecoder().decode(bytes));
  } catch {
    return EMPTY_STATE;
  }
}

/**
 * Notes a failed run in `.state` (time and message, bounded) for `tako
 * status`, and the image bytes the run received, keeping the rest. Never throws: the failure itself is what the
 * caller reports, and a full disk must not hide it.
 *
 * @example
 * ```ts
 * await recordFailure("/var/lib/tako/app", "Cannot reach https://…: timed out.", new Date());
 * ```
 */
export async function recordFailure(
  dest: string,
  message: string,
  time: Date,
  downloaded = 0,
): Promise<void> {
  try {
    // The image bytes the failed run did receive still count (the metrics' counter).
    const state = withDownloaded(await readState(dest), downloaded);
    const kept = message.length > MAX_FAILURE_CHARS
      ? `${message.slice(0, MAX_FAILURE_CHARS - 1)}…`
      : message;
    await saveState(dest, {
      ...state,
      lastFailure: time.toISOString(),
      lastFailureMessage: kept,
    });
  } catch {
    // Best effort only.
  }
}

/**
 * Narrows an existing `.state` to mode 0600 (one from an older Tako was 0644);
 * for fetch, under the destination's lock.
 *
 * @example
 * ```ts
 * await repairStateMode("/var/lib/tako/app");
 * ```
 */
export async function repairStateMode(dest: string): Promise<void> {
  await keepPrivateIfPresent(join(dest, STATE_FILE));
}

/**
 * Replaces `.state` atomically (mode 0600).
 *
 * @example
 * ```ts
 * const state = await readState("/var/lib/tako/app");
 * await saveState("/var/lib/tako/app", { ...state, restartPending: false });
 * ```
 */
export async function saveState(dest: string, state: State): Promise<void> {
  await writeFileAtomic(
    dest,
    STATE_FILE,
    new TextEncoder().encode(serializeState(state)),
    PRIVATE_MODE,
  );
}
