/**
 * Reading and writing a destination's `.state` and checking that a
 * destination exists: the small I/O steps that fetch, status and prune share.
 *
 * @module
 */
import { join } from "node:path";
import { readFileCapped, writeFileAtomic } from "./destination.ts";
import { printable, TakoError } from "../core/errors.ts";
import { EMPTY_STATE, parseState, serializeState, type State, STATE_FILE } from "../core/state.ts";

/** `.state` is a few hundred bytes; the cap keeps a planted huge file from being read. */
const MAX_STATE_BYTES = 64 * 1024;

/** The destination's state; a missing, unreadable or damaged file reads as the empty state. */
export async function readState(dest: string): Promise<State> {
  try {
    const bytes = await readFileCapped(join(dest, STATE_FILE), MAX_STATE_BYTES);
    return parseState(bytes === undefined ? undefined : new TextDecoder().decode(bytes));
  } catch {
    return EMPTY_STATE;
  }
}

/** Replaces `.state` atomically. */
export async function saveState(dest: string, state: State): Promise<void> {
  await writeFileAtomic(dest, STATE_FILE, new TextEncoder().encode(serializeState(state)), 0o644);
}

/** For commands that never create a destination (status, prune): it must exist already. */
export async function requireDestination(dest: string): Promise<void> {
  const shown = printable(dest, 300);
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dest);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new TakoError(
        "runtime",
        `destination ${shown} does not exist; run 'tako fetch' first.`,
      );
    }
    const reason = printable(e instanceof Error ? e.message : String(e), 200);
    throw new TakoError("runtime", `cannot inspect destination ${shown}: ${reason}`, { cause: e });
  }
  if (!info.isDirectory) {
    throw new TakoError("runtime", `destination ${shown} is not a directory.`);
  }
}
