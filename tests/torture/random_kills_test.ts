/**
 * Kill -9 at random moments of slow downloads (SPEC §6 invariants "wherever
 * the process is killed"). A throttled origin makes each fetch last about a
 * second; the fetch is killed after a random delay, alternately from an empty
 * destination and from one holding an older image. After every kill the
 * invariants hold (temporaries aside) and the next run succeeds and leaves no
 * temporary. `make torture` lands at least 200 kills; the seed is printed
 * (TAKO_TORTURE_SEED repeats a run).
 */
import { takoCommand } from "../../dev/run_tako.ts";
import { assert } from "../support/assert.ts";
import { startOrigin } from "../support/origin_server.ts";
import {
  assertOutcome,
  checkInvariants,
  type ImageSpec,
  latestDigest,
  sha256Hex,
  withSetup,
  writeConfig,
} from "../support/publish.ts";
import {
  checkInvariantsAllowingTemporaries,
  copyTree,
  scaled,
  seededRandom,
  temporariesIn,
  TORTURE,
  tortureSeed,
} from "./support.ts";

const BIG: Uint8Array = (() => {
  // Under torture larger than the copy pump's 4 MiB buffers, so kills land between writes too.
  const bytes = new Uint8Array(TORTURE ? 12 * 1024 * 1024 : 1024 * 1024);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >> 10)) & 0xff;
  return bytes;
})();
const V1: ImageSpec = { version: "1.0.0", content: "image one\n" };
const V2: ImageSpec = { version: "2.0.0", content: BIG };
const V1_SHA = sha256Hex("image one\n");
const V2_SHA = sha256Hex(BIG);

/** Where a kill left the destination, for the figures. */
async function phaseOf(dest: string): Promise<string> {
  const exists = (p: string) => Deno.lstat(p).then(() => true, () => false);
  if (!await exists(dest)) return "before the destination existed";
  const latest = await latestDigest(dest);
  if (latest === V2_SHA) return "after latest moved";
  if (await exists(`${dest}/store/${V2_SHA}`)) return "image stored, latest not yet moved";
  if ((await temporariesIn(dest)).some((t) => /\/store\/\.(tmp|partial)-/.test(t))) {
    return "during the image download";
  }
  if (await exists(`${dest}/manifest`)) return "before the image download";
  return "before the manifest was stored";
}

Deno.test({
  name: `kill -9 at ${scaled(4, 200)}+ random moments of slow downloads keeps SPEC §6's invariants`,
  async fn() {
    const target = scaled(4, 200);
    const seed = tortureSeed();
    const random = seededRandom(seed);
    await withSetup([V1, V2], async (s) => {
      const slow = await startOrigin(s.originDir);
      for (const sha of [V1_SHA, V2_SHA]) {
        slow.behave(`/store/${sha}`, {
          dripBytes: TORTURE ? 256 * 1024 : 64 * 1024,
          dripMs: TORTURE ? 12 : 15,
        });
      }
      try {
        const slowConfig = await writeConfig(`${s.dir}/slow.tako`, {
          origins: [slow.url],
          destination: s.dest,
        });
        // A destination that holds 1.0.0 only, the other starting point.
        await s.writeConfig({ version: "1.0.0" });
        assertOutcome(await s.fetch(), 0);
        assert.equal(await latestDigest(s.dest), V1_SHA);
        const template = `${s.dir}/template`;
        await copyTree(s.dest, template);
        await s.writeConfig();

        // How long an unhurried slow fetch takes: kills are spread over that span.
        await Deno.remove(s.dest, { recursive: true });
        const started = performance.now();
        const whole =
          await (await takoCommand(["fetch", slowConfig], { env: s.systemctl.env, cwd: s.dir }))
            .output();
        assert.equal(whole.code, 0, new TextDecoder().decode(whole.stderr));
        const span = performance.now() - started;

        const phases = new Map<string, number>();
        let landed = 0;
        let attempts = 0;
        while (landed < target && attempts < target * 3) {
          attempts++;
          await Deno.remove(s.dest, { recursive: true }).catch(() => {});
          if (attempts % 2 === 0) await copyTree(template, s.dest);
          const child = (await takoCommand(["fetch", slowConfig], {
            env: s.systemctl.env,
            cwd: s.dir,
            stdout: "piped",
            stderr: "piped",
          })).spawn();
          const output = child.output();
          await new Promise((r) => setTimeout(r, random() * span));
          try {
            child.kill("SIGKILL");
          } catch { /* it had finished */ }
          const status = await output;
          const context = `seed ${seed}, attempt ${attempts}`;
          if (status.signal === "SIGKILL") {
            landed++;
            const phase = await phaseOf(s.dest);
            phases.set(phase, (phases.get(phase) ?? 0) + 1);
          } else {
            assert.equal(status.code, 0, `${context}: ${new TextDecoder().decode(status.stderr)}`);
          }
          await checkInvariantsAllowingTemporaries(s.dest);
          const next = await s.fetch();
          assertOutcome(next, 0);
          await checkInvariants(s.dest);
          assert.deepEqual(await temporariesIn(s.dest), [], context);
          assert.equal(await latestDigest(s.dest), V2_SHA, context);
        }
        console.log(
          `seed ${seed}: ${landed} kills landed in ${attempts} runs (a whole run: ${
            Math.round(span)
          } ms)`,
        );
        for (const [phase, count] of phases) console.log(`  ${count} ${phase}`);
        assert.ok(
          landed >= target,
          `only ${landed} of ${attempts} kills landed before the run ended`,
        );
      } finally {
        await slow.close();
      }
    });
  },
});
