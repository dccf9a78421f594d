import { TakoError } from "../../../lib/core/errors.ts";
import {
  AskedBytes,
  MAX_PART_HEAD,
  MAX_RANGE_HEADER_CHARS,
  MAX_RANGES,
  multipartBoundary,
  MultipartFraming,
  rangeHeader,
  rangesPerRequest,
} from "../../../lib/core/byteranges.ts";
import { refusedMultiRange, withRefusal } from "../../../lib/core/range_refusals.ts";
import { assert } from "../../support/assert.ts";
import { noise } from "../../support/bytes.ts";
import { BOUNDARY, concatParts, multipartBody, readMultipart } from "../../support/multipart.ts";

const FILE = noise(1000, 3);
const RANGES = [{ at: 10, length: 20 }, { at: 100, length: 5 }, { at: 990, length: 10 }];
const PARTS = RANGES.map((r) => ({ first: r.at, last: r.at + r.length - 1 }));
const ASKED = concatParts(RANGES.map((r) => FILE.subarray(r.at, r.at + r.length)));

function refused(fn: () => unknown, pattern: RegExp, what = ""): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TakoError && e.kind === "integrity", `${what}: ${e}`);
    assert.match((e as TakoError).message, pattern, what);
    return true;
  });
}

Deno.test("rangeHeader() and rangesPerRequest() ask at most MAX_RANGES ranges in a bounded header", () => {
  assert.equal(rangeHeader(RANGES), "bytes=10-29,100-104,990-999");
  const many = Array.from({ length: 500 }, (_, i) => ({ at: i * 10, length: 5 }));
  assert.equal(rangesPerRequest(many, 0), MAX_RANGES);
  assert.equal(rangesPerRequest(many, 450), 50);
  const far = Array.from({ length: 500 }, (_, i) => ({ at: 1e12 + i * 1e9, length: 5 }));
  const count = rangesPerRequest(far, 0);
  assert.ok(count < MAX_RANGES && count > 100, `${count}`);
  assert.ok(rangeHeader(far.slice(0, count)).length <= MAX_RANGE_HEADER_CHARS);
  assert.ok(rangeHeader(far.slice(0, count + 1)).length > MAX_RANGE_HEADER_CHARS);
});

Deno.test("multipartBoundary() takes the boundary of multipart/byteranges only", () => {
  assert.equal(
    multipartBoundary("multipart/byteranges; boundary=00000000000000000007"),
    "00000000000000000007",
  );
  assert.equal(multipartBoundary('Multipart/ByteRanges;boundary="a b:c"'), "a b:c");
  for (
    const bad of [
      null,
      "application/octet-stream",
      "multipart/byteranges",
      "multipart/byteranges; boundary=",
      "multipart/byteranges; boundary=a; boundary=b",
      `multipart/byteranges; boundary=${"x".repeat(71)}`,
      'multipart/byteranges; boundary="ends in space "',
      "multipart/mixed; boundary=x",
    ]
  ) assert.equal(multipartBoundary(bad), undefined, String(bad));
});

Deno.test("a multipart body as nginx and Go write it gives the asked bytes, in any feeding", () => {
  const nginx = multipartBody(FILE, PARTS);
  // Go's ServeContent: no empty line before the first boundary, transport padding after one.
  const go = concatParts([
    ...PARTS.flatMap((p, i) => [
      `${
        i === 0 ? "" : "\r\n"
      }--${BOUNDARY} \r\nContent-Range: bytes ${p.first}-${p.last}/1000\r\nContent-Type: x\r\n\r\n`,
      FILE.subarray(p.first, p.last + 1),
    ]),
    `\r\n--${BOUNDARY}--\r\n`,
  ]);
  for (const body of [nginx, go]) {
    for (const chunk of [1, 2, 7, 64, body.length]) {
      assert.deepEqual(readMultipart(body, BOUNDARY, RANGES, 1000, chunk), ASKED, `chunk ${chunk}`);
    }
  }
});

Deno.test("parts joined across adjacent asked ranges are taken; every byte exactly once", () => {
  const adjacent = [{ at: 0, length: 10 }, { at: 10, length: 10 }, { at: 50, length: 5 }];
  const body = multipartBody(FILE, [{ first: 0, last: 19 }, { first: 50, last: 54 }]);
  assert.deepEqual(
    readMultipart(body, BOUNDARY, adjacent, 1000, 3),
    concatParts([FILE.subarray(0, 20), FILE.subarray(50, 55)]),
  );
  // A part may end early within the asked bytes; the next must go on from there.
  const split = multipartBody(FILE, [{ first: 0, last: 4 }, { first: 5, last: 19 }, {
    first: 50,
    last: 54,
  }]);
  assert.equal(readMultipart(split, BOUNDARY, adjacent, 1000).length, 25);
});

Deno.test("hostile multipart bodies are refused as integrity errors", () => {
  const body = (parts: { first: number; last: number }[], boundary = BOUNDARY) =>
    multipartBody(FILE, parts, boundary);
  const cases: [string, Uint8Array, RegExp][] = [
    ["another boundary", body(PARTS, "other"), /does not start with its boundary/],
    [
      "a part outside the asked ranges",
      body([PARTS[0]!, { first: 200, last: 204 }, PARTS[2]!]),
      /where byte 100 was due/,
    ],
    [
      "a part reaching past an asked range",
      body([{ first: 10, last: 30 }]),
      /beyond the bytes asked for/,
    ],
    ["parts in another order", body([PARTS[1]!, PARTS[0]!, PARTS[2]!]), /where byte 10 was due/],
    [
      "a repeated part",
      body([PARTS[0]!, PARTS[0]!, PARTS[1]!, PARTS[2]!]),
      /where byte 100 was due/,
    ],
    ["overlapping parts", body([PARTS[0]!, { first: 25, last: 29 }]), /where byte 100 was due/],
    ["a missing part", body([PARTS[0]!, PARTS[2]!]), /where byte 100 was due/],
    ["a part too many", body([...PARTS, { first: 0, last: 1 }]), /after every byte asked for/],
    [
      "the closing delimiter early",
      body(PARTS.slice(0, 2)),
      /closing delimiter where byte 990 was due/,
    ],
    ["no closing delimiter", body(PARTS).subarray(0, body(PARTS).length - 8), /ended before/],
    ["a truncated part", body(PARTS).subarray(0, 150), /ended before/],
    [
      "another image size",
      concatParts([
        `--${BOUNDARY}\r\nContent-Range: bytes 10-29/999\r\n\r\n`,
        FILE.subarray(10, 30),
      ]),
      /the image has 1000 bytes/,
    ],
    [
      "no Content-Range",
      concatParts([`--${BOUNDARY}\r\nContent-Type: x\r\n\r\nab`]),
      /without Content-Range/,
    ],
    [
      "two Content-Ranges",
      concatParts([
        `--${BOUNDARY}\r\nContent-Range: bytes 10-29/1000\r\nContent-Range: bytes 10-29/1000\r\n\r\n`,
      ]),
      /Content-Range/,
    ],
    [
      "a malformed header",
      concatParts([`--${BOUNDARY}\r\nContent-Range bytes 10-29/1000\r\n\r\n`]),
      /malformed part header/,
    ],
    [
      "a huge part header",
      concatParts([`--${BOUNDARY}\r\nX: ${"y".repeat(MAX_PART_HEAD + 10)}\r\n\r\n`]),
      /part header over/,
    ],
    [
      "endless padding",
      concatParts([`--${BOUNDARY}${" ".repeat(MAX_PART_HEAD + 10)}`]),
      /part header over/,
    ],
    [
      "no CRLF after a part",
      concatParts([
        `--${BOUNDARY}\r\nContent-Range: bytes 10-29/1000\r\n\r\n`,
        FILE.subarray(10, 30),
        `XX--${BOUNDARY}--`,
      ]),
      /does not follow a part/,
    ],
    ["a preamble", concatParts([`junk\r\n`, body(PARTS)]), /does not start with its boundary/],
  ];
  for (const [what, bytes, pattern] of cases) {
    for (const chunk of [1, 5, bytes.length]) {
      refused(() => readMultipart(bytes, BOUNDARY, RANGES, 1000, chunk), pattern, what);
    }
  }
  const framing = new MultipartFraming(BOUNDARY, "u");
  framing.feed(new TextEncoder().encode(`--${BOUNDARY}--`));
  refused(() => framing.feed(new Uint8Array([13])), /after its closing delimiter/);
});

Deno.test("AskedBytes refuses a part once every asked byte has come, and parts of another image", () => {
  const asked = new AskedBytes([{ at: 0, length: 2 }], 10, "u");
  refused(() => asked.startPart({ first: 0, last: 1, size: 11 }), /the image has 10 bytes/);
  assert.equal(asked.startPart({ first: 0, last: 1, size: 10 }), 2);
  asked.received(2);
  assert.equal(asked.position, undefined);
  asked.finish();
  refused(() => asked.startPart({ first: 2, last: 3, size: 10 }), /after every byte/);
});

Deno.test("a multi-range refusal holds for a week, then multi-range is tried again", () => {
  const day = 24 * 3600 * 1000;
  const now = Date.parse("2026-06-10T00:00:00Z");
  const kept = withRefusal(undefined, "https://s3", true, now);
  assert.ok(refusedMultiRange(kept, "https://s3", now + 6 * day));
  assert.ok(!refusedMultiRange(kept, "https://s3", now + 7 * day));
  assert.ok(!refusedMultiRange(kept, "https://other", now));
  // Parts served: forgotten; a refusal past its time is dropped when another is written.
  assert.equal(withRefusal(kept, "https://s3", false, now), undefined);
  assert.deepEqual(Object.keys(withRefusal(kept, "https://b", true, now + 8 * day)!), [
    "https://b",
  ]);
});
