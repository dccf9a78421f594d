/**
 * `fetchAll()` with a clock that fails as a bug would (a TypeError, not a
 * TakoError) during the first config's run: the failure is reported as an
 * internal error naming that config, and the next config is still fetched.
 */
import { fetchAll } from "../../../lib/commands/fetch.ts";
import { createLog } from "../../../lib/core/log.ts";
import { DEFAULT_NET_OPTIONS } from "../../../lib/shell/http.ts";
import { assert } from "../../support/assert.ts";
import { latestDigest, sha256Hex, withSetup, writeConfig } from "../../support/publish.ts";

Deno.test("`fetchAll()` reports a bug in one config's run as internal and goes on to the next", async () => {
  const image = { version: "1.0.0", content: "image one\n" };
  await withSetup([image], async (s) => {
    const second = await writeConfig(`${s.dir}/second.tako`, {
      origins: [s.origin.url],
      destination: `${s.dir}/second`,
    });
    const lines: string[] = [];
    let clock = 0;
    const failures = await fetchAll([s.config, second], false, {
      log: createLog({
        verbosity: "normal",
        journal: false,
        terminal: false,
        write: (t) => lines.push(t),
      }),
      net: DEFAULT_NET_OPTIONS,
      services: { show: () => Promise.resolve([]), restart: () => Promise.resolve() },
      lockWaitMs: 0,
      now: () => {
        if (clock++ === 0) throw new TypeError("Cannot read properties of undefined");
        return new Date();
      },
    });
    assert.equal(failures.length, 1);
    assert.equal(failures[0]!.kind, "internal");
    assert.equal(failures[0]!.exitCode, 70);
    assert.ok(
      failures[0]!.message.startsWith(`${s.config}: internal error: Cannot read`),
      failures[0]!.message,
    );
    assert.ok(failures[0]!.cause instanceof TypeError);
    assert.equal(await latestDigest(`${s.dir}/second`), sha256Hex(image.content));
    assert.ok(lines.some((l) => l.includes("this is a bug in Tako")), lines.join(""));
  });
});
