import { formatSpan, parseTimeSpan } from "../../../lib/core/timespan.ts";
import { assert } from "../../support/assert.ts";

Deno.test("`parseTimeSpan()` reads systemd.time(7) spans; a bare number is seconds", () => {
  const table: [string, number][] = [
    ["0", 0],
    ["15", 15_000],
    ["1.5", 1_500],
    ["30s", 30_000],
    ["30 s", 30_000],
    ["500ms", 500],
    ["250msec", 250],
    ["2min", 120_000],
    ["5m", 300_000],
    ["1h 30min", 5_400_000],
    ["1h30min", 5_400_000],
    ["2 hours", 7_200_000],
    ["1d", 86_400_000],
    ["1w 1d", 691_200_000],
    ["1.5s", 1_500],
    ["  10s\t", 10_000],
    ["1500us", 2],
  ];
  for (const [text, ms] of table) assert.equal(parseTimeSpan(text), ms, text);
});

Deno.test("`parseTimeSpan()` rejects what is not a span, or more than a year", () => {
  const table = [
    "",
    " ",
    "s",
    "-5s",
    "+5s",
    "5 parsecs",
    "1e3",
    "1,5s",
    "0x10",
    "5S",
    "1.s",
    ".5s",
    "infinity",
    "10s junk",
    "367d",
    "1h -30min",
  ];
  for (const text of table) assert.equal(parseTimeSpan(text), undefined, text);
});

Deno.test("`formatSpan()` writes spans for messages", () => {
  const table: [number, string][] = [
    [0, "0 ms"],
    [350, "350 ms"],
    [1_234, "1.2 s"],
    [15_000, "15 s"],
    [125_000, "2 min 5 s"],
    [120_000, "2 min"],
    [5_400_000, "1 h 30 min"],
    [90_000_000, "1 d 1 h"],
  ];
  for (const [ms, text] of table) assert.equal(formatSpan(ms), text, String(ms));
});
