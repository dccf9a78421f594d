/**
 * The config file, one per image (SPEC §4): systemd unit-file syntax, `Key=Value`
 * lines, comments starting with `#` or `;`. Parsing is pure: text in, a
 * {@link Config} out, or a config error naming the file and line.
 *
 * @module
 */
import { toHex } from "./bytes.ts";
import { printable, TakoError } from "./errors.ts";
import { parsePublicKey } from "./public_key.ts";
import { ANY_VERSION, parsePattern, type Pattern } from "./pattern.ts";
import * as rollout from "./rollout_keys.ts";
import { holdsSecretKey, loadKeyCheck, maskUrl, mayHoldKeyBody } from "./secrets.ts";

/** A checked config file. */
export interface Config extends rollout.RolloutSettings {
  /** The config file's path as given (for messages). */
  readonly file: string;
  /** Origin URLs in order (Origin= repeated = mirrors), each without trailing "/". */
  readonly origins: readonly string[];
  /** PublicKey= repeated = key rotation. */
  readonly publicKeys: readonly Uint8Array[];
  /** As written; the I/O shell resolves a relative path against the working directory. */
  readonly destination: string;
  readonly pattern: Pattern;
  /** False when Version= is absent (the shell logs that any version is accepted). */
  readonly versionGiven: boolean;
  /** Restart= and RestartUnit= (both spellings, repeatable, several space-separated per line), in order, de-duplicated. */
  readonly restartUnits: readonly string[];
  readonly keepImages: number | undefined;
  /** MaxStoreSize= in bytes. */
  readonly maxStoreSize: bigint | undefined;
}

/**
 * The largest config text accepted, in UTF-16 code units (never more than the
 * file's UTF-8 bytes); the shell caps its read of the file at this many bytes.
 */
export const MAX_CONFIG_SIZE = 1024 * 1024;

/** Each key with the hint shown when it is missing or wrong. */
const KEYS = {
  Origin: "Origin=<url>",
  PublicKey: "PublicKey=<base64 public key>",
  Destination: "Destination=<directory>",
  Version: "Version=<pattern>",
  Restart: "Restart=<unit> [<unit>...]",
  RestartUnit: "RestartUnit=<unit> [<unit>...]",
  KeepImages: "KeepImages=<number of images>",
  MaxStoreSize: "MaxStoreSize=<bytes, optionally with K, M, G or T>",
  ...rollout.ROLLOUT_KEYS,
} as const;
type Key = keyof typeof KEYS;

const KNOWN_KEYS = Object.keys(KEYS) as Key[];
const REQUIRED_KEYS: readonly Key[] = ["Origin", "PublicKey", "Destination"];
const SINGLE_KEYS: readonly Key[] = ["Destination", "Version", "KeepImages", "MaxStoreSize"];
const URL_SCHEMES = ["https:", "http:", "file:"];
/** What each key takes, for the message about a secret key found in its place. */
const TAKES: Record<Key, string> = {
  Origin: "the origin's URL",
  PublicKey: "the public key (the second key that 'tako gen-key' prints)",
  Destination: "a directory",
  Version: "a version pattern",
  Restart: "unit names",
  RestartUnit: "unit names",
  KeepImages: "a number of images",
  MaxStoreSize: "a size",
  ...rollout.ROLLOUT_TAKES,
};
/** A scheme and "//": a URL, which Destination= must not be. */
const URL_START = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/** systemd's unit name characters; systemctl adds ".service" to a name without a suffix. */
const UNIT_NAME = /^[A-Za-z0-9:_.\\@-]+$/;
const UNIT_NAME_MAX = 255;
/** systemd's whitespace within a line (a CR at the end of a line is removed before). */
const BLANKS = /[ \t]+/;
const POSITIVE_INTEGER = /^[1-9][0-9]*$/;
const BYTE_SIZE = /^(0|[1-9][0-9]*)([KMGT]?)$/;

/**
 * Parses config text. Every error is a `TakoError("config")` whose message
 * starts with "<file> line <n>: " (or "<file>: " for a missing required key or
 * an oversized file) and says what was expected.
 *
 * @example
 * ```ts
 * const config = await parseConfig(
 *   "Origin=https://images.example.com/app-foo\n" +
 *     "PublicKey=l0D28J2fiIXvWPbeZP7wkaq+dB55Gl2ysigl9mQH29k=\n" +
 *     "Destination=/var/lib/images/app-foo\n",
 *   "/etc/tako/app-foo",
 * );
 * config.versionGiven; // false: any version is accepted
 * ```
 */
export async function parseConfig(text: string, file: string): Promise<Config> {
  // The exact check for a secret key without its prefix needs the curve library (secrets.ts).
  if (mayHoldKeyBody(text)) await loadKeyCheck();
  const name = printable(file, 1000);
  if (text.length > MAX_CONFIG_SIZE) {
    throw new TakoError(
      "config",
      `${name}: the file is larger than 1 MiB; expected a short list of Key=Value lines.`,
    );
  }
  if (trimBlanks(splitLines(text).join("")) === "") {
    throw new TakoError(
      "config",
      `${name}: the file is empty; expected Key=Value lines with at least Origin=, PublicKey= and Destination=.`,
    );
  }
  const builder = new ConfigBuilder(name);
  for (const [index, line] of splitLines(text).entries()) {
    await builder.addLine(line, index + 1);
  }
  return builder.finish(file);
}

/**
 * Parses a byte size: decimal digits with an optional suffix K, M, G or T
 * (powers of 1024). Returns undefined for anything else (signs, fractions,
 * spaces, lowercase suffixes, leading zeros).
 *
 * @example
 * ```ts
 * parseByteSize("10G"); // 10737418240n
 * parseByteSize("1.5G"); // undefined
 * ```
 */
export function parseByteSize(text: string): bigint | undefined {
  const match = BYTE_SIZE.exec(text);
  if (match === null) return undefined;
  const exponent = BigInt(" KMGT".indexOf(match[2] || " "));
  return BigInt(match[1]!) * 1024n ** exponent;
}

/**
 * Splits text into lines without their ends. A leading UTF-8 BOM is dropped.
 * LF ends a line; a CR right before it is dropped too, so files written with
 * CRLF line ends read the same (systemd accepts those as well). A CR anywhere
 * else stays in the line and makes its value invalid.
 */
function splitLines(text: string): string[] {
  const body = text.startsWith("\uFEFF") ? text.slice(1) : text;
  return body.split("\n").map((line) => line.endsWith("\r") ? line.slice(0, -1) : line);
}

/** Trims systemd's whitespace (space and tab); JavaScript's trim() would also eat Unicode spaces. */
function trimBlanks(text: string): string {
  return text.replace(/^[ \t]+|[ \t]+$/g, "");
}

/** Collects keys line by line, checking each value as it comes. */
class ConfigBuilder {
  readonly #name: string;
  /** Line of the first occurrence of each key seen, to name both lines of a repeat. */
  readonly #firstLine = new Map<Key, number>();
  readonly #origins: string[] = [];
  readonly #originLines = new Map<string, number>();
  readonly #publicKeys: Uint8Array[] = [];
  readonly #keyLines = new Map<string, number>();
  readonly #restartUnits = new Set<string>();
  #destination: string | undefined;
  #pattern: Pattern | undefined;
  #keepImages: number | undefined;
  #maxStoreSize: bigint | undefined;
  #rollout: Partial<rollout.RolloutSettings> = {};

  constructor(name: string) {
    this.#name = name;
  }

  async addLine(raw: string, line: number): Promise<void> {
    const text = trimBlanks(raw);
    if (text === "" || text.startsWith("#") || text.startsWith(";")) return;
    const where = `${this.#name} line ${line}`;
    // Before anything quotes the line: a secret key must never reach a message.
    if (holdsSecretKey(text)) throw secretKeyError(text, where);
    const equals = text.indexOf("=");
    if (equals < 0) {
      this.#fail(where, `'${printable(text)}' is not a setting; expected 'Key=Value'`);
    }
    const key = this.#knownKey(trimBlanks(text.slice(0, equals)), where);
    const value = trimBlanks(text.slice(equals + 1));
    if (value === "") this.#fail(where, `${key}= has no value; expected '${KEYS[key]}'`);
    this.#checkSingle(key, line, where);
    await this.#setValue(key, value, line, where);
  }

  finish(file: string): Config {
    for (const key of REQUIRED_KEYS) {
      if (!this.#firstLine.has(key)) {
        this.#fail(this.#name, `${key}= is missing; expected a line '${KEYS[key]}'`);
      }
    }
    return {
      file,
      origins: this.#origins,
      publicKeys: this.#publicKeys,
      destination: this.#destination!,
      pattern: this.#pattern ?? ANY_VERSION,
      versionGiven: this.#pattern !== undefined,
      restartUnits: [...this.#restartUnits],
      keepImages: this.#keepImages,
      maxStoreSize: this.#maxStoreSize,
      ...rollout.rolloutSettings(this.#rollout, this.#restartUnits.size > 0),
    };
  }

  #knownKey(key: string, where: string): Key {
    if ((KNOWN_KEYS as string[]).includes(key)) return key as Key;
    if (key === "") this.#fail(where, "the line starts with '='; expected 'Key=Value'");
    // Keys are case-sensitive, as in systemd; point at the likely intended spelling.
    const similar = KNOWN_KEYS.find((k) => k.toLowerCase() === key.toLowerCase());
    const hint = similar === undefined
      ? ""
      : ` (keys are case-sensitive: did you mean ${similar}?)`;
    this.#fail(
      where,
      `unknown key '${printable(key)}'${hint}; expected one of ${KNOWN_KEYS.join(", ")}`,
    );
  }

  #checkSingle(key: Key, line: number, where: string): void {
    const first = this.#firstLine.get(key);
    if (first === undefined) {
      this.#firstLine.set(key, line);
    } else if (SINGLE_KEYS.includes(key) || key in rollout.ROLLOUT_KEYS) {
      this.#fail(where, `${key}= is repeated (first set on line ${first}); expected it once`);
    }
  }

  async #setValue(key: Key, value: string, line: number, where: string): Promise<void> {
    switch (key) {
      case "Origin":
        return this.#addOrigin(value, line, where);
      case "PublicKey":
        return this.#addPublicKey(value, line, where);
      case "Destination":
        this.#destination = this.#checkDestination(value, where);
        return;
      case "Version":
        this.#pattern = await this.#parsePattern(value, where);
        return;
      case "Restart":
      case "RestartUnit":
        for (const unit of value.split(BLANKS)) this.#restartUnits.add(checkUnit(unit, key, where));
        return;
      case "KeepImages":
        this.#keepImages = this.#parseKeepImages(value, where);
        return;
      case "MaxStoreSize":
        this.#maxStoreSize = this.#parseMaxStoreSize(value, where);
        return;
      default:
        this.#rollout = { ...this.#rollout, ...rollout.parseRolloutValue(key, value, where) };
    }
  }

  #addOrigin(value: string, line: number, where: string): void {
    const origin = parseOrigin(value, where);
    const first = this.#originLines.get(origin);
    if (first !== undefined) {
      this.#fail(
        where,
        `origin '${
          printable(maskUrl(origin))
        }' is already listed on line ${first}; expected each origin once`,
      );
    }
    this.#originLines.set(origin, line);
    this.#origins.push(origin);
  }

  #addPublicKey(value: string, line: number, where: string): void {
    const key = parsePublicKey(value, where);
    const id = toHex(key);
    const first = this.#keyLines.get(id);
    if (first !== undefined) {
      this.#fail(
        where,
        `this public key is already listed on line ${first}; expected each key once`,
      );
    }
    this.#keyLines.set(id, line);
    this.#publicKeys.push(key);
  }

  #checkDestination(value: string, where: string): string {
    if (value.includes("\0")) {
      this.#fail(where, "Destination= contains a NUL character; expected a directory path");
    }
    if (URL_START.test(value)) {
      this.#fail(
        where,
        "Destination= is a URL; expected a local directory such as /var/lib/images/app",
      );
    }
    return value;
  }

  async #parsePattern(value: string, where: string): Promise<Pattern> {
    try {
      return await parsePattern(value);
    } catch (e) {
      if (!(e instanceof TakoError)) throw e;
      throw new TakoError("config", `${where}: ${e.message}`, { cause: e });
    }
  }

  #parseKeepImages(value: string, where: string): number {
    const count = POSITIVE_INTEGER.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(count)) {
      this.#fail(
        where,
        `KeepImages= '${
          printable(value)
        }' is not a count; expected a whole number from 1, such as 'KeepImages=5'`,
      );
    }
    return count;
  }

  #parseMaxStoreSize(value: string, where: string): bigint {
    const bytes = parseByteSize(value);
    if (bytes === undefined || bytes === 0n) {
      this.#fail(
        where,
        `MaxStoreSize= '${
          printable(value)
        }' is not a size; expected a whole number of bytes above 0 with an optional K, M, G or T suffix, such as 'MaxStoreSize=10G'`,
      );
    }
    return bytes;
  }

  #fail(where: string, sentence: string): never {
    throw new TakoError("config", `${where}: ${sentence}.`);
  }
}

/**
 * The error for a line that holds a secret key: it says so in words and never
 * quotes the line, naming the key the line sets when it is a known one.
 */
function secretKeyError(text: string, where: string): TakoError {
  const name = trimBlanks(text.slice(0, Math.max(0, text.indexOf("="))));
  const takes = (KNOWN_KEYS as string[]).includes(name)
    ? `${name}= takes ${TAKES[name as Key]}`
    : "a config takes Key=Value settings";
  return new TakoError(
    "config",
    `${where} holds a secret key; ${takes}. Keep the secret key off client hosts, and make a new key pair if this file was shared.`,
  );
}

/** Checks an origin URL and returns it normalised, without trailing "/". */
function parseOrigin(value: string, where: string): string {
  const expected = "expected 'Origin=<url>' with an https://, http:// or file:// URL";
  const fail = (problem: string): never => {
    throw new TakoError(
      "config",
      `${where}: origin '${printable(maskUrl(value))}' ${problem}; ${expected}.`,
    );
  };
  // The URL parser silently drops tabs and newlines and encodes spaces; refuse them instead.
  if (/[\s\p{Cc}]/u.test(value)) fail("contains spaces or control characters");
  if (/[?#]/.test(value)) fail("has a query or fragment");
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail("is not a URL");
  }
  if (!URL_SCHEMES.includes(url.protocol)) fail(`has the scheme '${printable(url.protocol)}'`);
  if (url.protocol === "file:" && url.host !== "") {
    fail("names a host; a file URL needs an absolute path such as file:///srv/images");
  }
  // Every URL is data: one that the later steps could not decode is refused here.
  try {
    decodeURIComponent(url.pathname);
  } catch {
    fail("has a '%' that is not followed by two hexadecimal digits (write %25 for '%')");
  }
  return url.href.replace(/\/+$/, "");
}

/** Checks a unit name the way systemd does (without its suffix rules). */
function checkUnit(unit: string, key: Key, where: string): string {
  if (unit.length <= UNIT_NAME_MAX && UNIT_NAME.test(unit) && !unit.startsWith("-")) return unit;
  throw new TakoError(
    "config",
    `${where}: '${printable(unit)}' is not a systemd unit name; expected '${
      KEYS[key]
    }' with names of at most ${UNIT_NAME_MAX} characters from A-Z a-z 0-9 : _ . \\ @ - that do not start with '-'.`,
  );
}
