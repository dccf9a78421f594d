/**
 * Helpers for the black-box tests of `tako fetch`: build an origin directory
 * in-process (manifest.ts and keys.ts, no CLI), sign hand-made manifest text
 * (for malformed but validly signed manifests), write configs, a stand-in
 * `systemctl` that records its arguments, and one check of the destination
 * invariants of SPEC §6 that every failure case runs.
 *
 * @example
 * ```ts
 * const origin = await buildOrigin(`${dir}/origin`, [{ version: "1.0.0", content: "one\n" }]);
 * await writeConfig(`${dir}/app.tako`, { origins: [url], destination: `${dir}/dest` });
 * await checkInvariants(`${dir}/dest`);
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import { encodeBase64 } from "../../lib/core/base64.ts";
import { generateSecretKey, type SecretKey, sign } from "../../lib/core/keys.ts";
import { formatPublicKey } from "../../lib/core/public_key.ts";
import { type Entry, serializeEntries } from "../../lib/core/manifest.ts";
import { signManifest, verifyManifest } from "../../lib/core/manifest_signature.ts";
import { runTako, type TakoResult } from "../../dev/run_tako.ts";
import { parseArgs } from "../../lib/core/cli.ts";
import { SHA256_HEX } from "../../lib/core/digest.ts";
import { combinedExitCode, TakoError } from "../../lib/core/errors.ts";
import { createLog } from "../../lib/core/log.ts";
import { fetchAll, fetchContext } from "../../lib/commands/fetch.ts";
import type { ServiceManager } from "../../lib/shell/systemd.ts";
import type { UnitState } from "../../lib/core/unit_health.ts";
import { assert } from "./assert.ts";
import { type RequestRecord, startOrigin, type TestOrigin } from "./origin_server.ts";
import { TEST_SEED } from "./vectors.ts";

/** The SPEC §1 test key. */
export const TEST_KEY: SecretKey = generateSecretKey(TEST_SEED);

/** A second key, for key rotation and forged signatures. */
export const OTHER_KEY: SecretKey = generateSecretKey(
  new TextEncoder().encode("another-key-for-the-fetch-tests!"),
);

/** The base64 public key of a secret key, as a config's PublicKey= line wants it. */
export function publicKeyOf(key: SecretKey): string {
  return formatPublicKey(key.publicKey);
}

/** An image to publish: its version and contents. */
export interface ImageSpec {
  readonly version: string;
  readonly content: string | Uint8Array;
}

const encoder = new TextEncoder();

function bytesOf(content: string | Uint8Array): Uint8Array {
  return typeof content === "string" ? encoder.encode(content) : content;
}

/** Lowercase hex SHA-256 of some bytes or text. */
export function sha256Hex(content: string | Uint8Array): string {
  return createHash("sha256").update(bytesOf(content)).digest("hex");
}

/** The manifest entry of an image. */
export function entryOf(image: ImageSpec): Entry {
  const bytes = bytesOf(image.content);
  return { version: image.version, size: BigInt(bytes.length), sha256: sha256Hex(bytes) };
}

/** A published origin: its directory, the entries of its manifest and the manifest's bytes. */
export interface BuiltOrigin {
  readonly root: string;
  readonly entries: Entry[];
  readonly manifest: Uint8Array;
}

/**
 * Writes an origin directory (SPEC §5): `store/<sha256>` for each image and a
 * manifest signed with `key` (default {@link TEST_KEY}) listing them in the
 * given order, which must be ascending. Creates `root` if needed; replaces an
 * earlier manifest.
 */
export async function buildOrigin(
  root: string,
  images: readonly ImageSpec[],
  key: SecretKey = TEST_KEY,
): Promise<BuiltOrigin> {
  await Deno.mkdir(`${root}/store`, { recursive: true });
  for (const image of images) await addImageFile(root, image.content);
  const entries = images.map(entryOf);
  const manifest = signManifest(entries, key);
  await writeManifest(root, manifest);
  return { root, entries, manifest };
}

/** Writes `store/<sha256>` of some contents into an origin directory; returns the digest. */
export async function addImageFile(root: string, content: string | Uint8Array): Promise<string> {
  const bytes = bytesOf(content);
  const sha256 = sha256Hex(bytes);
  await Deno.mkdir(`${root}/store`, { recursive: true });
  await Deno.writeFile(`${root}/store/${sha256}`, bytes);
  return sha256;
}

/** Replaces an origin's manifest with these bytes. */
export async function writeManifest(root: string, bytes: Uint8Array | string): Promise<void> {
  await Deno.writeFile(`${root}/manifest`, bytesOf(bytes));
}

/**
 * Signs arbitrary text as a manifest: `signedPart` is everything before the
 * signature line (header, blank, entry lines, blank), signed as it is, so a
 * test can publish a validly signed manifest that breaks the format's rules.
 */
export function signRaw(signedPart: string, key: SecretKey = TEST_KEY): Uint8Array {
  const signed = encoder.encode(signedPart);
  return encoder.encode(`${signedPart}${encodeBase64(sign(key, signed))}\n`);
}

/** The signed part of a manifest for these entries, as text (for {@link signRaw} edits). */
export function signedPartOf(entries: readonly Entry[]): string {
  return serializeEntries(entries);
}

/** What a test config says; unset optional keys are left out. */
export interface ConfigSpec {
  /** Origin= lines in order (mirrors). */
  readonly origins: readonly string[];
  readonly destination: string;
  /** PublicKey= lines; default the test key's. */
  readonly publicKeys?: readonly string[];
  readonly version?: string;
  /** Restart= lines, one per element (an element may hold several space-separated units). */
  readonly restart?: readonly string[];
  /** RestartUnit= lines (the seed README's spelling). */
  readonly restartUnit?: readonly string[];
  /** Extra raw lines appended at the end. */
  readonly extra?: readonly string[];
}

/** The text of a config file. */
export function configText(spec: ConfigSpec): string {
  const lines = [
    "# written by the fetch tests",
    ...spec.origins.map((o) => `Origin=${o}`),
    ...(spec.publicKeys ?? [publicKeyOf(TEST_KEY)]).map((k) => `PublicKey=${k}`),
    `Destination=${spec.destination}`,
    ...(spec.version === undefined ? [] : [`Version=${spec.version}`]),
    ...(spec.restart ?? []).map((u) => `Restart=${u}`),
    ...(spec.restartUnit ?? []).map((u) => `RestartUnit=${u}`),
    // The stand-in systemctl reports every unit as running but cannot be watched over time:
    // without a HealthCheckSec= of their own, configs with units do without the watch.
    ...(hasUnits(spec) && !(spec.extra ?? []).some((l) => l.startsWith("HealthCheckSec="))
      ? ["HealthCheckSec=0"]
      : []),
    ...(spec.extra ?? []),
  ];
  return lines.join("\n") + "\n";
}

function hasUnits(spec: ConfigSpec): boolean {
  return (spec.restart?.length ?? 0) + (spec.restartUnit?.length ?? 0) > 0;
}

/** Writes a config file; returns its path. */
export async function writeConfig(path: string, spec: ConfigSpec): Promise<string> {
  await Deno.writeTextFile(path, configText(spec));
  return path;
}

/**
 * A stand-in `systemctl` on PATH: `show` reports each unit loaded and running;
 * every other call appends its arguments, one call per line, to a log.
 */
export interface FakeSystemctl {
  /** The directory to put first on PATH. */
  readonly bin: string;
  /** The environment for runTako: PATH with {@link bin} first. */
  readonly env: Record<string, string>;
  /** The recorded calls, each its arguments joined by single spaces. */
  calls(): Promise<string[]>;
  /** Makes later calls fail (exit 1 with a message on stderr) or succeed again. */
  setFailing(failing: boolean): Promise<void>;
}

/** Installs a stand-in `systemctl` in `dir/bin`. */
export async function fakeSystemctl(dir: string): Promise<FakeSystemctl> {
  const bin = `${dir}/bin`;
  const log = `${dir}/systemctl.log`;
  const failFlag = `${dir}/systemctl.fail`;
  await Deno.mkdir(bin, { recursive: true });
  await Deno.writeTextFile(
    `${bin}/systemctl`,
    [
      "#!/bin/sh",
      `if [ -e '${failFlag}' ]; then`,
      `  echo "Failed to restart $*: Unit not found." >&2`,
      "  exit 1",
      "fi",
      'if [ "$1" = show ]; then',
      '  seen=""; for unit in "$@"; do',
      '    if [ -n "$seen" ]; then',
      '      printf "Id=%s\\nLoadState=loaded\\nActiveState=active\\nSubState=running\\nResult=success\\nMainPID=1\\nNRestarts=0\\n\\n" "$unit"',
      '    elif [ "$unit" = -- ]; then seen=1; fi',
      "  done",
      "  exit 0",
      "fi",
      `printf '%s\\n' "$*" >> '${log}'`,
      "",
    ].join("\n"),
  );
  await Deno.chmod(`${bin}/systemctl`, 0o755);
  return {
    bin,
    env: { PATH: `${bin}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}` },
    async calls() {
      try {
        return (await Deno.readTextFile(log)).split("\n").filter((l) => l !== "");
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return [];
        throw e;
      }
    },
    async setFailing(failing) {
      if (failing) await Deno.writeTextFile(failFlag, "");
      else await Deno.remove(failFlag).catch(() => {});
    },
  };
}

/**
 * The fetch procedure's service-manager stand-in for in-process runs: reports
 * every unit loaded and running, records the units of each restart that
 * succeeds; fails like systemctl on demand.
 */
export class StandInServices implements ServiceManager {
  /** The units of each successful restart call, joined by single spaces. */
  readonly calls: string[] = [];
  failing = false;

  show(units: readonly string[]): Promise<UnitState[]> {
    if (this.failing) {
      return Promise.reject(
        new TakoError(
          "runtime",
          `systemctl show ${units.join(" ")} failed with exit code 1: Unit not found.`,
        ),
      );
    }
    return Promise.resolve(units.map((name) => ({
      name,
      loadState: "loaded",
      activeState: "active",
      subState: "running",
      result: "success",
      mainPid: 1,
      nRestarts: 0,
    })));
  }

  restart(units: readonly string[]): Promise<void> {
    if (this.failing) {
      const names = units.join(" ");
      return Promise.reject(
        new TakoError(
          "runtime",
          `systemctl restart ${names} failed with exit code 1: Unit not found.`,
        ),
      );
    }
    this.calls.push(units.join(" "));
    return Promise.resolve();
  }
}

/**
 * Runs `tako <args>` (a fetch command line) in this process, wired as main.ts
 * wires it (fetchContext()), with `services` standing in for systemctl;
 * stderr is the log.
 */
export async function fetchInProcess(
  args: readonly string[],
  services: ServiceManager,
): Promise<TakoResult> {
  const command = parseArgs(args);
  if (command.name !== "fetch") throw new Error(`not a fetch command line: ${args.join(" ")}`);
  let stderr = "";
  const log = createLog({
    verbosity: command.verbosity,
    journal: false,
    terminal: false,
    write: (text) => stderr += text,
  });
  const failures = await fetchAll(
    command.configs,
    command.init,
    { ...fetchContext(command.net, log, services), skipSpread: command.now },
  );
  return { code: combinedExitCode(failures), stdout: "", stderr };
}

async function lstatOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

async function namesIn(dir: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/**
 * Asserts SPEC §6's invariants of a destination (whether or not it exists):
 * every `store/<64 hex>` is a regular file with that digest and mode 0444;
 * `latest` is absent or a link `store/<sha256>` to such a file; `manifest`
 * is absent or mode 0444 and verifies under `publicKeys` (default the test
 * key); no `.tmp-` file is left in the destination or its store, unless
 * `allowTemporaries` (right after a kill, which may land while a temporary
 * is being written: the next run removes it).
 */
export async function checkInvariants(
  dest: string,
  publicKeys: readonly Uint8Array[] = [TEST_KEY.publicKey],
  { allowTemporaries = false }: { readonly allowTemporaries?: boolean } = {},
): Promise<void> {
  const store = `${dest}/store`;
  const temporary = (dir: string, name: string) =>
    assert.ok(
      allowTemporaries || !name.startsWith(".tmp-"),
      `temporary ${dir}/${name} was left behind`,
    );
  for (const name of await namesIn(store)) {
    temporary(store, name);
    if (!SHA256_HEX.test(name)) continue;
    const path = `${store}/${name}`;
    const info = await Deno.lstat(path);
    assert.ok(info.isFile, `${path} is not a regular file`);
    assert.equal(info.mode! & 0o777, 0o444, `${path} has mode ${info.mode!.toString(8)}`);
    assert.equal(sha256Hex(await Deno.readFile(path)), name, `${path} does not have its digest`);
  }
  for (const name of await namesIn(dest)) temporary(dest, name);
  const latest = await lstatOrUndefined(`${dest}/latest`);
  if (latest !== undefined) {
    assert.ok(latest.isSymlink, `${dest}/latest is not a symbolic link`);
    const target = await Deno.readLink(`${dest}/latest`);
    const match = /^store\/([0-9a-f]{64})$/.exec(target);
    assert.ok(match !== null, `${dest}/latest points to ${target}, not store/<sha256>`);
    assert.ok(
      (await lstatOrUndefined(`${dest}/${target}`))?.isFile,
      `${dest}/latest points to a missing image`,
    );
  }
  const manifest = await lstatOrUndefined(`${dest}/manifest`);
  if (manifest !== undefined) {
    assert.ok(manifest.isFile, `${dest}/manifest is not a regular file`);
    assert.equal(manifest.mode! & 0o777, 0o444, `${dest}/manifest is not mode 0444`);
    verifyManifest(await Deno.readFile(`${dest}/manifest`), publicKeys, `${dest}/manifest`);
  }
}

/** The digest `latest` points to, or undefined when there is no `latest`. */
export async function latestDigest(dest: string): Promise<string | undefined> {
  const info = await lstatOrUndefined(`${dest}/latest`);
  if (info === undefined) return undefined;
  const target = await Deno.readLink(`${dest}/latest`);
  return target.replace(/^store\//, "");
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

/** Asserts that stderr shows no stack trace or Deno crash. */
export function assertNoStackTrace(stderr: string): void {
  assert.doesNotMatch(stderr, /^\s+at .*:\d+:\d+\)?$/m, `stack trace in stderr:\n${stderr}`);
  assert.doesNotMatch(stderr, /Stack backtrace|Uncaught|panicked|internal error/i, stderr);
}

/** Everything one fetch test works with; made by {@link withSetup}, removed after it. */
export interface FetchSetup {
  /** The temporary directory holding everything below. */
  readonly dir: string;
  /** The origin directory the test server serves. */
  readonly originDir: string;
  /** The test origin server over {@link originDir}. */
  readonly origin: TestOrigin;
  /** The destination of the default config (not created in advance). */
  readonly dest: string;
  /** The default config's path (written by {@link writeConfig}). */
  readonly config: string;
  readonly systemctl: FakeSystemctl;
  /** The service-manager stand-in of {@link fetchHere}. */
  readonly services: StandInServices;
  /** Publishes these images (ascending) to the origin directory, replacing its manifest. */
  publish(images: readonly ImageSpec[], key?: SecretKey): Promise<BuiltOrigin>;
  /** Writes the default config: this origin, the test key, {@link dest}, plus `spec`. */
  writeConfig(spec?: Partial<ConfigSpec>): Promise<string>;
  /** Runs `tako <args>` with the stand-in systemctl first on PATH. */
  run(args: readonly string[]): Promise<TakoResult>;
  /** Runs `tako fetch <config>` (default: the default config). */
  fetch(...extra: string[]): Promise<TakoResult>;
  /** Runs `tako fetch <extra> <config>` in this process, with {@link services}. */
  fetchHere(...extra: string[]): Promise<TakoResult>;
}

/**
 * Creates a temporary directory with an origin directory holding `images`,
 * serves it on 127.0.0.1, writes the default config (`config`), installs the
 * stand-in systemctl, runs `fn`, and removes it all afterwards.
 */
export async function withSetup(
  images: readonly ImageSpec[],
  fn: (setup: FetchSetup) => Promise<void>,
  config: Partial<ConfigSpec> = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tako-fetch-test-" });
  const originDir = `${dir}/origin`;
  await buildOrigin(originDir, images);
  const origin = await startOrigin(originDir);
  try {
    const systemctl = await fakeSystemctl(dir);
    const services = new StandInServices();
    const dest = `${dir}/dest`;
    const configPath = `${dir}/app.tako`;
    const setup: FetchSetup = {
      dir,
      originDir,
      origin,
      dest,
      config: configPath,
      systemctl,
      services,
      publish: (list, key) => buildOrigin(originDir, list, key),
      writeConfig: (spec = {}) =>
        writeConfig(configPath, { origins: [origin.url], destination: dest, ...spec }),
      run: (args) => runTako(args, { env: systemctl.env, cwd: dir }),
      fetch: (...extra) =>
        runTako(["fetch", ...extra, configPath], { env: systemctl.env, cwd: dir }),
      fetchHere: (...extra) => fetchInProcess(["fetch", ...extra, configPath], services),
    };
    await setup.writeConfig(config);
    await fn(setup);
  } finally {
    await origin.close();
    await makeWritable(dir);
    await Deno.remove(dir, { recursive: true });
  }
}

/** Read-only files do not stop root from removing them, but they would stop anyone else. */
async function makeWritable(dir: string): Promise<void> {
  for (const entry of await Array.fromAsync(Deno.readDir(dir)).catch(() => [])) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) await makeWritable(path);
    else if (entry.isFile) await Deno.chmod(path, 0o644).catch(() => {});
  }
}

/**
 * Asserts how a run ended: the exit code, an empty stdout (fetch writes
 * human output to stderr only), no stack trace, and stderr holding every
 * substring given.
 */
export function assertOutcome(result: TakoResult, code: number, ...stderrParts: string[]): void {
  const shown = `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
  assert.equal(result.code, code, shown);
  assert.equal(result.stdout, "", shown);
  assertNoStackTrace(result.stderr);
  for (const part of stderrParts) {
    assert.ok(result.stderr.includes(part), `stderr lacks ${JSON.stringify(part)}:\n${shown}`);
  }
}

/** Requests the origin received for images (`/store/<sha256>`, not their chunk indexes). */
export function imageRequests(origin: TestOrigin): RequestRecord[] {
  return origin.requests.filter((r) => r.path.startsWith("/store/") && !r.path.endsWith(".index"));
}
