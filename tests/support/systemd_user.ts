/**
 * A real systemd user manager for one test, in a private mount namespace
 * (the recipe of the project's Deno notes; never a system manager): its own
 * unit directory, runtime directory and tmpfs /run, reached by
 * `systemctl --user` through `XDG_RUNTIME_DIR`. Units run shell-script images
 * (see {@link imageScript}) that record their version and either sleep or
 * crash. Disposing stops every unit and kills the manager.
 *
 * @example
 * ```ts
 * await using manager = await startUserManager();
 * await manager.writeUnit("app.service", appUnit({ dest, record: manager.record, slice: manager.slice }));
 * await manager.systemctl("start", "app.service");
 * ```
 *
 * @module
 */
import { runTako, type TakoResult } from "../../dev/run_tako.ts";
import { assert } from "./assert.ts";
import { type FetchSetup, type ImageSpec, withSetup } from "./publish.ts";

const SYSTEMD = "/lib/systemd/systemd";
const TOOLS = [SYSTEMD, "/usr/bin/systemctl", "/usr/bin/unshare"];

/**
 * Why the real-systemd tests cannot run here (systemd's binaries are absent),
 * or undefined when they can. Tests pass it to `Deno.test({ ignore })` and
 * print it once.
 */
export const SYSTEMD_MISSING: string | undefined = (() => {
  const missing = TOOLS.filter((path) => {
    try {
      return !Deno.statSync(path).isFile;
    } catch {
      return true;
    }
  });
  return missing.length === 0
    ? undefined
    : `skipped: systemd's binaries are absent (${missing.join(", ")})`;
})();

if (SYSTEMD_MISSING !== undefined) console.warn(`real-systemd tests ${SYSTEMD_MISSING}`);

/** A running user manager. */
export interface UserManager extends AsyncDisposable {
  /** A private directory for the test (unit files, runtime directory, records). */
  readonly dir: string;
  /** The environment that points `systemctl --user` (and Tako) at this manager. */
  readonly env: Record<string, string>;
  /** The file the images append "<version> <pid>" lines to when they start. */
  readonly record: string;
  /**
   * This manager's own slice. Every user manager here shares the machine's
   * cgroup tree, so units of the same name in two managers would share a
   * cgroup (and stopping one would stop the other) unless each puts its units
   * in a slice of its own.
   */
  readonly slice: string;
  /** Writes a unit file and reloads the manager. */
  writeUnit(name: string, text: string): Promise<void>;
  /** Runs `systemctl --user <args>`; throws with its stderr when it fails. */
  systemctl(...args: string[]): Promise<string>;
  /** The unit's properties (ActiveState, SubState, Result, MainPID, NRestarts, ...). */
  show(unit: string): Promise<Record<string, string>>;
  /** The versions the images recorded at each start, oldest first, with their PIDs. */
  starts(): Promise<{ version: string; pid: number }[]>;
  /** Waits until `predicate` holds for the unit's properties; fails after `timeoutMs`. */
  waitFor(
    unit: string,
    predicate: (props: Record<string, string>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, string>>;
}

/** What a test unit runs and how systemd treats it. */
export interface AppUnitSpec {
  /** The destination whose `latest` the unit runs (with /bin/sh, as the image is 0444). */
  readonly dest: string;
  readonly record: string;
  /** The manager's slice ({@link UserManager.slice}). */
  readonly slice: string;
  /** Type= (default simple). */
  readonly type?: "simple" | "exec" | "notify" | "oneshot";
  /** Restart= of systemd itself (default no). */
  readonly restart?: "no" | "on-failure" | "always";
}

/** A unit file running `dest/latest`; no start rate limit, so tests can restart at will. */
export function appUnit(spec: AppUnitSpec): string {
  return [
    "[Unit]",
    "DefaultDependencies=no",
    "StartLimitIntervalSec=0",
    "[Service]",
    `Slice=${spec.slice}`,
    `Type=${spec.type ?? "simple"}`,
    `Restart=${spec.restart ?? "no"}`,
    "RestartSec=100ms",
    `Environment=TAKO_TEST_RECORD=${spec.record}`,
    `ExecStart=/bin/sh ${spec.dest}/latest`,
    "",
  ].join("\n");
}

/**
 * A shell-script image: it appends "<version> <pid>" to $TAKO_TEST_RECORD,
 * then sleeps as its own main process (5 minutes: a test killed before its
 * cleanup leaves nothing behind for long) or, with `crashAfterMs`, exits 3
 * after that long.
 */
export function imageScript(version: string, options: { crashAfterMs?: number } = {}): string {
  const tail = options.crashAfterMs === undefined
    ? "exec sleep 300"
    : `sleep ${options.crashAfterMs / 1000}\nexit 3`;
  return `#!/bin/sh\n# test image ${version}\necho "${version} $$" >> "$TAKO_TEST_RECORD"\n${tail}\n`;
}

const decoder = new TextDecoder();

/** Starts a user manager in a new temporary directory; waits until systemctl reaches it. */
export async function startUserManager(): Promise<UserManager> {
  if (SYSTEMD_MISSING !== undefined) throw new Error(SYSTEMD_MISSING);
  const dir = await Deno.makeTempDir({ prefix: "tako-systemd-user-" });
  const units = `${dir}/units`;
  const runtime = `${dir}/run`;
  const home = `${dir}/home`;
  const record = `${dir}/starts`;
  // No '-' in the name: in a slice name it would mean nesting.
  const slice = `takotest${crypto.randomUUID().replaceAll("-", "")}.slice`;
  await Deno.mkdir(units);
  await Deno.mkdir(runtime, { mode: 0o700 });
  await Deno.mkdir(home);
  await Deno.writeTextFile(`${units}/test.target`, "[Unit]\nDefaultDependencies=no\n");
  // SYSTEMD_UNIT_PATH is exactly one directory: never a trailing ':' (that adds the host's units).
  const child = new Deno.Command("/usr/bin/unshare", {
    args: [
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      'mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system && exec "$0" --user --unit=test.target',
      SYSTEMD,
    ],
    env: { XDG_RUNTIME_DIR: runtime, SYSTEMD_UNIT_PATH: units, HOME: home, PATH: "/usr/bin:/bin" },
    clearEnv: true,
    detached: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  // Test modules share one process and some change PATH for a while: name PATH here.
  const env = { XDG_RUNTIME_DIR: runtime, PATH: "/usr/bin:/bin" };
  const systemctl = async (...args: string[]): Promise<string> => {
    const out = await new Deno.Command("/usr/bin/systemctl", {
      args: ["--user", ...args],
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(`systemctl --user ${args.join(" ")}: ${decoder.decode(out.stderr).trim()}`);
    }
    return decoder.decode(out.stdout);
  };
  const show = async (unit: string): Promise<Record<string, string>> => {
    const text = await systemctl(
      "show",
      "-p",
      "ActiveState,SubState,Result,MainPID,NRestarts,LoadState",
      unit,
    );
    return Object.fromEntries(
      text.trim().split("\n").map((
        line,
      ) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
    );
  };
  const pids = new Set<number>();
  const dispose = async () => {
    // Units' processes are not in the manager's process group: stop them first.
    await systemctl("stop", "*.service").catch(() => {});
    // Stopping the slice removes its cgroup from the machine's tree.
    await systemctl("stop", slice).catch(() => {});
    for (const pid of pids) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Gone already.
      }
    }
    try {
      Deno.kill(-child.pid, "SIGKILL");
    } catch {
      // Gone already.
    }
    await child.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    await waitUntil(
      async () => {
        const info = await Deno.stat(`${runtime}/systemd/private`).catch(() => undefined);
        return info !== undefined &&
          await systemctl("show", "-p", "Version").then(() => true, () => false);
      },
      10_000,
      "the user manager's socket",
    );
  } catch (e) {
    await dispose();
    throw e;
  }
  const manager: UserManager = {
    dir,
    env,
    record,
    slice,
    async writeUnit(name, text) {
      await Deno.writeTextFile(`${units}/${name}`, text);
      await systemctl("daemon-reload");
    },
    systemctl,
    show,
    async starts() {
      const text = await Deno.readTextFile(record).catch(() => "");
      const list = text.split("\n").filter((l) => l !== "").map((line) => {
        const [version, pid] = line.split(" ");
        return { version: version!, pid: Number(pid) };
      });
      for (const { pid } of list) pids.add(pid);
      return list;
    },
    async waitFor(unit, predicate, timeoutMs = 5000) {
      let props: Record<string, string> = {};
      await waitUntil(
        async () => predicate(props = await show(unit)),
        timeoutMs,
        `${unit} (${JSON.stringify(props)})`,
      );
      return props;
    },
    async [Symbol.asyncDispose]() {
      await manager.starts().catch(() => []);
      await dispose();
    },
  };
  return manager;
}

async function waitUntil(
  condition: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!await condition()) {
    assert.ok(performance.now() < deadline, `timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 25));
  }
}

/** A fetch setup (test origin, config) with a real user manager running `app.service` on `latest`. */
export interface UnitSetup {
  readonly fetch: FetchSetup;
  readonly manager: UserManager;
  /** Runs `tako <args>` against this manager (UnitScope=user reaches it). */
  tako(...args: string[]): Promise<TakoResult>;
  /** Writes the config: Restart=app.service, UnitScope=user, HealthCheckSec=1s, as `extra` lines override. */
  writeConfig(...extra: string[]): Promise<void>;
  /** The version the running app.service recorded, or undefined when it is not running. */
  running(): Promise<{ version: string; pid: number } | undefined>;
}

/**
 * Publishes `images`, starts a user manager with `app.service` (as `unit`
 * says) running the destination's `latest`, writes the config, and runs `fn`.
 */
export async function withUnitSetup(
  images: readonly ImageSpec[],
  unit: Partial<AppUnitSpec>,
  fn: (setup: UnitSetup) => Promise<void>,
): Promise<void> {
  await withSetup(images, async (s) => {
    await using manager = await startUserManager();
    await manager.writeUnit(
      "app.service",
      appUnit({ dest: s.dest, record: manager.record, slice: manager.slice, ...unit }),
    );
    const setup: UnitSetup = {
      fetch: s,
      manager,
      tako: (...args) => runTako(args, { env: manager.env, cwd: s.dir }),
      async writeConfig(...extra) {
        const keys = extra.map((line) => line.slice(0, line.indexOf("=") + 1));
        const defaults = ["UnitScope=user", "HealthCheckSec=1s"].filter((line) =>
          !keys.some((key) => line.startsWith(key))
        );
        await s.writeConfig({ restart: ["app.service"], extra: [...defaults, ...extra] });
      },
      async running() {
        const props = await manager.show("app.service");
        if (props.ActiveState !== "active") return undefined;
        const pid = Number(props.MainPID);
        // The image records its start a moment after systemd forked it.
        let start: { version: string; pid: number } | undefined;
        await waitUntil(
          async () => {
            start = (await manager.starts()).findLast((s) => s.pid === pid);
            return start !== undefined;
          },
          2000,
          `the start of PID ${pid} in ${manager.record}`,
        );
        return start;
      },
    };
    await setup.writeConfig();
    await fn(setup);
  });
}
