/**
 * What `tako fetch` (and its dry run) reads before it decides: the stored
 * manifest, verified under the config's keys; the origins' manifest, asked of
 * each origin in turn (SPEC §6 Mirrors), conditionally when validators are
 * kept; the image `latest` points to. The decisions are core's
 * (`fetch_plan.takeManifest`); this is the I/O.
 *
 * @module
 */
import { printable, shownUrl, TakoError } from "../core/errors.ts";
import type { Config } from "../core/config.ts";
import type { CurrentImage } from "../core/history.ts";
import * as plan from "../core/fetch_plan.ts";
import { originUrl } from "../core/http_policy.ts";
import type { Log } from "../core/log.ts";
import { MAX_MANIFEST_BYTES } from "../core/manifest.ts";
import { conditionalHeaders, type State } from "../core/state.ts";
import { readFileCapped } from "./fs.ts";
import { fetchManifestIfChanged, type NetOptions } from "./http.ts";
import { sha256Hex, storedManifestEntries, verifiedManifest } from "./manifest_read.ts";
import { readLatest } from "./store.ts";

/** What asking the origins needs: the config, how to reach them and where to report. */
export interface Source {
  readonly config: Config;
  readonly dest: string;
  readonly net: NetOptions;
  readonly log: Log;
  /** The config as messages name it. */
  readonly where: string;
}

/** The stored manifest, verified or vouched for by `.state`; undefined when there is none yet. */
export async function readVerifiedStored(
  source: Source,
  state: State,
): Promise<plan.Verified | undefined> {
  const path = `${source.dest}/manifest`;
  const bytes = await readFileCapped(path, MAX_MANIFEST_BYTES);
  if (bytes === undefined) return undefined;
  const sha256 = await sha256Hex(bytes);
  try {
    const entries = await storedManifestEntries(
      bytes,
      sha256,
      source.config.publicKeys,
      state,
      path,
    );
    return { bytes, sha256, entries };
  } catch (e) {
    if (!(e instanceof TakoError)) throw e;
    throw new TakoError(
      "integrity",
      `${e.message} (The stored manifest must verify under a PublicKey= of the config: keep the old key listed during a key rotation, or remove ${path}: the next fetch then takes the origin's manifest if it lists the image latest points to.)`,
    );
  }
}

/**
 * Downloads the manifest from the origins in order, taking the first that
 * verifies and keeps the stored history. An origin with validators for the
 * stored manifest is asked conditionally: its 304 leaves the stored manifest
 * (verified under the config's keys when read) in force.
 */
export function fetchVerifiedManifest(
  source: Source,
  stored: plan.Verified | undefined,
  anchor: CurrentImage | undefined,
  state: State,
): Promise<plan.Fetched> {
  return fromOrigins(source, async (origin) => {
    // As messages name it: its password masked (the request uses the origin as written).
    const url = shownUrl(originUrl(origin, "manifest"));
    const sent = conditionalHeaders(state, origin, stored?.sha256);
    const answer = await fetchManifestIfChanged(origin, {
      ...source.net,
      maxBytes: MAX_MANIFEST_BYTES,
      validators: sent,
    });
    if (answer.notModified) {
      source.log.debug(`${source.where}: ${url} is unchanged (304 Not Modified).`);
    }
    // Only fresh bytes need the curve library, loaded on first use.
    const taken = answer.notModified
      ? answer
      : { ...answer, ...await verifiedManifest(answer.bytes, source.config.publicKeys, url) };
    return plan.takeManifest(taken, { origin, url, sent }, stored, anchor);
  });
}

/** Asks the origins in order (SPEC §6 Mirrors): the first answer wins; each failure is reported. */
export async function fromOrigins<T>(
  source: Source,
  ask: (origin: string) => Promise<T>,
): Promise<T> {
  const failures: TakoError[] = [];
  for (const origin of source.config.origins) {
    try {
      return await ask(origin);
    } catch (e) {
      if (!(e instanceof TakoError)) throw e;
      failures.push(e);
      if (failures.length < source.config.origins.length) {
        source.log.warn(`${source.where}: ${e.message} Trying the next origin.`);
      }
    }
  }
  throw plan.combineFailures(failures);
}

/** The digest `latest` points to; refuses to go on over a `latest` that Tako did not make. */
export async function currentImage(dest: string): Promise<string | undefined> {
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
