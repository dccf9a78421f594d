/**
 * `tako fetch`: the client procedure of SPEC §6, as a script of steps. The
 * decisions are the core's (fetch_plan, manifest, state), the I/O is the
 * shell's (http, partial, fs, store, systemd). No parsing happens here.
 *
 * @module
 */
import { resolve } from "node:path";
import { printable, TakoError } from "../core/errors.ts";
import type { NetFlags } from "../core/cli.ts";
import type { Config } from "../core/config.ts";
import { sha256Of } from "../core/digest.ts";
import { originUrl } from "../core/http_policy.ts";
import * as plan from "../core/fetch_plan.ts";
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
import { hashFile, lstatOrUndefined, readFileCapped, writeFileAtomic } from "../shell/fs.ts";
import { acquireLock } from "../shell/lock.ts";
import { DEFAULT_NET_OPTIONS, fetchManifestIfChanged, type NetOptions } from "../shell/http.ts";
import { keepOriginIndex, updateByDelta } from "../shell/delta_download.ts";
import { downloadResumable, dropPartials } from "../shell/partial.ts";
import { readState, saveState } from "../shell/state_file.ts";
import { cleanTemporaries, pointLatest, prepareDestination, readLatest } from "../shell/store.ts";
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
      if (!(e instanceof TakoError)) throw e;
      ctx.log.error(e.message);
      failures.push(e);
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
    const lock = await acquireLock(run.dest, ctx.lockWaitMs);
    try {
      await cleanTemporaries(run.dest);
      await update(run, init);
    } finally {
      lock.release();
    }
  } catch (e) {
    throw inContext(configPath, e);
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
      `${e.message} (The stored manifest must verify under a PublicKey= of the config: keep the old key listed during a key rotation, or remove ${path} to trust the origin's history afresh.)`,
    );
  }
}

/**
 * `--init`: true when the stored manifest verifies and `latest` points to an
 * image of it that is present with its listed size. No lock, no network.
 */
async function alreadyProvisioned(run: Run): Promise<boolean> {
  try {
    const stored = await readStoredManifest(run);
    const latest = await readLatest(run.dest);
    if (stored === undefined || typeof latest !== "string") return false;
    const entry = stored.entries.find((e) => e.sha256 === latest);
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
  announce(run, stored);
  const remote = await fetchVerifiedManifest(run, stored, state);
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

  const delta = got.lastDelta === undefined ? {} : { lastDelta: got.lastDelta };
  const base: State = { ...validated, verified: got.verified, ...delta };
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

/** The notes of a run's start: a first fetch trusts the origin's history; no Version= given. */
function announce({ config, dest, log, where }: Run, stored: plan.Verified | undefined): void {
  if (stored === undefined) {
    log.info(
      `${where}: first fetch into ${printable(dest, 300)}; trusting the origin's signed history.`,
    );
  }
  if (!config.versionGiven) log.info(`${where}: no Version= given; any version is accepted.`);
}

/** The candidate put in place (none when every one was withdrawn), and the stamp of what is verified. */
interface Got extends Kept {
  readonly chosen: Entry | undefined;
}

/** The stamp of an image in place, and what its delta update cost if it was built by one. */
interface Kept {
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
      `${dest}/latest is ${latest.detail}, not a link into store/; remove it by hand.`,
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
  state: State,
): Promise<plan.Fetched> {
  return fromOrigins(run, async (origin) => {
    const url = originUrl(origin, "manifest");
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
    );
  });
}

/** Asks the origins in order (SPEC §6 Mirrors): the first answer wins; each failure is reported. */
async function fromOrigins<T>(run: Run, ask: (origin: string) => Promise<T>): Promise<T> {
  const failures: TakoError[] = [];
  for (const origin of run.config.origins) {
    try {
      return await ask(origin);
    } catch (e) {
      if (!(e instanceof TakoError)) throw e;
      failures.push(e);
      if (failures.length < run.config.origins.length) {
        run.log.warn(`${run.where}: ${e.message} Trying the next origin.`);
      }
    }
  }
  throw plan.combineFailures(failures);
}

/**
 * Makes store/<sha256> a complete, verified copy of the entry: checks a
 * present copy, otherwise (or when it is damaged) downloads it. Returns the
 * stamp of the verified file.
 */
async function ensureImage(run: Run, entry: Entry, verified: State["verified"]): Promise<Kept> {
  const path = `${run.dest}/store/${entry.sha256}`;
  const info = await lstatOrUndefined(path);
  if (info !== undefined) {
    if (!info.isFile) {
      throw new TakoError("runtime", `${path} is not a regular file; remove it by hand.`);
    }
    const stamp = stampOf(entry.sha256, info);
    // Unchanged since its digest was checked (ctime moves on any write): no re-hash.
    if (stampMatches(verified, stamp) && BigInt(info.size) === entry.size) {
      return { verified: stamp };
    }
    const actual = await hashFile(path);
    const intact = actual.sha256 === entry.sha256 && BigInt(actual.size) === entry.size;
    if (intact) return { verified: stamp };
    run.log.warn(
      `${run.where}: ${
        printable(path, 300)
      } is damaged (its digest is ${actual.sha256}); downloading it again.`,
    );
    // Not removed first: the fresh copy is renamed over it, so latest never dangles.
  }
  const cost = await download(run, entry);
  const kept = { verified: stampOf(entry.sha256, await Deno.lstat(path)) };
  return cost === undefined ? kept : { ...kept, lastDelta: cost };
}

/**
 * Puts an image in store/: by delta from the local images when it can
 * (docs/delta.md; returns what that cost), else downloaded from the origins in
 * order into a temporary file, then committed.
 */
async function download(run: Run, entry: Entry): Promise<DeltaRecord | undefined> {
  const { log, where } = run;
  const size = plan.downloadSize(entry);
  const label = printable(entry.version);
  const delta = { dest: run.dest, origin: run.config.origins[0]!, net: run.net, log, where };
  if (run.delta !== false) {
    const cost = await updateByDelta(delta, entry);
    if (cost !== undefined) return cost;
  }
  await fromOrigins(run, async (origin) => {
    const url = originUrl(origin, `store/${entry.sha256}`);
    log.info(`${where}: downloading ${label} (${size} bytes) from ${url}.`);
    try {
      // Into store/.partial-<sha256>: a broken-off download is continued by the next run.
      await downloadResumable({
        storeDir: `${run.dest}/store`,
        origin,
        sha256: entry.sha256,
        size,
        net: run.net,
        onProgress: (received: number, total: number) => log.progress(label, received, total),
        onResume: (offset) => log.info(`${where}: resuming ${label} at byte ${offset}.`),
        onRestart: (reason) => log.warn(`${where}: ${reason} Downloading ${label} in full.`),
      });
    } finally {
      log.endProgress();
    }
    if (run.delta !== false) await keepOriginIndex({ ...delta, origin }, entry);
  });
  return undefined;
}

async function isRegularFile(path: string): Promise<boolean> {
  return (await lstatOrUndefined(path))?.isFile ?? false;
}
