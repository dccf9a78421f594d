/**
 * Several fetches of one destination at once (SPEC §6 "Lock", §7 "Files"):
 * plain runs and `--init` runs, through two config files (one naming the
 * destination through a symbolic link), all started together against a slow
 * origin. Each ends in success or a clean "busy" error, the image is
 * downloaded at most once per published version, and the final state holds
 * the invariants with no temporary left.
 */
import { takoCommand } from "../../dev/run_tako.ts";
import { assert } from "../support/assert.ts";
import {
  checkInvariants,
  type ImageSpec,
  latestDigest,
  sha256Hex,
  withSetup,
  writeConfig,
} from "../support/publish.ts";
import { startOrigin } from "../support/origin_server.ts";
import { scaled, temporariesIn } from "./support.ts";

/** An image of `size` bytes that differs per version. */
function imageOf(version: string, size: number): ImageSpec {
  const salt = [...version].reduce((a, c) => a * 31 + c.charCodeAt(0), 7) & 0xff;
  return {
    version,
    content: new Uint8Array(size).map((_, i) => (i * 17 + salt + (i >> 11)) & 0xff),
  };
}

Deno.test(`${scaled(4, 10)} concurrent fetches of one destination, over ${scaled(2, 10)} versions, download each image once`, async () => {
  const runners = scaled(4, 10);
  const rounds = scaled(2, 10);
  const size = 1024 * 1024;
  const first = imageOf("1.0.0", size);
  await withSetup([first], async (s) => {
    const slow = await startOrigin(s.originDir);
    /** Slow enough that the runs of a round overlap: 64 KiB every 10 ms. */
    const throttle = (image: ImageSpec) =>
      slow.behave(`/store/${sha256Hex(image.content)}`, { dripBytes: 64 * 1024, dripMs: 10 });
    const imageRequests = () =>
      slow.requests.filter((r) => r.path.startsWith("/store/") && !r.path.endsWith(".index"))
        .length;
    throttle(first);
    try {
      const configs = [
        await writeConfig(`${s.dir}/a.tako`, {
          origins: [slow.url],
          destination: s.dest,
          restart: ["app.service"],
        }),
        await writeConfig(`${s.dir}/b.tako`, {
          origins: [slow.url],
          destination: `${s.dir}/dest-link`,
          restart: ["app.service"],
        }),
      ];
      const published: ImageSpec[] = [first];

      for (let round = 1; round <= rounds; round++) {
        if (round > 1) {
          published.push(imageOf(`${round}.0.0`, size));
          throttle(published.at(-1)!);
          await s.publish(published);
        }
        // Round 1 creates the destination (all through a.tako); later rounds also come through a link.
        if (round === 2) await Deno.symlink(s.dest, `${s.dir}/dest-link`);
        const before = imageRequests();
        const children = await Promise.all(
          Array.from({ length: runners }, async (_, i) => {
            const config = configs[round === 1 ? 0 : i % 2]!;
            const args = ["fetch", ...(i % 3 === 2 ? ["--init"] : []), config];
            return (await takoCommand(args, { env: s.systemctl.env, cwd: s.dir })).spawn();
          }),
        );
        const results = await Promise.all(children.map((c) => c.output()));
        // The lock serialises the runs (SPEC §7); each waits its turn (up to 10 min) and succeeds.
        for (const r of results) {
          const stderr = new TextDecoder().decode(r.stderr);
          assert.equal(r.code, 0, stderr);
        }
        const downloads = imageRequests() - before;
        assert.equal(downloads, 1, `round ${round}: ${downloads} downloads of one image`);
        await checkInvariants(s.dest);
        assert.deepEqual(await temporariesIn(s.dest), []);
        assert.equal(await latestDigest(s.dest), sha256Hex(published.at(-1)!.content));
      }
      // One restart per version at most: the runs that found latest already moved restart nothing.
      assert.ok((await s.systemctl.calls()).length <= rounds);
    } finally {
      await slow.close();
    }
  });
});

Deno.test(`${scaled(6, 10)} concurrent first fetches into a missing destination all succeed (the mkdir race), ${scaled(3, 20)} times`, async () => {
  const image = imageOf("1.0.0", 4096);
  await withSetup([image], async (s) => {
    for (let round = 1; round <= scaled(3, 20); round++) {
      await Deno.remove(s.dest, { recursive: true }).catch(() => {});
      const children = await Promise.all(
        Array.from(
          { length: scaled(6, 10) },
          async () =>
            (await takoCommand(["fetch", s.config], { env: s.systemctl.env, cwd: s.dir })).spawn(),
        ),
      );
      for (const r of await Promise.all(children.map((c) => c.output()))) {
        assert.equal(r.code, 0, `round ${round}: ${new TextDecoder().decode(r.stderr)}`);
      }
      await checkInvariants(s.dest);
      assert.deepEqual(await temporariesIn(s.dest), []);
      assert.equal(await latestDigest(s.dest), sha256Hex(image.content));
    }
  });
});
