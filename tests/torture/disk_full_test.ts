/**
 * A full disk and I/O errors (SPEC §6 invariants "whatever fails"):
 *
 * - ENOSPC at the K-th write into the destination, for every K, injected by
 *   faultfs the way a filling disk behaves: a short count first, then ENOSPC
 *   for every later write;
 * - EIO at the K-th flush (fdatasync or fsync), for every K;
 * - a real full disk: a small tmpfs holding the destination, filled so that
 *   0, 4 KiB, 8 KiB, … are left free, sweeping past everything a fetch writes.
 *
 * Every failure is a clean runtime error (exit 1) that leaves the invariants
 * intact and no temporary; the next run, with space back, succeeds.
 */
import { assert } from "../support/assert.ts";
import {
  assertOutcome,
  checkInvariants,
  type FetchSetup,
  type ImageSpec,
  latestDigest,
  sha256Hex,
  withSetup,
} from "../support/publish.ts";
import {
  assertCleanFailure,
  copyTree,
  describeStep,
  HAS_CC,
  runFaulted,
  scaled,
  smokeSample,
  temporariesIn,
  TORTURE,
} from "./support.ts";

const BIG: Uint8Array = (() => {
  const bytes = new Uint8Array(TORTURE ? 9 * 1024 * 1024 : 64 * 1024 + 99);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 13 + (i >> 9)) & 0xff;
  return bytes;
})();
const V1: ImageSpec = { version: "1.0.0", content: "image one\n" };
const V2: ImageSpec = { version: "2.0.0", content: BIG };
const V1_SHA = sha256Hex("image one\n");
const V2_SHA = sha256Hex(BIG);

interface Start {
  readonly name: string;
  /** Brings the destination to its starting state; the origin then serves V1 and V2. */
  prepare(s: FetchSetup): Promise<void>;
  /** Where latest points before the run (undefined: nowhere). */
  readonly latest: string | undefined;
}

const STARTS: readonly Start[] = [
  { name: "a first fetch", prepare: async () => {}, latest: undefined },
  {
    name: "an update",
    async prepare(s) {
      await s.publish([V1]);
      assertOutcome(await s.fetch(), 0);
      await s.publish([V1, V2]);
    },
    latest: V1_SHA,
  },
];

/** Injects `fault` at each numbered step of its kind and checks the outcome. */
async function sweepFaults(
  start: Start,
  kind: "write" | "sync",
  action: "enospc" | "eio",
  cause: RegExp,
): Promise<number> {
  let points = 0;
  await withSetup([V1, V2], async (s) => {
    await start.prepare(s);
    const template = `${s.dir}/template`;
    const hasBase = await Deno.lstat(s.dest).then(() => true, () => false);
    if (hasBase) await copyTree(s.dest, template);
    const reset = async () => {
      await Deno.remove(s.dest, { recursive: true }).catch(() => {});
      if (hasBase) await copyTree(template, s.dest);
    };
    await reset();
    const counted = await runFaulted(["fetch", s.config], s.dest, {
      env: s.systemctl.env,
      cwd: s.dir,
      fault: { at: 0, action, ops: kind },
    });
    assert.equal(counted.code, 0, counted.stderr);
    assert.ok(counted.steps.length >= 2, `only ${counted.steps.length} ${kind} steps`);
    for (const planned of smokeSample(counted.steps, 4)) {
      await reset();
      const faulted = await runFaulted(["fetch", s.config], s.dest, {
        env: s.systemctl.env,
        cwd: s.dir,
        fault: { at: planned.n, action, ops: kind },
      });
      const where = describeStep(planned, s.dest);
      try {
        assertCleanFailure(faulted, [1]);
        assert.match(faulted.stderr, cause);
        // A partial download may stay for the next run to resume; nothing else may.
        assert.deepEqual(await temporariesIn(s.dest, true), []);
        await checkInvariants(s.dest);
        const latest = await latestDigest(s.dest);
        assert.ok(latest === start.latest || latest === V2_SHA, `latest is ${latest}`);
        assertOutcome(await s.fetch(), 0);
        await checkInvariants(s.dest);
        assert.deepEqual(await temporariesIn(s.dest), []);
        assert.equal(await latestDigest(s.dest), V2_SHA);
      } catch (e) {
        throw new Error(
          `${action} at ${kind} step ${where}: ${e instanceof Error ? e.message : e}`,
        );
      }
      points++;
    }
  });
  return points;
}

/** make test sweeps a sample of the steps (smokeSample), make torture every one. */
const SWEPT = TORTURE ? "every" : "the first, the last and 2 other steps: each";

for (const start of STARTS) {
  Deno.test({
    name:
      `ENOSPC at ${SWEPT} write of ${start.name} (a short count first) fails cleanly and the next run succeeds`,
    ignore: !HAS_CC,
    async fn() {
      const points = await sweepFaults(
        start,
        "write",
        "enospc",
        /no space left on device|disk is full/i,
      );
      console.log(`${start.name}: ${points} writes, each failed with ENOSPC`);
    },
  });
  Deno.test({
    name: `EIO at ${SWEPT} flush of ${start.name} fails cleanly and the next run succeeds`,
    // make test: the first fetch only; make torture: both.
    ignore: !HAS_CC || (!TORTURE && start !== STARTS[0]),
    async fn() {
      const points = await sweepFaults(start, "sync", "eio", /input\/output error/i);
      console.log(`${start.name}: ${points} flushes, each failed with EIO`);
    },
  });
}

// ---------------------------------------------------------------------------
// A real full disk: tmpfs

/** Whether this process may mount a tmpfs (root with CAP_SYS_ADMIN). */
function canMountTmpfs(): boolean {
  let dir: string | undefined;
  try {
    dir = Deno.makeTempDirSync({ prefix: "tako-mount-probe-" });
    const mounted = new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir],
      stdout: "null",
      stderr: "null",
    }).outputSync().success;
    if (mounted) new Deno.Command("umount", { args: [dir] }).outputSync();
    return mounted;
  } catch {
    return false;
  } finally {
    if (dir !== undefined) Deno.removeSync(dir, { recursive: true });
  }
}

const PAGE = 4096;
/** The tmpfs sweep's image: 256 KiB, so a page-by-page sweep of free space stays short. */
const TMPFS_IMAGE: ImageSpec = {
  version: "2.0.0",
  content: new Uint8Array(256 * 1024 - 5).map((_, i) => (i * 29 + (i >> 8)) & 0xff),
};
const TMPFS_SHA = sha256Hex(TMPFS_IMAGE.content);

async function run(program: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(program, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`${program} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

async function freeBytes(dir: string): Promise<number> {
  const text = await run("df", "-B1", "--output=avail", dir);
  return Number(text.trim().split("\n").at(-1));
}

Deno.test({
  name: `a real full disk (tmpfs) at every ${
    scaled(64, 4)
  } KiB of free space fails cleanly and the next run succeeds`,
  ignore: !canMountTmpfs(),
  async fn() {
    await withSetup([V1, TMPFS_IMAGE], async (s) => {
      const fs = `${s.dir}/fs`;
      const imageSize = TMPFS_IMAGE.content.length;
      await Deno.mkdir(fs);
      const size = imageSize + 64 * PAGE;
      await run(
        "mount",
        "-t",
        "tmpfs",
        "-o",
        `size=${Math.ceil(size / PAGE) * PAGE},mode=755`,
        "tmpfs",
        fs,
      );
      try {
        const dest = `${fs}/dest`;
        await s.writeConfig({ destination: dest });
        const total = await freeBytes(fs);
        // Up to enough free space for everything plus a margin, a page at a time (make test: 16 pages).
        const step = scaled(16, 1) * PAGE;
        const needed = imageSize + 8 * PAGE;
        let failures = 0;
        let successes = 0;
        const sweep = Array.from({ length: Math.floor(needed / step) + 1 }, (_, i) => i * step);
        for (const free of [...sweep, needed]) {
          await Deno.remove(dest, { recursive: true }).catch(() => {});
          const filler = `${fs}/filler`;
          await Deno.remove(filler).catch(() => {});
          if (total - free > 0) {
            await run("fallocate", "-l", String(total - free), filler);
          }
          const result = await s.fetch();
          const context = `${free} bytes free`;
          if (result.code === 0) {
            successes++;
          } else {
            failures++;
            assertCleanFailure(result, [1]);
            assert.match(result.stderr, /no space left on device|disk is full/i, context);
          }
          await checkInvariants(dest);
          assert.deepEqual(await temporariesIn(dest, true), [], context);
          // Space back: the next run succeeds.
          await Deno.remove(filler).catch(() => {});
          assertOutcome(await s.fetch(), 0);
          await checkInvariants(dest);
          assert.deepEqual(await temporariesIn(dest), [], context);
          assert.equal(await latestDigest(dest), TMPFS_SHA, context);
        }
        console.log(`tmpfs: ${failures} runs failed for lack of space, ${successes} fitted`);
        assert.ok(
          failures > 0 && successes > 0,
          "the sweep must cross the point where the fetch fits",
        );
      } finally {
        await run("umount", fs);
      }
    });
  },
});
