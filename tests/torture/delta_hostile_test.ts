/**
 * Hostile answers to the Range requests of a delta update (docs/delta.md):
 * short, long, reset, stalled-then-dripping, compressed, error statuses, an
 * HTML page, a 416. The destination holds 1.0.0 (with its kept index); the
 * origin offers 1.1.0 and its index. Misbehaving once, the run must still end
 * with 1.1.0 in place (by a fallback or the repair pass); misbehaving on every
 * image request, it must end with 1.1.0 (when a full download is unharmed)
 * or a clean error with `latest` and the store as they were. Never a
 * temporary left, never a file in store/ without its digest.
 */
import { runTako } from "../../dev/run_tako.ts";
import { IndexBuilder } from "../../lib/core/chunk_index.ts";
import { assert } from "../support/assert.ts";
import { type Behaviour, startOrigin } from "../support/origin_server.ts";
import {
  buildOrigin,
  checkInvariants,
  type ImageSpec,
  latestDigest,
  sha256Hex,
  writeConfig,
} from "../support/publish.ts";
import { assertCleanFailure, temporariesIn, TORTURE } from "./support.ts";

const SIZE = 512 * 1024;
const OLD = new Uint8Array(SIZE).map((_, i) => (i * 7 + (i >> 11) * 13) & 0xff);
const NEW = OLD.slice();
for (const at of [1000, 100_000, 400_000]) NEW.set(new Uint8Array(3000).fill(0x5a), at);
const V1: ImageSpec = { version: "1.0.0", content: OLD };
const V2: ImageSpec = { version: "1.1.0", content: NEW };
const [OLD_SHA, NEW_SHA] = [sha256Hex(OLD), sha256Hex(NEW)];
const TIMEOUTS = ["--connect-timeout", "1", "--idle-timeout", "1"];

function indexOf(image: Uint8Array): Uint8Array {
  const builder = new IndexBuilder();
  builder.push(image);
  return builder.finish(sha256Hex(image));
}

const CASES: readonly { name: string; behaviour: Behaviour; harmless?: boolean }[] = [
  { name: "a short body", behaviour: { truncateAt: 100 } },
  { name: "a body longer than asked", behaviour: { extraBytes: 100 } },
  { name: "a reset connection", behaviour: { resetAtByte: 10 } },
  { name: "a stall", behaviour: { stallAtByte: 10, stallMs: 3000 } },
  { name: "a gzipped body", behaviour: { gzip: true } },
  { name: "500", behaviour: { status: 500 } },
  { name: "416", behaviour: { status: 416 } },
  { name: "an HTML page with 200", behaviour: { status: 200, body: "<html>busy</html>\n" } },
  {
    // The full download that follows has no Content-Range to get wrong.
    name: "a 206 of other bytes",
    behaviour: { headers: { "content-range": `bytes 5-9/${SIZE}` } },
    harmless: true,
  },
];
const SMOKE = new Set(["a short body", "an HTML page with 200"]);

for (const c of CASES) {
  for (const always of [false, true]) {
    Deno.test({
      name: `delta update against ${c.name}, ${always ? "on every image request" : "once"}`,
      ignore: !TORTURE && !(SMOKE.has(c.name) && !always),
      async fn() {
        const dir = await Deno.makeTempDir({ prefix: "tako-delta-hostile-" });
        const origin = await startOrigin(`${dir}/origin`, { ranges: true });
        try {
          await buildOrigin(`${dir}/origin`, [V1]);
          await Deno.writeFile(`${dir}/origin/store/${OLD_SHA}.index`, indexOf(OLD));
          const dest = `${dir}/dest`;
          const config = await writeConfig(`${dir}/app.tako`, {
            origins: [origin.url],
            destination: dest,
          });
          const fetch = () => runTako(["fetch", ...TIMEOUTS, config], { cwd: dir });
          assert.equal((await fetch()).code, 0);
          await buildOrigin(`${dir}/origin`, [V1, V2]);
          await Deno.writeFile(`${dir}/origin/store/${NEW_SHA}.index`, indexOf(NEW));
          origin.behave(`/store/${NEW_SHA}`, { ...c.behaviour, ...(always ? {} : { times: 1 }) });
          const result = await fetch();
          await checkInvariants(dest);
          assert.deepEqual(await temporariesIn(dest), []);
          if (!always || c.harmless) {
            assert.equal(result.code, 0, result.stderr);
            assert.equal(await latestDigest(dest), NEW_SHA);
            return;
          }
          assertCleanFailure(result, [1, 4]);
          assert.equal(await latestDigest(dest), OLD_SHA);
          const names = (await Array.fromAsync(Deno.readDir(`${dest}/store`))).map((e) => e.name);
          assert.ok(!names.includes(NEW_SHA), "no copy of the new image");
          // The next run against a healthy origin completes.
          origin.clear();
          assert.equal((await fetch()).code, 0);
          assert.equal(await latestDigest(dest), NEW_SHA);
        } finally {
          await origin.close();
          await Deno.remove(dir, { recursive: true });
        }
      },
    });
  }
}
