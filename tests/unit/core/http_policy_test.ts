/**
 * lib/core/http_policy.ts: the header policy, from tables; no I/O.
 */
import { createHash } from "node:crypto";
import { assert } from "../../support/assert.ts";
import { TakoError } from "../../../lib/core/errors.ts";
import {
  checkFullAnswer,
  checkPartialAnswer,
  checkReceived,
  conditionalHeaders,
  fetchErrorDetail,
  keptValidators,
  originUrl,
  rangeHeaders,
  rangeValidator,
  redirectTarget,
} from "../../../lib/core/http_policy.ts";

/** The TakoError `fn` throws (failing when it throws nothing or something else). */
function thrown(fn: () => unknown): TakoError {
  try {
    fn();
  } catch (e) {
    if (e instanceof TakoError) return e;
    throw e;
  }
  throw new Error("nothing was thrown");
}

const URL_ = new URL("https://o.example/store/ab");

Deno.test("`originUrl()` joins with exactly one slash", () => {
  const cases: [string, string, string][] = [
    ["https://h.example/app", "manifest", "https://h.example/app/manifest"],
    ["https://h.example/app/", "manifest", "https://h.example/app/manifest"],
    ["http://127.0.0.1:8080", "store/ab", "http://127.0.0.1:8080/store/ab"],
    ["file:///srv/origin/", "/manifest", "file:///srv/origin/manifest"],
    ["file:///", "manifest", "file:///manifest"],
  ];
  for (const [origin, path, expected] of cases) assert.equal(originUrl(origin, path), expected);
});

/** Follows one redirect from `from` to `to` (a first hop). */
function checkRedirect(from: URL, to: URL): URL {
  return redirectTarget({
    start: from,
    from,
    status: "302 Found",
    location: to.href,
    visited: new Set([from.href]),
    maxRedirects: 5,
  });
}

Deno.test("`redirectTarget()` keeps the scheme", () => {
  const allowed: [string, string][] = [
    ["https://a.example/m", "https://cdn.example/x/m"],
    ["http://a.example/m", "http://b.example:8080/m"],
  ];
  for (const [from, to] of allowed) {
    assert.equal(checkRedirect(new URL(from), new URL(to)).href, to);
  }
  const refused: [string, string, string][] = [
    ["https://a.example/m", "http://a.example/m", "drop https"],
    ["http://a.example/m", "https://a.example/m", "from http: to https:"],
    ["https://a.example/m", "file:///etc/passwd", "to file:"],
    ["http://a.example/m", "file:///etc/passwd", "to file:"],
    ["https://a.example/m", "ftp://a.example/m", "to ftp:"],
  ];
  for (const [from, to, why] of refused) {
    assert.throws(
      () => checkRedirect(new URL(from), new URL(to)),
      (e: Error & { kind?: string }) => {
        assert.equal(e.kind, "runtime");
        assert.ok(e.message.includes(why) && e.message.includes(to), e.message);
        return true;
      },
    );
  }
});

Deno.test("`keptValidators()` keeps an ETag, and a Last-Modified only when a second older than Date", () => {
  const date = "Tue, 14 Nov 2023 22:13:20 GMT";
  const table: [string, Record<string, string>, unknown][] = [
    ["ETag only", { etag: '"a"' }, { etag: '"a"', lastModified: undefined }],
    ["weak ETag", { etag: 'W/"a"' }, { etag: 'W/"a"', lastModified: undefined }],
    ["older Last-Modified", { "last-modified": "Tue, 14 Nov 2023 22:13:19 GMT", date }, {
      etag: undefined,
      lastModified: "Tue, 14 Nov 2023 22:13:19 GMT",
    }],
    ["Last-Modified in the second of the answer", { "last-modified": date, date }, undefined],
    [
      "Last-Modified after the answer",
      { "last-modified": "Tue, 14 Nov 2023 22:13:25 GMT", date },
      undefined,
    ],
    ["Last-Modified without Date", { "last-modified": "Tue, 14 Nov 2023 22:13:19 GMT" }, undefined],
    ["unparsable Last-Modified", { "last-modified": "yesterday", date }, undefined],
    ["nothing", {}, undefined],
    ["an overlong ETag", { etag: `"${"x".repeat(300)}"` }, undefined],
  ];
  for (const [name, headers, expected] of table) {
    assert.deepEqual(keptValidators(new Headers(headers)), expected, name);
  }
});

Deno.test("`rangeValidator()` takes a strong ETag, else a strong Last-Modified", () => {
  const date = "Tue, 14 Nov 2023 22:13:20 GMT";
  const old = "Tue, 14 Nov 2023 22:00:00 GMT";
  const table: [Record<string, string>, string | undefined][] = [
    [{ etag: '"a"', "last-modified": old, date }, '"a"'],
    [{ etag: 'W/"a"', "last-modified": old, date }, old],
    [{ etag: 'W/"a"' }, undefined],
    [{ "last-modified": date, date }, undefined],
    [{}, undefined],
  ];
  for (const [headers, expected] of table) {
    assert.equal(rangeValidator(new Headers(headers)), expected, JSON.stringify(headers));
  }
});

Deno.test("`redirectTarget()` follows a valid Location and refuses loops, long chains and bad locations", () => {
  const start = new URL("https://a.example/manifest");
  const hop = (from: string, location: string | null, visited: string[], maxRedirects = 5) =>
    redirectTarget({
      start,
      from: new URL(from),
      status: "302 Found",
      location,
      visited: new Set([start.href, ...visited]),
      maxRedirects,
    });
  assert.equal(hop(start.href, "moved/manifest", []).href, "https://a.example/moved/manifest");
  assert.equal(hop(start.href, "https://cdn.example/m", []).href, "https://cdn.example/m");
  const refused: [string, () => unknown, string[]][] = [
    ["loop", () => hop("https://a.example/a", "/manifest", ["https://a.example/a"]), [
      "redirects in a loop",
      "back to https://a.example/manifest",
    ]],
    [
      "too many",
      () =>
        hop("https://a.example/r5", "/r6", [1, 2, 3, 4, 5].map((i) => `https://a.example/r${i}`)),
      [
        "https://a.example/manifest redirects more than 5 times",
      ],
    ],
    ["no Location", () => hop(start.href, null, []), ["302 Found", "without a Location header"]],
    ["invalid", () => hop(start.href, "http://[bad", []), ["invalid location"]],
    ["another scheme", () => hop(start.href, "file:///etc/passwd", []), ["to file:"]],
  ];
  for (const [name, fn, parts] of refused) {
    const e = thrown(fn);
    assert.equal(e.kind, "runtime", name);
    for (const p of parts) assert.ok(e.message.includes(p), `${name}: ${e.message}`);
  }
  // Exactly at the limit is fine: 5 earlier hops allowed with maxRedirects 6.
  const five = [1, 2, 3, 4, 5].map((i) => `https://a.example/r${i}`);
  assert.equal(hop("https://a.example/r5", "/r6", five, 6).href, "https://a.example/r6");
});

Deno.test("`conditionalHeaders()` and `rangeHeaders()` send only safe header values", () => {
  assert.deepEqual(conditionalHeaders(undefined), {});
  assert.deepEqual(
    conditionalHeaders({ etag: '"a"', lastModified: "Tue, 14 Nov 2023 22:00:00 GMT" }),
    {
      "if-none-match": '"a"',
      "if-modified-since": "Tue, 14 Nov 2023 22:00:00 GMT",
    },
  );
  assert.deepEqual(conditionalHeaders({ etag: '"a"\r\nX: 1', lastModified: undefined }), {});
  assert.deepEqual(rangeHeaders(10, '"e"'), { range: "bytes=10-", "if-range": '"e"' });
  assert.deepEqual(rangeHeaders(10, undefined), { range: "bytes=10-" });
  assert.deepEqual(rangeHeaders(10, "x".repeat(300)), { range: "bytes=10-" });
});

Deno.test("`checkPartialAnswer()` wants exactly the bytes asked for; `checkFullAnswer()` the signed size", () => {
  const size = 10_000;
  const offset = 2000;
  const ok = new Headers({
    "content-range": `bytes ${offset}-${size - 1}/${size}`,
    "content-length": "8000",
  });
  checkPartialAnswer(URL_, 206, ok, offset, size);
  // Whitespace around the value is no error.
  const padded = new Headers({ "content-range": ` bytes ${offset}-${size - 1}/${size} ` });
  checkPartialAnswer(URL_, 206, padded, offset, size);
  checkPartialAnswer(
    URL_,
    206,
    new Headers({ "content-range": `bytes ${offset}-${size - 1}/${size}` }),
    offset,
    size,
  );
  const refused: [string, number, Record<string, string>, string][] = [
    [
      "wrong start",
      206,
      { "content-range": `bytes ${offset + 1}-${size - 1}/${size}` },
      "expected",
    ],
    [
      "wrong total",
      206,
      { "content-range": `bytes ${offset}-${size - 1}/${size + 1}` },
      "expected",
    ],
    ["no Content-Range", 206, {}, "expected"],
    ["wrong length", 206, {
      "content-range": `bytes ${offset}-${size - 1}/${size}`,
      "content-length": "8001",
    }, "announces 8001 bytes for bytes 2000 onwards"],
    [
      "a leading zero",
      206,
      { "content-range": `bytes 0${offset}-${size - 1}/${size}` },
      "expected",
    ],
    ["unknown total", 206, { "content-range": `bytes ${offset}-${size - 1}/*` }, "expected"],
    ["unsatisfied form", 206, { "content-range": `bytes */${size}` }, "expected"],
    ["another unit", 206, { "content-range": `items ${offset}-${size - 1}/${size}` }, "expected"],
    ["416", 416, {}, "(416)"],
  ];
  for (const [name, status, headers, says] of refused) {
    const e = thrown(() => checkPartialAnswer(URL_, status, new Headers(headers), offset, size));
    assert.equal(e.kind, "integrity", name);
    assert.ok(e.message.includes(says) && e.message.includes(URL_.href), `${name}: ${e.message}`);
  }
  checkFullAnswer(URL_, new Headers({ "content-length": "1000" }), 1000);
  checkFullAnswer(URL_, new Headers(), 1000);
  const e = thrown(() => checkFullAnswer(URL_, new Headers({ "content-length": "1005" }), 1000));
  assert.equal(e.kind, "integrity");
  assert.ok(
    e.message.includes("announces 1005 bytes") && e.message.includes("lists 1000"),
    e.message,
  );
});

Deno.test("`checkReceived()` wants the signed size and digest", () => {
  const sha = createHash("sha256").update("x").digest("hex");
  const expected = { size: 1000, sha256: sha };
  checkReceived(URL_, expected, { received: 1000, actual: sha, offset: 0 });
  const refused: [number, string, number, string][] = [
    [1001, sha, 0, "sends more than the 1000 bytes"],
    [500, sha, 0, "ended after 500 of the 1000 bytes"],
    [1000, "0".repeat(64), 0, `SHA-256 ${"0".repeat(64)}, but the manifest lists ${sha}`],
    [1000, "0".repeat(64), 300, "(resumed at byte 300)"],
  ];
  for (const [received, actual, offset, says] of refused) {
    const e = thrown(() => checkReceived(URL_, expected, { received, actual, offset }));
    assert.equal(e.kind, "integrity");
    assert.ok(e.message.includes(says), e.message);
  }
});

Deno.test("`fetchErrorDetail()` keeps the cause, not the URL Deno repeats", () => {
  const table: [unknown, string][] = [
    [
      new TypeError("fetch failed", { cause: new Error("Connection refused (os error 111)") }),
      "Connection refused (os error 111)",
    ],
    [
      new TypeError("error sending request for url (http://x/): connection closed"),
      "connection closed",
    ],
    [new Error("Error fetching file 'x': No such file"), "No such file"],
    ["plain\u0007", "plain\\u{7}"],
  ];
  for (const [e, expected] of table) assert.equal(fetchErrorDetail(e), expected);
});
