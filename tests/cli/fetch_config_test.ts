/**
 * Black-box tests of `tako fetch` around configs and version choice (SPEC §4,
 * §6, §7): config errors, several configs in one run, no compatible version,
 * withdrawn images (410 Gone) and the never-downgrade rule.
 */
import { assert } from "../support/assert.ts";
import {
  assertOutcome,
  checkInvariants,
  closedPort,
  configText,
  latestDigest,
  publicKeyOf,
  TEST_KEY,
  withSetup,
} from "../support/publish.ts";
import { THREE_IMAGES } from "../support/vectors.ts";

const [, V110, V200] = THREE_IMAGES as [
  typeof THREE_IMAGES[0],
  typeof THREE_IMAGES[0],
  typeof THREE_IMAGES[0],
];
const EXIT_RUNTIME = 1;
const EXIT_CONFIG = 3;
const EXIT_INTEGRITY = 4;

/** Broken configs: the lines after the Origin= line (line 1), and the line at fault. */
const BAD_CONFIGS: {
  name: string;
  lines: (dest: string) => string[];
  line: number;
  says: string;
}[] = [
  {
    name: "an unknown key",
    lines: (dest) => [`PublicKey=${publicKeyOf(TEST_KEY)}`, `Destination=${dest}`, "Colour=blue"],
    line: 4,
    says: "Colour",
  },
  {
    name: "a line without '='",
    lines: (dest) => [`PublicKey=${publicKeyOf(TEST_KEY)}`, "just words", `Destination=${dest}`],
    line: 3,
    says: "Key=Value",
  },
  {
    name: "a repeated Destination=",
    lines: (
      dest,
    ) => [`PublicKey=${publicKeyOf(TEST_KEY)}`, `Destination=${dest}`, `Destination=${dest}`],
    line: 4,
    says: "repeated",
  },
  {
    name: "an invalid Version= pattern",
    lines: (dest) => [`PublicKey=${publicKeyOf(TEST_KEY)}`, `Destination=${dest}`, "Version=1*"],
    line: 4,
    says: "1*",
  },
  {
    name: "an invalid public key",
    lines: (dest) => ["PublicKey=not-a-key", `Destination=${dest}`],
    line: 2,
    says: "public key",
  },
  {
    name: "a small-order public key",
    lines: (
      dest,
    ) => ["PublicKey=AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", `Destination=${dest}`],
    line: 2,
    says: "public key",
  },
  {
    name: "an invalid unit name",
    lines: (dest) => [`PublicKey=${publicKeyOf(TEST_KEY)}`, `Destination=${dest}`, "Restart=-x"],
    line: 4,
    says: "unit",
  },
];

for (const { name, lines, line, says } of BAD_CONFIGS) {
  Deno.test(`\`tako fetch\` refuses a config with ${name}, naming file and line, touching nothing`, async () => {
    await withSetup(THREE_IMAGES, async (s) => {
      await Deno.writeTextFile(
        s.config,
        [`Origin=${s.origin.url}`, ...lines(s.dest)].join("\n") + "\n",
      );
      const result = await s.fetch();
      assertOutcome(result, EXIT_CONFIG, `${s.config} line ${line}`, says);
      await assert.rejects(Deno.lstat(s.dest), Deno.errors.NotFound);
      assert.deepEqual(s.origin.requests, []);
    });
  });
}

Deno.test("`tako fetch` refuses a config without Origin=, naming the file", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    await Deno.writeTextFile(
      s.config,
      `PublicKey=${publicKeyOf(TEST_KEY)}\nDestination=${s.dest}\n`,
    );
    assertOutcome(await s.fetch(), EXIT_CONFIG, s.config, "Origin=");
    await assert.rejects(Deno.lstat(s.dest), Deno.errors.NotFound);
  });
});

Deno.test("`tako fetch` refuses a config file that does not exist", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    const missing = `${s.dir}/missing.tako`;
    const result = await s.run(["fetch", missing]);
    assertOutcome(result, EXIT_CONFIG, missing, "does not exist");
  });
});

Deno.test("`tako fetch` leaves an existing destination untouched on a config error", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    await s.writeConfig({ version: "1.*" });
    assertOutcome(await s.fetch(), 0);
    const manifest = await Deno.readFile(`${s.dest}/manifest`);
    await s.writeConfig({ version: "2.*", extra: ["Bogus=1"] });
    await s.publish([...THREE_IMAGES, { version: "2.1.0", content: "two point one\n" }]);
    s.origin.clear();

    assertOutcome(await s.fetch(), EXIT_CONFIG, "Bogus");
    assert.deepEqual(s.origin.requests, []);
    assert.deepEqual(await Deno.readFile(`${s.dest}/manifest`), manifest);
    assert.equal(await latestDigest(s.dest), V110.sha256);
  });
});

/** A config of the same origin into another destination. */
async function secondConfig(dir: string, origin: string): Promise<{ path: string; dest: string }> {
  const dest = `${dir}/second`;
  const path = `${dir}/second.tako`;
  await Deno.writeTextFile(path, configText({ origins: [origin], destination: dest }));
  return { path, dest };
}

Deno.test("`tako fetch` goes on after a broken config and reports it in the exit code", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    await s.writeConfig({ extra: ["Nonsense"] });
    const second = await secondConfig(s.dir, s.origin.url);
    const result = await s.run(["fetch", s.config, second.path]);
    assertOutcome(result, EXIT_CONFIG, `${s.config} line`);
    assert.equal(await latestDigest(second.dest), V200.sha256);
    await checkInvariants(second.dest);
  });
});

Deno.test("`tako fetch` goes on after an unreachable origin and reports it in the exit code", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    await s.writeConfig({ origins: [`http://127.0.0.1:${closedPort()}`] });
    const second = await secondConfig(s.dir, s.origin.url);
    const result = await s.run(["fetch", s.config, second.path]);
    assertOutcome(result, EXIT_RUNTIME, s.config);
    assert.equal(await latestDigest(second.dest), V200.sha256);
    await checkInvariants(s.dest);
  });
});

Deno.test("`tako fetch` exits with the gravest code when several configs fail", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    const second = await secondConfig(s.dir, `http://127.0.0.1:${closedPort()}`);
    s.origin.behave("/manifest", { body: "Tako Manifest 1\n\nforged\n" });
    const result = await s.run(["fetch", second.path, s.config]);
    assertOutcome(result, EXIT_INTEGRITY, second.path, s.config);
  });
});

Deno.test("`tako stauts <config>` in the original dialect is a mistyped command: nothing is fetched", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    await s.writeConfig({ restart: ["app.service"] });
    const result = await s.run(["stauts", s.config]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /^tako: error: Unknown command 'stauts' \(did you mean status\?\)/);
    assert.deepEqual(s.origin.requests, [], "no request");
    assert.equal(await latestDigest(s.dest), undefined);
    assert.deepEqual(await s.systemctl.calls(), []);
    // A config file of that very name is a config as before.
    await Deno.writeTextFile(`${s.dir}/stauts`, await Deno.readTextFile(s.config));
    assertOutcome(await s.run(["stauts"]), 0, "latest is now 2.0.0");
  });
});
