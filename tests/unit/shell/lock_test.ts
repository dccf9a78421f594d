import { join } from "node:path";
import { acquireLock } from "../../../lib/shell/lock.ts";
import { assert, assertRejectsTako } from "../../support/assert.ts";
import { exists, withDestination } from "./_files.ts";

// ---------------------------------------------------------------------------
// acquireLock

Deno.test("`acquireLock()` makes a second acquire wait until the first is released", async () => {
  await withDestination({}, async (dir) => {
    const first = await acquireLock(dir, 0);
    let secondHeld = false;
    const second = acquireLock(dir, 5000).then((lock) => {
      secondHeld = true;
      return lock;
    });
    await new Promise((resolve) => setTimeout(resolve, 250));
    assert.equal(secondHeld, false, "the second acquire waits while the first holds the lock");
    first.release();
    (await second).release();
    assert.ok(secondHeld);
  });
});

Deno.test("`acquireLock()` gives up after waitMs with a busy error", async () => {
  await withDestination({}, async (dir) => {
    const held = await acquireLock(dir, 0);
    try {
      const started = Date.now();
      const error = await assertRejectsTako(
        () => acquireLock(dir, 300),
        "runtime",
        `${dir} is busy: another tako run holds ${join(dir, ".lock")}`,
      );
      assert.equal(error.tag, "busy");
      assert.ok(Date.now() - started >= 290, "it waited before giving up");
    } finally {
      held.release();
    }
    (await acquireLock(dir, 0)).release();
  });
});

Deno.test("`acquireLock()` conflicts with a lock held by another process", async () => {
  await withDestination({}, async (dir) => {
    const code = `
      const f = await Deno.open(${
      JSON.stringify(join(dir, ".lock"))
    }, { read: true, write: true, create: true });
      await f.lock(true);
      console.log("locked");
      for await (const _ of Deno.stdin.readable) { /* hold until stdin closes */ }
    `;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", code],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
      env: { NO_COLOR: "1" },
    }).spawn();
    const reader = child.stdout.getReader();
    try {
      const { value } = await reader.read();
      assert.match(new TextDecoder().decode(value), /locked/);
      const error = await assertRejectsTako(() => acquireLock(dir, 200), "runtime", "busy");
      assert.equal(error.tag, "busy");
      const waiting = acquireLock(dir, 10_000);
      await child.stdin.close();
      (await waiting).release();
    } finally {
      reader.releaseLock();
      await child.stdout.cancel();
      await child.status;
    }
  });
});

Deno.test("`acquireLock()` release is idempotent", async () => {
  await withDestination({}, async (dir) => {
    const lock = await acquireLock(dir, 0);
    lock.release();
    lock.release();
    (await acquireLock(dir, 0)).release();
  });
});

Deno.test("`acquireLock()` is released at the end of a `using` scope", async () => {
  await withDestination({}, async (dir) => {
    {
      using _lock = await acquireLock(dir, 0);
      await assertRejectsTako(() => acquireLock(dir, 0), "runtime", "busy");
    }
    (await acquireLock(dir, 0)).release();
  });
});

Deno.test("`acquireLock()` refuses a .lock planted as a symbolic link", async () => {
  await withDestination({}, async (dir) => {
    const outside = join(dir, "..", "outside-lock");
    await Deno.symlink(outside, join(dir, ".lock"));
    await assertRejectsTako(() => acquireLock(dir, 0), "runtime", join(dir, ".lock"), "symbolic");
    assert.equal(await exists(outside), false, "no file is created outside the destination");
  });
});

Deno.test("`acquireLock()` creates the lock file 0600 and narrows a wider one", async () => {
  await withDestination({}, async (dir) => {
    const path = join(dir, ".lock");
    (await acquireLock(dir, 0)).release();
    assert.equal((await Deno.lstat(path)).mode! & 0o777, 0o600);
    // An older Tako made it 0644: any user could open it and hold the lock.
    await Deno.chmod(path, 0o644);
    (await acquireLock(dir, 0)).release();
    assert.equal((await Deno.lstat(path)).mode! & 0o777, 0o600);
  });
});

Deno.test("`acquireLock()` says at once that it waits, once, and not when the lock is free", async () => {
  await withDestination({}, async (dir) => {
    const told: string[] = [];
    (await acquireLock(dir, 5000, (m) => told.push(m))).release();
    assert.equal(told.length, 0);
    const held = await acquireLock(dir, 0);
    const started = Date.now();
    const waiting = acquireLock(dir, 5000, (m) => told.push(`${Date.now() - started} ${m}`));
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(told.length, 1, told.join("\n"));
    assert.ok(Number(told[0]!.split(" ")[0]) < 200, told[0]);
    assert.ok(told[0]!.includes(`waiting for another tako run, which holds ${join(dir, ".lock")}`));
    assert.ok(told[0]!.includes("(at most 5 s)"), told[0]);
    held.release();
    (await waiting).release();
    assert.equal(told.length, 1);
  });
});
