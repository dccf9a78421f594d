/**
 * Reading a chunk index (chunk_index.ts has the format): whole or as it
 * arrives, checked against the image the manifest lists before any entry is
 * taken. Every fault is an integrity TakoError naming the index: the caller
 * then downloads the image in full. Pure.
 *
 * @module
 */
import { toHex } from "./bytes.ts";
import {
  BLOCK_SIZE,
  blockCount,
  type ChunkIndex,
  INDEX_HEADER_BYTES,
  INDEX_MAGIC,
  INDEX_MAGIC_BYTES,
  INDEX_VERSION,
  INDEX_VERSION_1,
  STRONG_BYTES,
  WEAK_BYTES,
  WEAK_BYTES_1,
  weakKey,
} from "./chunk_index.ts";
import { TakoError } from "./errors.ts";

/**
 * Parses an index and checks that it belongs to the image the manifest
 * lists (`size` bytes with SHA-256 `sha256`). Every fault is an integrity
 * TakoError naming `source`: the caller then downloads the image in full.
 *
 * @example
 * ```ts
 * declare const bytes: Uint8Array, size: number, sha256: string;
 * const index = parseIndex(bytes, size, sha256, "https://images.example.com/app/store/….index");
 * ```
 */
export function parseIndex(
  bytes: Uint8Array,
  size: number,
  sha256: string,
  source: string,
): ChunkIndex {
  const reader = new IndexReader(size, sha256, source);
  reader.push(bytes);
  return reader.finish();
}

/**
 * {@link parseIndex} of an index that arrives in pieces (a response body, a
 * file read in pieces): the entries go straight into the parsed arrays, so
 * the index's bytes are never held whole beside them (6 MiB at 4 GiB).
 *
 * @example
 * ```ts
 * declare const pieces: Uint8Array[], size: number, sha256: string;
 * const reader = new IndexReader(size, sha256, "store/….index");
 * for (const piece of pieces) reader.push(piece);
 * const index = reader.finish();
 * ```
 */
export class IndexReader {
  readonly #size: number;
  readonly #sha256: string;
  readonly #source: string;
  readonly #header = new Uint8Array(INDEX_HEADER_BYTES);
  /** Bytes pushed so far (also those past the end, counted for the message). */
  #length = 0;
  #parsed: { version: number; count: number; weakBytes: number; expected: number } | undefined;
  #weak = new Uint16Array(0);
  #strong = new Uint32Array(0);
  /** An entry split between two pieces. */
  readonly #carry = new Uint8Array(WEAK_BYTES_1 + STRONG_BYTES);
  #carried = 0;
  #entry = 0;

  constructor(size: number, sha256: string, source: string) {
    this.#size = size;
    this.#sha256 = sha256;
    this.#source = source;
  }

  /** The bytes pushed so far. */
  get received(): number {
    return this.#length;
  }

  /** Takes the next bytes of the index; a header that does not belong fails at once. */
  push(bytes: Uint8Array): void {
    let at = 0;
    if (this.#length < INDEX_HEADER_BYTES) {
      at = Math.min(INDEX_HEADER_BYTES - this.#length, bytes.length);
      this.#header.set(bytes.subarray(0, at), this.#length);
    }
    this.#length += bytes.length;
    if (this.#parsed === undefined) {
      if (this.#length < INDEX_HEADER_BYTES) return;
      const header = readIndexHeader(this.#header, this.#size, this.#sha256, this.#source);
      this.#parsed = header;
      this.#weak = new Uint16Array(header.count);
      this.#strong = new Uint32Array(header.count);
    }
    const { count, weakBytes } = this.#parsed;
    const width = weakBytes + STRONG_BYTES;
    if (this.#carried > 0 && at < bytes.length) {
      const take = Math.min(width - this.#carried, bytes.length - at);
      this.#carry.set(bytes.subarray(at, at + take), this.#carried);
      this.#carried += take;
      at += take;
      if (this.#carried < width) return;
      this.#take(new DataView(this.#carry.buffer), 0, weakBytes);
      this.#carried = 0;
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    while (at + width <= bytes.length && this.#entry < count) {
      this.#take(view, at, weakBytes);
      at += width;
    }
    // A piece of the next entry is carried; bytes past the last one are only counted.
    if (this.#entry < count && at < bytes.length) {
      this.#carry.set(bytes.subarray(at), 0);
      this.#carried = bytes.length - at;
    }
  }

  #take(view: DataView, at: number, weakBytes: number): void {
    // Version 1's 32-bit sum is cut to the 16 bits version 2 keeps: one matcher for both.
    this.#weak[this.#entry] = weakBytes === WEAK_BYTES
      ? view.getUint16(at)
      : weakKey(view.getUint32(at));
    this.#strong[this.#entry] = view.getUint32(at + weakBytes);
    this.#entry++;
  }

  /** The index, once every byte is pushed: it must have exactly the length its header implies. */
  finish(): ChunkIndex {
    const length = this.#length;
    if (this.#parsed === undefined) throw shortOfHeader(length, this.#source);
    const { version, count, expected } = this.#parsed;
    requireIndexLength(length, version, count, expected, this.#source);
    return {
      size: this.#size,
      sha256: this.#sha256,
      blockSize: BLOCK_SIZE,
      version,
      count,
      weak: this.#weak,
      strong: this.#strong,
    };
  }
}

/**
 * Checks an index's header (`bytes` from its start, at least the header)
 * and its `length` against the image it must describe, as {@link parseIndex}
 * does before it reads the entries: enough to keep an index beside its
 * image, where it is parsed in full when used.
 *
 * @example
 * ```ts
 * declare const header: Uint8Array, length: number, size: number, sha256: string;
 * checkIndexHeader(header, length, size, sha256, "store/….index").version; // 2
 * ```
 */
export function checkIndexHeader(
  bytes: Uint8Array,
  length: number,
  size: number,
  sha256: string,
  source: string,
): { version: number; count: number; weakBytes: number } {
  if (length < INDEX_HEADER_BYTES || bytes.length < INDEX_HEADER_BYTES) {
    throw shortOfHeader(length, source);
  }
  const { version, count, weakBytes, expected } = readIndexHeader(bytes, size, sha256, source);
  requireIndexLength(length, version, count, expected, source);
  return { version, count, weakBytes };
}

/** The fields of an index's header (at least its 56 bytes), checked against the image's. */
function readIndexHeader(
  bytes: Uint8Array,
  size: number,
  sha256: string,
  source: string,
): { version: number; count: number; weakBytes: number; expected: number } {
  const fail = (what: string) => new TakoError("integrity", `The chunk index ${source} ${what}.`);
  if (!INDEX_MAGIC_BYTES.every((b, i) => bytes[i] === b)) {
    throw fail(`does not start with ${INDEX_MAGIC}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(8);
  if (version !== INDEX_VERSION && version !== INDEX_VERSION_1) {
    throw fail(`has format version ${version}; this client reads versions 1 and 2`);
  }
  const weakBytes = version === INDEX_VERSION ? WEAK_BYTES : WEAK_BYTES_1;
  if (view.getUint8(10) !== weakBytes || view.getUint8(11) !== STRONG_BYTES) {
    throw fail(
      `has ${view.getUint8(10)}+${
        view.getUint8(11)
      }-byte checksums; version ${version} has ${weakBytes}+${STRONG_BYTES}`,
    );
  }
  const blockSize = view.getUint32(12);
  if (blockSize !== BLOCK_SIZE) throw fail(`has blocks of ${blockSize} bytes; expected 4096`);
  const declared = view.getBigUint64(16);
  if (declared !== BigInt(size)) {
    throw fail(`describes an image of ${declared} bytes, but the manifest lists ${size}`);
  }
  const digest = toHex(bytes.subarray(24, 56));
  if (digest !== sha256) throw fail(`describes the image ${digest}, not ${sha256}`);
  const count = blockCount(size);
  const expected = INDEX_HEADER_BYTES + (weakBytes + STRONG_BYTES) * count;
  return { version, count, weakBytes, expected };
}

function requireIndexLength(
  length: number,
  version: number,
  count: number,
  expected: number,
  source: string,
): void {
  if (length !== expected) {
    throw new TakoError(
      "integrity",
      `The chunk index ${source} has ${length} bytes; a version-${version} index of ${count} blocks has ${expected}.`,
    );
  }
}

function shortOfHeader(length: number, source: string): TakoError {
  return new TakoError(
    "integrity",
    `The chunk index ${source} has ${length} bytes, fewer than its ${INDEX_HEADER_BYTES}-byte header.`,
  );
}
