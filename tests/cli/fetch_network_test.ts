/**
 * Black-box tests of `tako fetch` when the network misbehaves (SPEC §6, §7):
 * HTTP errors and the timeout options, wired to exit codes. Mirrors and key
 * rotation are tested in process (tests/unit/commands/fetch_mirrors_test.ts).
 */
import { assert } from "../support/assert.ts";
import {
  assertOutcome,
  checkInvariants,
  closedPort,
  imageRequests,
  latestDigest,
  withSetup,
} from "../support/publish.ts";
import { THREE_IMAGES } from "../support/vectors.ts";
import { runTako } from "../../dev/run_tako.ts";

const [, V110, V200] = THREE_IMAGES as [
  typeof THREE_IMAGES[0],
  typeof THREE_IMAGES[0],
  typeof THREE_IMAGES[0],
];
const EXIT_RUNTIME = 1;
/** Short limits, so that stalls end quickly. */
const FAST = ["--connect-timeout", "0.5", "--idle-timeout", "0.5"];

// One status for the wiring; each status is classified in tests/unit/shell/http_test.ts.
for (const status of [403]) {
  Deno.test(`\`tako fetch\` fails cleanly when the manifest answers ${status}`, async () => {
    await withSetup(THREE_IMAGES, async (s) => {
      s.origin.behave("/manifest", { status });
      const result = await s.fetch();
      assertOutcome(result, EXIT_RUNTIME, `${s.origin.url}/manifest`, String(status));
      await assert.rejects(Deno.lstat(`${s.dest}/manifest`), Deno.errors.NotFound);
      await checkInvariants(s.dest);
    });
  });
}

for (const status of [404, 500]) {
  Deno.test(`\`tako fetch\` fails when the image answers ${status}, with no fallback`, async () => {
    await withSetup(THREE_IMAGES, async (s) => {
      await s.writeConfig({ version: "1.*" });
      s.origin.behave(`/store/${V110.sha256}`, { status });
      const result = await s.fetch();
      assertOutcome(result, EXIT_RUNTIME, `${s.origin.url}/store/${V110.sha256}`, String(status));
      // Only 410 Gone means withdrawn: 1.0.0 is not tried.
      assert.deepEqual(imageRequests(s.origin).map((r) => r.path), [`/store/${V110.sha256}`]);
      assert.equal(await latestDigest(s.dest), undefined);
      await checkInvariants(s.dest);
    });
  });
}

Deno.test("`tako fetch` gives up on a server that sends no headers (--connect-timeout)", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    s.origin.behave("/manifest", { delayHeadersMs: Infinity });
    const started = Date.now();
    const result = await s.fetch(...FAST);
    assertOutcome(result, EXIT_RUNTIME, `${s.origin.url}/manifest`, "0.5 s");
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    await checkInvariants(s.dest);
  });
});

Deno.test("`tako fetch` rides out a slow but steady image body", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    // 10 bytes 50 ms apart: half a second in all, never more than a tenth of the 0.5 s
    // idle timeout without data (a loaded machine delays a timer by far less).
    s.origin.behave(`/store/${V200.sha256}`, { dripMs: 50 });
    assertOutcome(await s.fetch(...FAST), 0);
    assert.equal(await latestDigest(s.dest), V200.sha256);
  });
});

Deno.test("`tako fetch` through a proxy that does not answer names the proxy, not the origin", async () => {
  await withSetup([{ version: "1.0.0", content: "image one\n" }], async (s) => {
    const proxy = `http://ops:Pwproxysecret@127.0.0.1:${closedPort()}`;
    const env = { ...s.systemctl.env, HTTP_PROXY: proxy };
    const result = await runTako(["fetch", "--connect-timeout", "5", s.config], {
      env,
      cwd: s.dir,
    });
    assertOutcome(
      result,
      1,
      "went through the proxy http://ops:***@127.0.0.1:",
      "(from HTTP_PROXY)",
    );
    assert.ok(!result.stderr.includes("Pwproxysecret"), result.stderr);
    assert.deepEqual(s.origin.requests, [], "the origin was never reached");
    // NO_PROXY exempts the origin: it is reached directly.
    const direct = await runTako(["fetch", s.config], {
      env: { ...env, NO_PROXY: "127.0.0.1" },
      cwd: s.dir,
    });
    assertOutcome(direct, 0);
  });
});
