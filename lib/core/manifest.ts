/**
 * The signed manifest, `Tako Manifest 1` (SPEC §2): the list of published
 * images, one `<version> <size> <sha256>` line each, in ascending version
 * order, followed by an Ed25519 signature over every byte before it.
 *
 * Reading follows SPEC §7: verify the signature over the exact bytes first
 * (manifest_signature.ts, which needs the curve library), parse only then,
 * and accept only the one canonical spelling of every entry. This module
 * needs no cryptography, so a run that need not verify never loads it.
 *
 * @module
 */
import { decodeBase64Strict } from "./base64.ts";
import { SHA256_HEX } from "./digest.ts";
import { printable, TakoError } from "./errors.ts";
import type { Pattern } from "./pattern.ts";
import { compareVersions, isValidVersion } from "./version.ts";

/** One published image: its version as spelled by the publisher, its length and SHA-256. */
export interface Entry {
  readonly version: string;
  readonly size: bigint;
  /** 64 lowercase hex digits. */
  readonly sha256: string;
}

/** The first line of every manifest, with its line feed. */
export const MANIFEST_HEADER = "Tako Manifest 1\n";

/** The largest manifest Tako reads: 16 MiB, room for about 150,000 entries. */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

const LF = 0x0a;
const CR = 0x0d;
const SIGNATURE_BYTES = 64;
const SIGNATURE_CHARS = 88;
const CARRIAGE_RETURN = "carriage return found; lines must end with a line feed alone.";
const ENTRY_SHAPE = "'<version> <size> <sha256>'";
const DECIMAL = /^[0-9]+$/;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const HEADER_BYTES = encoder.encode(MANIFEST_HEADER);

/** A manifest that passed the structural checks: its signed part and its signature. */
export interface SplitManifest {
  /** Every byte before the signature line: what the signature covers. */
  readonly signed: Uint8Array;
  /** The 64 bytes of the Ed25519 signature. */
  readonly signature: Uint8Array;
}

/**
 * The structural checks of SPEC §7 that come before the signature: the size
 * limit, the header, the final line feed and a last line of exactly one
 * signature in base64. Throws an integrity error starting with `source`.
 * The signature itself is checked by manifest_signature.ts.
 *
 * @example
 * ```ts
 * declare const bytes: Uint8Array;
 * const { signed, signature } = splitManifest(bytes, "https://example.com/app/manifest");
 * ```
 */
export function splitManifest(bytes: Uint8Array, source: string): SplitManifest {
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new TakoError(
      "integrity",
      `${source}: the manifest is larger than ${MAX_MANIFEST_BYTES} bytes, the most Tako accepts.`,
    );
  }
  if (!startsWithHeader(bytes)) {
    throw rejectedManifest(
      bytes,
      source,
      `not a Tako manifest; expected the first line 'Tako Manifest 1'.`,
    );
  }
  if (bytes[bytes.length - 1] !== LF) {
    throw rejectedManifest(
      bytes,
      source,
      "the manifest does not end with a line feed after the signature.",
    );
  }
  const signatureStart = bytes.lastIndexOf(LF, bytes.length - 2) + 1;
  const signature = bytes.length - 1 - signatureStart === SIGNATURE_CHARS
    ? decodeBase64Strict(
      decoder.decode(bytes.subarray(signatureStart, bytes.length - 1)),
      SIGNATURE_BYTES,
    )
    : undefined;
  if (signature === undefined) {
    throw rejectedManifest(
      bytes,
      source,
      `line ${
        lineOf(bytes, signatureStart)
      }: expected the signature (${SIGNATURE_CHARS} characters of standard base64) as the last line, and nothing after it.`,
    );
  }
  return { signed: bytes.subarray(0, signatureStart), signature };
}

/**
 * The error for a manifest refused before its signature verified. A carriage
 * return is then the likeliest reason for any failure (a copy with CRLF line
 * ends), so it is named instead; the whole-file scan runs only on failure,
 * off the path of every good manifest.
 */
export function rejectedManifest(bytes: Uint8Array, source: string, problem: string): TakoError {
  return new TakoError("integrity", `${source}: ${carriageReturnProblem(bytes) ?? problem}`);
}

/**
 * The entries of a manifest's signed part (SPEC §2), which must be in
 * canonical form, in ascending version order and pairwise unequal. Only for
 * bytes whose signature verified (SPEC §7: verify first, parse only then), or
 * the very bytes verified when they were stored (the SHA-256 recorded in
 * `.state`, see docs/performance.md). Throws an integrity error starting
 * with `source`, and never anything other than TakoError.
 *
 * @example
 * ```ts
 * declare const bytes: Uint8Array, path: string;
 * const entries = parseEntries(splitManifest(bytes, path).signed, path);
 * ```
 */
export function parseEntries(signed: Uint8Array, source: string): Entry[] {
  return parseSigned(signed, (problem) => new TakoError("integrity", `${source}: ${problem}`));
}

function carriageReturnProblem(bytes: Uint8Array): string | undefined {
  const index = bytes.indexOf(CR);
  return index < 0 ? undefined : `line ${lineOf(bytes, index)}: ${CARRIAGE_RETURN}`;
}

function startsWithHeader(bytes: Uint8Array): boolean {
  return bytes.length >= HEADER_BYTES.length && HEADER_BYTES.every((byte, i) => bytes[i] === byte);
}

/** The 1-based line number of the byte at `index`. */
function lineOf(bytes: Uint8Array, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (bytes[i] === LF) line++;
  return line;
}

const SPACE = 0x20;
const DIGIT_ZERO = 0x30;
const DIGIT_NINE = 0x39;
const SHA256_CHARS = 64;

/**
 * Parses the signed part (header through the blank line after the entries),
 * already verified. One pass over the bytes by index: no line array, and each
 * field checked where it stands by table lookups (a regex per field of 100,000
 * entries cost more than the signature, see docs/performance.md). Every byte of
 * an entry line is checked by its field, so a good manifest is scanned once; a
 * byte that is not printable ASCII anywhere is the error named first.
 */
function parseSigned(signed: Uint8Array, invalid: (problem: string) => TakoError): Entry[] {
  const fail = (problem: string) => invalid(nonPrintableProblem(signed) ?? problem);
  // The header and its line feed were compared byte for byte by splitManifest; line 2 starts here.
  const lineTwo = HEADER_BYTES.length;
  if (signed.length > lineTwo && signed[lineTwo] !== LF) {
    throw fail("line 2: expected a blank line after the header.");
  }
  // The part ends with a line feed: the blank line before the signature starts just before it.
  const blankStart = signed.length - 1;
  if (blankStart <= lineTwo || signed[blankStart - 1] !== LF) {
    throw fail(
      `line ${lineOf(signed, signed.length) - 1}: expected a blank line before the signature.`,
    );
  }
  // The bytes outside the entry lines that no comparison above checked.
  const outside = [signed.subarray(0, lineTwo), signed.subarray(blankStart)];
  if (outside.some((bytes) => findNonPrintable(bytes) >= 0)) throw fail("");
  // Every line before the one being read is printable ASCII (else it failed): up to there an
  // index into the text is an index into the bytes.
  const text = decoder.decode(signed);
  const entries: Entry[] = [];
  let previous: string | undefined;
  let lineNumber = 3;
  for (let start = lineTwo + 1; start < blankStart; lineNumber++) {
    // A well-formed line in one pass; any other is refused with the problem of its first bad field.
    const end = scanEntryLine(signed, text, start, entries);
    if (end < 0) throw fail(entryLineProblem(text, start, signed.indexOf(LF, start), lineNumber));
    const entry = entries[entries.length - 1]!;
    // Neighbours only: ascending order makes every pair ordered and unequal.
    if (previous !== undefined) {
      const order = compareVersions(previous, entry.version);
      if (order >= 0) throw fail(orderProblem(lineNumber, previous, entry.version, order));
    }
    previous = entry.version;
    start = end + 1;
  }
  return entries;
}

/**
 * Why two neighbouring entries are out of order (`order` ≥ 0). Only on failure: the versions
 * are made printable here, never for each of the lines of a good manifest.
 */
function orderProblem(lineNumber: number, previous: string, version: string, order: number) {
  const [lower, higher] = [printable(previous), printable(version)];
  return order === 0
    ? `line ${lineNumber}: versions ${lower} and ${higher} are equal; each version may be listed once.`
    : `line ${lineNumber}: version ${higher} is lower than ${lower} above it; entries must be in ascending version order.`;
}

/** 1 for a line feed and the bytes of printable ASCII, 0 for every other byte. */
const PRINTABLE_OR_LF = new Uint8Array(256).fill(1, 0x20, 0x7f);
PRINTABLE_OR_LF[LF] = 1;

/** The index of the first byte that is neither a line feed nor printable ASCII, or -1. */
function findNonPrintable(bytes: Uint8Array): number {
  return bytes.findIndex((byte) => PRINTABLE_OR_LF[byte] === 0);
}

/** The problem of the first byte that is neither a line feed nor printable ASCII, if any. */
function nonPrintableProblem(bytes: Uint8Array): string | undefined {
  const at = findNonPrintable(bytes);
  if (at < 0) return undefined;
  const byte = bytes[at]!;
  const problem = byte === CR
    ? CARRIAGE_RETURN
    : `byte 0x${byte.toString(16).padStart(2, "0")} is not printable ASCII.`;
  return `line ${lineOf(bytes, at)}: ${problem}`;
}

/**
 * Why the line `[start, end)` of `text` is not `<version> <size> <sha256>` in
 * canonical form: a line scanEntryLine refused. Only on failure, so plain
 * string checks; the first field at fault is named.
 */
function entryLineProblem(text: string, start: number, end: number, lineNumber: number): string {
  const line = text.slice(start, end);
  const fields = line.split(" ");
  if (fields.length !== 3) {
    return `line ${lineNumber}: expected ${ENTRY_SHAPE}, found '${printable(line)}'.`;
  }
  const [version, size, sha256] = fields as [string, string, string];
  const problem = versionProblem(version) ?? sizeProblem(size) ?? sha256Problem(sha256);
  return `line ${lineNumber}: ${problem ?? `expected ${ENTRY_SHAPE}.`}`;
}

/**
 * Reads the line starting at `start` in one pass over its bytes, by table
 * lookups, when it is exactly `<version> <size> <sha256>` in canonical form
 * (SPEC §7: a version of printable ASCII with a part, a size without sign or
 * leading zeros, 64 lowercase hex digits): adds its entry to `entries` and
 * returns the index of its line feed; -1, adding nothing, for any other line.
 * The signed part ends with a line feed, which no field holds, so every loop
 * stops there.
 */
function scanEntryLine(bytes: Uint8Array, text: string, start: number, entries: Entry[]): number {
  let at = start;
  let part = false;
  for (let kind = VERSION_BYTE[bytes[at]!]!; kind !== 0; kind = VERSION_BYTE[bytes[++at]!]!) {
    if (kind === 2) part = true;
  }
  const firstSpace = at;
  if (!part || bytes[firstSpace] !== SPACE) return -1;
  let size = 0;
  for (let code = bytes[++at]!; code >= DIGIT_ZERO && code <= DIGIT_NINE; code = bytes[++at]!) {
    size = size * 10 + (code - DIGIT_ZERO);
  }
  const secondSpace = at;
  const digits = secondSpace - firstSpace - 1;
  if (digits === 0 || (digits > 1 && bytes[firstSpace + 1] === DIGIT_ZERO)) return -1;
  const end = secondSpace + 1 + SHA256_CHARS;
  if (bytes[secondSpace] !== SPACE || end >= bytes.length || bytes[end] !== LF) return -1;
  if (!isSha256(bytes, secondSpace + 1, end)) return -1;
  entries.push({
    version: text.slice(start, firstSpace),
    size: size <= Number.MAX_SAFE_INTEGER
      ? BigInt(size)
      : BigInt(text.slice(firstSpace + 1, secondSpace)),
    sha256: text.slice(secondSpace + 1, end),
  });
  return end;
}

/** 1 for the bytes of lowercase hex digits, 0 for every other byte. */
const HEX_DIGIT = new Uint8Array(256);
for (const code of encoder.encode("0123456789abcdef")) HEX_DIGIT[code] = 1;

/** 64 lowercase hex digits (a table lookup per byte, no branch: the hottest loop of a large read). */
function isSha256(bytes: Uint8Array, start: number, end: number): boolean {
  if (end - start !== SHA256_CHARS) return false;
  let all = 1;
  for (let i = start; i < end; i++) all &= HEX_DIGIT[bytes[i]!]!;
  return all === 1;
}

const DOT = 0x2e;
const DASH = 0x2d;
const UNDERSCORE = 0x5f;

/**
 * The bytes a version may hold (isValidVersion: printable ASCII but space): 1 for a separator,
 * 2 for a byte of a part; 0 for every other byte.
 */
const VERSION_BYTE = new Uint8Array(256).fill(2, 0x21, 0x7f);
for (const separator of [DOT, DASH, UNDERSCORE]) VERSION_BYTE[separator] = 1;

/** Why `version` cannot be published, or undefined when it can. */
export function versionProblem(version: string): string | undefined {
  return isValidVersion(version)
    ? undefined
    : `'${
      printable(version)
    }' is not a valid version; expected printable ASCII without spaces, such as 1.2.0.`;
}

function sizeProblem(size: string): string | undefined {
  const canonical = DECIMAL.test(size) && (size.length === 1 || size[0] !== "0");
  return canonical
    ? undefined
    : `'${
      printable(size)
    }' is not a size; expected a decimal number of bytes without sign or leading zeros.`;
}

/** Why `sha256` is not a digest as Tako writes it, or undefined when it is one. */
export function sha256Problem(sha256: string): string | undefined {
  return SHA256_HEX.test(sha256)
    ? undefined
    : `'${printable(sha256)}' is not a SHA-256; expected 64 lowercase hexadecimal digits.`;
}

/**
 * The signed part of a manifest: header, blank line, one line per entry and
 * a blank line. The entries are written as given, in their order.
 *
 * @example
 * ```ts
 * serializeEntries([]); // "Tako Manifest 1\n\n\n"
 * ```
 */
export function serializeEntries(entries: readonly Entry[]): string {
  const lines = entries.map((e) => serializeEntry(e) + "\n");
  return `${MANIFEST_HEADER}\n${lines.join("")}\n`;
}

/** One entry line, without its line feed. */
function serializeEntry(entry: Entry): string {
  return `${entry.version} ${entry.size} ${entry.sha256}`;
}

/**
 * The entries that `pattern` matches, newest first by `pattern.compare`.
 *
 * @example
 * ```ts
 * import type { Pattern } from "./pattern.ts";
 * declare const entries: Entry[], pattern: Pattern;
 * const newest = compatibleEntries(entries, pattern)[0];
 * ```
 */
export function compatibleEntries(entries: readonly Entry[], pattern: Pattern): Entry[] {
  return entries
    .filter((e) => pattern.matches(e.version))
    .sort((a, b) => pattern.compare(b.version, a.version));
}
