/**
 * The service manager shell against a real systemd user manager: reading
 * units' state, restarting with `--user`, and the health watch after a
 * restart (SPEC §6 step 6).
 */
import { systemctl, watchUnits } from "../../../lib/shell/systemd.ts";
import { assert, assertRejectsTako } from "../../support/assert.ts";
import {
  appUnit,
  type AppUnitSpec,
  imageScript,
  startUserManager,
  SYSTEMD_MISSING,
  type UserManager,
} from "../../support/systemd_user.ts";

const ignore = SYSTEMD_MISSING !== undefined;
const user = {
  show: (units: readonly string[]) => systemctl.show(units, "user"),
  restart: (units: readonly string[]) => systemctl.restart(units, "user"),
};

/** A destination whose latest is a script image, and a unit running it. */
async function unitWithImage(
  m: UserManager,
  name: string,
  script: string,
  spec: Partial<AppUnitSpec> = {},
): Promise<void> {
  const dest = `${m.dir}/${name}`;
  await Deno.mkdir(dest);
  await Deno.writeTextFile(`${dest}/image`, script);
  await Deno.symlink("image", `${dest}/latest`);
  await m.writeUnit(name, appUnit({ dest, record: m.record, ...spec }));
}

/** Runs the watch with the test manager's environment (systemctl --user reaches it). */
async function withManagerEnv<T>(m: UserManager, fn: () => Promise<T>): Promise<T> {
  const old = Deno.env.get("XDG_RUNTIME_DIR");
  Deno.env.set("XDG_RUNTIME_DIR", m.env.XDG_RUNTIME_DIR!);
  try {
    return await fn();
  } finally {
    if (old === undefined) Deno.env.delete("XDG_RUNTIME_DIR");
    else Deno.env.set("XDG_RUNTIME_DIR", old);
  }
}

const watch = (units: string[], windowMs: number, command?: string[]) =>
  watchUnits(systemctl, units, "user", {
    windowMs,
    command,
    commandLimitMs: 2000,
    restartedAtMs: performance.now(),
  });

// XDG_RUNTIME_DIR is process-wide: the tests of this file run one at a time.
Deno.test({
  name:
    "`systemctl` with UnitScope=user reads the state of running, failed, stopped and missing units",
  ignore,
  fn: async () => {
    await using m = await startUserManager();
    await unitWithImage(m, "up.service", imageScript("1.0.0"));
    await unitWithImage(m, "crash.service", imageScript("1.0.0", { crashAfterMs: 0 }));
    await unitWithImage(m, "idle.service", imageScript("1.0.0"));
    await m.systemctl("start", "up.service", "crash.service");
    await m.waitFor("crash.service", (p) => p.ActiveState === "failed");
    await withManagerEnv(m, async () => {
      const [up, crash, idle, missing] = await user.show([
        "up.service",
        "crash.service",
        "idle.service",
        "missing.service",
      ]);
      assert.equal(up!.activeState, "active");
      assert.ok(up!.mainPid > 0);
      assert.ok((await m.starts()).some((s) => s.pid === up!.mainPid), "the image's process");
      assert.deepEqual([crash!.activeState, crash!.result], ["failed", "exit-code"]);
      assert.deepEqual([idle!.loadState, idle!.activeState], ["loaded", "inactive"]);
      assert.equal(missing!.loadState, "not-found");

      await user.restart(["up.service"]);
      const [again] = await user.show(["up.service"]);
      assert.notEqual(again!.mainPid, up!.mainPid, "a new main process");
      await assertRejectsTako(() => user.restart(["nope@.service"]), "runtime", "--user restart");
    });
  },
});

Deno.test({
  name: "`watchUnits()` passes a unit that stays up for the whole window",
  ignore,
  fn: async () => {
    await using m = await startUserManager();
    await unitWithImage(m, "app.service", imageScript("1.0.0"));
    await m.systemctl("start", "app.service");
    const started = performance.now();
    assert.equal(await withManagerEnv(m, () => watch(["app.service"], 1000)), undefined);
    assert.ok(performance.now() - started >= 1000, "watched for the whole window");
  },
});

Deno.test({
  name:
    "`watchUnits()` catches a crash with Type=simple and exec, with and without Restart=on-failure",
  ignore,
  fn: async () => {
    await using m = await startUserManager();
    const cases = [
      { unit: "simple.service", type: "simple", restart: "no", seen: "failed" },
      { unit: "exec.service", type: "exec", restart: "no", seen: "failed" },
      { unit: "simple-r.service", type: "simple", restart: "on-failure", seen: "systemd" },
      { unit: "exec-r.service", type: "exec", restart: "on-failure", seen: "systemd" },
    ] as const;
    const crashing = imageScript("2.0.0", { crashAfterMs: 100 });
    for (const c of cases) await unitWithImage(m, c.unit, crashing, c);
    await withManagerEnv(m, async () => {
      for (const c of cases) {
        await user.restart([c.unit]);
        const started = performance.now();
        const verdict = await watch([c.unit], 1000);
        assert.ok(verdict !== undefined, `${c.unit} was judged healthy`);
        assert.ok(verdict.problem.startsWith(`${c.unit} `), verdict.problem);
        assert.ok(verdict.problem.includes(c.seen), verdict.problem);
        assert.match(verdict.problem, / after the restart\b/);
        assert.ok(performance.now() - started < 900, "a crash ends the watch early");
      }
    });
  },
});

Deno.test({
  name:
    "`watchUnits()` runs HealthCommand= once the units are up: exit 0 passes, else its output is kept",
  ignore,
  fn: async () => {
    await using m = await startUserManager();
    await unitWithImage(m, "app.service", imageScript("1.0.0"));
    await m.systemctl("start", "app.service");
    const failing = `${m.dir}/check.sh`;
    await Deno.writeTextFile(
      failing,
      "#!/bin/sh\nfor i in 1 2 3 4 5 6 7; do echo \"line $i\"; done\necho 'no answer on :8080' >&2\nexit 3\n",
      { mode: 0o755 },
    );
    await withManagerEnv(m, async () => {
      assert.equal(await watch(["app.service"], 300, ["/bin/true"]), undefined);
      assert.equal(await watch(["app.service"], 0, ["/bin/sh", "-c", "exit 0"]), undefined);

      const bad = await watch(["app.service"], 1000, [failing, "--port", "8080"]);
      assert.match(
        bad!.problem,
        /^HealthCommand=.*check\.sh --port 8080 exited with code 3 after /,
      );
      assert.deepEqual(bad!.output, ["line 4", "line 5", "line 6", "line 7", "no answer on :8080"]);

      const slow = await watch(["app.service"], 300, ["/bin/sleep", "5"]);
      assert.match(slow!.problem, /did not finish within 300 ms/);
      const missing = await watch(["app.service"], 300, ["/nonexistent/check"]);
      assert.match(missing!.problem, /could not be started \(the program does not exist\)/);
    });
  },
});
