/**
 * A delta update (docs/delta.md) against a real server: nginx serving an
 * origin that `tako store` wrote (indexes included), answering single Range
 * requests as it ships (tests/support/nginx.ts). Skipped where nginx is not
 * installed.
 */
import { assert } from "../support/assert.ts";
import { findNginx, startNginx } from "../support/nginx.ts";
import { assertOutcome, latestDigest, sha256Hex, writeConfig } from "../support/publish.ts";
import { runTako } from "../../dev/run_tako.ts";
import { TEST_SECRET_KEY } from "../support/vectors.ts";

const nginx = await findNginx();

Deno.test({
  name: "`tako fetch` from nginx updates by delta: the index, then 206 answers for the changes",
  ignore: nginx === undefined,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tako-nginx-delta-" });
    try {
      const old = new Uint8Array(1024 * 1024).map((_, i) => (i * 31 + (i >> 9) * 7) & 0xff);
      const next = new Uint8Array(old.length + 10);
      next.set(old.subarray(0, 5000));
      next.set(new Uint8Array(10).fill(1), 5000);
      next.set(old.subarray(5000), 5010);
      await Deno.writeFile(`${dir}/a.img`, old);
      await Deno.writeFile(`${dir}/b.img`, next);
      await Deno.mkdir(`${dir}/origin`);
      const store = (image: string, version: string) =>
        runTako(["store", "-q", "-k", TEST_SECRET_KEY, "-o", "origin", image, version], {
          cwd: dir,
        });
      assert.equal((await store("a.img", "1.0.0")).code, 0);
      await using server = await startNginx(`${dir}/origin`);
      const config = await writeConfig(`${dir}/app.tako`, {
        origins: [server.url],
        destination: `${dir}/dest`,
      });
      assertOutcome(await runTako(["fetch", config]), 0);
      assert.equal((await store("b.img", "1.1.0")).code, 0);
      const before = server.requests().length;
      assertOutcome(await runTako(["fetch", config]), 0, "1.1.0: reused");
      assert.equal(await latestDigest(`${dir}/dest`), sha256Hex(next));
      const requests = server.requests().slice(before);
      const ranged = requests.filter((r) => r.startsWith("206 "));
      assert.ok(ranged.length >= 1, requests.join("\n"));
      assert.ok(requests.some((r) => r.includes(`/store/${sha256Hex(next)}.index `)), "the index");
      const sent = requests.reduce((n, r) => n + Number(r.split(" ")[1]), 0);
      assert.ok(sent < 32 * 1024, `${sent} bytes sent:\n${requests.join("\n")}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
