/**
 * The signed manifest, `Tako Manifest 1` (SPEC §2): the list of published
 * images, one `<version> <size> <sha256>` line each, in ascending version
 * order, followed by an Ed25519 signature over every byte before it.
 *
 * Reading follows SPEC §7: verify the signature over the exact bytes first,
 * parse only then, and accept only the one canonical spelling of every entry.
 *
 * @module
 */
import { decodeBase64Strict, encodeBase64 } from "./base64.ts";
import { SHA256_HEX } from "./digest.ts";
import { printable, TakoError } from "./errors.ts";
import { type SecretKey, sign, verify } from "./keys.ts";
import type { Pattern } from "./pattern.ts";
import { compareVersions, compareVersionsInPlace, hasPart, isValidVersion } from "./version.ts";

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

/**
 * Verifies a manifest and returns its entries (SPEC §2, §7). The file must be
 * at most {@link MAX_MANIFEST_BYTES}; its signature must verify under at
 * least one of `publicKeys` (key rotation); only then are the entries parsed,
 * and they must be in canonical form, in ascending version order and pairwise
 * unequal. Throws a TakoError of kind "integrity" whose message starts with
 * `source` for anything else, and never anything other than TakoError.
 *
 * @example
 * ```ts
 * declare const bytes: Uint8Array, publicKey: Uint8Array;
 * const entries = verifyManifest(bytes, [publicKey], "https://example.com/app/manifest");
 * ```
 */
export function verifyManifest(
  bytes: Uint8Array,
  publicKeys: readonly Uint8Array[],
  source: string,
  /** How the failure names `publicKeys`; `tako store` has no config. */
  keysName = "the configured public key(s)",
): Entry[] {
  const invalid = (problem: string) => new TakoError("integrity", `${source}: ${problem}`);
  // Before the signature verifies, a carriage return is the likeliest reason
  // for any failure (a copy with CRLF line ends), so say so; a whole-file scan
  // only on failure keeps it off the path of every good manifest.
  const rejected = (problem: string) => invalid(carriageReturnProblem(bytes) ?? problem);
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw invalid(
      `the manifest is larger than ${MAX_MANIFEST_BYTES} bytes, the most Tako accepts.`,
    );
  }
  if (!startsWithHeader(bytes)) {
    throw rejected(`not a Tako manifest; expected the first line 'Tako Manifest 1'.`);
  }
  if (bytes[bytes.length - 1] !== LF) {
    throw rejected("the manifest does not end with a line feed after the signature.");
  }

  const signatureStart = bytes.lastIndexOf(LF, bytes.length - 2) + 1;
  const signed = bytes.subarray(0, signatureStart);
  const signature = bytes.length - 1 - signatureStart === SIGNATURE_CHARS
    ? decodeBase64Strict(
      decoder.decode(bytes.subarray(signatureStart, bytes.length - 1)),
      SIGNATURE_BYTES,
    )
    : undefined;
  if (signature === undefined) {
    throw rejected(
      `line ${
        lineOf(bytes, signatureStart)
      }: expected the signature (${SIGNATURE_CHARS} characters of standard base64) as the last line, and nothing after it.`,
    );
  }
  if (!publicKeys.some((key) => verify(signature, signed, key))) {
    throw rejected(`the signature does not verify under ${keysName}.`);
  }
  return parseSigned(signed, invalid);
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

/** Parses the signed part (header through the blank line after the entries), already verified. */
function parseSigned(signed: Uint8Array, invalid: (problem: string) => TakoError): Entry[] {
  const nonAscii = findNonPrintable(signed);
  if (nonAscii >= 0) {
    const byte = signed[nonAscii]!;
    const problem = byte === CR
      ? CARRIAGE_RETURN
      : `byte 0x${byte.toString(16).padStart(2, "0")} is not printable ASCII.`;
    throw invalid(`line ${lineOf(signed, nonAscii)}: ${problem}`);
  }
  const text = decoder.decode(signed);
  // The text ends with a line feed, so the last element of the split is empty.
  const lines = text.split("\n");
  const blankBeforeSignature = lines.length - 2;
  if (lines[1] !== "") throw invalid("line 2: expected a blank line after the header.");
  if (blankBeforeSignature < 2 || lines[blankBeforeSignature] !== "") {
    throw invalid(`line ${blankBeforeSignature + 1}: expected a blank line before the signature.`);
  }

  const entries: Entry[] = [];
  let previous: Entry | undefined;
  for (let i = 2; i < blankBeforeSignature; i++) {
    const lineNumber = i + 1;
    const entry = parseEntryLine(lines[i]!, lineNumber, invalid);
    // Neighbours only: ascending order makes every pair ordered and unequal.
    if (previous !== undefined) {
      const order = compareVersionsInPlace(previous.version, entry.version);
      const [lower, higher] = [printable(previous.version), printable(entry.version)];
      if (order === 0) {
        throw invalid(
          `line ${lineNumber}: versions ${lower} and ${higher} are equal; each version may be listed once.`,
        );
      }
      if (order > 0) {
        throw invalid(
          `line ${lineNumber}: version ${higher} is lower than ${lower} above it; entries must be in ascending version order.`,
        );
      }
    }
    entries.push(entry);
    previous = entry;
  }
  return entries;
}

/** The index of the first byte that is neither a line feed nor printable ASCII, or -1. */
function findNonPrintable(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (byte !== LF && (byte < 0x20 || byte > 0x7e)) return i;
  }
  return -1;
}

/** Parses `<version> <size> <sha256>`: split at spaces, then linear checks of each field. */
function parseEntryLine(
  line: string,
  lineNumber: number,
  invalid: (problem: string) => TakoError,
): Entry {
  const firstSpace = line.indexOf(" ");
  const secondSpace = firstSpace < 0 ? -1 : line.indexOf(" ", firstSpace + 1);
  if (secondSpace < 0 || line.indexOf(" ", secondSpace + 1) >= 0) {
    throw invalid(`line ${lineNumber}: expected ${ENTRY_SHAPE}, found '${printable(line)}'.`);
  }
  const version = line.slice(0, firstSpace);
  const size = line.slice(firstSpace + 1, secondSpace);
  const sha256 = line.slice(secondSpace + 1);
  // The text is printable ASCII and the version holds no space, so it is valid
  // (isValidVersion) exactly when it has a part; this spares parsing it.
  const problem = (hasPart(version) ? undefined : versionProblem(version)) ??
    sizeProblem(size) ?? sha256Problem(sha256);
  if (problem !== undefined) throw invalid(`line ${lineNumber}: ${problem}`);
  const entry = { version, size: BigInt(size), sha256 };
  // Canonical form (SPEC §7): writing the entries back must give the signed
  // bytes. The header and blank lines were compared exactly, each line holds
  // exactly two spaces, and version and digest are the line's own text, so
  // what remains to hold is that the size written back is its text.
  if (String(entry.size) !== size) {
    throw invalid(`line ${lineNumber}: the size ${printable(size)} is not in canonical form.`);
  }
  return entry;
}

function versionProblem(version: string): string | undefined {
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

function sha256Problem(sha256: string): string | undefined {
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
 * Writes and signs a whole manifest. Like minisign, it verifies its own
 * output before returning, so a wrong key or an invalid entry list (unsorted,
 * equal versions, a malformed field) throws instead of being published.
 *
 * @example
 * ```ts
 * import type { SecretKey } from "./keys.ts";
 * declare const entries: Entry[], key: SecretKey;
 * await Deno.writeFile("manifest", signManifest(entries, key));
 * ```
 */
export function signManifest(entries: readonly Entry[], key: SecretKey): Uint8Array {
  const signed = encoder.encode(serializeEntries(entries));
  const signature = encodeBase64(sign(key, signed));
  const bytes = new Uint8Array(signed.length + signature.length + 1);
  bytes.set(signed, 0);
  bytes.set(encoder.encode(signature), signed.length);
  bytes[bytes.length - 1] = LF;
  verifyManifest(bytes, [key.publicKey], "the manifest being signed");
  return bytes;
}

/**
 * Inserts `entry` in version order into a sorted entry list. An identical
 * entry already present leaves the list as it is (`changed: false`); a
 * version that is present, by spelling or by equality under SPEC §3, with
 * another spelling, size or digest is refused with a usage error.
 *
 * @example
 * ```ts
 * declare const entries: Entry[], sha256: string;
 * const { entries: next, changed } = insertEntry(entries, { version: "1.1.0", size: 20n, sha256 });
 * ```
 */
export function insertEntry(
  entries: readonly Entry[],
  entry: Entry,
): { entries: Entry[]; changed: boolean } {
  const problem = versionProblem(entry.version) ??
    (entry.size < 0n ? `${entry.size} is not a size; expected a number of bytes.` : undefined) ??
    sha256Problem(entry.sha256);
  if (problem !== undefined) throw new TakoError("usage", `Cannot add an entry: ${problem}`);

  // Binary search: the first index whose version is not lower than entry's.
  let low = 0;
  let high = entries.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (compareVersions(entries[middle]!.version, entry.version) < 0) low = middle + 1;
    else high = middle;
  }
  const present = entries[low];
  if (present !== undefined && compareVersions(present.version, entry.version) === 0) {
    if (sameEntry(present, entry)) return { entries: [...entries], changed: false };
    throw new TakoError(
      "usage",
      present.version === entry.version
        ? `Version ${
          printable(entry.version)
        } is already published with another size or digest; published versions never change, so choose a new version.`
        : `Version ${printable(entry.version)} equals the published version ${
          printable(present.version)
        } under Tako's version order; choose a new version.`,
    );
  }
  return { entries: [...entries.slice(0, low), entry, ...entries.slice(low)], changed: true };
}

function sameEntry(a: Entry, b: Entry): boolean {
  return a.version === b.version && a.size === b.size && a.sha256 === b.sha256;
}

/**
 * Enforces the append-only history (SPEC §2): every entry of `old` must
 * appear in `next` unchanged. Throws an integrity error starting with
 * `source` that names the first entry missing or changed.
 *
 * @example
 * ```ts
 * declare const localEntries: Entry[], downloadedEntries: Entry[];
 * checkAppendOnly(localEntries, downloadedEntries, "https://example.com/app/manifest");
 * ```
 */
export function checkAppendOnly(
  old: readonly Entry[],
  next: readonly Entry[],
  source: string,
): void {
  const byVersion = new Map(next.map((e) => [e.version, e]));
  for (const entry of old) {
    const found = byVersion.get(entry.version);
    if (found === undefined) {
      throw new TakoError(
        "integrity",
        `${source}: version ${
          printable(entry.version)
        } of the local manifest is missing; published versions are never removed, so this looks like a rollback.`,
      );
    }
    if (!sameEntry(found, entry)) {
      throw new TakoError(
        "integrity",
        `${source}: version ${
          printable(entry.version)
        } has another size or digest than in the local manifest; published versions never change.`,
      );
    }
  }
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
