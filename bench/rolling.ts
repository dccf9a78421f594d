/**
 * Throughput of the client's block match (lib/core/block_match.ts), in
 * process, on synthetic data: `deno run -A bench/rolling.ts [MiB]`.
 *
 * - shifted: the new image is the old one with 100 bytes inserted every
 *   8 MiB (a packed format after a change): runs of matches, a roll to
 *   resynchronise after each insertion;
 * - unrelated: nothing matches, every byte is rolled and probed (the worst
 *   case, the speed over deleted or changed regions of a local image);
 * - index: building the index (the publisher's `tako store`).
 *
 * Numbers depend on the machine and its load; docs/delta.md has a run.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { BlockMatcher } from "../lib/core/block_match.ts";
import { IndexBuilder } from "../lib/core/chunk_index.ts";
import { parseIndex } from "../lib/core/index_reader.ts";

const MiB = 1024 * 1024;
const size = Number(Deno.args[0] ?? 256) * MiB;

function random(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
  return out;
}

function indexOf(image: Uint8Array) {
  const sha256 = createHash("sha256").update(image).digest("hex");
  const builder = new IndexBuilder();
  for (let at = 0; at < image.length; at += 4 * MiB) builder.push(image.subarray(at, at + 4 * MiB));
  return parseIndex(builder.finish(sha256), image.length, sha256, "bench");
}

/** Scans `local` through 8 MiB buffers as lib/shell/local_scan.ts does; returns MiB/s and blocks missing. */
function scan(matcher: BlockMatcher, local: Uint8Array): { rate: number; missing: number } {
  const started = performance.now();
  matcher.begin(0, local.length);
  const window = 8 * MiB;
  let base = 0;
  let from = 0;
  for (;;) {
    const buffer = local.subarray(base, Math.min(local.length, base + window));
    from = matcher.scan(buffer, base, from);
    if (base + buffer.length >= local.length || matcher.missing === 0) break;
    base = matcher.keepFrom(from);
  }
  return {
    rate: local.length / MiB / ((performance.now() - started) / 1000),
    missing: matcher.missing,
  };
}

const old = random(size);
const pieces: Uint8Array[] = [];
for (let at = 0; at < size; at += 8 * MiB) pieces.push(old.subarray(at, at + 8 * MiB), random(100));
const shifted = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
pieces.reduce((at, p) => (shifted.set(p, at), at + p.length), 0);

let started = performance.now();
const index = indexOf(shifted);
const indexRate = shifted.length / MiB / ((performance.now() - started) / 1000);
const runs = scan(new BlockMatcher(index), old);
started = performance.now();
const unrelated = scan(new BlockMatcher(index), random(size / 4));
console.log(`index:     ${indexRate.toFixed(0)} MiB/s (${index.count} blocks)`);
console.log(
  `shifted:   ${runs.rate.toFixed(0)} MiB/s, ${runs.missing} of ${index.count} blocks missing`,
);
console.log(`unrelated: ${unrelated.rate.toFixed(0)} MiB/s (every byte rolled)`);
