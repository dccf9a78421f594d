/**
 * Kill -9 at every file-system step of `tako fetch` (SPEC §6 invariants "wherever
 * the process is killed"). faultfs numbers each step under the destination
 * (open, write, flush, chmod, rename, symlink, unlink, mkdir) and kills the
 * process right after step K (and, under `make torture`, right before it).
 * After every kill: the invariants hold (temporaries aside), and the next run
 * succeeds, leaves no temporary, and has restarted the units that must see the
 * new `latest`.
 *
 * Debian's strace is used twice: as the independent witness that faultfs sees
 * every file-system step a run makes, and for a few kills injected by strace
 * itself (`-e inject=…:signal=SIGKILL:when=1`).
 */
import { MAIN, takoFlags } from "../../dev/run_tako.ts";
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
  checkInvariantsAllowingTemporaries,
  copyTree,
  describeStep,
  type FaultAction,
  HAS_CC,
  HAS_STRACE,
  runFaulted,
  type Step,
  temporariesIn,
  TORTURE,
} from "./support.ts";

/**
 * Under `make torture`, an image larger than two of the copy pump's 4 MiB
 * buffers, so its download takes several writes; under `make test` a small one (one write), to keep it quick.
 */
const BIG: Uint8Array = (() => {
  const bytes = new Uint8Array(TORTURE ? 9 * 1024 * 1024 + 123 : 64 * 1024 + 123);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + (i >> 12)) & 0xff;
  return bytes;
})();
const V1: ImageSpec = { version: "1.0.0", content: "image one\n" };
const V2: ImageSpec = { version: "2.0.0", content: BIG };
const V2_SHA = sha256Hex(BIG);

/** Where a scenario starts: the destination as a killed run finds it. */
interface Scenario {
  readonly name: string;
  /** Which steps `make test` kills at (every step under `make torture`); none: the scenario is torture-only. */
  readonly light?: (step: Step) => boolean;
  /** An image the scenario damages on purpose: the checks treat its damage as there before the run. */
  readonly damaged?: { readonly sha256: string; readonly content: Uint8Array };
  /** Brings the destination to the starting state; the origin then serves V1 and V2. */
  prepare(s: FetchSetup): Promise<void>;
}

const SCENARIOS: readonly Scenario[] = [
  {
    name: "a first fetch into an empty destination",
    // make test kills only after the steps that change a name (the state written before
    // latest moves, the swap itself); make torture kills at every step.
    light: (step) => /^(unlink|rename|symlink|mkdir)/.test(step.op),
    prepare: async () => {},
  },
  {
    name: "an update from 1.0.0 to 2.0.0",
    async prepare(s) {
      await s.publish([V1]);
      assertOutcome(await s.fetch(), 0);
      await s.publish([V1, V2]);
    },
  },
  {
    name: "a repair of a damaged image, with stale temporaries",
    light: (step) => /^(unlink|rename|symlink|mkdir)/.test(step.op),
    damaged: { sha256: V2_SHA, content: BIG },
    async prepare(s) {
      assertOutcome(await s.fetch(), 0);
      const image = `${s.dest}/store/${V2_SHA}`;
      await Deno.chmod(image, 0o644);
      using file = await Deno.open(image, { write: true });
      await file.write(new Uint8Array([0x21]));
      file.close();
      await Deno.chmod(image, 0o444);
      await Deno.writeTextFile(`${s.dest}/.tmp-stale0123456789`, "left by a killed run");
      await Deno.writeTextFile(`${s.dest}/store/.tmp-staleabcdef0123`, "half an image");
    },
  },
];

/** What happened at one kill point. */
interface KillOutcome {
  readonly step: string;
  /** The invariants broke after the kill or after the next run (message), if they did. */
  readonly broken?: string;
  /** `latest` moved across the killed and the next run, but systemctl was never called. */
  readonly restartLost: boolean;
}

/** Kills a fetch at each step of a scenario; returns the outcome per step. */
async function sweep(scenario: Scenario, action: FaultAction): Promise<KillOutcome[]> {
  const outcomes: KillOutcome[] = [];
  await withSetup([V1, V2], async (s) => {
    await s.writeConfig({ restart: ["app.service"] });
    await scenario.prepare(s);
    const template = `${s.dir}/template`;
    const hasBase = await Deno.lstat(s.dest).then(() => true, () => false);
    if (hasBase) await copyTree(s.dest, template);
    const baseLatest = hasBase ? await latestDigest(s.dest) : undefined;
    const env = s.systemctl.env;

    const reset = async () => {
      await Deno.remove(s.dest, { recursive: true }).catch(() => {});
      if (hasBase) await copyTree(template, s.dest);
    };
    await reset();
    const counted = await runFaulted(["fetch", s.config], s.dest, { env, cwd: s.dir });
    assert.equal(counted.code, 0, counted.stderr);
    assert.ok(counted.steps.length > 0, "faultfs saw no step: is LD_PRELOAD honoured?");

    const points = TORTURE ? counted.steps : counted.steps.filter(scenario.light ?? (() => false));
    for (const planned of points) {
      await reset();
      const callsBefore = (await s.systemctl.calls()).length;
      const killed = await runFaulted(["fetch", s.config], s.dest, {
        env,
        cwd: s.dir,
        fault: { at: planned.n, action },
      });
      const reached = killed.steps.find((st) => st.n === planned.n);
      const step = reached === undefined
        ? `${planned.n} (not reached)`
        : describeStep(reached, s.dest);
      assert.equal(killed.signal, "SIGKILL", `step ${step} was not killed:\n${killed.stderr}`);
      let broken: string | undefined;
      try {
        await checkInvariantsAllowingTemporaries(s.dest, scenario.damaged);
        const next = await s.fetch();
        assertOutcome(next, 0);
        await checkInvariants(s.dest);
        assert.deepEqual(await temporariesIn(s.dest), []);
        assert.equal(await latestDigest(s.dest), V2_SHA);
      } catch (e) {
        broken = e instanceof Error ? e.message : String(e);
      }
      const restarted = (await s.systemctl.calls()).length > callsBefore;
      outcomes.push({
        step,
        ...(broken === undefined ? {} : { broken }),
        restartLost: baseLatest !== V2_SHA && !restarted,
      });
    }
  });
  return outcomes;
}

/** Each sweep runs once per process; its two checks are separate tests. */
const sweeps = new Map<string, Promise<KillOutcome[]>>();
function sweepOnce(scenario: Scenario, action: FaultAction): Promise<KillOutcome[]> {
  const key = `${scenario.name}/${action}`;
  if (!sweeps.has(key)) sweeps.set(key, sweep(scenario, action));
  return sweeps.get(key)!;
}

function report(outcomes: KillOutcome[], what: string): void {
  console.log(`${what}: ${outcomes.length} kill points`);
}

const ACTIONS: { action: FaultAction; words: string }[] = [
  { action: "kill-after", words: "after" },
  { action: "kill-before", words: "before" },
];

for (const scenario of SCENARIOS) {
  for (const { action, words } of ACTIONS) {
    // `make test` kills after every step of the first fetch and after the renames and unlinks
    // of a repair; `make torture` kills before and after every step of all three.
    const ignore = !HAS_CC ||
      (!TORTURE && (action === "kill-before" || scenario.light === undefined));
    Deno.test({
      name: `kill -9 ${words} each file-system step of ${scenario.name} keeps SPEC §6's invariants`,
      ignore,
      async fn() {
        const outcomes = await sweepOnce(scenario, action);
        report(outcomes, `${scenario.name}, ${words}`);
        const broken = outcomes.filter((o) => o.broken !== undefined);
        assert.deepEqual(
          broken.map((o) => `${o.step}: ${o.broken}`),
          [],
          `${broken.length} of ${outcomes.length} kill points broke an invariant`,
        );
      },
    });
    Deno.test({
      name: `kill -9 ${words} each file-system step of ${scenario.name} never loses a restart`,
      ignore,
      async fn() {
        const outcomes = await sweepOnce(scenario, action);
        const lost = outcomes.filter((o) => o.restartLost).map((o) => o.step);
        assert.deepEqual(
          lost,
          [],
          `${lost.length} of ${outcomes.length} kill points lost the restart`,
        );
      },
    });
  }
}

// ---------------------------------------------------------------------------
// strace: the witness and a few kills of its own

const TRACED = [
  "open",
  "openat",
  "creat",
  "write",
  "pwrite64",
  "writev",
  "fdatasync",
  "fsync",
  "rename",
  "renameat",
  "renameat2",
  "symlink",
  "symlinkat",
  "unlink",
  "unlinkat",
  "chmod",
  "fchmod",
  "fchmodat",
  "mkdir",
  "mkdirat",
  "rmdir",
  "ftruncate",
];

/** The class of a syscall or of a libc call faultfs logs. */
function classOf(op: string): string {
  if (/^(open|openat|open64|openat64|creat)$/.test(op)) return "open";
  if (/^(write|pwrite64|writev)$/.test(op)) return "write";
  if (/^rename/.test(op)) return "rename";
  if (/^symlink/.test(op)) return "symlink";
  if (/^unlink/.test(op)) return "unlink";
  if (/chmod/.test(op)) return "chmod";
  if (/^mkdir/.test(op)) return "mkdir";
  return op;
}

function normalise(path: string, dest: string): string {
  return path.replace(dest, "<dest>").replace(/\.tmp-[0-9a-z]+/, ".tmp-*");
}

const FD_CALLS = /^(write|pwrite64|writev|fdatasync|fsync|fchmod|ftruncate)$/;

/** The destination's steps in an `strace -ff -y` log: "<class> <path>", sorted. */
function straceSteps(text: string, dest: string): string[] {
  const steps: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\w+)\((.*)$/.exec(line);
    if (m === null || !TRACED.includes(m[1]!)) continue;
    const [, call, args] = m as unknown as [string, string, string];
    // Directory listings (opendir inside libc) only read: not steps.
    if (/O_DIRECTORY/.test(args)) continue;
    const quoted = [...args.matchAll(/"([^"]*)"/g)].map((q) => q[1]!);
    // The path a step is about: an fd's path (-y), a new link's name, else the first path named.
    const path = FD_CALLS.test(call)
      ? /^\d+<([^>]*)>/.exec(args)?.[1]
      : /^symlink/.test(call)
      ? quoted[1]
      : quoted[0];
    if (path === undefined || !(path === dest || path.startsWith(`${dest}/`))) continue;
    steps.push(`${classOf(call)} ${normalise(path, dest)}`);
  }
  return steps.sort();
}

Deno.test({
  name: "faultfs numbers every file-system step that strace sees in a fetch",
  ignore: !HAS_CC || !HAS_STRACE,
  async fn() {
    await withSetup([V1, V2], async (s) => {
      const traceDir = `${s.dir}/trace`;
      await Deno.mkdir(traceDir);
      const { faultfsLibrary } = await import("./support.ts");
      const stepsLog = `${s.dir}/steps.log`;
      const output = await new Deno.Command("strace", {
        args: [
          "-ff",
          "-qq",
          "-y",
          "-o",
          `${traceDir}/t`,
          "-e",
          `trace=${TRACED.join(",")}`,
          // For the traced program only: faultfs would drop it from strace's own environment.
          "-E",
          `LD_PRELOAD=${await faultfsLibrary()}`,
          Deno.execPath(),
          "run",
          "--cached-only",
          ...await takoFlags(),
          MAIN,
          "fetch",
          s.config,
        ],
        env: {
          ...s.systemctl.env,
          NO_COLOR: "1",
          FAULTFS_ROOT: s.dest,
          FAULTFS_LOG: stepsLog,
        },
        cwd: s.dir,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
      let traced = "";
      for await (const entry of Deno.readDir(traceDir)) {
        traced += await Deno.readTextFile(`${traceDir}/${entry.name}`) + "\n";
      }
      const seenByStrace = straceSteps(traced, s.dest);
      const seenByFaultfs = (await Deno.readTextFile(stepsLog)).split("\n").filter((l) => l !== "")
        .map((l) => {
          const [, op, path] = l.split(" ");
          return `${classOf(op!)} ${normalise(path!, s.dest)}`;
        }).sort();
      assert.ok(seenByStrace.length >= 20, `strace saw only ${seenByStrace.length} steps`);
      assert.deepEqual(seenByFaultfs, seenByStrace);
      console.log(`strace and faultfs agree on ${seenByStrace.length} steps`);
      await checkInvariants(s.dest);
    });
  },
});

/** Kills that strace injects by itself: the first call of each kind, where per-thread counting is exact. */
const STRACE_KILLS: { name: string; args: (dest: string) => string[] }[] = [
  {
    name: "the first mkdir (the destination)",
    args: () => ["-e", "inject=mkdir:signal=SIGKILL:when=1"],
  },
  {
    name: "the open of .lock",
    args: (d) => ["-P", `${d}/.lock`, "-e", "inject=openat:signal=SIGKILL:when=1"],
  },
  {
    name: "the first fdatasync (the manifest)",
    args: () => ["-e", "inject=fdatasync:signal=SIGKILL:when=1"],
  },
  {
    name: "the first chmod (the manifest)",
    args: () => ["-e", "inject=chmod:signal=SIGKILL:when=1"],
  },
  {
    name: "the first rename (the manifest)",
    args: () => ["-e", "inject=rename:signal=SIGKILL:when=1"],
  },
  {
    name: "the first symlink (latest's new link)",
    args: () => ["-e", "inject=symlink:signal=SIGKILL:when=1"],
  },
];

for (const [i, { name, args }] of STRACE_KILLS.entries()) {
  Deno.test({
    name: `strace's own SIGKILL at ${name} keeps the invariants and the next run succeeds`,
    // make test: the rename and the symlink; make torture: all six.
    ignore: !HAS_STRACE || (!TORTURE && i < 4),
    async fn() {
      await withSetup([V1, V2], async (s) => {
        const output = await new Deno.Command("strace", {
          args: [
            "-f",
            "-qq",
            "-o",
            "/dev/null",
            ...args(s.dest),
            Deno.execPath(),
            "run",
            "--cached-only",
            ...await takoFlags(),
            MAIN,
            "fetch",
            s.config,
          ],
          env: { ...s.systemctl.env, NO_COLOR: "1" },
          cwd: s.dir,
          stdout: "piped",
          stderr: "piped",
        }).output();
        // strace reports the tracee's death by SIGKILL as its own exit status 137.
        assert.equal(output.code, 137, new TextDecoder().decode(output.stderr));
        await checkInvariantsAllowingTemporaries(s.dest);
        assertOutcome(await s.fetch(), 0);
        await checkInvariants(s.dest);
        assert.equal(await latestDigest(s.dest), V2_SHA);
      });
    },
  });
}
