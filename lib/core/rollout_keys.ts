/**
 * The config keys of safe rollouts (SPEC §4): whose service manager the units
 * belong to, the health check after a restart, and the spread of a new
 * version across a fleet. Kept apart from config.ts, which parses the lines;
 * this module checks these values.
 *
 * @module
 */
import { printable, TakoError } from "./errors.ts";
import { parseTimeSpan } from "./timespan.ts";

/** Each rollout key with the hint shown when it is wrong. */
export const ROLLOUT_KEYS = {
  UnitScope: "UnitScope=system or UnitScope=user",
  HealthCheckSec: "HealthCheckSec=<time span such as 15s or 1min; 0 turns the watch off>",
  HealthCommand: "HealthCommand=<absolute path> [<argument>...]",
  RolloutSpreadSec: "RolloutSpreadSec=<time span such as 6h or 2d>",
} as const;
export type RolloutKey = keyof typeof ROLLOUT_KEYS;

/** What each rollout key takes, for the message about a secret key found in its place. */
export const ROLLOUT_TAKES: Readonly<Record<RolloutKey, string>> = {
  UnitScope: "system or user",
  HealthCheckSec: "a time span",
  HealthCommand: "a program's absolute path and its arguments",
  RolloutSpreadSec: "a time span",
};

/** Whose service manager the units belong to: `systemctl` or `systemctl --user`. */
export type UnitScope = "system" | "user";

/** What the rollout keys say, with defaults applied. */
export interface RolloutSettings {
  readonly unitScope: UnitScope;
  /** How long restarted units must stay healthy, in ms; 0: no watch. */
  readonly healthCheckMs: number;
  /** The health command's program (an absolute path) and arguments; none when unset. */
  readonly healthCommand: readonly string[] | undefined;
  /** The window over which a newly seen version spreads across hosts, in ms; 0: no wait. */
  readonly rolloutSpreadMs: number;
}

/** HealthCheckSec= when units are configured and the key is absent. */
export const DEFAULT_HEALTH_CHECK_MS = 15_000;

/**
 * Checks one rollout key's value; throws a config error starting with
 * `where` (the file and line) that says what was expected.
 */
export function parseRolloutValue(
  key: RolloutKey,
  value: string,
  where: string,
): Partial<RolloutSettings> {
  const fail = (problem: string): never => {
    throw new TakoError(
      "config",
      `${where}: ${key}= '${printable(value)}' ${problem}; expected '${ROLLOUT_KEYS[key]}'.`,
    );
  };
  switch (key) {
    case "UnitScope":
      if (value !== "system" && value !== "user") fail("is not a scope");
      return { unitScope: value as UnitScope };
    case "HealthCheckSec":
    case "RolloutSpreadSec": {
      const ms = parseTimeSpan(value) ??
        fail("is not a time span of at most a year (systemd.time(7), a bare number is seconds)");
      return key === "HealthCheckSec" ? { healthCheckMs: ms } : { rolloutSpreadMs: ms };
    }
    case "HealthCommand": {
      const words = value.split(/[ \t]+/);
      if (!words[0]!.startsWith("/")) fail("does not start with an absolute path");
      if (words.some((w) => /[\p{Cc}]/u.test(w))) fail("contains control characters");
      return { healthCommand: words };
    }
  }
}

/** The settings of a config, from the keys it gave; `hasUnits`: it names units to restart. */
export function rolloutSettings(
  given: Partial<RolloutSettings>,
  hasUnits: boolean,
): RolloutSettings {
  return {
    unitScope: given.unitScope ?? "system",
    healthCheckMs: given.healthCheckMs ?? (hasUnits ? DEFAULT_HEALTH_CHECK_MS : 0),
    healthCommand: given.healthCommand,
    rolloutSpreadMs: given.rolloutSpreadMs ?? 0,
  };
}
