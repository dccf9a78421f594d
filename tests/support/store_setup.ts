/**
 * The publisher's side in tests: an origin directory with the three SPEC
 * images as files, `tako store` spawned with the binary's permissions or run
 * in this process, and the checks that every store test makes.
 *
 * @module
 */
import { join } from "node:path";
import { runTako, type TakoResult } from "../../dev/run_tako.ts";
import { store as storeCommand } from "../../lib/commands/store.ts";
import { parseArgs } from "../../lib/core/cli.ts";
import { SHA256_HEX } from "../../lib/core/digest.ts";
import { TakoError } from "../../lib/core/errors.ts";
import { formatSecretKey, generateSecretKey } from "../../lib/core/keys.ts";
import { createLog } from "../../lib/core/log.ts";
import { signManifest } from "../../lib/core/manifest_signature.ts";
import { assert } from "./assert.ts";
import { assertNoStackTrace as noStackTrace } from "./publish.ts";
import { TEST_SECRET_KEY, TEST_SECRET_KEY_64, TEST_SEED, THREE_IMAGES } from "./vectors.ts";

/** A second secret key, for manifests the store key does not verify. */
export const OTHER_SECRET_KEY = formatSecretKey(
  generateSecretKey(new TextEncoder().encode("another-key-for-the-store-tests!")),
);
export const [IMAGE_ONE, IMAGE_ONE_ONE, IMAGE_TWO] = THREE_IMAGES as [
  (typeof THREE_IMAGES)[0],
  (typeof THREE_IMAGES)[0],
  (typeof THREE_IMAGES)[0],
];
/** The name of an image's chunk index beside it. */
export const INDEX_NAME = /^[0-9a-f]{64}\.index$/;

/** An origin directory `out/` and the three images as files `<version>.img`, in a fresh dir. */
export async function withOrigin(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tako-publish-" });
  try {
    await Deno.mkdir(join(dir, "out"));
    for (const image of THREE_IMAGES) {
      await Deno.writeTextFile(join(dir, `${image.version}.img`), image.content);
    }
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** `tako store` in `dir`: the image file `<version>.img` as `version` into `out/`. */
export function store(
  dir: string,
  version: string,
  options: { key?: string[]; image?: string; env?: Record<string, string> } = {},
): Promise<TakoResult> {
  const key = options.key ?? ["-k", TEST_SECRET_KEY];
  const image = options.image ?? `${version}.img`;
  return runTako(["store", ...key, "-o", "out", "--", image, version], {
    cwd: dir,
    ...(options.env === undefined ? {} : { env: options.env }),
  });
}

export async function readManifest(dir: string): Promise<string> {
  return await Deno.readTextFile(join(dir, "out", "manifest"));
}

/** The names in out/store/ other than chunk indexes (`<sha256>.index`, checked on their own). */
export async function storeNames(dir: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(join(dir, "out", "store")))).map((e) => e.name)
      .filter((name) => !INDEX_NAME.test(name)).sort();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

export function assertOk(result: TakoResult, what: string): void {
  assert.equal(result.code, 0, `${what}: ${result.stderr}`);
  assert.equal(result.stdout, "", `${what}: store prints nothing on stdout`);
}

/** A failure: the exit code, one error line naming every part, no stack trace, no secret. */
export function assertFails(result: TakoResult, code: number, ...parts: string[]): void {
  assert.equal(result.code, code, `exit code; stderr: ${result.stderr}`);
  assert.equal(result.stdout, "", "nothing on stdout");
  assert.match(result.stderr, /^tako: error: .+\n$/, "one error line");
  for (const part of parts) {
    assert.ok(result.stderr.includes(part), `${JSON.stringify(result.stderr)} lacks ${part}`);
  }
  assertNoStackTrace(result);
  assertNoSecret(result);
}

/** Neither output shows a stack trace or a Deno crash. */
export function assertNoStackTrace(result: TakoResult): void {
  for (const text of [result.stdout, result.stderr]) {
    assert.doesNotMatch(text, /^ {4}at /m, "no stack frames");
    noStackTrace(text);
  }
}

/** Neither the secret keys of these tests nor any long piece of their base64 is printed. */
export function assertNoSecret(result: TakoResult): void {
  for (const key of [TEST_SECRET_KEY, TEST_SECRET_KEY_64, OTHER_SECRET_KEY]) {
    const secret = key.slice("SECRET+".length, "SECRET+".length + 43); // the seed's base64
    for (const text of [result.stdout, result.stderr]) {
      assert.ok(!text.includes(secret), `a secret key was printed: ${text}`);
    }
  }
}

/** No temporary (or any other foreign) file in store/ or beside the manifest. */
export async function assertNoTemporaries(dir: string): Promise<void> {
  for (const name of await storeNames(dir)) assert.match(name, SHA256_HEX, `store/${name}`);
  for await (const entry of Deno.readDir(join(dir, "out"))) {
    assert.ok(!entry.name.startsWith(".tmp-"), `temporary ${entry.name} left in out/`);
  }
}

export async function modeOf(path: string): Promise<number> {
  return (await Deno.stat(path)).mode! & 0o7777;
}

/** The manifest the test key gives for these images, from the library (deterministic). */
export function manifestOf(images: readonly (typeof THREE_IMAGES)[number][]): string {
  const key = generateSecretKey(TEST_SEED);
  const entries = images.map(({ version, size, sha256 }) => ({ version, size, sha256 }));
  return new TextDecoder().decode(signManifest(entries, key));
}

/**
 * {@link store} in this process: `store()` of lib/commands/store.ts with the
 * same command line (absolute paths), its log as stderr, its error as main.ts
 * reports it.
 */
export async function storeHere(
  dir: string,
  version: string,
  options: { key?: string[]; image?: string } = {},
): Promise<TakoResult> {
  const key = options.key ?? ["-k", TEST_SECRET_KEY];
  const image = join(dir, options.image ?? `${version}.img`);
  const command = parseArgs(["store", ...key, "-o", join(dir, "out"), "--", image, version]);
  if (command.name !== "store") throw new Error("not a store command line");
  let stderr = "";
  const log = createLog({
    verbosity: command.verbosity,
    journal: false,
    terminal: false,
    write: (text) => stderr += text,
  });
  try {
    await storeCommand({ ...command, envKey: undefined }, log);
    return { code: 0, stdout: "", stderr };
  } catch (e) {
    if (!(e instanceof TakoError)) throw e;
    log.error(e.message);
    return { code: e.exitCode, stdout: "", stderr };
  }
}
