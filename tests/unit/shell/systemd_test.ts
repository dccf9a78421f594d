import { restartArgs, systemctl } from "../../../lib/shell/systemd.ts";
import { assert, assertRejectsTako } from "../../support/assert.ts";

Deno.test("`restartArgs()` puts `--` before the units, so none is read as an option", () => {
  const table: [string[], string[]][] = [
    [["a.service"], ["restart", "--", "a.service"]],
    [["a.service", "b.service"], ["restart", "--", "a.service", "b.service"]],
    [["--force", "app@1.service"], ["restart", "--", "--force", "app@1.service"]],
  ];
  for (const [units, args] of table) assert.deepEqual(restartArgs(units), args);
});

/** What a stand-in `systemctl` saw: its argv, one element per line, for each call. */
interface StandIn {
  readonly dir: string;
  calls(): Promise<string[]>;
}

/**
 * Runs `fn` with an executable `systemctl` first on PATH that records its
 * arguments and exits with `exitCode` after printing `stderrText`.
 */
async function withStandIn(
  options: { exitCode: number; stderrText?: string },
  fn: (standIn: StandIn) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tako-systemd-" });
  const log = `${dir}/calls`;
  const script = [
    "#!/bin/sh",
    `for arg in "$@"; do printf '%s\\n' "$arg" >> '${log}'; done`,
    `printf '%s\\n' '---' >> '${log}'`,
    ...(options.stderrText === undefined ? [] : [`printf '%s' '${options.stderrText}' >&2`]),
    `exit ${options.exitCode}`,
    "",
  ].join("\n");
  await Deno.writeTextFile(`${dir}/systemctl`, script, { mode: 0o755 });
  const oldPath = Deno.env.get("PATH");
  Deno.env.set("PATH", oldPath === undefined ? dir : `${dir}:${oldPath}`);
  try {
    await fn({
      dir,
      async calls() {
        const text = await Deno.readTextFile(log).catch(() => "");
        return text.split("---\n").filter((c) => c !== "").map((c) => c.slice(0, -1));
      },
    });
  } finally {
    if (oldPath === undefined) Deno.env.delete("PATH");
    else Deno.env.set("PATH", oldPath);
    await Deno.remove(dir, { recursive: true });
  }
}

// The tests below change PATH for the whole process; tests of one file run one at a time.
Deno.test("`systemctl.restart()` runs `systemctl restart -- <units>` in one call", async () => {
  await withStandIn({ exitCode: 0 }, async (standIn) => {
    await systemctl.restart(["a.service", "b.service"]);
    assert.deepEqual(await standIn.calls(), ["restart\n--\na.service\nb.service"]);
  });
});

Deno.test("`systemctl.restart()` passes unit names with spaces or dashes as single arguments", async () => {
  await withStandIn({ exitCode: 0 }, async (standIn) => {
    await systemctl.restart(["-x.service", "app@a b.service"]);
    assert.deepEqual(await standIn.calls(), ["restart\n--\n-x.service\napp@a b.service"]);
  });
});

Deno.test("`systemctl.restart()` failing is a runtime error naming the units and the exit code", async () => {
  await withStandIn({ exitCode: 5 }, async (standIn) => {
    const e = await assertRejectsTako(
      () => systemctl.restart(["a.service", "b.service"]),
      "runtime",
      "a.service b.service",
      "exit code 5",
    );
    assert.equal(e.exitCode, 1);
    assert.equal((await standIn.calls()).length, 1, "called once, not retried");
  });
});

Deno.test("`systemctl.restart()` reports the first line of systemctl's stderr, escaped", async () => {
  await withStandIn(
    { exitCode: 1, stderrText: "Unit a.service not found.\x1b[2J\nsecond line\n" },
    async () => {
      const e = await assertRejectsTako(
        () => systemctl.restart(["a.service"]),
        "runtime",
        "a.service",
        "exit code 1",
        "Unit a.service not found.",
      );
      assert.ok(!e.message.includes("second line"), e.message);
      // deno-lint-ignore no-control-regex -- looking for control characters is the point
      assert.ok(!/[\x00-\x1f]/.test(e.message), JSON.stringify(e.message));
    },
  );
});

Deno.test("`systemctl.restart()` without systemctl on PATH is a runtime error saying so", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tako-systemd-" });
  const oldPath = Deno.env.get("PATH");
  Deno.env.set("PATH", dir);
  try {
    await assertRejectsTako(
      () => systemctl.restart(["a.service"]),
      "runtime",
      "a.service",
      "systemctl was not found",
    );
  } finally {
    if (oldPath === undefined) Deno.env.delete("PATH");
    else Deno.env.set("PATH", oldPath);
    await Deno.remove(dir, { recursive: true });
  }
});
