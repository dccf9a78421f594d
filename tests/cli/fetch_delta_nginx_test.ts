/**
 * A delta update (docs/delta.md) against a real server: nginx serving an
 * origin that `tako store` wrote (indexes included), answering Range
 * requests as it ships (tests/support/nginx.ts): several ranges in one
 * request with a 206 multipart/byteranges. Skipped where nginx is not
 * installed.
 */
import { assert } from "../support/assert.ts";
import { noise } from "../support/bytes.ts";
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
      const old = noise(1024 * 1024, 1);
      const next = new Uint8Array(old.length + 10);
      next.set(old.subarray(0, 5000));
      next.set(new Uint8Array(10).fill(1), 5000);
      next.set(old.subarray(5000), 5010);
      // Five more changes far apart: six ranges, asked for in one request.
      for (let k = 1; k <= 5; k++) next.fill(k + 1, k * 160 * 1024, k * 160 * 1024 + 100);
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
      const rangesBefore = server.ranges().length;
      assertOutcome(await runTako(["fetch", config]), 0, "1.1.0: reused");
      assert.equal(await latestDigest(`${dir}/dest`), sha256Hex(next));
      const requests = server.requests().slice(before);
      const ranged = requests.filter((r) => r.startsWith("206 "));
      assert.ok(ranged.length >= 1, requests.join("\n"));
      assert.ok(requests.some((r) => r.includes(`/store/${sha256Hex(next)}.index `)), "the index");
      const sent = requests.reduce((n, r) => n + Number(r.split(" ")[1]), 0);
      assert.ok(sent < 64 * 1024, `${sent} bytes sent:\n${requests.join("\n")}`);
      const ranges = server.ranges().slice(rangesBefore).filter((r) => r.range !== "-");
      assert.equal(ranges.length, 1, JSON.stringify(ranges));
      assert.equal(ranges[0]!.range.split(",").length, 6, ranges[0]!.range);
      assert.match(ranges[0]!.type, /^multipart\/byteranges; boundary=/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
