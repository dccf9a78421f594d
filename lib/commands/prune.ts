/**
 * `tako prune` (SPEC §4 `KeepImages=`, `MaxStoreSize=`; §6 "Pruning"): for
 * each config, under its destination's lock, the pruning step that
 * `tako fetch` also runs after each success (shell/store_prune.ts).
 *
 * @module
 */
import { resolve } from "../core/path.ts";
import { asTakoError, printable, TakoError } from "../core/errors.ts";
import { formatBytes, type Log } from "../core/log.ts";
import { hasLimits, imageCount, limitsOf } from "../core/prune_plan.ts";
import { inContext, loadConfig } from "../shell/config_file.ts";
import { acquireLock, DESTINATION_LOCK_WAIT_MS } from "../shell/lock.ts";
import { readState } from "../shell/state_file.ts";
import { requireDestination } from "../shell/store.ts";
import { pruneDestination } from "../shell/store_prune.ts";

/** What `tako prune` gets from its caller. */
export interface PruneContext {
  readonly log: Log;
  /** How long to wait for another run's lock on the same destination; default 10 minutes. */
  readonly lockWaitMs?: number;
}

/**
 * Runs `tako prune` for each config in turn, each under its destination's
 * lock; one failing does not stop the next. Returns the failures (already
 * logged).
 *
 * @example
 * ```ts
 * import { combinedExitCode } from "../core/errors.ts";
 * import type { Log } from "../core/log.ts";
 * declare const log: Log;
 * const failures = await pruneAll(["/etc/tako/app"], { log });
 * Deno.exit(combinedExitCode(failures));
 * ```
 */
export async function pruneAll(
  configPaths: readonly string[],
  ctx: PruneContext,
): Promise<TakoError[]> {
  const failures: TakoError[] = [];
  for (const path of configPaths) {
    try {
      await pruneOne(path, ctx);
    } catch (e) {
      const error = inContext(path, asTakoError(e));
      ctx.log.error(error.message);
      failures.push(error);
    }
  }
  return failures;
}

async function pruneOne(configPath: string, ctx: PruneContext): Promise<void> {
  const config = await loadConfig(configPath);
  const name = printable(config.file, 300);
  if (!hasLimits(limitsOf(config))) {
    ctx.log.info(`${name}: neither KeepImages= nor MaxStoreSize= is set; nothing to prune.`);
    return;
  }
  const dest = resolve(Deno.cwd(), config.destination);
  await requireDestination(dest, configPath);
  using _lock = await acquireLock(
    dest,
    ctx.lockWaitMs ?? DESTINATION_LOCK_WAIT_MS,
    (message) => ctx.log.info(`${name}: ${message}`),
  );
  const state = await readState(dest);
  const { removed, freed } = await pruneDestination(dest, config, state, ctx.log);
  ctx.log.info(
    removed.length === 0
      ? `${name}: nothing to remove.`
      : `${name}: removed ${imageCount(removed.length)}, freed ${formatBytes(freed)}.`,
  );
}
