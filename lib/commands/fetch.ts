/**
 * `tako fetch`: the client procedure of SPEC §6, as a script of steps. The
 * decisions are the core's (fetch_plan, manifest, state), the I/O is the
 * shell's (http, partial, fs, store, systemd). No parsing happens here.
 *
 * @module
 */
import { basename, resolve } from "node:path";
import { asTakoError, printable, shownUrl, TakoError } from "../core/errors.ts";
import type { NetFlags } from "../core/cli.ts";
import type { Config } from "../core/config.ts";
import { sha256Of } from "../core/digest.ts";
import { originUrl } from "../core/http_policy.ts";
import * as plan from "../core/fetch_plan.ts";
import type { CurrentImage } from "../core/history.ts";
import type { Log } from "../core/log.ts";
import { type Entry, MAX_MANIFEST_BYTES, verifyManifest } from "../core/manifest.ts";
import {
  conditionalHeaders,
  type DeltaRecord,
  stampMatches,
  stampOf,
  type State,
  withValidators,
} from "../core/state.ts";
import { inContext, loadConfig, shownPath } from "../shell/config_file.ts";
import { lstatOrUndefined, readFileCapped, writeFileAtomic } from "../shell/fs.ts";
import { acquireLock } from "../shell/lock.ts";
import { DEFAULT_NET_OPTIONS, fetchManifestIfChanged, type NetOptions } from "../shell/http.ts";
import { updateByDelta } from "../shell/delta_download.ts";
import { downloadResumable, dropPartials } from "../shell/partial.ts";
import { readState, recordFailure, repairStateMode, saveState } from "../shell/state_file.ts";
import {
  cleanTemporaries,
  imageDamage,
  pointLatest,
  prepareDestination,
  readAnchor,
  readLatest,
} from "../shell/store.ts";
import { pruneDestination } from "../shell/store_prune.ts";
import type { ServiceManager } from "../shell/systemd.ts";

/** What the fetch procedure gets from its caller. */
export interface FetchContext {
  readonly log: Log;
  readonly net: NetOptions;
  readonly services: ServiceManager;
  /** How long to wait for another run's lock on the same destination. */
  readonly lockWaitMs: number;
  readonly now: () => Date;
  /** Try a delta update before a full download (docs/delta.md); `--no-delta` turns it off. */
  readonly delta?: boolean;
}

/** A run's context: the command line's network options over the defaults, a 10-minute lock wait. */
export function fetchContext(net: NetFlags, log: Log, services: ServiceManager): FetchContext {
  const options = { ...DEFAULT_NET_OPTIONS, ...net };
  return { log, net: options, services, lockWaitMs: 10 * 60_000, now: () => new Date() };
}

/** One config's run: what every step needs. */
interface Run extends FetchContext {
  readonly config: Config;
  readonly dest: string;
  /** The config as messages name it. */
  readonly where: string;
}

/** Runs fetch for each config in turn; returns the failures (already logged). */
export async function fetchAll(
  configPaths: readonly string[],
  init: boolean,
  ctx: FetchContext,
): Promise<TakoError[]> {
  const failures: TakoError[] = [];
  for (const path of configPaths) {
    try {
      await fetchOne(path, init, ctx);
    } catch (e) {
      // Even a bug in one config's run must not stop the next config.
      const error = asTakoError(e);
      ctx.log.error(error.message);
      failures.push(error);
    }
  }
  return failures;
}

/** Fetches one config's image; throws TakoError naming the config on failure. */
async function fetchOne(configPath: string, init: boolean, ctx: FetchContext): Promise<void> {
  try {
    const config = await loadConfig(configPath);
    const run: Run = {
      ...ctx,
      config,
      dest: resolve(config.destination),
      where: shownPath(config.file),
    };
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
      await recordFailure(run.dest, asTakoError(e).message, ctx.now());
      throw e;
    }
  } catch (e) {
    throw inContext(configPath, asTakoError(e));
  }
}

/** Reads the stored manifest; undefined when there is none yet. */
async function readStoredManifest(run: Run): Promise<plan.Verified | undefined> {
  const path = `${run.dest}/manifest`;
  const bytes = await readFileCapped(path, MAX_MANIFEST_BYTES);
  if (bytes === undefined) return undefined;
  try {
    const entries = verifyManifest(bytes, run.config.publicKeys, path);
    return { bytes, sha256: sha256Of(bytes), entries };
  } catch (e) {
    if (!(e instanceof TakoError)) throw e;
    throw new TakoError(
      "integrity",
      `${e.message} (The stored manifest must verify under a PublicKey= of the config: keep the old key listed during a key rotation, or remove ${path}: the next fetch then takes the origin's manifest if it lists the image latest points to.)`,
    );
  }
}

/**
 * `--init`: true when the stored manifest verifies and `latest` points to an
 * image of it that `Version=` allows and that is present with its listed
 * size. No lock, no network.
 */
async function alreadyProvisioned(run: Run): Promise<boolean> {
  try {
    const stored = await readStoredManifest(run);
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
    return true;
  } catch {
    // Anything amiss is for the full procedure to find and explain.
    return false;
  }
}

/** Steps 2 to 6 of SPEC §6, under the destination's lock. */
async function update(run: Run, init: boolean): Promise<void> {
  const { config, dest } = run;
  const state = await readState(dest);
  const stored = await readStoredManifest(run);
  // Without a stored manifest, the image latest points to anchors the history (SPEC §7).
  const anchor = stored === undefined ? await readAnchor(dest) : undefined;
  const remote = await fetchVerifiedManifest(run, stored, anchor, state);
  announce(run, stored, anchor);
  if (stored?.sha256 !== remote.sha256) {
    await writeFileAtomic(dest, "manifest", remote.bytes, 0o444);
  }
  // Saved with the state below, so only ever after the manifest they describe is stored.
  const { origin, validators, sha256 } = remote;
  const validated = withValidators(state, origin, validators, sha256, config.origins);
  const current = await currentImage(dest);
  const offer = plan.planOffer(remote.entries, config.pattern, current);
  const got = await firstAvailable(run, offer.candidates, state.verified);
  // The chosen image is in place (or none is on offer): any partial download left is stale.
  await dropPartials(`${dest}/store`);

  const { chosen: _chosen, ...kept } = got;
  const base: State = { ...validated, ...kept };
  const restarts = plan.restartsUnits(init, config.restartUnits);
  const settled = got.chosen === undefined
    ? await keepCurrent(run, remote.entries, offer, current)
    : await moveLatest(run, got.chosen, { base, current, restarts });
  const next = plan.stateAfterSwap(base, current, settled.changed, restarts);
  if (next.restartPending) await restart(run, next, settled.inPlace);
  const final = plan.stateAfterSuccess(next, run.now());
  await saveState(dest, final);
  // Pruning runs after the state names latest and the previous image, which it keeps.
  await pruneDestination(dest, config, final, run.log);
}

/** The notes of a run, once the manifest was received and verified (fetch_plan.runNotes). */
function announce(run: Run, stored: plan.Verified | undefined, anchor: CurrentImage | undefined) {
  const notes = plan.runNotes(run.config, printable(run.dest, 300), stored, anchor);
  for (const note of notes) run.log.info(`${run.where}: ${note}`);
}

/** The candidate put in place (none when all were withdrawn), its stamp, its delta update's cost. */
interface Got {
  readonly chosen: Entry | undefined;
  readonly verified: State["verified"];
  readonly lastDelta?: DeltaRecord;
}

/** Puts the first candidate that is not withdrawn (410 Gone) in the store, newest first. */
async function firstAvailable(
  run: Run,
  candidates: readonly Entry[],
  verified: State["verified"],
): Promise<Got> {
  for (const candidate of candidates) {
    try {
      return { chosen: candidate, ...await ensureImage(run, candidate, verified) };
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
): Promise<Settled> {
  const message = plan.noCompatibleVersion(run.config.pattern, entries, offer);
  const present = current !== undefined && await isRegularFile(`${run.dest}/store/${current}`);
  if (!present) throw new TakoError("runtime", message);
  run.log.warn(`${run.where}: ${message} Keeping the current image.`);
  const inPlace = offer.current === undefined
    ? "The current image"
    : printable(offer.current.version);
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

/** Restarts the units, with the pending restart recorded first so a run killed during it retries. */
async function restart(run: Run, pending: State, inPlace: string): Promise<void> {
  await saveState(run.dest, pending);
  try {
    await run.services.restart(run.config.restartUnits);
  } catch (e) {
    throw plan.restartFailed(inPlace, e);
  }
  run.log.info(`${run.where}: restarted ${run.config.restartUnits.join(" ")}.`);
}

/** The digest `latest` points to; refuses to go on over a `latest` that Tako did not make. */
async function currentImage(dest: string): Promise<string | undefined> {
  const latest = await readLatest(dest);
  if (typeof latest === "object") {
    throw new TakoError(
      "runtime",
      `${
        printable(dest, 300)
      }/latest is ${latest.detail}, not a link into store/; remove it by hand.`,
    );
  }
  return latest;
}

/**
 * Downloads the manifest from the origins in order, taking the first that
 * verifies and keeps the stored history. An origin with validators for the
 * stored manifest is asked conditionally: its 304 leaves the stored manifest
 * (verified under the config's keys when read) in force.
 */
function fetchVerifiedManifest(
  run: Run,
  stored: plan.Verified | undefined,
  anchor: CurrentImage | undefined,
  state: State,
): Promise<plan.Fetched> {
  return fromOrigins(run, async (origin) => {
    // As messages name it: its password masked (the request uses the origin as written).
    const url = shownUrl(originUrl(origin, "manifest"));
    const sent = conditionalHeaders(state, origin, stored?.sha256);
    const answer = await fetchManifestIfChanged(origin, {
      ...run.net,
      maxBytes: MAX_MANIFEST_BYTES,
      validators: sent,
    });
    if (answer.notModified) run.log.debug(`${run.where}: ${url} is unchanged (304 Not Modified).`);
    return plan.takeManifest(
      answer,
      { origin, url, sent },
      stored,
      run.config.publicKeys,
      anchor,
    );
  });
}

/** Asks the origins in order (core `fromOrigins`), each failure but the last reported. */
function fromOrigins<T>(run: Run, ask: (origin: string) => Promise<T>): Promise<T> {
  const retry = (e: TakoError) =>
    run.log.warn(`${run.where}: ${e.message} Trying the next origin.`);
  return plan.fromOrigins(run.config.origins, ask, retry);
}

/**
 * Makes store/<sha256> a complete, verified copy of the entry: checks a
 * present copy, otherwise (or when it is damaged) downloads it. Returns the
 * stamp of the verified file.
 */
async function ensureImage(
  run: Run,
  entry: Entry,
  verified: Got["verified"],
): Promise<Omit<Got, "chosen">> {
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
    const kept = { verified: stamp };
    // Unchanged since its digest was checked (ctime moves on any write): no re-hash.
    if (stampMatches(verified, stamp) && BigInt(info.size) === entry.size) return kept;
    const damage = await imageDamage(path, info, entry);
    if (damage === undefined) return kept;
    run.log.warn(
      `${run.where}: ${printable(path, 300)} is damaged (${damage}); downloading again.`,
    );
    // Not removed first: the fresh copy is renamed over it, so latest never dangles.
  }
  const lastDelta = await download(run, entry);
  const fresh = stampOf(entry.sha256, await Deno.lstat(path));
  return lastDelta === undefined ? { verified: fresh } : { verified: fresh, lastDelta };
}

/** Builds an image by delta (docs/delta.md) or downloads it from the origins in order. */
async function download(run: Run, entry: Entry): Promise<DeltaRecord | undefined> {
  const { log, where } = run;
  const size = plan.downloadSize(entry);
  const label = printable(entry.version);
  const delta = run.delta === false ? undefined : { ...run, origin: run.config.origins[0]! };
  const cost = delta && await updateByDelta(delta, entry);
  if (cost !== undefined) return cost;
  await fromOrigins(run, async (origin) => {
    const url = shownUrl(originUrl(origin, `store/${entry.sha256}`));
    log.info(`${where}: downloading ${label} (${size} bytes) from ${url}.`);
    try {
      // Into store/.partial-<sha256>: a broken-off download is continued by the next run.
      await downloadResumable({
        storeDir: `${run.dest}/store`,
        origin,
        sha256: entry.sha256,
        size,
        net: run.net,
        // The progress line names the config's file and the version, fitted to the terminal.
        onProgress: (received: number, total: number) =>
          log.progress(`${printable(basename(run.config.file), 40)} ${label}`, received, total),
        onResume: (offset) => log.info(`${where}: resuming ${label} at byte ${offset}.`),
        onRestart: (reason) => log.warn(`${where}: ${reason} Downloading ${label} in full.`),
      });
    } finally {
      log.endProgress();
    }
  });
}

async function isRegularFile(path: string): Promise<boolean> {
  return (await lstatOrUndefined(path))?.isFile ?? false;
}
