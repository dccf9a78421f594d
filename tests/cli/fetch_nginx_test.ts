/**
 * `tako fetch` against a real server: nginx serving an origin directory with
 * sendfile, ETag and Range as it ships (tests/support/nginx.ts). The periodic
 * check of an unchanged origin is one conditional request answered 304.
 * Skipped where nginx is not installed.
 */
import { assert } from "../support/assert.ts";
import { findNginx, startNginx } from "../support/nginx.ts";
import { assertOutcome, buildOrigin, latestDigest, writeConfig } from "../support/publish.ts";
import { runTako } from "../../dev/run_tako.ts";
import { THREE_IMAGES } from "../support/vectors.ts";

const nginx = await findNginx();

Deno.test({
  name:
    "`tako fetch` from nginx downloads once, then its conditional request (the ETag kept) gets 304",
  ignore: nginx === undefined,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tako-nginx-test-" });
    try {
      const built = await buildOrigin(`${dir}/origin`, THREE_IMAGES);
      await using server = await startNginx(`${dir}/origin`);
      const config = await writeConfig(`${dir}/app.tako`, {
        origins: [server.url],
        destination: `${dir}/dest`,
      });
      assertOutcome(await runTako(["fetch", config]), 0);
      const newest = built.entries.at(-1)!;
      assert.equal(await latestDigest(`${dir}/dest`), newest.sha256);
      const state = JSON.parse(await Deno.readTextFile(`${dir}/dest/.state`));
      const etag: string = state.manifestValidators[server.url].etag;
      assert.match(etag, /^"[0-9a-f]+-[0-9a-f]+"$/);
      // The first image's chunk index is asked for too (this origin has none: 404, nothing kept).
      const requests = server.requests();
      assert.deepEqual(requests.slice(0, 2), [
        `200 ${built.manifest.length} "GET /manifest HTTP/1.1"`,
        `200 ${newest.size} "GET /store/${newest.sha256} HTTP/1.1"`,
      ]);
      assert.match(requests[2]!, new RegExp(`^404 \\d+ "GET /store/${newest.sha256}\\.index HTTP`));
      assert.equal(requests.length, 3);

      assertOutcome(await runTako(["fetch", config]), 0);
      assert.equal(server.requests().length, 4);
      assert.equal(server.requests()[3], `304 0 "GET /manifest HTTP/1.1"`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
