import {
  baselineOf,
  parseUnitStates,
  problemOf,
  restartPlan,
  type UnitState,
} from "../../../lib/core/unit_health.ts";
import { assert } from "../../support/assert.ts";

const UP: UnitState = {
  name: "app.service",
  loadState: "loaded",
  activeState: "active",
  subState: "running",
  result: "success",
  mainPid: 100,
  nRestarts: 2,
};

Deno.test("`parseUnitStates()` reads one block per unit in order, whatever the key order", () => {
  const text =
    "MainPID=100\nNRestarts=2\nLoadState=loaded\nActiveState=active\nSubState=running\n" +
    "Result=success\nId=app.service\n\nId=b.service\nLoadState=not-found\nActiveState=inactive\n" +
    "SubState=dead\nResult=success\nMainPID=0\nNRestarts=0\n";
  const [a, b] = parseUnitStates(text, ["app.service", "b"])!;
  assert.deepEqual(a, UP);
  assert.deepEqual(b, {
    ...UP,
    name: "b",
    loadState: "not-found",
    activeState: "inactive",
    subState: "dead",
    mainPid: 0,
    nRestarts: 0,
  });
  assert.equal(parseUnitStates(text, ["app.service"]), undefined, "a block too many");
  assert.equal(parseUnitStates("", ["app.service"]), undefined);
});

Deno.test("`restartPlan()` restarts running and failed units, leaves stopped ones, reports missing ones", () => {
  const state = (name: string, activeState: string, loadState = "loaded") => ({
    ...UP,
    name,
    activeState,
    loadState,
  });
  const plan = restartPlan([
    state("a", "active"),
    state("b", "activating"),
    state("c", "reloading"),
    state("d", "failed"),
    state("e", "inactive"),
    state("f", "deactivating"),
    state("g", "inactive", "not-found"),
  ]);
  assert.deepEqual(plan.restart, ["a", "b", "c", "d"]);
  assert.deepEqual(plan.stopped.map((s) => s.name), ["e", "f"]);
  assert.deepEqual(plan.missing.map((s) => s.name), ["g"]);
});

Deno.test("`problemOf()` names the unit, the time since the restart and what systemd says", () => {
  const base = baselineOf(UP)!;
  const table: [Partial<UnitState>, string | undefined][] = [
    [{}, undefined],
    [{ activeState: "reloading" }, undefined],
    [
      { activeState: "failed", result: "exit-code" },
      "app.service failed 1.2 s after the restart (Result=exit-code)",
    ],
    [
      { activeState: "activating", subState: "auto-restart", result: "signal" },
      "app.service exited 1.2 s after the restart and systemd is restarting it (Result=signal)",
    ],
    [
      { nRestarts: 3 },
      "app.service was restarted by systemd 1.2 s after the restart (NRestarts=3, Result=success)",
    ],
    [
      { mainPid: 101 },
      "app.service's main process changed 1.2 s after the restart (PID 100, now 101)",
    ],
    [
      { activeState: "inactive", subState: "dead" },
      "app.service stopped 1.2 s after the restart (ActiveState=inactive, Result=success)",
    ],
  ];
  for (const [change, problem] of table) {
    assert.equal(problemOf({ ...UP, ...change }, base, 1234), problem, JSON.stringify(change));
  }
  // Before the unit is first seen up, only a failure or a stop counts.
  assert.equal(
    problemOf({ ...UP, activeState: "activating", subState: "start" }, undefined, 10),
    undefined,
  );
  assert.equal(baselineOf({ ...UP, activeState: "activating", subState: "start" }), undefined);
  assert.match(problemOf({ ...UP, activeState: "failed" }, undefined, 10)!, /failed 10 ms after/);
});

Deno.test("`problemOf()` escapes what systemd reports", () => {
  const problem = problemOf(
    { ...UP, name: "a\x1b[2J.service", activeState: "failed", result: "x\ny" },
    undefined,
    1,
  );
  assert.equal(problem, "a\\u{1b}[2J.service failed 1 ms after the restart (Result=x\\u{a}y)");
});
