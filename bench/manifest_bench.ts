/**
 * The 100,000-entry manifest case of `make bench`: verify the signature,
 * parse, and select the newest entry for four kinds of `Version=`, timed in
 * process (wall time of the three steps, the manifest bytes already in
 * memory), as `tako fetch` does them for a manifest it downloaded.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { SecretKey } from "../lib/core/keys.ts";
import { compatibleEntries, type Entry } from "../lib/core/manifest.ts";
import { signManifest, verifyManifest } from "../lib/core/manifest_signature.ts";
import { parsePattern } from "../lib/core/pattern.ts";
import { median, type Run } from "./measure.ts";

const ENTRIES = 100_000;
const TARGET_SECONDS = 0.15;
const PATTERNS = ["*", "2.*", "^3.4.0", "2.3 <= v < 5"];

/** Runs the case; returns its rows and how the slowest pattern's median did against the target. */
export async function benchManifest(key: SecretKey, runs: number) {
  const group = "100,000-entry manifest (in process)";
  console.log(`\n${group} …`);
  const entries: Entry[] = [];
  for (let i = 0; i < ENTRIES; i++) {
    const sha256 = createHash("sha256").update(String(i)).digest("hex");
    entries.push({
      version: `${1 + (i >> 14)}.${(i >> 7) & 127}.${i & 127}`,
      size: BigInt(i),
      sha256,
    });
  }
  const bytes = signManifest(entries, key);
  const rows = PATTERNS.map((text) => ({
    name: `verify + parse + select, Version=${text}`,
    runs: [] as Run[],
  }));
  for (let run = 0; run < Math.max(runs, 7); run++) {
    for (const [i, text] of PATTERNS.entries()) {
      const loadavg1 = Deno.loadavg()[0] ?? 0;
      const started = performance.now();
      const verified = verifyManifest(bytes, [key.publicKey], "bench manifest");
      const pattern = await parsePattern(text);
      const chosen = compatibleEntries(verified, pattern)[0];
      const seconds = (performance.now() - started) / 1000;
      if (chosen === undefined) throw new Error(`nothing matches ${text}`);
      rows[i]!.runs.push({
        seconds,
        rssKb: null,
        cpuSeconds: null,
        serverCpuSeconds: null,
        othersCpuSeconds: 0,
        loadavg1,
      });
    }
  }
  const medians = rows.map((r) => median(r.runs.map((x) => x.seconds)));
  const worst = Math.max(...medians);
  const slowest = PATTERNS[medians.indexOf(worst)];
  return {
    group,
    method: "in this process: `verifyManifest`, `parsePattern` and `compatibleEntries(...)[0]` " +
      "of a signed manifest in memory, wall time (performance.now); the others' CPU is not " +
      "measured for these rows",
    rows,
    target: `${group}: verify + parse + select ≤ ${TARGET_SECONDS * 1000} ms`,
    measured: `${(worst * 1000).toFixed(0)} ms (the slowest pattern's median, Version=${slowest})`,
    pass: worst <= TARGET_SECONDS,
    note: `the 100,000-entry manifest is ${(bytes.length / 1e6).toFixed(1)} MB`,
  };
}
