/**
 * The decisions of `tako fetch` (SPEC §6, §7), apart from the I/O that
 * gathers their inputs: which versions to try and in what order, what to say
 * when none can be had, how several origins' failures read as one, and what
 * `.state` says before and after `latest` moves and the units restart.
 *
 * @module
 */
import { printable, TakoError } from "./errors.ts";
import { compatibleEntries, type Entry } from "./manifest.ts";
import { checkAppendOnly } from "./manifest_history.ts";
import type { Config } from "./config.ts";
import type { Pattern } from "./pattern.ts";
import { checkAnchoredHistory, type CurrentImage } from "./history.ts";
import { onOffer, patternProblem } from "./offer.ts";
import type { ConditionalHeaders, State } from "./state.ts";

/** A manifest's bytes, their digest and its verified entries. */
export interface Verified {
  readonly bytes: Uint8Array;
  readonly sha256: string;
  readonly entries: Entry[];
}

/** A manifest as an origin served (or confirmed) it, with that origin's validators for it. */
export interface Fetched extends Verified {
  readonly origin: string;
  readonly validators: ConditionalHeaders | undefined;
}

/** How an origin answered the manifest request: 304, or fresh bytes already verified. */
export type ManifestAnswer =
  | { readonly notModified: true }
  | {
    readonly notModified: false;
    readonly bytes: Uint8Array;
    readonly sha256: string;
    /** Its entries, the signature verified under the config's keys (manifest_signature.ts). */
    readonly entries: Entry[];
    readonly validators: ConditionalHeaders | undefined;
  };

/**
 * The manifest an origin's answer leaves in force (SPEC §6 step 2, §7): a
 * 304 (asked with `sent`, validators that exist only for a stored manifest)
 * keeps the stored one, verified when it was read; fresh bytes, verified by
 * the caller (which loads the curve library only then), must keep the stored
 * history — or, with no stored manifest, list the image `latest` points to
 * (`anchor`; see history.ts).
 */
export function takeManifest(
  answer: ManifestAnswer,
  asked: {
    readonly origin: string;
    readonly url: string;
    readonly sent: ConditionalHeaders | undefined;
  },
  stored: Verified | undefined,
  anchor?: CurrentImage,
): Fetched {
  const { origin, url } = asked;
  if (answer.notModified) {
    if (stored === undefined || asked.sent === undefined) {
      throw new TakoError("runtime", `${url} answered 304 to an unconditional request.`);
    }
    return { ...stored, origin, validators: asked.sent };
  }
  const { bytes, sha256, entries, validators } = answer;
  if (stored !== undefined) checkAppendOnly(stored.entries, entries, url);
  else checkAnchoredHistory(entries, anchor, url);
  return { bytes, sha256, entries, origin, validators };
}

/**
 * What a run says once the manifest was received and verified: with no
 * stored manifest, that it trusts the origin's history (a first contact) or
 * that the history lists the image latest points to; that any version is
 * accepted when Version= is absent. `dest` is already printable.
 *
 * @example
 * ```ts
 * import type { Config } from "./config.ts";
 * declare const config: Config;
 * runNotes(config, "/var/lib/tako/app", undefined, undefined);
 * // ["first fetch into /var/lib/tako/app; trusting the origin's signed history."]
 * ```
 */
export function runNotes(
  config: Pick<Config, "versionGiven">,
  dest: string,
  stored: Verified | undefined,
  anchor: CurrentImage | undefined,
): string[] {
  const notes: string[] = [];
  if (stored === undefined) {
    notes.push(
      anchor === undefined
        ? `first fetch into ${dest}; trusting the origin's signed history.`
        : `no stored manifest in ${dest}; the origin's manifest lists the image latest points to, so its history is taken.`,
    );
  }
  if (!config.versionGiven) notes.push("no Version= given; any version is accepted.");
  return notes;
}

/** What the manifest offers a destination whose `latest` points to `current`. */
export interface Offer {
  /** The newest entry listing the current image, if the manifest lists it. */
  readonly current: Entry | undefined;
  /** The never-downgrade floor (SPEC §7): the current entry while the pattern matches it. */
  readonly floor: Entry | undefined;
  /** The versions to try, newest first, down to the floor: after a 410 Gone, the next. */
  readonly candidates: readonly Entry[];
}

/**
 * What the manifest `entries` offer under `pattern` to a destination whose
 * `latest` points to the image with digest `current` (undefined: none yet).
 *
 * @example
 * ```ts
 * import { ANY_VERSION } from "./pattern.ts";
 * const entries = [{ version: "1.0", size: 1n, sha256: "a".repeat(64) }];
 * const offer = planOffer(entries, ANY_VERSION, undefined);
 * console.log(offer.candidates[0]?.version); // "1.0"
 * ```
 */
export function planOffer(
  entries: readonly Entry[],
  pattern: Pattern,
  current: string | undefined,
): Offer {
  const listed = entries.filter((e) => e.sha256 === current);
  const entry = listed.reduce<Entry | undefined>(
    (best, e) => best === undefined || pattern.compare(e.version, best.version) > 0 ? e : best,
    undefined,
  );
  const floor = entry !== undefined && pattern.matches(entry.version) ? entry : undefined;
  const candidates = compatibleEntries(entries, pattern).filter((c) =>
    floor === undefined || pattern.compare(c.version, floor.version) >= 0
  );
  return { current: entry, floor, candidates };
}

/** Whether a failure to get an image means it was withdrawn (410 Gone): try the next candidate. */
export function isWithdrawn(e: unknown): e is TakoError {
  return e instanceof TakoError && e.tag === "gone";
}

/**
 * Why no candidate of `offer` was chosen: none matches `pattern`, or every
 * one was withdrawn, down to the floor when the never-downgrade rule left out
 * the versions below it.
 */
export function noCompatibleVersion(
  pattern: Pattern,
  entries: readonly Entry[],
  offer: Pick<Offer, "floor" | "candidates">,
): string {
  const offered = onOffer(entries);
  const text = printable(pattern.text);
  if (offer.candidates.length === 0) {
    // With the reason when a SemVer range meets versions that are not SemVer.
    return patternProblem(pattern, entries) ?? `no version matches Version=${text} (${offered}).`;
  }
  return offer.floor === undefined
    ? `every version that matches Version=${text} is withdrawn (${offered}).`
    : `every version that matches Version=${text} from the current ${
      printable(offer.floor.version)
    } up is withdrawn, and latest never moves to a lower version (${offered}).`;
}

/**
 * One error for several origins' failures (at least one): the last one's
 * message, the gravest kind; withdrawn only when every origin said 410 Gone
 * (SPEC §6 Mirrors).
 */
export function combineFailures(failures: readonly TakoError[]): TakoError {
  const last = failures[failures.length - 1];
  if (last === undefined) throw new RangeError("combineFailures() needs a failure");
  if (failures.length === 1) return last;
  const kind = failures.some((f) => f.kind === "integrity") ? "integrity" : last.kind;
  return new TakoError(
    kind,
    `all ${failures.length} origins failed; the last: ${last.message}`,
    failures.every(isWithdrawn) ? { tag: "gone" } : {},
  );
}

/** The image size as a number for the download; refuses one too large to store. */
export function downloadSize(entry: Entry): number {
  if (entry.size > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new TakoError(
      "integrity",
      `${printable(entry.version)} claims ${entry.size} bytes, more than Tako can store.`,
    );
  }
  return Number(entry.size);
}

/** Whether a switch is judged: units to restart and a watch or a health command. */
export function isJudged(
  config: Pick<Config, "restartUnits" | "healthCheckMs" | "healthCommand">,
): boolean {
  return config.restartUnits.length > 0 &&
    (config.healthCheckMs > 0 || config.healthCommand !== undefined);
}

/** Whether this run restarts units at all: never under `--init` (the unit is starting). */
export function restartsUnits(init: boolean, units: readonly string[]): boolean {
  return !init && units.length > 0;
}

/**
 * The state to save before `latest` moves from `current` to `chosen`, or
 * undefined when it does not move. Saved first, so that a run killed right
 * after the move still restarts the units next time and pruning keeps the
 * previous image. `base` is the run's state with the new validators and stamp.
 */
export function stateBeforeSwap(
  base: State,
  chosen: string,
  current: string | undefined,
  restarts: boolean,
): State | undefined {
  if (chosen === current) return undefined;
  return { ...base, previous: current ?? base.previous, restartPending: restarts };
}

/**
 * The state once `latest` is settled (`changed`: it moved away from
 * `current`). A restart stays pending from an earlier run even when no
 * compatible version is on offer, and is retried.
 */
export function stateAfterSwap(
  base: State,
  current: string | undefined,
  changed: boolean,
  restarts: boolean,
): State {
  return {
    ...base,
    previous: changed && current !== undefined ? current : base.previous,
    restartPending: restarts && (changed || base.restartPending),
  };
}

/** The state a successful run ends with. */
export function stateAfterSuccess(state: State, now: Date): State {
  return { ...state, restartPending: false, lastSuccess: now.toISOString() };
}

/** The message of a failed restart: the image stays, the next run retries. */
export function restartFailed(inPlace: string, cause: unknown): TakoError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  const sentence = /[.!?]$/.test(detail) ? detail : `${detail}.`;
  return new TakoError(
    "runtime",
    `${inPlace} is in place, but the restart failed: ${sentence} The next run retries it.`,
    { cause },
  );
}
