/**
 * Reading and writing a destination's `.state`: the small I/O steps that
 * fetch, status and prune share around the pure format of core/state.ts.
 *
 * @module
 */
import { join } from "node:path";
import { readFileCapped, writeFileAtomic } from "./fs.ts";
import { EMPTY_STATE, parseState, serializeState, type State, STATE_FILE } from "../core/state.ts";

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
 * Replaces `.state` atomically.
 *
 * @example
 * ```ts
 * const state = await readState("/var/lib/tako/app");
 * await saveState("/var/lib/tako/app", { ...state, restartPending: false });
 * ```
 */
export async function saveState(dest: string, state: State): Promise<void> {
  await writeFileAtomic(dest, STATE_FILE, new TextEncoder().encode(serializeState(state)), 0o644);
}
