/**
 * Switching `latest` together with the units that run it (SPEC §6 step 6):
 * restart by the rules (running and failed units are restarted, stopped ones
 * stay stopped), watch them, and on failure go back to the previous image and
 * reject the new one. Each step is recorded in `.state` before it is taken,
 * so a run killed anywhere leaves a switch that the next run finishes
 * ({@link recoverSwitch}). The decisions are in core/rollout.ts and
 * core/unit_health.ts; this module does the steps.
 *
 * @module
 */
import type { Config } from "../core/config.ts";
import { printable, TakoError } from "../core/errors.ts";
import type { SwitchOutcome } from "../core/fetch_report.ts";
import type { Log } from "../core/log.ts";
import {
  isRejected,
  recoveryOf,
  reject,
  rolloutOf,
  withPending,
  withRollout,
} from "../core/rollout.ts";
import type { PendingSwitch } from "../core/rollout_state.ts";
import type { State } from "../core/state.ts";
import { formatSpan } from "../core/timespan.ts";
import { type RestartPlan, restartPlan } from "../core/unit_health.ts";
import { restartFailed } from "../core/fetch_plan.ts";
import { currentImage } from "./fetch_inputs.ts";
import { pointLatest } from "./store.ts";
import { saveState } from "./state_file.ts";
import { type ServiceManager, type Unhealthy, watchUnits } from "./systemd.ts";

/** An image by digest, with its version for messages. */
export interface ImageRef {
  readonly sha256: string;
  readonly version: string;
}

/** What a switch needs from its caller. */
export interface SwitchContext {
  readonly log: Log;
  readonly services: ServiceManager;
  readonly now: () => Date;
  /** Where a judged switch reports what it did (fetch's outcome, for `--json`). */
  readonly outcome?: SwitchOutcome;
}

/** A run of fetch: its context, its destination and its config. */
export interface Run extends SwitchContext {
  readonly dest: string;
  readonly config: UnitSettings;
}

/** The parts of a config that a switch reads. */
export type UnitSettings = Pick<
  Config,
  "file" | "restartUnits" | "unitScope" | "healthCheckMs" | "healthCommand"
>;

/** The config as log lines name it. */
function named(config: Pick<Config, "file">): string {
  return printable(config.file, 1000);
}

/** The time limit of HealthCommand= when HealthCheckSec=0 turns the watch off. */
const HEALTH_COMMAND_LIMIT_MS = 15_000;

/** Where to read more, for the end of a failure message. */
export function journalHint(config: UnitSettings): string {
  const user = config.unitScope === "user" ? "--user " : "";
  return `see journalctl ${user}${config.restartUnits.map((u) => `-u ${u}`).join(" ")}`;
}

/**
 * Reads the units and sorts them by the restart rules; a unit the service
 * manager does not know is an error naming it. Logs the units that stay stopped.
 */
export async function planRestart(config: UnitSettings, ctx: SwitchContext): Promise<RestartPlan> {
  const states = await ctx.services.show(config.restartUnits, config.unitScope);
  const plan = restartPlan(states);
  if (plan.missing.length > 0) {
    const names = plan.missing.map((s) => printable(s.name, 255)).join(", ");
    const user = config.unitScope === "user" ? " of the user's service manager" : "";
    throw new TakoError(
      "runtime",
      `${names} ${
        plan.missing.length === 1 ? "is not a unit" : "are not units"
      }${user} (LoadState=not-found); expected Restart= to name existing units.`,
    );
  }
  for (const s of plan.stopped) {
    ctx.log.info(
      `${named(config)}: ${printable(s.name, 255)} is stopped (ActiveState=${
        printable(s.activeState, 40)
      }), so it stays stopped.`,
    );
  }
  return plan;
}

/** Saves the state with this pending switch (or none); returns it. */
async function record(
  dest: string,
  state: State,
  pending: PendingSwitch | undefined,
): Promise<State> {
  const next = withRollout(state, withPending(rolloutOf(state), pending));
  await saveState(dest, next);
  return next;
}

/**
 * Moves `latest` from `from` to `to` and judges the switch: restarts the
 * units, watches them, and rolls back when they do not stay healthy (then
 * throws the one-sentence verdict). Only for a judged config (fetch_plan.isJudged).
 * Returns the state saved at the end.
 */
export async function switchJudged(
  ctx: Run,
  state: State,
  to: ImageRef,
  from: ImageRef | undefined,
): Promise<State> {
  const { dest, config } = ctx;
  // A rollback never goes to a rejected image (a rejected first image that stayed).
  const back = from !== undefined && !isRejected(rolloutOf(state), from.sha256) ? from : undefined;
  const pending: PendingSwitch = {
    phase: "restart",
    to: to.sha256,
    toVersion: to.version,
    from: back?.sha256,
    fromVersion: back?.version,
    since: ctx.now().toISOString(),
  };
  let plan: RestartPlan;
  try {
    plan = await planRestart(config, ctx);
  } catch (e) {
    // With an image to keep, nothing changes; a first image is installed all the same,
    // and the next run restarts and judges it.
    if (from !== undefined || !(e instanceof TakoError)) throw e;
    await record(dest, state, pending);
    await pointLatest(dest, to.sha256);
    throw new TakoError("runtime", `${printable(to.version)} is in place, but ${e.message}`);
  }
  // Recorded before latest moves: a run killed from here on is finished by the next.
  const next = await record(dest, { ...state, previous: from?.sha256 ?? state.previous }, pending);
  await pointLatest(dest, to.sha256);
  ctx.log.info(`${named(config)}: latest is now ${printable(to.version)} (${to.sha256}).`);
  const { restart } = plan;
  if (restart.length === 0) {
    ctx.log.info(`${named(config)}: no unit is running; ${printable(to.version)} is not checked.`);
  }
  const judged = restart.length === 0
    ? await record(dest, next, undefined)
    : await judge(dest, config, next, pending, restart, true, ctx);
  // Reported only once judged healthy: after a rollback, latest is where it was.
  if (ctx.outcome) {
    Object.assign(ctx.outcome, { after: to.sha256, changed: true, restarted: restart });
  }
  return judged;
}

/**
 * Restarts (when `restart`) and watches `units` for the pending switch;
 * healthy: the switch is done. Otherwise rolls back and throws.
 */
async function judge(
  dest: string,
  config: UnitSettings,
  state: State,
  pending: PendingSwitch,
  units: readonly string[],
  restart: boolean,
  ctx: SwitchContext,
): Promise<State> {
  const restartedAtMs = performance.now();
  let verdict: Unhealthy | undefined;
  if (restart) {
    try {
      await ctx.services.restart(units, config.unitScope);
    } catch (e) {
      if (!(e instanceof TakoError)) throw e;
      verdict = { problem: e.message.replace(/[.]$/, ""), output: [] };
    }
  }
  const watching = await record(dest, state, { ...pending, phase: "watch" });
  verdict ??= await watchUnits(ctx.services, units, config.unitScope, {
    windowMs: config.healthCheckMs,
    command: config.healthCommand,
    commandLimitMs: HEALTH_COMMAND_LIMIT_MS,
    restartedAtMs,
  });
  if (verdict === undefined) {
    const watched = config.healthCheckMs > 0
      ? `; healthy for ${formatSpan(config.healthCheckMs)}`
      : "; HealthCommand= passed";
    ctx.log.info(
      `${named(config)}: ${restart ? "restarted" : "checked"} ${units.join(" ")}${watched}.`,
    );
    return await record(dest, watching, undefined);
  }
  for (const line of verdict.output) {
    ctx.log.warn(`${named(config)}: HealthCommand= output: ${line}`);
  }
  const rejected = withRollout(
    watching,
    reject(rolloutOf(watching), {
      version: pending.toVersion,
      sha256: pending.to,
      at: ctx.now().toISOString(),
      reason: verdict.problem,
    }),
  );
  const rollingBack = await record(dest, rejected, { ...pending, phase: "rollback" });
  return await failWithRollback(dest, config, rollingBack, pending, verdict.problem, ctx);
}

/**
 * Goes back to the switch's `from` image (already recorded as the pending
 * rollback, with `to` rejected), restarts the units and checks that they come
 * back; then throws the verdict as one sentence.
 */
async function failWithRollback(
  dest: string,
  config: UnitSettings,
  state: State,
  pending: PendingSwitch,
  problem: string,
  ctx: SwitchContext,
): Promise<never> {
  const rejected = `${printable(pending.toVersion)} is rejected: ${problem}`;
  const back = await rollBack(dest, config, state, pending, ctx);
  if (ctx.outcome) {
    const after = pending.from ?? pending.to;
    Object.assign(ctx.outcome, {
      after,
      changed: after !== ctx.outcome.before,
      restarted: back.restarted,
      rollback: {
        rejected: pending.to,
        rejectedVersion: pending.toVersion,
        reason: problem,
        backTo: pending.from,
        backProblem: back.problem,
      },
    });
  }
  if (back.target === undefined) {
    throw new TakoError(
      "runtime",
      `${rejected}; it stays in place, as there is no earlier image to go back to, until a newer version replaces it; ${
        journalHint(config)
      }.`,
    );
  }
  const comeBack = back.problem === undefined ? "" : `, but ${back.problem} too`;
  throw new TakoError(
    "runtime",
    `${rejected}; rolled back to ${printable(back.target)}${comeBack}; ${journalHint(config)}.`,
  );
}

/** What a rollback achieved: the version gone back to (if any) and whether the units came back. */
export interface RollbackOutcome {
  readonly state: State;
  readonly target: string | undefined;
  /** Why the units did not come back on the old image; undefined when they did. */
  readonly problem: string | undefined;
  /** The units restarted onto the old image. */
  readonly restarted: readonly string[];
}

/**
 * The rollback step, for a pending switch in phase `rollback`: points
 * `latest` at `from` (a no-op when it is there already), restarts the units
 * by the rules and watches them like any switch. Ends the pending switch.
 */
export async function rollBack(
  dest: string,
  config: UnitSettings,
  state: State,
  pending: PendingSwitch,
  ctx: SwitchContext,
): Promise<RollbackOutcome> {
  if (pending.from === undefined) {
    const done = await record(dest, state, undefined);
    return { state: done, target: undefined, problem: undefined, restarted: [] };
  }
  await pointLatest(dest, pending.from);
  ctx.log.warn(
    `${named(config)}: latest is back at ${printable(pending.fromVersion ?? pending.from)}.`,
  );
  let problem: string | undefined;
  let restarted: readonly string[] = [];
  if (config.restartUnits.length > 0) {
    try {
      const plan = await planRestart(config, ctx);
      if (plan.restart.length > 0) {
        const restartedAtMs = performance.now();
        await ctx.services.restart(plan.restart, config.unitScope);
        restarted = plan.restart;
        problem = (await watchUnits(ctx.services, plan.restart, config.unitScope, {
          windowMs: config.healthCheckMs,
          command: config.healthCommand,
          commandLimitMs: HEALTH_COMMAND_LIMIT_MS,
          restartedAtMs,
        }))?.problem;
      }
    } catch (e) {
      if (!(e instanceof TakoError)) throw e;
      problem = e.message.replace(/[.]$/, "");
    }
  }
  // The image gone back to is now latest; the rejected one need not be kept.
  const done = await record(dest, { ...state, previous: undefined }, undefined);
  return { state: done, target: pending.fromVersion ?? pending.from, problem, restarted };
}

/**
 * Finishes a switch that an earlier run left unjudged (killed during the
 * switch, the watch or the rollback), from the units' state now. Returns the
 * state; throws the verdict when the switch ends in a rollback.
 */
export async function recoverSwitch(ctx: Run, state: State, init: boolean): Promise<State> {
  const { dest, config } = ctx;
  // --init runs while a unit starts and never restarts: it leaves the switch to the next run.
  if (init || rolloutOf(state).pending === undefined) return state;
  const recovery = recoveryOf(rolloutOf(state), await currentImage(dest));
  if (recovery.kind === "none") return state;
  if (recovery.kind === "forget" || config.restartUnits.length === 0) {
    return await record(dest, state, undefined);
  }
  const { pending } = recovery;
  const version = printable(pending.toVersion);
  if (recovery.kind === "rollback") {
    ctx.log.warn(
      `${
        named(config)
      }: an earlier run was stopped while rolling back from ${version}; finishing it.`,
    );
    const reason = rolloutOf(state).rejected.find((r) => r.sha256 === pending.to)?.reason ??
      "it failed its health check";
    return await failWithRollback(dest, config, state, pending, reason, ctx);
  }
  ctx.log.warn(
    `${named(config)}: an earlier run was stopped before it judged the switch to ${version}; ${
      recovery.kind === "restart" ? "restarting and watching" : "watching"
    } the units now.`,
  );
  const plan = await planRestart(config, ctx);
  if (plan.restart.length === 0) return await record(dest, state, undefined);
  return await judge(dest, config, state, pending, plan.restart, recovery.kind === "restart", ctx);
}

/**
 * Without a health check: restarts the units by the rules (running and
 * failed ones; stopped ones stay stopped), with the pending restart recorded
 * first so that a run killed during it, or a failed restart, is retried by
 * the next run. Returns the units restarted.
 */
export async function restartPending(
  ctx: Run,
  pending: State,
  inPlace: string,
): Promise<string[]> {
  const { dest, config } = ctx;
  await saveState(dest, pending);
  let units: string[];
  try {
    units = (await planRestart(config, ctx)).restart;
    if (units.length > 0) await ctx.services.restart(units, config.unitScope);
  } catch (e) {
    throw restartFailed(inPlace, e);
  }
  if (units.length > 0) ctx.log.info(`${named(config)}: restarted ${units.join(" ")}.`);
  return units;
}
