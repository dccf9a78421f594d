/**
 * The health watch after a restart (SPEC §6 step 6) through a scripted
 * service manager, and HealthCommand= as a real process. The same watch
 * against a real systemd user manager is in tests/cli/rollout_test.ts (test
 * modules share one process, so a test here must not point systemctl
 * elsewhere through the environment).
 */
import type { UnitState } from "../../../lib/core/unit_health.ts";
import { type ServiceManager, watchUnits } from "../../../lib/shell/systemd.ts";
import { assert } from "../../support/assert.ts";

const UP: UnitState = {
  name: "app.service",
  loadState: "loaded",
  activeState: "active",
  subState: "running",
  result: "success",
  mainPid: 100,
  nRestarts: 0,
};

/** A service manager whose unit goes through `script` as time passes (ms since the start). */
function scripted(script: [number, Partial<UnitState>][]): ServiceManager & { shows: number } {
  const started = performance.now();
  const manager = {
    shows: 0,
    show(units: readonly string[]) {
      manager.shows++;
      const t = performance.now() - started;
      const change = script.findLast(([at]) => at <= t)?.[1] ?? {};
      return Promise.resolve(units.map((name) => ({ ...UP, ...change, name })));
    },
    restart: () => Promise.resolve(),
  };
  return manager;
}

const watch = (manager: ServiceManager, windowMs: number, command?: string[]) =>
  watchUnits(manager, ["app.service"], "user", {
    windowMs,
    command,
    commandLimitMs: 500,
    restartedAtMs: performance.now(),
  });

Deno.test("`watchUnits()` passes a unit that stays up for the whole window, sampling it", async () => {
  const manager = scripted([]);
  const started = performance.now();
  assert.equal(await watch(manager, 500), undefined);
  assert.ok(performance.now() - started >= 500, "watched for the whole window");
  assert.ok(manager.shows >= 5, `${manager.shows} samples`);
});

Deno.test("`watchUnits()` fails a unit that fails, is restarted by systemd, changes process or stops", async () => {
  const table: [Partial<UnitState>, RegExp][] = [
    [
      { activeState: "failed", result: "exit-code" },
      /^app\.service failed .* \(Result=exit-code\)$/,
    ],
    [{ activeState: "activating", subState: "auto-restart" }, /systemd is restarting it/],
    [{ nRestarts: 1, mainPid: 101 }, /was restarted by systemd .*NRestarts=1/],
    [{ mainPid: 101 }, /main process changed .*\(PID 100, now 101\)/],
    [{ activeState: "inactive", subState: "dead" }, /stopped .*ActiveState=inactive/],
  ];
  for (const [change, problem] of table) {
    const started = performance.now();
    const verdict = await watch(scripted([[150, change]]), 2000);
    assert.match(verdict?.problem ?? "healthy", problem);
    assert.ok(performance.now() - started < 1000, "a failure ends the watch early");
  }
});

Deno.test("`watchUnits()` waits for a starting unit, within the window", async () => {
  const starting = { activeState: "activating", subState: "start", mainPid: 0 };
  assert.equal(await watch(scripted([[0, starting], [200, {}]]), 300), undefined);
  const never = await watch(scripted([[0, starting]]), 300);
  assert.match(never!.problem, /app\.service did not become active within 500 ms of the restart/);
});

Deno.test("`watchUnits()` runs HealthCommand= once the units are up; exit 0 within the window passes", async () => {
  assert.equal(await watch(scripted([]), 200, ["/bin/true"]), undefined);
  // With no watch window, the command alone decides.
  assert.equal(await watch(scripted([]), 0, ["/bin/sh", "-c", "sleep 0.2; exit 0"]), undefined);
  const failing = await watch(scripted([]), 0, ["/bin/false"]);
  assert.match(failing!.problem, /^HealthCommand=\/bin\/false exited with code 1 after /);
});

Deno.test("`watchUnits()` keeps the last lines of a failed HealthCommand=, and kills it at its limit", async () => {
  const up = scripted([]);
  const script =
    "for i in 1 2 3 4 5 6 7; do echo \"line $i\"; done; echo 'no answer on :8080' >&2; exit 3";
  const bad = await watch(up, 0, ["/bin/sh", "-c", script]);
  assert.match(bad!.problem, /exited with code 3 after /);
  assert.deepEqual(bad!.output, ["line 4", "line 5", "line 6", "line 7", "no answer on :8080"]);

  const started = performance.now();
  const slow = await watch(up, 300, ["/bin/sleep", "5"]);
  assert.match(slow!.problem, /^HealthCommand=\/bin\/sleep 5 did not finish within 300 ms$/);
  assert.ok(performance.now() - started < 2000, "killed at the limit");
  // With no watch window, the command's own limit applies.
  const slower = await watch(up, 0, ["/bin/sleep", "5"]);
  assert.match(slower!.problem, /did not finish within 500 ms$/);

  // A child left behind holding the output open does not hold up the verdict.
  const before = performance.now();
  const orphan = await watch(up, 0, ["/bin/sh", "-c", "sleep 3 & echo 'still bad'; exit 1"]);
  assert.deepEqual(orphan!.output, ["still bad"]);
  assert.ok(performance.now() - before < 2000, "not held up by the orphan");

  const missing = await watch(up, 300, ["/nonexistent/check"]);
  assert.match(missing!.problem, /could not be started \(the program does not exist\)/);
  const escaped = await watch(up, 0, ["/bin/sh", "-c", "printf 'a\\033[2Jb\\n'; exit 1"]);
  assert.deepEqual(escaped!.output, ["a\\u{1b}[2Jb"]);
});
