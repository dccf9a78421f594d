/**
 * `tako fetch`: the client procedure of SPEC §6, as a script of steps. The
 * decisions are the core's (fetch_plan, manifest, state), the I/O is the
 * shell's (http, partial, fs, store, systemd). No parsing happens here.
 *
 * @module
 */
import { resolve } from "../core/path.ts";
import { asTakoError, printable, TakoError } from "../core/errors.ts";
import type { NetFlags } from "../core/cli.ts";
import type { Config } from "../core/config.ts";
import {
  deltaOf,
  dryRunText,
  type FetchEntry,
  fetchEntry,
  type Outcome,
  withMultiRange,
} from "../core/fetch_report.ts";
import * as plan from "../core/fetch_plan.ts";
import type { CurrentImage } from "../core/history.ts";
import type { Log } from "../core/log.ts";
import type { Entry } from "../core/manifest.ts";
import {
  stampMatches,
  stampOf,
  type State,
  withDownloaded,
  withManifestVerified,
  withValidators,
} from "../core/state.ts";
import { inContext, loadConfig, shownPath } from "../shell/config_file.ts";
import { lstatOrUndefined, writeFileAtomic } from "../shell/fs.ts";
import { acquireLock, DESTINATION_LOCK_WAIT_MS } from "../shell/lock.ts";
import { DEFAULT_NET_OPTIONS, type NetOptions } from "../shell/http.ts";
import {
  currentImage,
  fetchVerifiedManifest,
  readVerifiedStored,
  type Source,
} from "../shell/fetch_inputs.ts";
import { dropPartials } from "../shell/partial_files.ts";
import { readState, recordFailure, repairStateMode, saveState } from "../shell/state_file.ts";
import {
  cleanTemporaries,
  imageDamage,
  pointLatest,
  prepareDestination,
  readAnchor,
  readLatest,
} from "../shell/store.ts";
import type { ServiceManager } from "../shell/systemd.ts";
import { phasedOffer } from "../shell/phased_offer.ts";
import { isRejected, type PhasedOffer, rolloutOf, withRollout } from "../core/rollout.ts";
import { hasLimits, limitsOf } from "../core/prune_plan.ts";

// Loaded only on the paths that need them, so that a check answered 304 with the image in place
// evaluates none of them (docs/performance.md; tests/unit/commands/fetch_imports_test.ts).
const switching = () => import("../shell/switch.ts");
const pruning = () => import("../shell/store_prune.ts");

/** What the fetch procedure gets from its caller (`delta: false` for `--no-delta`). */
export interface FetchContext {
  readonly log: Log;
  readonly net: NetOptions;
  readonly services: ServiceManager;
  /** How long to wait for another run's lock on the same destination. */
  readonly lockWaitMs: number;
  readonly now: () => Date;
  readonly skipSpread?: boolean; // --now: no wait for this host's turn in a phased rollout
  readonly delta?: boolean;
}

/** A run's context: the command line's network options over the defaults, a 10-minute lock wait. */
export function fetchContext(net: NetFlags, log: Log, services: ServiceManager): FetchContext {
  const options = { ...DEFAULT_NET_OPTIONS, ...net };
  return {
    log,
    net: options,
    services,
    lockWaitMs: DESTINATION_LOCK_WAIT_MS,
    now: () => new Date(),
  };
}

/** One config's run: what every step needs, and its outcome so far (for `--json`). */
interface Run extends FetchContext, Source {
  readonly config: Config;
  readonly outcome: Outcome;
}

/** `--init` (provision) or `--dry-run` (report only); neither for a timer's update. */
export interface FetchMode {
  readonly init: boolean;
  readonly dryRun: boolean;
}

/** Every config's outcome, in order, and the failures among them (already logged). */
export interface FetchResult {
  readonly entries: FetchEntry[];
  readonly failures: TakoError[];
}

/** Runs fetch for each config in turn; one failing (even by a bug) does not stop the next. */
export async function fetchEach(
  configPaths: readonly string[],
  mode: FetchMode,
  ctx: FetchContext,
): Promise<FetchResult> {
  const entries: FetchEntry[] = [];
  const failures: TakoError[] = [];
  for (const path of configPaths) {
    const outcome: Outcome = { entries: [], changed: false, bytes: 0, restarted: [] };
    try {
      await fetchOne(path, mode, ctx, outcome);
      entries.push(fetchEntry(path, outcome, undefined));
      if (mode.dryRun) {
        ctx.log.info(`${shownPath(path)}: ${dryRunText(entries.at(-1)!, outcome.passedOver)}`);
      }
    } catch (e) {
      const error = asTakoError(e);
      ctx.log.error(error.message);
      failures.push(error);
      entries.push(fetchEntry(path, outcome, error));
    }
  }
  return { entries, failures };
}

/** Runs fetch (or, with `init`, provisioning) for each config; returns the failures. */
export async function fetchAll(
  configPaths: readonly string[],
  init: boolean,
  ctx: FetchContext,
): Promise<TakoError[]> {
  return (await fetchEach(configPaths, { init, dryRun: false }, ctx)).failures;
}

/** Fetches one config's image; throws TakoError naming the config on failure. */
async function fetchOne(
  configPath: string,
  mode: FetchMode,
  ctx: FetchContext,
  outcome: Outcome,
): Promise<void> {
  const init = mode.init;
  try {
    const config = await loadConfig(configPath);
    const dest = resolve(Deno.cwd(), config.destination);
    outcome.destination = dest;
    const run: Run = { ...ctx, config, dest, where: shownPath(config.file), outcome };
    if (mode.dryRun) return await dryRun(run);
    if (init && await alreadyProvisioned(run)) return;
    await prepareDestination(run.dest);
    const waiting = (message: string) => run.log.info(`${run.where}: ${message}`);
    using _lock = await acquireLock(run.dest, ctx.lockWaitMs, waiting);
    try {
      await cleanTemporaries(run.dest);
      await repairStateMode(run.dest);
      await update(run, init);
    } catch (e) {
      // For `tako status`: when and why the last run failed (under the lock, like every write).
      await recordFailure(run.dest, asTakoError(e).message, ctx.now(), outcome.bytes);
      throw e;
    }
  } catch (e) {
    throw inContext(configPath, asTakoError(e));
  }
}

/**
 * `--dry-run`: the origins' manifest, verified as fetch verifies it, and what
 * fetch would do with it. No lock, no image request, no restart, no write.
 */
async function dryRun(run: Run): Promise<void> {
  const { config, dest, outcome } = run;
  const state = await readState(dest);
  const stored = await readVerifiedStored(run, state);
  const anchor = stored === undefined ? await readAnchor(dest) : undefined;
  const remote = await fetchVerifiedManifest(run, stored, anchor, state);
  const current = await currentImage(dest);
  Object.assign(outcome, { entries: remote.entries, before: current, after: current });
  const offer = plan.planOffer(remote.entries, config.pattern, current);
  const phased = await phasedOffer(config, state, offer.candidates, current, run);
  const chosen = phased.eligible[0];
  // Newer versions the destination rejected: the sentence says why they are passed over.
  const end = chosen === undefined ? undefined : offer.candidates.indexOf(chosen);
  const rejected = (c: Entry) => isRejected(rolloutOf(state), c.sha256);
  outcome.passedOver = offer.candidates.slice(0, end).filter(rejected).map((c) => c.version);
  if (chosen === undefined) await keepCurrent(run, remote.entries, offer, current, phased);
  else {
    const info = await lstatOrUndefined(`${dest}/store/${chosen.sha256}`);
    const present = info?.isFile === true && BigInt(info.size) === chosen.size;
    const bytes = present ? 0 : plan.downloadSize(chosen);
    Object.assign(outcome, { after: chosen.sha256, changed: chosen.sha256 !== current, bytes });
  }
  const restarts = plan.restartsUnits(false, config.restartUnits);
  const after = plan.stateAfterSwap(state, current, outcome.changed, restarts);
  if (after.restartPending) outcome.restarted = config.restartUnits;
}

/**
 * `--init`: true when the stored manifest verifies and `latest` points to an
 * image of it that `Version=` allows and that is present with its listed
 * size. No lock, no network.
 */
async function alreadyProvisioned(run: Run): Promise<boolean> {
  try {
    const stored = await readVerifiedStored(run, await readState(run.dest));
    const latest = await readLatest(run.dest);
    if (stored === undefined || typeof latest !== "string") return false;
    // Only an image that Version= allows counts: after a pin to go back, --init must act.
    const entry = stored.entries.find((e) =>
      e.sha256 === latest && run.config.pattern.matches(e.version)
    );
    if (entry === undefined) return false;
    const info = await Deno.lstat(`${run.dest}/store/${latest}`);
    if (!info.isFile || BigInt(info.size) !== entry.size) return false;
    run.log.info(
      `${run.where}: ${printable(entry.version)} is already in place; nothing to do (--init).`,
    );
    Object.assign(run.outcome, { entries: stored.entries, before: latest, after: latest });
    return true;
  } catch {
    // Anything amiss is for the full procedure to find and explain.
    return false;
  }
}

/** Steps 2 to 6 of SPEC §6, under the destination's lock. */
async function update(run: Run, init: boolean): Promise<void> {
  const { config, dest } = run;
  // Known before a recovery that may end in a rollback, so that `--json` reports where it began.
  run.outcome.before = await currentImage(dest);
  const read = await readState(dest);
  // A switch that an earlier run left unjudged is finished first (never under --init).
  const recovering = !init && rolloutOf(read).pending !== undefined;
  const state = recovering ? await (await switching()).recoverSwitch(run, read, init) : read;
  const stored = await readVerifiedStored(run, state);
  // Without a stored manifest, the image latest points to anchors the history (SPEC §7).
  const anchor = stored === undefined ? await readAnchor(dest) : undefined;
  const remote = await fetchVerifiedManifest(run, stored, anchor, state);
  announce(run, stored, anchor);
  if (stored?.sha256 !== remote.sha256) {
    await writeFileAtomic(dest, "manifest", remote.bytes, 0o444);
  }
  // Saved with the state below, so only ever after the manifest they describe is stored.
  const { origin, validators, sha256 } = remote;
  const kept = withValidators(state, origin, validators, sha256, config.origins);
  const validated = withManifestVerified(kept, sha256, config.publicKeys);
  const current = await currentImage(dest);
  Object.assign(run.outcome, { entries: remote.entries, before: current, after: current });
  const offer = plan.planOffer(remote.entries, config.pattern, current);
  const phased = await phasedOffer(config, state, offer.candidates, current, run);
  const got = await firstAvailable(run, phased.eligible, state.verified);
  // The chosen image is in place (or none is on offer): any partial download left is stale.
  await dropPartials(`${dest}/store`);
  const built = deltaOf(run.outcome.delta);
  const learned = withMultiRange(validated, run.outcome.multiRange, Date.now());
  const base = withRollout({ ...learned, verified: got.verified, ...built }, phased.rollout);
  const judged = !init && plan.isJudged(config);
  if (judged && got.chosen !== undefined && got.chosen.sha256 !== current) {
    const { switchJudged } = await switching();
    const judgedState = await switchJudged(run, base, got.chosen, offer.current);
    return await finish(run, judgedState, remote.entries);
  }
  const restarts = plan.restartsUnits(init, config.restartUnits) && !judged;
  const settled = got.chosen === undefined
    ? await keepCurrent(run, remote.entries, offer, current, phased)
    : await moveLatest(run, got.chosen, { base, current, restarts });
  Object.assign(run.outcome, { after: got.chosen?.sha256 ?? current, changed: settled.changed });
  const next = plan.stateAfterSwap(base, current, settled.changed, restarts);
  if (next.restartPending) {
    run.outcome.restarted = await (await switching()).restartPending(run, next, settled.inPlace);
  }
  await finish(run, next, remote.entries);
}

/**
 * Saves the state of a successful run, then prunes (which keeps latest and the previous image)
 * by the entries of the manifest the run stored, which need no second read.
 */
async function finish(run: Run, state: State, entries: readonly Entry[]): Promise<void> {
  const final = withDownloaded(plan.stateAfterSuccess(state, run.now()), run.outcome.bytes);
  await saveState(run.dest, final);
  if (!hasLimits(limitsOf(run.config))) return;
  await (await pruning()).pruneDestination(run.dest, run.config, final, run.log, entries);
}

/** The notes of a run, once the manifest was received and verified (fetch_plan.runNotes). */
function announce(run: Run, stored: plan.Verified | undefined, anchor: CurrentImage | undefined) {
  const notes = plan.runNotes(run.config, printable(run.dest, 300), stored, anchor);
  for (const note of notes) run.log.info(`${run.where}: ${note}`);
}

/** The candidate put in place (none when every one was withdrawn), and the stamp of what is verified. */
interface Got {
  readonly chosen: Entry | undefined;
  readonly verified: State["verified"];
}

/** Puts the first candidate that is not withdrawn (410 Gone) in the store, newest first. */
async function firstAvailable(
  run: Run,
  candidates: readonly Entry[],
  verified: State["verified"],
): Promise<Got> {
  for (const candidate of candidates) {
    try {
      return { chosen: candidate, verified: await ensureImage(run, candidate, verified) };
    } catch (e) {
      if (!plan.isWithdrawn(e)) throw e;
      const version = printable(candidate.version);
      run.log.warn(
        `${run.where}: ${version} was withdrawn (410 Gone); trying the next compatible version.`,
      );
    }
  }
  return { chosen: undefined, verified };
}

/** Where latest stands after the swap, and how messages name that image. */
interface Settled {
  readonly changed: boolean;
  readonly inPlace: string;
}

/** Nothing to choose: keeps the current image with a warning, or fails when there is none. */
async function keepCurrent(
  run: Run,
  entries: readonly Entry[],
  offer: plan.Offer,
  current: string | undefined,
  phased: PhasedOffer,
): Promise<Settled> {
  const message = plan.noCompatibleVersion(run.config.pattern, entries, offer);
  const present = current !== undefined &&
    (await lstatOrUndefined(`${run.dest}/store/${current}`))?.isFile === true;
  if (!present) throw new TakoError("runtime", message);
  const inPlace = offer.current === undefined
    ? "The current image"
    : printable(offer.current.version);
  if (phased.heldBack) run.log.debug(`${run.where}: keeping ${inPlace}.`);
  else run.log.warn(`${run.where}: ${message} Keeping the current image.`);
  return { changed: false, inPlace };
}

/** Points latest at the chosen image, saving the state first when latest moves. */
async function moveLatest(
  { dest, log, where }: Run,
  chosen: Entry,
  now: { base: State; current: string | undefined; restarts: boolean },
): Promise<Settled> {
  const before = plan.stateBeforeSwap(now.base, chosen.sha256, now.current, now.restarts);
  if (before !== undefined) await saveState(dest, before);
  const changed = await pointLatest(dest, chosen.sha256);
  const inPlace = printable(chosen.version);
  if (changed) log.info(`${where}: latest is now ${inPlace} (${chosen.sha256}).`);
  else log.debug(`${where}: ${inPlace} is up to date.`);
  return { changed, inPlace };
}

/**
 * Makes store/<sha256> a complete, verified copy of the entry: checks a
 * present copy, otherwise (or when it is damaged) downloads it. Returns the
 * stamp of the verified file.
 */
async function ensureImage(
  run: Run,
  entry: Entry,
  verified: State["verified"],
): Promise<State["verified"]> {
  const path = `${run.dest}/store/${entry.sha256}`;
  const info = await lstatOrUndefined(path);
  if (info !== undefined) {
    if (!info.isFile) {
      throw new TakoError(
        "runtime",
        `${printable(path, 300)} is not a regular file; remove it by hand.`,
      );
    }
    const stamp = stampOf(entry.sha256, info);
    // Unchanged since its digest was checked (ctime moves on any write): no re-hash.
    if (stampMatches(verified, stamp) && BigInt(info.size) === entry.size) return stamp;
    const damage = await imageDamage(path, info, entry);
    if (damage === undefined) return stamp;
    run.log.warn(
      `${run.where}: ${printable(path, 300)} is damaged (${damage}); downloading again.`,
    );
    // Not removed first: the fresh copy is renamed over it, so latest never dangles.
  }
  // By delta when the origin has an index (docs/delta.md), else in full; loaded only here.
  const { updateImage } = await import("../shell/image_update.ts");
  await updateImage(run, entry);
  return stampOf(entry.sha256, await Deno.lstat(path));
}
