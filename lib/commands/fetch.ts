/**
 * `tako fetch`: the client procedure of SPEC §6, orchestrating the pure core
 * (config, manifest, pattern) and the I/O shell (origin, destination,
 * systemd). No parsing happens here.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { TakoError } from "../core/errors.ts";
import type { Config } from "../core/config.ts";
import { inContext, loadConfig, shownPath } from "../shell/config_file.ts";
import { pruneDestination } from "../shell/store_prune.ts";
import {
  checkAppendOnly,
  compatibleEntries,
  type Entry,
  MAX_MANIFEST_BYTES,
  verifyManifest,
} from "../core/manifest.ts";
import { originUrl, type Validators } from "../core/http_policy.ts";
import { fetchManifestIfChanged, type NetOptions } from "../shell/http.ts";
import { keepOriginIndex, updateByDelta } from "../shell/delta_download.ts";
import { downloadResumable, dropPartials } from "../shell/partial.ts";
import { hashFile, lstatOrUndefined, readFileCapped, writeFileAtomic } from "../shell/fs.ts";
import { acquireLock } from "../shell/lock.ts";
import { readState, saveState } from "../shell/state_file.ts";
import { cleanTemporaries, pointLatest, prepareDestination, readLatest } from "../shell/store.ts";
import {
  conditionalHeaders,
  stampMatches,
  stampOf,
  type State,
  withValidators,
} from "../core/state.ts";
import type { ServiceManager } from "../shell/systemd.ts";
import type { Log } from "../core/log.ts";
import { printable } from "../core/errors.ts";

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

/** How many versions a "no compatible version" message names. */
const VERSIONS_NAMED = 5;

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

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Fetches one config's image; throws TakoError naming the config on failure. */
export async function fetchOne(
  configPath: string,
  init: boolean,
  ctx: FetchContext,
): Promise<void> {
  try {
    const config = await loadConfig(configPath);
    const dest = resolve(config.destination);
    if (init && await alreadyProvisioned(config, dest, ctx)) return;
    await prepareDestination(dest);
    const lock = await acquireLock(dest, ctx.lockWaitMs);
    try {
      await cleanTemporaries(dest);
      await update(config, dest, init, ctx);
    } finally {
      lock.release();
    }
  } catch (e) {
    throw inContext(configPath, e);
  }
}

/** A manifest's bytes and its verified entries. */
interface Verified {
  readonly bytes: Uint8Array;
  readonly entries: Entry[];
}

/** Reads the stored manifest; undefined when there is none yet. */
async function readStoredManifest(config: Config, dest: string): Promise<Verified | undefined> {
  const path = `${dest}/manifest`;
  const bytes = await readFileCapped(path, MAX_MANIFEST_BYTES);
  if (bytes === undefined) return undefined;
  try {
    return { bytes, entries: verifyManifest(bytes, config.publicKeys, path) };
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
async function alreadyProvisioned(
  config: Config,
  dest: string,
  ctx: FetchContext,
): Promise<boolean> {
  try {
    const stored = await readStoredManifest(config, dest);
    const latest = await readLatest(dest);
    if (stored === undefined || typeof latest !== "string") return false;
    const entry = stored.entries.find((e) => e.sha256 === latest);
    if (entry === undefined) return false;
    const info = await Deno.lstat(`${dest}/store/${latest}`);
    if (!info.isFile || BigInt(info.size) !== entry.size) return false;
    ctx.log.info(
      `${shownPath(config.file)}: ${
        printable(entry.version)
      } is already in place; nothing to do (--init).`,
    );
    return true;
  } catch {
    // Anything amiss is for the full procedure to find and explain.
    return false;
  }
}

/** Steps 2 to 6 of SPEC §6, under the destination's lock. */
async function update(
  config: Config,
  dest: string,
  init: boolean,
  ctx: FetchContext,
): Promise<void> {
  const { log } = ctx;
  const where = shownPath(config.file);
  const state = await readState(dest);
  const stored = await readStoredManifest(config, dest);
  if (stored === undefined) {
    log.info(
      `${where}: first fetch into ${printable(dest, 300)}; trusting the origin's signed history.`,
    );
  }
  if (!config.versionGiven) {
    log.info(`${where}: no Version= given; any version is accepted.`);
  }

  const remote = await fetchVerifiedManifest(config, stored, state, ctx);
  if (stored === undefined || !sameBytes(stored.bytes, remote.bytes)) {
    await writeFileAtomic(dest, "manifest", remote.bytes, 0o444);
  }
  // Saved with the state below, so only ever after the manifest they describe is stored.
  const validated = withValidators(
    state,
    remote.origin,
    remote.validators,
    remote.sha256,
    config.origins,
  );

  const current = await currentImage(dest);
  const currentEntry = current === undefined
    ? undefined
    : newestOf(config, remote.entries.filter((e) => e.sha256 === current));
  // Never move latest down by accident (SPEC §7): the floor is the current image.
  const floor = currentEntry !== undefined && config.pattern.matches(currentEntry.version)
    ? currentEntry
    : undefined;
  const candidates = compatibleEntries(remote.entries, config.pattern).filter((c) =>
    floor === undefined || config.pattern.compare(c.version, floor.version) >= 0
  );

  let verified = state.verified;
  let chosen: Entry | undefined;
  for (const candidate of candidates) {
    try {
      verified = await ensureImage(config, dest, candidate, verified, ctx);
      chosen = candidate;
      break;
    } catch (e) {
      if (!(e instanceof TakoError) || e.tag !== "gone") throw e;
      log.warn(
        `${where}: ${
          printable(candidate.version)
        } was withdrawn (410 Gone); trying the next compatible version.`,
      );
    }
  }
  // The chosen image is in place (or none is on offer): any partial download left is stale.
  await dropPartials(`${dest}/store`);

  let changed = false;
  let inPlace: string;
  if (chosen === undefined) {
    const present = current !== undefined && await isRegularFile(`${dest}/store/${current}`);
    const message = noCompatibleVersion(
      config,
      remote.entries,
      candidates.length > 0,
      floor?.version,
    );
    if (!present) throw new TakoError("runtime", message);
    log.warn(`${where}: ${message} Keeping the current image.`);
    inPlace = currentEntry === undefined ? "The current image" : printable(currentEntry.version);
  } else {
    if (chosen.sha256 !== current) {
      // Recorded before latest moves, so a run that dies right after the move still
      // restarts the units next time and pruning still keeps the previous image.
      await saveState(dest, {
        ...validated,
        verified,
        previous: current ?? state.previous,
        restartPending: !init && config.restartUnits.length > 0,
      });
    }
    changed = await pointLatest(dest, chosen.sha256);
    inPlace = printable(chosen.version);
    if (changed) log.info(`${where}: latest is now ${inPlace} (${chosen.sha256}).`);
    else log.debug(`${where}: ${inPlace} is up to date.`);
  }

  let next: State = {
    ...validated,
    verified,
    previous: changed && current !== undefined ? current : state.previous,
    // --init runs before the unit starts, so the unit starts on the new image. A
    // pending restart is retried even when no compatible version is on offer.
    restartPending: !init && config.restartUnits.length > 0 && (changed || state.restartPending),
  };
  if (next.restartPending) {
    // Recorded before the restart, so a run killed during it retries next time.
    await saveState(dest, next);
    try {
      await ctx.services.restart(config.restartUnits);
    } catch (e) {
      throw new TakoError(
        "runtime",
        `${inPlace} is in place, but the restart failed: ${
          asSentence(messageOf(e))
        } The next run retries it.`,
        { cause: e },
      );
    }
    log.info(`${where}: restarted ${config.restartUnits.join(" ")}.`);
    next = { ...next, restartPending: false };
  }
  const final: State = { ...next, lastSuccess: ctx.now().toISOString() };
  await saveState(dest, final);
  // Pruning runs after the state names latest and the previous image, which it keeps.
  await pruneDestination(dest, config, final, log);
}

/** Ends a message from elsewhere with a full stop, so that another sentence can follow. */
function asSentence(text: string): string {
  return /[.!?]$/.test(text) ? text : `${text}.`;
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

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function newestOf(config: Config, entries: Entry[]): Entry | undefined {
  return entries.reduce<Entry | undefined>(
    (best, e) =>
      best === undefined || config.pattern.compare(e.version, best.version) > 0 ? e : best,
    undefined,
  );
}

/**
 * Why nothing was chosen. `floor` is the current image's version when the
 * never-downgrade rule (SPEC §7) left out the versions below it.
 */
function noCompatibleVersion(
  config: Config,
  entries: readonly Entry[],
  allGone: boolean,
  floor: string | undefined,
): string {
  const newest = entries.slice(-VERSIONS_NAMED).reverse().map((e) => printable(e.version));
  const onOffer = newest.length === 0
    ? "the manifest lists no versions"
    : `newest on offer: ${newest.join(", ")}`;
  const pattern = printable(config.pattern.text);
  if (!allGone) return `no version matches Version=${pattern} (${onOffer}).`;
  return floor === undefined
    ? `every version that matches Version=${pattern} is withdrawn (${onOffer}).`
    : `every version that matches Version=${pattern} from the current ${
      printable(floor)
    } up is withdrawn, and latest never moves to a lower version (${onOffer}).`;
}

/** A manifest as an origin served (or confirmed) it, with what to ask that origin next time. */
interface Fetched extends Verified {
  /** The configured origin that answered. */
  readonly origin: string;
  /** Its validators for these bytes, if any are worth keeping. */
  readonly validators: Validators | undefined;
  readonly sha256: string;
}

function sha256Of(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Downloads the manifest from the origins in order, taking the first that
 * verifies and keeps the stored history; reports each failure. An origin with
 * validators for the stored manifest is asked conditionally: its 304 leaves
 * the stored manifest (verified under the config's keys when read) in force.
 */
async function fetchVerifiedManifest(
  config: Config,
  stored: Verified | undefined,
  state: State,
  ctx: FetchContext,
): Promise<Fetched> {
  const storedSha256 = stored === undefined ? undefined : sha256Of(stored.bytes);
  const failures: TakoError[] = [];
  for (const [i, origin] of config.origins.entries()) {
    const url = originUrl(origin, "manifest");
    try {
      const sent = conditionalHeaders(state, origin, storedSha256);
      const answer = await fetchManifestIfChanged(origin, {
        ...ctx.net,
        maxBytes: MAX_MANIFEST_BYTES,
        validators: sent,
      });
      if (answer.notModified) {
        // Only asked with validators, which exist only for a stored manifest.
        if (stored === undefined || storedSha256 === undefined) {
          throw new TakoError("runtime", `${url} answered 304 to an unconditional request.`);
        }
        ctx.log.debug(`${shownPath(config.file)}: ${url} is unchanged (304 Not Modified).`);
        return { ...stored, origin, validators: sent, sha256: storedSha256 };
      }
      const { bytes } = answer;
      const entries = verifyManifest(bytes, config.publicKeys, url);
      if (stored !== undefined) checkAppendOnly(stored.entries, entries, url);
      return { bytes, entries, origin, validators: answer.validators, sha256: sha256Of(bytes) };
    } catch (e) {
      if (!(e instanceof TakoError)) throw e;
      failures.push(e);
      if (i < config.origins.length - 1) {
        ctx.log.warn(`${shownPath(config.file)}: ${e.message} Trying the next origin.`);
      }
    }
  }
  throw combine(failures);
}

/** One error for several origins' failures: the last one's message, the gravest kind. */
function combine(failures: TakoError[]): TakoError {
  const last = failures[failures.length - 1]!;
  if (failures.length === 1) return last;
  const kind = failures.some((f) => f.kind === "integrity") ? "integrity" : last.kind;
  const gone = failures.every((f) => f.tag === "gone");
  return new TakoError(
    kind,
    `all ${failures.length} origins failed; the last: ${last.message}`,
    gone ? { tag: "gone" } : {},
  );
}

/**
 * Makes store/<sha256> a complete, verified copy of the entry: checks a
 * present copy (removing it when damaged), otherwise downloads it. Returns
 * the stamp of the verified file.
 */
async function ensureImage(
  config: Config,
  dest: string,
  entry: Entry,
  verified: State["verified"],
  ctx: FetchContext,
): Promise<State["verified"]> {
  const path = `${dest}/store/${entry.sha256}`;
  const info = await lstatOrUndefined(path);
  if (info !== undefined) {
    if (!info.isFile) {
      throw new TakoError("runtime", `${path} is not a regular file; remove it by hand.`);
    }
    const stamp = stampOf(entry.sha256, info);
    // Unchanged since its digest was checked (ctime moves on any write): no re-hash.
    if (stampMatches(verified, stamp) && BigInt(info.size) === entry.size) return stamp;
    const actual = await hashFile(path);
    if (actual.sha256 === entry.sha256 && BigInt(actual.size) === entry.size) return stamp;
    ctx.log.warn(
      `${shownPath(config.file)}: ${
        printable(path, 300)
      } is damaged (its digest is ${actual.sha256}); downloading it again.`,
    );
    // Not removed first: the fresh copy is renamed over it, so latest never dangles.
  }
  await download(config, dest, entry, ctx);
  const fresh = await Deno.lstat(path);
  return stampOf(entry.sha256, fresh);
}

/** Downloads an image from the origins in order into a temporary file, then commits it. */
async function download(config: Config, dest: string, entry: Entry, ctx: FetchContext) {
  if (entry.size > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new TakoError(
      "integrity",
      `${printable(entry.version)} claims ${entry.size} bytes, more than Tako can store.`,
    );
  }
  const size = Number(entry.size);
  const label = `${printable(entry.version)}`;
  const where = shownPath(config.file);
  const delta = { dest, origin: config.origins[0]!, net: ctx.net, log: ctx.log, where };
  if (ctx.delta !== false && await updateByDelta(delta, entry) !== undefined) return;
  const failures: TakoError[] = [];
  for (const [i, origin] of config.origins.entries()) {
    try {
      ctx.log.info(
        `${shownPath(config.file)}: downloading ${label} (${size} bytes) from ${
          originUrl(origin, `store/${entry.sha256}`)
        }.`,
      );
      // Into store/.partial-<sha256>: a broken-off download is continued by the next run.
      await downloadResumable({
        storeDir: `${dest}/store`,
        origin,
        sha256: entry.sha256,
        size,
        net: ctx.net,
        onProgress: (received: number, total: number) => ctx.log.progress(label, received, total),
        onResume: (offset) =>
          ctx.log.info(`${shownPath(config.file)}: resuming ${label} at byte ${offset}.`),
        onRestart: (reason) =>
          ctx.log.warn(`${shownPath(config.file)}: ${reason} Downloading ${label} in full.`),
      });
      ctx.log.endProgress();
      if (ctx.delta !== false) await keepOriginIndex({ ...delta, origin }, entry);
      return;
    } catch (e) {
      ctx.log.endProgress();
      if (!(e instanceof TakoError)) throw e;
      failures.push(e);
      if (i < config.origins.length - 1) {
        ctx.log.warn(`${shownPath(config.file)}: ${e.message} Trying the next origin.`);
      }
    }
  }
  throw combine(failures);
}

async function isRegularFile(path: string): Promise<boolean> {
  return (await lstatOrUndefined(path))?.isFile ?? false;
}
