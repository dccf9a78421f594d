/**
 * The property that no output ever carries a secret: configs that hold a
 * secret key or a URL password, in any key or place, are run through the real
 * CLI (fetch with TAKO_DEBUG=1, status as text and JSON, prune) against the
 * test origin, and nothing any of them prints contains the secret.
 */
import fc from "fast-check";
import { formatSecretKey, generateSecretKey } from "../../lib/core/keys.ts";
import { encodeBase64 } from "../../lib/core/base64.ts";
import { runTako, type TakoResult } from "../../dev/run_tako.ts";
import { assert } from "../support/assert.ts";
import { scaledFuzzRuns } from "../support/fuzz.ts";
import { assertNoStackTrace, configText, type FetchSetup, withSetup } from "../support/publish.ts";

/** A secret and the fragments of it that must never appear in output. */
interface Secret {
  /** The text written into the config. */
  readonly text: (originUrl: string) => string;
  /** Substrings any one of which in the output is a leak. */
  readonly tells: readonly string[];
  readonly label: string;
}

/** Slices of a key body's base64: 16 characters already narrow the seed down a great deal. */
function keyTells(body: string): string[] {
  const tells: string[] = [];
  for (let i = 0; i + 16 <= body.length; i += 8) tells.push(body.slice(i, i + 16));
  return tells;
}

const secretKey: fc.Arbitrary<Secret> = fc
  .tuple(
    fc.uint8Array({ minLength: 32, maxLength: 32 }),
    fc.constantFrom("SECRET+", "secret+", ""),
    fc.boolean(),
  )
  .map(([seed, prefix, old]) => {
    const key = generateSecretKey(seed);
    // The older 64-byte form is the seed and the public key.
    const body = old
      ? encodeBase64(new Uint8Array([...key.seed, ...key.publicKey]))
      : formatSecretKey(key).slice("SECRET+".length);
    return { text: () => prefix + body, tells: keyTells(body), label: `key ${prefix}${body}` };
  });

const password: fc.Arbitrary<Secret> = fc
  .tuple(fc.stringMatching(/^[A-Za-z0-9]{10,16}$/), fc.constantFrom("", "@x", "%21", ":x"))
  .map(([core, tail]) => {
    const pw = `Pw${core}${tail}`;
    return {
      text: (originUrl: string) => originUrl.replace("//", `//deploy:${pw}@`),
      tells: [`Pw${core}`],
      label: `password ${pw}`,
    };
  });

/** Where in a config the secret goes: a key's value (with text around it), a bare line, a key name. */
const placement = fc.record({
  key: fc.constantFrom(
    "Origin",
    "PublicKey",
    "Destination",
    "Version",
    "Restart",
    "RestartUnit",
    "KeepImages",
    "MaxStoreSize",
    "Bogus",
    "(bare line)",
    "(key name)",
  ),
  before: fc.constantFrom("", " ", "/srv/", "x", "'"),
  after: fc.constantFrom("", " ", "/", ".service", "'"),
  /** Whether the secret line replaces the base line of its key (else it is added). */
  replace: fc.boolean(),
});

const configCase = fc.record({ secret: fc.oneof(secretKey, password), placement });
type ConfigCase = typeof configCase extends fc.Arbitrary<infer T> ? T : never;

/** The config text of one case: the working default config with the secret's line in it. */
function caseConfig(s: FetchSetup, c: ConfigCase, dest: string): string {
  const { key, before, after, replace } = c.placement;
  const secret = c.secret.text(s.origin.url);
  const line = key === "(bare line)"
    ? `${before}${secret}${after}`
    : key === "(key name)"
    ? `${secret}=1`
    : `${key}=${before}${secret}${after}`;
  // An origin with a password is a working origin on its own line.
  const origins = key === "Origin" && before === "" && after === "" && replace
    ? [secret.startsWith("http") ? secret : s.origin.url]
    : [s.origin.url];
  const base = configText({ origins, destination: dest, version: "1.*" }).split("\n");
  const kept = replace ? base.filter((l) => !l.startsWith(`${key}=`)) : base;
  if (origins[0] !== s.origin.url) return kept.join("\n");
  return [...kept.slice(0, 2), line, ...kept.slice(2)].join("\n");
}

function leaks(result: TakoResult, c: ConfigCase): string | undefined {
  const text = result.stdout + result.stderr;
  return c.secret.tells.find((tell) => text.includes(tell));
}

Deno.test("no output of any command holds a secret key or URL password from a config (property)", async () => {
  await withSetup([{ version: "1.0.0", content: "image one\n" }], async (s) => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(configCase, { minLength: 3, maxLength: 6 }), async (cases) => {
        run++;
        const paths: string[] = [];
        for (const [i, c] of cases.entries()) {
          const path = `${s.dir}/secret-${run}-${i}.tako`;
          await Deno.writeTextFile(path, caseConfig(s, c, `${s.dir}/dest-${run}-${i}`));
          paths.push(path);
        }
        const env = { ...s.systemctl.env, TAKO_DEBUG: "1" };
        const results = [
          await runTako(["fetch", "-v", ...paths], { env, cwd: s.dir }),
          await runTako(["status", ...paths], { env, cwd: s.dir }),
          await runTako(["status", "--json", ...paths], { env, cwd: s.dir }),
          await runTako(["prune", "-v", ...paths], { env, cwd: s.dir }),
        ];
        for (const result of results) {
          assertNoStackTrace(
            result.stderr.split("\n").filter((l) => !/^\s+at /.test(l)).join("\n"),
          );
          for (const c of cases) {
            const tell = leaks(result, c);
            assert.equal(
              tell,
              undefined,
              `${c.secret.label} leaked:\n${result.stdout}${result.stderr}`,
            );
          }
        }
      }),
      // Each run starts four processes: report the first failure as found, unshrunk.
      { numRuns: scaledFuzzRuns(3), endOnFailure: true },
    );
  });
});

Deno.test("an origin with a password in its URL works, and every message masks the password", async () => {
  await withSetup([{ version: "1.0.0", content: "image one\n" }], async (s) => {
    const origin = s.origin.url.replace("//", "//deploy:Pwhunter2hunter2@");
    await s.writeConfig({ origins: [origin] });
    const env = { ...s.systemctl.env, TAKO_DEBUG: "1" };
    const fetched = await runTako(["fetch", "-v", s.config], { env, cwd: s.dir });
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.ok(fetched.stderr.includes("deploy:***@127.0.0.1"), fetched.stderr);
    for (const args of [["status", s.config], ["status", "--json", s.config]]) {
      const status = await runTako(args, { env, cwd: s.dir });
      assert.ok(status.stdout.includes("deploy:***@127.0.0.1"), status.stdout);
      assert.ok(!(status.stdout + status.stderr).includes("Pwhunter2"), status.stdout);
    }
    assert.ok(!fetched.stderr.includes("Pwhunter2"), fetched.stderr);
  });
});
