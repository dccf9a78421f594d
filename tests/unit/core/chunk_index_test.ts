import { createHash } from "node:crypto";
import {
  BLOCK_SIZE,
  blockCount,
  encodeParsedIndex,
  indexable,
  IndexBuilder,
  indexLength,
  indexReadLimit,
  MAX_INDEX_BYTES,
  parsedIndexPieces,
  strongSum,
  weakKey,
  weakSum,
} from "../../../lib/core/chunk_index.ts";
import { IndexReader, parseIndex } from "../../../lib/core/index_reader.ts";
import { strongSumOf, viewOf } from "../../../lib/core/block_sums.ts";
import { assert, assertTakoError } from "../../support/assert.ts";
import { indexV1 } from "../../support/index_v1.ts";

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function indexOf(image: Uint8Array, pieces = [image.length]): Uint8Array {
  const builder = new IndexBuilder();
  let at = 0;
  for (const n of pieces) {
    builder.push(image.subarray(at, at + n));
    at += n;
  }
  builder.push(image.subarray(at));
  return builder.finish(sha256(image));
}

function image(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) | 0;
    out[i] = x >>> 24;
  }
  return out;
}

Deno.test("weakSum() is rsync's checksum: b·2^16 + a", () => {
  assert.equal(weakSum(new Uint8Array([1, 2, 3]), 0, 3), (10 << 16) | 6);
  assert.equal(weakSum(new Uint8Array(0), 0, 0), 0);
  // a and b wrap at 2^16.
  assert.equal(weakSum(new Uint8Array(300).fill(255), 0, 300), 0xada22ad4);
});

Deno.test("strongSum() is XXH32 with seed 0 (vectors from libxxhash), at any offset", () => {
  const table: [string, number][] = [
    ["", 0x02cc5d05],
    ["a", 0x550d7456],
    ["abc", 0x32d153ff],
    ["0123456789abcdef", 0xc2c45b69],
    ["0123456789abcdefg", 0xcc79b217],
  ];
  for (const [text, expected] of table) {
    const bytes = new TextEncoder().encode(`xyz${text}`);
    assert.equal(strongSum(bytes, 3, bytes.length), expected, text);
  }
});

Deno.test("strongSumOf() equals strongSum() on whole, partial, aligned and unaligned blocks", () => {
  const bytes = new Uint8Array(4 * BLOCK_SIZE + 7);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919 + (i >> 9)) & 255;
  for (const shift of [0, 1, 2, 3, 4, 512]) {
    const view = bytes.subarray(shift);
    const dataView = viewOf(view);
    for (
      const [start, end] of [
        [0, BLOCK_SIZE],
        [4, BLOCK_SIZE + 4],
        [3, BLOCK_SIZE + 3],
        [1, BLOCK_SIZE + 1],
        [2 * BLOCK_SIZE + 7, 3 * BLOCK_SIZE + 7],
        [0, 100],
      ]
    ) {
      assert.equal(
        strongSumOf(view, dataView, start!, end!),
        strongSum(view, start!, end!),
        `shift ${shift}, [${start}, ${end})`,
      );
    }
  }
});

Deno.test("weakKey() is the b half of weakSum()", () => {
  assert.equal(weakKey(weakSum(new Uint8Array([1, 2, 3]), 0, 3)), 10);
  assert.equal(weakKey(0xada22ad4), 0xada2);
});

Deno.test("the index file is laid out as docs/formats.md says (version 2)", () => {
  const bytes = image(BLOCK_SIZE + 10);
  const index = indexOf(bytes);
  assert.equal(index.length, 56 + 2 * 6);
  assert.equal(new TextDecoder().decode(index.subarray(0, 8)), "TAKOINDX");
  const view = new DataView(index.buffer);
  assert.equal(view.getUint16(8), 2);
  assert.equal(view.getUint8(10), 2);
  assert.equal(view.getUint8(11), 4);
  assert.equal(view.getUint32(12), 4096);
  assert.equal(view.getBigUint64(16), BigInt(bytes.length));
  assert.equal(
    Array.from(index.subarray(24, 56), (b) => b.toString(16).padStart(2, "0")).join(""),
    sha256(bytes),
  );
  assert.equal(view.getUint16(56), weakSum(bytes, 0, BLOCK_SIZE) >>> 16);
  assert.equal(view.getUint32(58), strongSum(bytes, 0, BLOCK_SIZE));
  // The last, short block is summed over its own length.
  assert.equal(view.getUint16(62), weakSum(bytes, BLOCK_SIZE, bytes.length) >>> 16);
  assert.equal(view.getUint32(64), strongSum(bytes, BLOCK_SIZE, bytes.length));
});

Deno.test("the index of `image one\\n` is the example of docs/formats.md", () => {
  const bytes = new TextEncoder().encode("image one\n");
  const hex = Array.from(indexOf(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
  assert.equal(
    hex,
    "54414b4f494e4458" + "0002" + "02" + "04" + "00001000" + "000000000000000a" +
      "81b9783a13d6822dfb3d1413ae5654228b04fa8790c5d6a5b79ba889f184cce5" + "14a0" + "5f242efe",
  );
  // Its version-1 form, as earlier releases wrote it, and what it reads as: the same fields.
  const v1 = Array.from(indexV1(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
  assert.equal(
    v1,
    "54414b4f494e4458" + "0001" + "04" + "04" + "00001000" + "000000000000000a" +
      "81b9783a13d6822dfb3d1413ae5654228b04fa8790c5d6a5b79ba889f184cce5" + "14a0036f" + "5f242efe",
  );
});

Deno.test("a version-1 index reads as the same fields as the version-2 one of the image", () => {
  for (const length of [0, 10, BLOCK_SIZE, 5 * BLOCK_SIZE + 123]) {
    const bytes = image(length, 9);
    const v2 = parseIndex(indexOf(bytes), length, sha256(bytes), "v2");
    const v1 = parseIndex(indexV1(bytes), length, sha256(bytes), "v1");
    assert.equal(v1.version, 1);
    assert.equal(v2.version, 2);
    assert.deepEqual([...v1.weak], [...v2.weak]);
    assert.deepEqual([...v1.strong], [...v2.strong]);
  }
});

Deno.test("encodeParsedIndex() gives back a version-2 index's bytes, and a version-1 index as version 2", () => {
  for (const length of [0, 10, BLOCK_SIZE, 5 * BLOCK_SIZE + 123]) {
    const bytes = image(length, 11);
    const v2 = indexOf(bytes);
    assert.deepEqual(encodeParsedIndex(parseIndex(v2, length, sha256(bytes), "v2")), v2);
    assert.deepEqual(
      encodeParsedIndex(parseIndex(indexV1(bytes), length, sha256(bytes), "v1")),
      v2,
    );
  }
});

Deno.test("IndexBuilder gives the same index whatever the pieces", () => {
  const bytes = image(5 * BLOCK_SIZE + 123);
  const whole = indexOf(bytes);
  assert.deepEqual(indexOf(bytes, [1, 4095, 4097, 3, 9000]), whole);
  assert.deepEqual(indexOf(bytes, [0, 100, 0, 20000]), whole);
});

/** The index entries by the byte loops of weakSum() and strongSum(), block by block. */
function referenceEntries(bytes: Uint8Array): number[] {
  const out: number[] = [];
  for (let at = 0; at < bytes.length; at += BLOCK_SIZE) {
    const end = Math.min(bytes.length, at + BLOCK_SIZE);
    out.push(weakKey(weakSum(bytes, at, end)), strongSum(bytes, at, end));
  }
  return out;
}

function entriesOf(index: Uint8Array): number[] {
  const view = new DataView(index.buffer, index.byteOffset, index.byteLength);
  return Array.from(
    { length: (index.length - 56) / 3 },
    (_, i) => i % 2 === 0 ? view.getUint16(56 + 3 * i) : view.getUint32(56 + 3 * i - 1),
  );
}

Deno.test("IndexBuilder's word loop equals the byte loops for every length 0..9000, at any alignment", () => {
  const backing = image(9000 + 3 * BLOCK_SIZE + 8, 7);
  // Long runs of 0xff make a and b wrap at 2^16 inside one block.
  backing.fill(0xff, 100, 100 + 3 * BLOCK_SIZE);
  let x = 12345;
  const next = (bound: number) => {
    x = (Math.imul(x, 1103515245) + 12345) | 0;
    return (x >>> 8) % bound;
  };
  for (let length = 0; length <= 9000; length++) {
    const offset = length % 8; // aligned, and each misalignment of the word view
    const bytes = backing.subarray(offset + (length % 97), offset + (length % 97) + length);
    const builder = new IndexBuilder();
    // One piece, or two split anywhere (the second then starts mid-block).
    const split = length % 3 === 0 ? length : next(length + 1);
    builder.push(bytes.subarray(0, split));
    builder.push(bytes.subarray(split));
    const index = builder.finish(sha256(bytes));
    assert.deepEqual(entriesOf(index), referenceEntries(bytes), `length ${length}`);
  }
  // Many full blocks in one aligned piece, as the copy pump hands them.
  const big = image(64 * BLOCK_SIZE + 5, 3);
  assert.deepEqual(entriesOf(indexOf(big)), referenceEntries(big));
});

Deno.test("parseIndex() reads back what IndexBuilder wrote, empty images too", () => {
  for (const length of [0, 1, BLOCK_SIZE - 1, BLOCK_SIZE, 3 * BLOCK_SIZE + 1]) {
    const bytes = image(length);
    const parsed = parseIndex(indexOf(bytes), length, sha256(bytes), "test");
    assert.equal(parsed.count, blockCount(length));
    assert.equal(parsed.size, length);
    assert.equal(indexLength(length), 56 + 6 * parsed.count);
    assert.equal(indexReadLimit(length), 56 + 8 * parsed.count);
    const first = Math.min(length, BLOCK_SIZE);
    if (length > 0) assert.equal(parsed.weak[0], weakKey(weakSum(bytes, 0, first)));
  }
});

Deno.test("parseIndex() refuses an index that does not belong or is malformed", () => {
  const bytes = image(2 * BLOCK_SIZE);
  const digest = sha256(bytes);
  const good = indexOf(bytes);
  const src = "http://o/store/x.index";
  const patched = (at: number, values: number[]) => {
    const copy = good.slice();
    copy.set(values, at);
    return copy;
  };
  const cases: [Uint8Array, number, string, string][] = [
    [good.subarray(0, 55), bytes.length, digest, "fewer than its 56-byte header"],
    [good.subarray(0, good.length - 1), bytes.length, digest, "version-2 index of 2 blocks has 68"],
    [new Uint8Array([...good, 0]), bytes.length, digest, "has 69 bytes"],
    // A version-1 header on version-2 entries, and the reverse.
    [patched(8, [0, 1, 4]), bytes.length, digest, "version-1 index of 2 blocks has 72"],
    [indexV1(bytes).subarray(0, 68), bytes.length, digest, "version-1 index of 2 blocks has 72"],
    [patched(8, [0, 1]), bytes.length, digest, "2+4-byte checksums; version 1 has 4+4"],
    [
      patched(0, [0x54, 0x41, 0x4b, 0x4f, 0x49, 0x4e, 0x44, 0x59]),
      bytes.length,
      digest,
      "TAKOINDX",
    ],
    [
      patched(8, [0, 3]),
      bytes.length,
      digest,
      "format version 3; this client reads versions 1 and 2",
    ],
    [patched(8, [0, 0]), bytes.length, digest, "format version 0"],
    [patched(10, [4]), bytes.length, digest, "4+4-byte checksums; version 2 has 2+4"],
    [patched(12, [0, 0, 0x20, 0]), bytes.length, digest, "blocks of 8192 bytes"],
    [good, bytes.length + 1, digest, "manifest lists 8193"],
    [good, bytes.length, "0".repeat(64), `describes the image ${digest}`],
    [patched(16, [0xff]), bytes.length, digest, "manifest lists 8192"],
  ];
  for (const [input, size, sha, part] of cases) {
    assertTakoError(() => parseIndex(input, size, sha, src), "integrity", src, part);
  }
});

/** Parses `bytes` through an IndexReader, pushed in pieces of the lengths `cuts` (the rest last). */
function readInPieces(bytes: Uint8Array, cuts: number[], size: number, sha: string, src: string) {
  const reader = new IndexReader(size, sha, src);
  let at = 0;
  for (const cut of cuts) {
    reader.push(bytes.subarray(at, Math.min(bytes.length, at + cut)));
    at = Math.min(bytes.length, at + cut);
  }
  reader.push(bytes.subarray(at));
  assert.equal(reader.received, bytes.length);
  return reader.finish();
}

Deno.test("IndexReader reads an index pushed in pieces cut anywhere as parseIndex() reads it whole", () => {
  for (const length of [0, 10, BLOCK_SIZE, 7 * BLOCK_SIZE + 123]) {
    const bytes = image(length, 13);
    const digest = sha256(bytes);
    for (const file of [indexOf(bytes), indexV1(bytes)]) {
      const whole = parseIndex(file, length, digest, "x");
      // Every single cut (inside the header, an entry, between entries), and byte by byte.
      const splits = [...Array.from({ length: file.length + 1 }, (_, i) => [i]), [
        ...Array(file.length).fill(1),
      ]];
      for (const cuts of splits) {
        const read = readInPieces(file, cuts, length, digest, "x");
        assert.equal(read.version, whole.version);
        assert.equal(read.count, whole.count);
        assert.deepEqual([...read.weak], [...whole.weak], `cuts ${cuts.slice(0, 3)}`);
        assert.deepEqual([...read.strong], [...whole.strong]);
      }
    }
  }
});

Deno.test("IndexReader refuses what parseIndex() refuses, with the same message, in pieces too", () => {
  const bytes = image(2 * BLOCK_SIZE);
  const digest = sha256(bytes);
  const good = indexOf(bytes);
  const src = "http://o/store/x.index";
  const cases: [Uint8Array, string, string][] = [
    [good.subarray(0, 55), digest, "has 55 bytes, fewer than its 56-byte header"],
    [
      good.subarray(0, good.length - 1),
      digest,
      "has 67 bytes; a version-2 index of 2 blocks has 68",
    ],
    [new Uint8Array([...good, 0, 0, 0, 0, 0, 0, 0]), digest, "has 75 bytes; a version-2 index"],
    [good, "0".repeat(64), `describes the image ${digest}`],
  ];
  for (const [input, sha, part] of cases) {
    assertTakoError(() => parseIndex(input, bytes.length, sha, src), "integrity", src, part);
    for (const cut of [1, 30, 56, 60]) {
      assertTakoError(
        () => readInPieces(input, [cut, 3], bytes.length, sha, src),
        "integrity",
        src,
        part,
      );
    }
  }
  // A header that does not belong fails as soon as it is whole, before the entries come.
  const reader = new IndexReader(bytes.length, "0".repeat(64), src);
  reader.push(good.subarray(0, 55));
  assertTakoError(
    () => reader.push(good.subarray(55, 56)),
    "integrity",
    src,
    "describes the image",
  );
});

Deno.test("parsedIndexPieces() are the index file in pieces: the header in the first, 65,536 entries each", () => {
  for (const count of [0, 1, 65536, 65537, 2 * 65536 + 5]) {
    const size = count === 0 ? 0 : (count - 1) * BLOCK_SIZE + 100;
    const weak = Uint16Array.from({ length: count }, (_, k) => (k * 7919) & 0xffff);
    const strong = Uint32Array.from({ length: count }, (_, k) => Math.imul(k, 0x9e3779b1) >>> 0);
    const index = {
      size,
      sha256: "ab".repeat(32),
      blockSize: BLOCK_SIZE,
      version: 2,
      count,
      weak,
      strong,
    };
    // Each piece is valid until the next is asked for: copied as it comes.
    const pieces = Array.from(parsedIndexPieces(index), (piece) => piece.slice());
    assert.equal(pieces.length, Math.max(1, Math.ceil(count / 65536)));
    assert.equal(pieces[0]!.length, 56 + 6 * Math.min(count, 65536));
    const whole = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
    pieces.reduce((at, p) => (whole.set(p, at), at + p.length), 0);
    assert.deepEqual(whole, encodeParsedIndex(index));
    const back = parseIndex(whole, size, index.sha256, "x");
    assert.deepEqual([...back.weak], [...weak]);
    assert.deepEqual([...back.strong], [...strong]);
  }
});

Deno.test("indexable() bounds the index at 64 MiB (images up to about 42 GiB)", () => {
  const largest = Math.floor((MAX_INDEX_BYTES - 56) / 6) * BLOCK_SIZE;
  assert.equal(indexable(0), true);
  assert.equal(indexable(largest), true);
  assert.equal(indexLength(largest) <= MAX_INDEX_BYTES, true);
  assert.equal(indexable(largest + 1), false);
  assert.equal(indexable(Number.MAX_SAFE_INTEGER + 1), false);
  // A client reads no more than 64 MiB, even where a version-1 index would be longer.
  assert.equal(indexReadLimit(largest), MAX_INDEX_BYTES);
});

Deno.test("the index is 0.15 % of the image", () => {
  assert.equal(indexLength(1024 ** 3) / 1024 ** 3 < 0.0015, true);
});
