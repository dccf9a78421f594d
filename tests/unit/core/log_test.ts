import type { Verbosity } from "../../../lib/core/cli.ts";
import {
  createLog,
  formatBytes,
  formatProgress,
  type Log,
  MAX_MESSAGE_CHARS,
} from "../../../lib/core/log.ts";
import { assert } from "../../support/assert.ts";

/** A logger that records what it writes, on a clock the test moves. */
function recorder(
  options: { verbosity?: Verbosity; journal?: boolean; terminal?: boolean } = {},
): { log: Log; written: string[]; clock: { t: number } } {
  const written: string[] = [];
  const clock = { t: 1_000_000 };
  const log = createLog({
    verbosity: options.verbosity ?? "normal",
    journal: options.journal ?? false,
    terminal: options.terminal ?? false,
    write: (text) => written.push(text),
    now: () => clock.t,
  });
  return { log, written, clock };
}

function logEveryLevel(log: Log): void {
  log.error("e");
  log.warn("w");
  log.info("i");
  log.debug("d");
}

Deno.test("`createLog()` shows the levels that each verbosity allows", () => {
  const table: [Verbosity, string[]][] = [
    ["quiet", ["tako: error: e\n"]],
    ["normal", ["tako: error: e\n", "tako: warning: w\n", "tako: i\n"]],
    ["verbose", ["tako: error: e\n", "tako: warning: w\n", "tako: i\n", "tako: d\n"]],
  ];
  for (const [verbosity, expected] of table) {
    const { log, written } = recorder({ verbosity });
    logEveryLevel(log);
    assert.deepEqual(written, expected, verbosity);
  }
});

Deno.test("`createLog()` prefixes journald priorities only when writing to the journal", () => {
  const journal = recorder({ verbosity: "verbose", journal: true });
  logEveryLevel(journal.log);
  assert.deepEqual(journal.written, ["<3>e\n", "<4>w\n", "<6>i\n", "<7>d\n"]);

  const plain = recorder({ verbosity: "verbose", journal: false });
  logEveryLevel(plain.log);
  for (const line of plain.written) assert.doesNotMatch(line, /^<\d>/, line);
});

Deno.test("`createLog()` writes each record as one line, so journald keeps it whole", () => {
  for (const journal of [false, true]) {
    const { log, written } = recorder({ journal });
    log.error("first\nsecond\nthird");
    assert.equal(written.length, 1);
    assert.equal(written[0]!.split("\n").length, 2, JSON.stringify(written[0]));
    assert.ok(written[0]!.endsWith("first second third\n"), JSON.stringify(written[0]));
  }
});

Deno.test("`progress()` draws nothing unless stderr is a terminal", () => {
  for (const options of [{ terminal: false }, { terminal: false, journal: true }]) {
    const { log, written, clock } = recorder(options);
    for (let i = 0; i <= 10; i++) {
      clock.t += 1000;
      log.progress("image", i * 100, 1000);
    }
    log.endProgress();
    assert.deepEqual(written, [], JSON.stringify(options));
  }
});

Deno.test("`progress()` draws nothing when quiet", () => {
  const { log, written, clock } = recorder({ terminal: true, verbosity: "quiet" });
  log.progress("image", 0, 1000);
  clock.t += 1000;
  log.progress("image", 1000, 1000);
  log.endProgress();
  assert.deepEqual(written, []);
});

Deno.test("`progress()` redraws one line in place, at most every 100 ms, and always at the end", () => {
  const { log, written, clock } = recorder({ terminal: true });
  log.progress("image", 0, 1000);
  assert.equal(written.length, 1);
  assert.ok(written[0]!.startsWith("\r\x1b[K"), JSON.stringify(written[0]));
  assert.ok(!written[0]!.includes("\n"), "a progress line has no line feed");

  clock.t += 50;
  log.progress("image", 100, 1000);
  clock.t += 49;
  log.progress("image", 200, 1000);
  assert.equal(written.length, 1, "throttled within 100 ms of the last draw");

  clock.t += 1;
  log.progress("image", 300, 1000);
  assert.equal(written.length, 2, "drawn 100 ms after the last draw");
  assert.ok(written[1]!.includes("300 B / 1000 B 30%"), written[1]);

  clock.t += 1;
  log.progress("image", 1000, 1000);
  assert.equal(written.length, 3, "the final state is always drawn");
  assert.ok(written[2]!.includes("100%"), written[2]);
});

Deno.test("`endProgress()` clears a drawn line, and only a drawn one", () => {
  const { log, written } = recorder({ terminal: true });
  log.endProgress();
  assert.deepEqual(written, [], "nothing to clear");
  log.progress("image", 1, 10);
  log.endProgress();
  assert.equal(written.at(-1), "\r\x1b[K");
  const count = written.length;
  log.endProgress();
  assert.equal(written.length, count, "clearing twice writes nothing more");
});

Deno.test("a log record clears the progress line first, and the next progress draws at once", () => {
  const { log, written, clock } = recorder({ terminal: true });
  log.progress("image", 1, 10);
  log.warn("slow origin");
  assert.deepEqual(written.slice(1), ["\r\x1b[K", "tako: warning: slow origin\n"]);
  clock.t += 1;
  log.progress("image", 2, 10);
  assert.equal(written.length, 4, "redrawn without waiting for the throttle");
  assert.ok(written[3]!.startsWith("\r\x1b[Kimage 2 B / 10 B 20%"), written[3]);
});

Deno.test("`progress()` measures the rate from the first call after `endProgress()`", () => {
  const { log, written, clock } = recorder({ terminal: true });
  log.progress("one", 0, 1024);
  clock.t += 10_000;
  log.progress("one", 1024, 1024);
  log.endProgress();
  clock.t += 60_000;
  log.progress("two", 0, 2048);
  clock.t += 1000;
  log.progress("two", 1024, 2048);
  assert.ok(written.at(-1)!.includes("1.0 KiB/s ETA 0:01"), written.at(-1));
});

Deno.test("`formatBytes()` uses binary units with one decimal", () => {
  const table: [number, string][] = [
    [0, "0 B"],
    [1, "1 B"],
    [1023, "1023 B"],
    [1024, "1.0 KiB"],
    [1536, "1.5 KiB"],
    [1024 * 1024 - 1, "1.0 MiB"],
    [1024 * 1024, "1.0 MiB"],
    [10 * 1024 * 1024 + 512 * 1024, "10.5 MiB"],
    [1.5 * 1024 ** 3, "1.5 GiB"],
    [2 * 1024 ** 4, "2.0 TiB"],
    [2048 * 1024 ** 4, "2048.0 TiB"],
  ];
  for (const [bytes, text] of table) assert.equal(formatBytes(bytes), text, String(bytes));
});

Deno.test("`formatProgress()` shows bytes, total, percentage, rate and time left", () => {
  const table: [number, number, number, string][] = [
    [0, 1000, 0, "x 0 B / 1000 B 0% 0 B/s ETA --"],
    [500, 1000, 1000, "x 500 B / 1000 B 50% 500 B/s ETA 0:01"],
    [1024 * 1024, 100 * 1024 * 1024, 1000, "x 1.0 MiB / 100.0 MiB 1% 1.0 MiB/s ETA 1:39"],
    [999, 1000, 1000, "x 999 B / 1000 B 99% 999 B/s ETA 0:01"],
    [1000, 1000, 2000, "x 1000 B / 1000 B 100% 500 B/s ETA 0:00"],
    [0, 0, 10, "x 0 B / 0 B 100% 0 B/s ETA --"],
    [1, 7200, 1000, "x 1 B / 7.0 KiB 0% 1 B/s ETA 119:59"],
  ];
  for (const [received, total, elapsed, text] of table) {
    assert.equal(formatProgress("x", received, total, elapsed), text, text);
  }
});

Deno.test("`formatProgress()` never shows a negative time left", () => {
  assert.equal(formatProgress("x", 2000, 1000, 10_000), "x 2.0 KiB / 1000 B 200% 200 B/s ETA 0:00");
});

Deno.test("`formatProgress()` fits the line into the terminal's width, keeping the version", () => {
  const label = "app-foo 1.2.0";
  const full = formatProgress(label, 1024 * 1024, 100 * 1024 * 1024, 1000, 200);
  assert.equal(full, "app-foo 1.2.0 1.0 MiB / 100.0 MiB 1% 1.0 MiB/s ETA 1:39");
  for (let width = 1; width <= 80; width++) {
    const line = formatProgress(label, 1024 * 1024, 100 * 1024 * 1024, 1000, width);
    assert.ok(line.length <= Math.max(1, width - 1), `${width}: ${line}`);
    if (width >= 20) assert.ok(line.startsWith("app-foo 1.2.0 "), `${width}: ${line}`);
    if (width >= 8) assert.ok(line.includes(" 1%"), `${width}: ${line}`);
  }
  assert.equal(formatProgress(label, 1, 2, 1, 30), "app-foo 1.2.0 1 B / 2 B 50%");
  assert.equal(formatProgress("v".repeat(100), 1, 2, 1, 12), "vvvvvv… 50%");
});

Deno.test("a terminal log draws progress lines no wider than the terminal", () => {
  const out: string[] = [];
  let columns = 30;
  const log = createLog({
    verbosity: "normal",
    journal: false,
    terminal: true,
    write: (t) => out.push(t),
    now: () => 0,
    columns: () => columns,
  });
  log.progress("1.0.0", 0, 5000);
  columns = 12;
  log.progress("1.0.0", 5000, 5000);
  const lines = out.join("").split("\r\x1b[K").filter((l) => l !== "");
  assert.deepEqual(lines.map((l) => l.length <= 29), [true, true]);
  assert.ok(lines[1]!.length <= 11, lines[1]);
});

Deno.test("log lines are bounded even when a message is not", () => {
  const out: string[] = [];
  const log = createLog({
    verbosity: "normal",
    journal: false,
    terminal: false,
    write: (t) => out.push(t),
  });
  log.error("start " + "v".repeat(200_000) + " the cause");
  assert.ok(out[0]!.length < MAX_MESSAGE_CHARS + 40, String(out[0]!.length));
  assert.ok(out[0]!.startsWith("tako: error: start "));
  assert.ok(out[0]!.endsWith(" the cause\n"));
});
