/**
 * The rollout rules applied to fetch's candidates (SPEC §6, docs/safe-rollouts.md):
 * the decisions are core/rollout.ts's; this module reads the host's place
 * (its machine id) and logs when a waiting version will be installed.
 *
 * @module
 */
import type { Config } from "../core/config.ts";
import { printable } from "../core/errors.ts";
import type { Log } from "../core/log.ts";
import type { Entry } from "../core/manifest.ts";
import { type PhasedOffer, phaseOffer, rolloutOf, waitingSentence } from "../core/rollout.ts";
import type { State } from "../core/state.ts";

/**
 * The rollout rules over fetch's candidates (SPEC §6): notes first sightings,
 * leaves out rejected versions and, with RolloutSpreadSec=, those whose place
 * for this host (from its machine id) has not come; logs
 * when a waiting version will be installed.
 */
export async function phasedOffer(
  config: Pick<Config, "file" | "rolloutSpreadMs">,
  state: State,
  candidates: readonly Entry[],
  current: string | undefined,
  ctx: { readonly log: Log; readonly now: () => Date; readonly skipSpread?: boolean },
): Promise<PhasedOffer> {
  // `--now` skips the wait; the first image of an empty destination never waits.
  const immediate = ctx.skipSpread === true || current === undefined;
  const spreadMs = config.rolloutSpreadMs;
  const nowMs = ctx.now().getTime();
  const phased = phaseOffer(rolloutOf(state), candidates, {
    spreadMs,
    // The machine id is read (by systemd.ts, loaded only then) for a spread rollout alone.
    place: spreadMs > 0 && !immediate ? await (await import("./systemd.ts")).hostPlace() : () => 0,
    nowMs,
    immediate,
  });
  if (phased.waiting !== undefined) {
    ctx.log.info(`${printable(config.file, 1000)}: ${waitingSentence(phased.waiting, nowMs)}`);
  }
  return phased;
}
