/**
 * Judging systemd units from what `systemctl show` reports: which units a
 * switch restarts (running and failed ones; not those an admin stopped), and
 * whether a restarted unit is still healthy. Pure: the shell samples, this
 * decides.
 *
 * @module
 */
import { printable } from "./errors.ts";
import { formatSpan } from "./timespan.ts";

/** The properties Tako reads, in the order `systemctl show -p` is asked for them. */
export const UNIT_PROPERTIES = [
  "Id",
  "LoadState",
  "ActiveState",
  "SubState",
  "Result",
  "MainPID",
  "NRestarts",
] as const;

/** One unit as `systemctl show` describes it. */
export interface UnitState {
  /** The name as configured (systemd's Id may add ".service"). */
  readonly name: string;
  readonly loadState: string;
  readonly activeState: string;
  readonly subState: string;
  readonly result: string;
  /** 0 when the unit has no main process. */
  readonly mainPid: number;
  readonly nRestarts: number;
}

/**
 * Parses `systemctl show -p ... <units>` output: one block of `Key=Value`
 * lines per unit, in the order asked, separated by blank lines. Returns
 * undefined when the output does not have one block per unit.
 */
export function parseUnitStates(
  text: string,
  units: readonly string[],
): UnitState[] | undefined {
  const blocks = text.split(/\n\s*\n/).map((b) => b.trim()).filter((b) => b !== "");
  if (blocks.length !== units.length) return undefined;
  return blocks.map((block, i) => {
    const props = new Map<string, string>();
    for (const line of block.split("\n")) {
      const eq = line.indexOf("=");
      if (eq > 0) props.set(line.slice(0, eq), line.slice(eq + 1));
    }
    const number = (key: string) => {
      const n = Number(props.get(key) ?? "0");
      return Number.isSafeInteger(n) && n >= 0 ? n : 0;
    };
    return {
      name: units[i]!,
      loadState: props.get("LoadState") ?? "",
      activeState: props.get("ActiveState") ?? "",
      subState: props.get("SubState") ?? "",
      result: props.get("Result") ?? "",
      mainPid: number("MainPID"),
      nRestarts: number("NRestarts"),
    };
  });
}

/** Which units a switch restarts and which it leaves alone. */
export interface RestartPlan {
  /** Running (active, activating, reloading) or failed: restarted. */
  readonly restart: string[];
  /** Stopped by an admin (inactive or stopping, not failed): stay stopped. */
  readonly stopped: UnitState[];
  /** Not known to the service manager: an error. */
  readonly missing: UnitState[];
}

const RUNNING = ["active", "activating", "reloading", "failed", "refreshing"];

/** Sorts units by the restart rules of SPEC §6 step 6. */
export function restartPlan(states: readonly UnitState[]): RestartPlan {
  const plan: RestartPlan = { restart: [], stopped: [], missing: [] };
  for (const s of states) {
    if (s.loadState === "not-found" || s.loadState === "") plan.missing.push(s);
    else if (RUNNING.includes(s.activeState)) plan.restart.push(s.name);
    else plan.stopped.push(s);
  }
  return plan;
}

/** A unit is healthy in this state only (a reload keeps its process). */
function isUp(s: UnitState): boolean {
  return s.activeState === "active" || s.activeState === "reloading";
}

/** A unit still starting, not yet up nor down (systemd's own restart after a crash is down). */
export function isStarting(s: UnitState): boolean {
  return s.activeState === "activating" && s.subState !== "auto-restart";
}

/** What a unit looked like when the watch first saw it up. */
export interface Baseline {
  readonly mainPid: number;
  readonly nRestarts: number;
}

/**
 * What is wrong with a unit in this sample, as a sentence fragment naming
 * the unit and the time since the restart, or undefined when it is fine.
 * Before its baseline (still starting), only a failure counts.
 */
export function problemOf(
  s: UnitState,
  baseline: Baseline | undefined,
  elapsedMs: number,
): string | undefined {
  const unit = printable(s.name, 255);
  const after = `${formatSpan(elapsedMs)} after the restart`;
  const result = `Result=${printable(s.result, 40)}`;
  if (s.activeState === "failed") return `${unit} failed ${after} (${result})`;
  if (s.activeState === "activating" && s.subState === "auto-restart") {
    return `${unit} exited ${after} and systemd is restarting it (${result})`;
  }
  if (baseline === undefined) {
    if (isUp(s) || isStarting(s)) return undefined;
    return `${unit} stopped ${after} (ActiveState=${printable(s.activeState, 40)}, ${result})`;
  }
  if (s.nRestarts !== baseline.nRestarts) {
    return `${unit} was restarted by systemd ${after} (NRestarts=${s.nRestarts}, ${result})`;
  }
  if (!isUp(s)) {
    return `${unit} stopped ${after} (ActiveState=${printable(s.activeState, 40)}, ${result})`;
  }
  if (baseline.mainPid !== 0 && s.mainPid !== baseline.mainPid) {
    return `${unit}'s main process changed ${after} (PID ${baseline.mainPid}, now ${s.mainPid})`;
  }
  return undefined;
}

/** The baseline of a unit first seen up, or undefined while it is still starting. */
export function baselineOf(s: UnitState): Baseline | undefined {
  return isUp(s) ? { mainPid: s.mainPid, nRestarts: s.nRestarts } : undefined;
}
