import fc from "fast-check";
import { MAX_CONFIG_SIZE, parseByteSize, parseConfig } from "../../../lib/core/config.ts";
import { TakoError } from "../../../lib/core/errors.ts";
import { ANY_VERSION } from "../../../lib/core/pattern.ts";
import { assert, assertRejectsTako } from "../../support/assert.ts";
import { fuzzRuns } from "../../support/fuzz.ts";
import { TEST_SECRET_KEY, TEST_SECRET_KEY_64 } from "../../support/vectors.ts";

const FILE = "/etc/tako/app-foo";
/** The public key of SPEC §1's test vector. */
const TEST_KEY = "l0D28J2fiIXvWPbeZP7wkaq+dB55Gl2ysigl9mQH29k=";
/** A second key (seed "rotated-key-for-config-tests-000") for key rotation. */
const ROTATED_KEY = "/Kcg8oF4v4GS9I8mLfYPH6uJNd4x6ZnXytjJi0gPmYs=";
/** Lines 1 to 3 of a minimal valid config; tests append the line under test as line 4. */
const BASE = [
  "Origin=https://images.example.com/app-foo",
  `PublicKey=${TEST_KEY}`,
  "Destination=/var/lib/images/app-foo",
];

function decodeBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function configOf(...lines: string[]): string {
  return lines.join("\n") + "\n";
}

/** Asserts that parsing fails with a config error starting with "<FILE> line <n>: ". */
async function assertFailsAt(text: string, line: number, ...parts: string[]): Promise<TakoError> {
  const e = await assertRejectsTako(() => parseConfig(text, FILE), "config", ...parts);
  const prefix = `${FILE} line ${line}: `;
  assert.ok(
    e.message.startsWith(prefix),
    `${JSON.stringify(e.message)} should start with ${prefix}`,
  );
  return e;
}

// The seed README's examples, verbatim, key included.
const SEED_KEY = "8+r5DKNN/cwI+h0oHxMtgdyND3S/5xDLHQu0hFUmq+g=";
Deno.test("`parseConfig()` reads the seed README's first example without Version=", async () => {
  const config = await parseConfig(
    configOf(
      "Origin=https://images.example.com/app-foo",
      `PublicKey=${SEED_KEY}`,
      "Destination=/var/lib/images/app-foo",
      "RestartUnit=app-foo.service",
    ),
    FILE,
  );
  assert.equal(config.file, FILE);
  assert.deepEqual(config.origins, ["https://images.example.com/app-foo"]);
  assert.deepEqual(config.publicKeys, [decodeBase64(SEED_KEY)]);
  assert.equal(config.destination, "/var/lib/images/app-foo");
  assert.equal(config.versionGiven, false);
  assert.equal(config.pattern, ANY_VERSION);
  assert.deepEqual(config.restartUnits, ["app-foo.service"]);
  assert.equal(config.keepImages, undefined);
  assert.equal(config.maxStoreSize, undefined);
});

Deno.test("`parseConfig()` reads the seed README's second example with two RestartUnit= lines", async () => {
  const config = await parseConfig(
    configOf(
      "Origin=https://images.example.com/app-foo",
      `PublicKey=${SEED_KEY}`,
      "Destination=/var/lib/images/app-foo",
      "RestartUnit=app-foo.service",
      "RestartUnit=app-bar.service",
    ),
    FILE,
  );
  assert.deepEqual(config.restartUnits, ["app-foo.service", "app-bar.service"]);
  assert.equal(config.versionGiven, false);
});

Deno.test("`parseConfig()` reads the guide's example with Version=*", async () => {
  const config = await parseConfig(
    configOf(
      "Origin=https://images.example.com/app-foo",
      `PublicKey=${TEST_KEY}`,
      "Destination=/tmp/app-foo",
      "Version=*",
    ),
    "example.tako",
  );
  assert.deepEqual(config.origins, ["https://images.example.com/app-foo"]);
  assert.deepEqual(config.publicKeys, [decodeBase64(TEST_KEY)]);
  assert.equal(config.destination, "/tmp/app-foo");
  assert.equal(config.versionGiven, true);
  assert.equal(config.pattern.text, "*");
  assert.equal(config.pattern.kind, "wildcard");
  assert.deepEqual(config.restartUnits, []);
});

Deno.test("`parseConfig()` takes a semver range for Version=", async () => {
  const config = await parseConfig(configOf(...BASE, "Version=^1.4"), FILE);
  assert.equal(config.versionGiven, true);
  assert.equal(config.pattern.text, "^1.4");
  assert.equal(config.pattern.kind, "semver");
});

Deno.test("`parseConfig()` mixes Restart= and RestartUnit=, several units per line, in order, once each", async () => {
  const config = await parseConfig(
    configOf(
      ...BASE,
      "Restart=app-foo.service app-bar",
      "RestartUnit=worker@1.service \t app-foo.service",
      "Restart=app-baz.socket",
      "RestartUnit=app-bar",
    ),
    FILE,
  );
  assert.deepEqual(config.restartUnits, [
    "app-foo.service",
    "app-bar",
    "worker@1.service",
    "app-baz.socket",
  ]);
});

Deno.test("`parseConfig()` skips comments and blank lines and trims whitespace", async () => {
  const config = await parseConfig(
    [
      "# Tako config for app-foo",
      "; another comment, with = in it",
      "   # an indented comment",
      "\t; an indented comment",
      "",
      "   ",
      "  Origin =  https://images.example.com/app-foo  ",
      `\tPublicKey\t=\t${TEST_KEY}\t`,
      "Destination= /var/lib/images/app foo ",
      " Version = 1.* ",
      "Restart =  a.service   b.service ",
      "",
    ].join("\n"),
    FILE,
  );
  assert.deepEqual(config.origins, ["https://images.example.com/app-foo"]);
  assert.deepEqual(config.publicKeys, [decodeBase64(TEST_KEY)]);
  assert.equal(config.destination, "/var/lib/images/app foo");
  assert.equal(config.pattern.text, "1.*");
  assert.deepEqual(config.restartUnits, ["a.service", "b.service"]);
});

Deno.test("`parseConfig()` accepts CRLF line ends, a leading BOM and a missing final newline", async () => {
  const config = await parseConfig("\uFEFF" + [...BASE, "KeepImages=3"].join("\r\n"), FILE);
  assert.deepEqual(config.origins, ["https://images.example.com/app-foo"]);
  assert.equal(config.destination, "/var/lib/images/app-foo");
  assert.equal(config.keepImages, 3);
});

Deno.test("`parseConfig()` keeps mirrors and rotated keys in order", async () => {
  const config = await parseConfig(
    configOf(
      "Origin=https://images.example.com/app-foo/",
      "Origin=http://mirror.example.org/tako/app-foo",
      "Origin=file:///srv/images/app-foo/",
      `PublicKey=${TEST_KEY}`,
      `PublicKey=${ROTATED_KEY}`,
      "Destination=images",
    ),
    FILE,
  );
  assert.deepEqual(config.origins, [
    "https://images.example.com/app-foo",
    "http://mirror.example.org/tako/app-foo",
    "file:///srv/images/app-foo",
  ]);
  assert.deepEqual(config.publicKeys, [decodeBase64(TEST_KEY), decodeBase64(ROTATED_KEY)]);
  assert.equal(config.destination, "images");
});

Deno.test("`parseConfig()` normalises an origin to its URL form without trailing slashes", async () => {
  const table: [string, string][] = [
    ["https://images.example.com", "https://images.example.com"],
    ["https://images.example.com/", "https://images.example.com"],
    ["HTTPS://Images.Example.COM/app//", "https://images.example.com/app"],
    ["https://images.example.com:443/a/./b/../c", "https://images.example.com/a/c"],
    ["http://127.0.0.1:8080/origin", "http://127.0.0.1:8080/origin"],
    ["file:///srv/images", "file:///srv/images"],
    ["file://localhost/srv/images", "file:///srv/images"],
  ];
  for (const [written, origin] of table) {
    const config = await parseConfig(configOf(`Origin=${written}`, ...BASE.slice(1)), FILE);
    assert.deepEqual(config.origins, [origin], written);
  }
});

Deno.test("`parseConfig()` reads KeepImages= and MaxStoreSize=", async () => {
  const table: [string, string, number, bigint][] = [
    ["1", "512", 1, 512n],
    ["5", "10K", 5, 10240n],
    ["12", "10G", 12, 10n * 1024n ** 3n],
    ["9007199254740991", "2T", Number.MAX_SAFE_INTEGER, 2n * 1024n ** 4n],
  ];
  for (const [keep, size, keepImages, maxStoreSize] of table) {
    const config = await parseConfig(
      configOf(...BASE, `KeepImages=${keep}`, `MaxStoreSize=${size}`),
      FILE,
    );
    assert.equal(config.keepImages, keepImages);
    assert.equal(config.maxStoreSize, maxStoreSize);
  }
});

Deno.test("`parseByteSize()` reads bytes with K, M, G and T suffixes (powers of 1024)", () => {
  const table: [string, bigint | undefined][] = [
    ["512", 512n],
    ["0", 0n],
    ["10K", 10n * 1024n],
    ["3M", 3n * 1024n ** 2n],
    ["10G", 10n * 1024n ** 3n],
    ["2T", 2n * 1024n ** 4n],
    ["123456789012345678901234567890", 123456789012345678901234567890n],
    ["1.5G", undefined],
    ["10k", undefined],
    ["10 G", undefined],
    [" 10G", undefined],
    ["10GB", undefined],
    ["1P", undefined],
    ["G", undefined],
    ["", undefined],
    ["-1", undefined],
    ["+1", undefined],
    ["01", undefined],
    ["0x10", undefined],
    ["1e3", undefined],
    ["١٢", undefined],
  ];
  for (const [text, bytes] of table) assert.equal(parseByteSize(text), bytes, text);
});

Deno.test("`parseConfig()` rejects malformed lines naming the file and line", async () => {
  const table: [string, string[]][] = [
    ["Origin https://images.example.com/mirror", [
      "'Origin https://images.example.com/mirror'",
      "Key=Value",
    ]],
    ["[Tako]", ["Key=Value"]],
    ["=value", ["starts with '='", "Key=Value"]],
    ["Foo=bar", [
      "unknown key 'Foo'",
      "Origin, PublicKey, Destination, Version, Restart, RestartUnit, KeepImages, MaxStoreSize",
    ]],
    ["Restart Unit=a.service", ["unknown key 'Restart Unit'"]],
    ["version=1.*", ["unknown key 'version'", "case-sensitive", "Version"]],
    ["ORIGIN=https://x.example", ["unknown key 'ORIGIN'", "did you mean Origin"]],
    ["Version=", ["Version= has no value", "Version=<pattern>"]],
    ["Restart=  \t ", ["Restart= has no value"]],
    ["Origin=", ["Origin= has no value", "Origin=<url>"]],
    ["PublicKey=", ["PublicKey= has no value"]],
  ];
  for (const [line, parts] of table) {
    await assertFailsAt(configOf(...BASE, line), 4, ...parts);
  }
});

Deno.test("`parseConfig()` rejects a repeated single-valued key naming both lines", async () => {
  const table: [string, string][] = [
    ["Destination", "/srv/other"],
    ["Version", "1.*"],
    ["KeepImages", "3"],
    ["MaxStoreSize", "1G"],
  ];
  for (const [key, value] of table) {
    const text = configOf(
      `${key}=${value}`,
      ...(key === "Destination" ? BASE.slice(0, 2) : BASE),
      "# between",
      `${key}=${value}`,
    );
    const line = key === "Destination" ? 5 : 6;
    await assertFailsAt(text, line, `${key}= is repeated`, "line 1", "expected it once");
  }
});

Deno.test("`parseConfig()` names each missing required key", async () => {
  for (const [index, hint] of ["Origin=<url>", "PublicKey=", "Destination=<directory>"].entries()) {
    const lines = BASE.filter((_, i) => i !== index);
    const e = await assertRejectsTako(
      () => parseConfig(configOf(...lines), FILE),
      "config",
      "is missing",
      hint,
    );
    assert.ok(e.message.startsWith(`${FILE}: `), e.message);
  }
  await assertRejectsTako(
    () => parseConfig("# c\n", FILE),
    "config",
    `${FILE}: Origin= is missing`,
  );
});

Deno.test("`parseConfig()` rejects invalid origins naming the value", async () => {
  const table: [string, string][] = [
    ["ftp://images.example.com/app", "'ftp:'"],
    ["ssh://images.example.com/app", "'ssh:'"],
    ["images.example.com/app", "is not a URL"],
    ["/srv/images", "is not a URL"],
    ["https://", "is not a URL"],
    ["https://images.example.com/app?channel=stable", "query or fragment"],
    ["https://images.example.com/app?", "query or fragment"],
    ["https://images.example.com/app#top", "query or fragment"],
    ["https://images.example.com/my app", "spaces"],
    ["https://images.example.com/my\tapp", "spaces"],
    ["https://images.example.com/\x01app", "control characters"],
    ["https://images.example.com/\u00a0app", "spaces"],
    ["file://srv/images", "names a host"],
  ];
  for (const [origin, problem] of table) {
    const e = await assertFailsAt(
      configOf(...BASE, `Origin=${origin}`),
      4,
      "origin '",
      problem,
      "Origin=<url>",
    );
    assert.doesNotMatch(e.message, /\p{Cc}/u, "raw control characters echoed");
  }
});

Deno.test("`parseConfig()` rejects a repeated origin or public key naming the first line", async () => {
  await assertFailsAt(
    configOf(...BASE, "Origin=https://images.example.com/app-foo/"),
    4,
    "'https://images.example.com/app-foo'",
    "already listed on line 1",
  );
  await assertFailsAt(configOf(...BASE, ` PublicKey = ${TEST_KEY}`), 4, "already listed on line 2");
});

Deno.test("`parseConfig()` passes public key errors on with the file and line", async () => {
  for (const key of ["not a key", TEST_KEY.slice(1), `${TEST_KEY}A`]) {
    await assertFailsAt(configOf(BASE[0]!, `PublicKey=${key}`, BASE[2]!), 2);
  }
});

Deno.test("`parseConfig()` rejects invalid unit names", async () => {
  const table = [
    "-app.service",
    "app/foo.service",
    "app$.service",
    "äpp.service",
    "a".repeat(256),
    "ok.service bad*.service",
  ];
  for (const units of table) {
    for (const key of ["Restart", "RestartUnit"]) {
      await assertFailsAt(
        configOf(...BASE, `${key}=${units}`),
        4,
        "is not a systemd unit name",
        `${key}=<unit>`,
      );
    }
  }
  const longest = `${"a".repeat(247)}.service`;
  const config = await parseConfig(configOf(...BASE, `Restart=${longest} x:y\\z_0@i.mount`), FILE);
  assert.deepEqual(config.restartUnits, [longest, "x:y\\z_0@i.mount"]);
});

Deno.test("`parseConfig()` rejects KeepImages= that is not a positive whole number", async () => {
  for (const value of ["0", "-1", "+1", "01", "1.5", "1e3", "five", "9007199254740992", "1 2"]) {
    await assertFailsAt(configOf(...BASE, `KeepImages=${value}`), 4, "KeepImages=", "from 1");
  }
});

Deno.test("`parseConfig()` rejects MaxStoreSize= that is not a size above 0", async () => {
  for (const value of ["0", "0G", "1.5G", "10g", "-5", "10 G", "G", "lots"]) {
    await assertFailsAt(
      configOf(...BASE, `MaxStoreSize=${value}`),
      4,
      `'${value}' is not a size`,
      "MaxStoreSize=10G",
    );
  }
});

Deno.test("`parseConfig()` rejects a Destination= with a NUL character", async () => {
  await assertFailsAt(configOf(...BASE.slice(0, 2), "Destination=/srv/\0images"), 3, "NUL");
});

Deno.test("`parseConfig()` says that an empty file is empty", async () => {
  for (const text of ["", "\n\n", " \t\r\n", "\uFEFF"]) {
    const e = await assertRejectsTako(() => parseConfig(text, FILE), "config", "the file is empty");
    assert.ok(e.message.startsWith(`${FILE}: `), e.message);
  }
  // Comments alone are not empty: the missing keys are named.
  await assertRejectsTako(
    () => parseConfig("# nothing yet\n", FILE),
    "config",
    "Origin= is missing",
  );
});

Deno.test("`parseConfig()` refuses an origin whose path cannot be decoded", async () => {
  for (const origin of ["file:///srv/o100%/", "file:///srv/%zz", "https://host/a%e9%"]) {
    await assertFailsAt(
      configOf(`Origin=${origin}`, ...BASE.slice(1)),
      1,
      "'%' that is not followed",
    );
  }
  const ok = await parseConfig(configOf("Origin=file:///srv/o100%25/", ...BASE.slice(1)), FILE);
  assert.deepEqual(ok.origins, ["file:///srv/o100%25"]);
});

Deno.test("`parseConfig()` rejects a Destination= that is a URL", async () => {
  await assertFailsAt(
    configOf(...BASE.slice(0, 2), "Destination=https://deploy:pw@host/app"),
    3,
    "Destination= is a URL; expected a local directory",
  );
});

Deno.test("`parseConfig()` names a secret key found in any line without quoting it", async () => {
  const body = TEST_SECRET_KEY.slice("SECRET+".length);
  const table: [string, string][] = [
    [`PublicKey=${TEST_SECRET_KEY}`, "PublicKey= takes the public key"],
    [`PublicKey=${body}`, "PublicKey= takes the public key"],
    [`PublicKey = ${TEST_SECRET_KEY_64}`, "PublicKey= takes the public key"],
    [`Origin=https://host/${TEST_SECRET_KEY}`, "Origin= takes the origin's URL"],
    [`Version=${TEST_SECRET_KEY}`, "Version= takes a version pattern"],
    [`Restart=app.service ${TEST_SECRET_KEY}`, "Restart= takes unit names"],
    [`Bogus=${TEST_SECRET_KEY}`, "a config takes Key=Value settings"],
    [TEST_SECRET_KEY, "a config takes Key=Value settings"],
    [`${TEST_SECRET_KEY_64}=x`, "a config takes Key=Value settings"],
  ];
  for (const [line, takes] of table) {
    const text = configOf(BASE[0]!, line, BASE[1]!, BASE[2]!);
    const e = await assertRejectsTako(() => parseConfig(text, FILE), "config");
    assert.ok(e.message.startsWith(`${FILE} line 2 holds a secret key; ${takes}`), e.message);
    assert.ok(!e.message.includes(body.slice(0, 10)), e.message);
  }
  // The secret key's line is refused even after a line that sets the same key.
  const e = await assertRejectsTako(
    () => parseConfig(configOf(...BASE, `PublicKey=${TEST_SECRET_KEY}`), FILE),
    "config",
    "line 4 holds a secret key",
  );
  assert.ok(!e.message.includes(body.slice(0, 10)));
});

Deno.test("`parseConfig()` never quotes a URL password or a long public key", async () => {
  for (
    const origin of [
      "https://deploy:hunter2@host/a?b",
      "https://deploy:hunter2@host/a b",
      "ftp://deploy:hunter2@host/",
    ]
  ) {
    const e = await assertFailsAt(configOf(`Origin=${origin}`, ...BASE.slice(1)), 1);
    assert.ok(e.message.includes("deploy:***@"), e.message);
    assert.ok(!e.message.includes("hunter2"), e.message);
  }
  const twice = "Origin=https://deploy:hunter2@host/a";
  const e = await assertFailsAt(configOf(twice, twice, ...BASE.slice(1)), 2, "already listed");
  assert.ok(!e.message.includes("hunter2"), e.message);
  const long = await assertFailsAt(configOf(BASE[0]!, `PublicKey=${"Ab".repeat(40)}`), 2);
  assert.ok(long.message.includes("a text of 80 characters is not a public key"), long.message);
  assert.ok(!long.message.includes("AbAb"), long.message);
});

Deno.test("`parseConfig()` reports an invalid Version= pattern with its line", async () => {
  for (const pattern of ["1*", "1.*.2", "1.x", "1.2.x", "1.X"]) {
    const e = await assertFailsAt(configOf(...BASE, "# pinned", `Version=${pattern}`), 5);
    assert.ok(e.message.includes(pattern), e.message);
  }
});

Deno.test("`parseConfig()` counts lines including comments, blanks and CRLF ends", async () => {
  const text = ["# c", "", ...BASE, "  ", "; c", "Bogus=1"].join("\r\n");
  await assertFailsAt(text, 8, "unknown key 'Bogus'");
  await assertFailsAt("\uFEFF" + "Bogus=1", 1, "unknown key 'Bogus'");
});

Deno.test("`parseConfig()` rejects text over 1 MiB", async () => {
  const text = configOf(...BASE) + "#".repeat(MAX_CONFIG_SIZE);
  const e = await assertRejectsTako(() => parseConfig(text, FILE), "config", "larger than 1 MiB");
  assert.ok(e.message.startsWith(`${FILE}: `), e.message);
  const padded = configOf(...BASE) + "#".repeat(MAX_CONFIG_SIZE - configOf(...BASE).length);
  assert.equal((await parseConfig(padded, FILE)).destination, "/var/lib/images/app-foo");
});

Deno.test("`parseConfig()` never echoes control characters from the file name or text", async () => {
  const file = "/etc/tako/\x1b[31mapp";
  const e = await assertRejectsTako(
    () => parseConfig(configOf(...BASE, "\x1b[2J\x07=1"), file),
    "config",
    "line 4",
  );
  assert.doesNotMatch(e.message, /\p{Cc}/u);
  assert.ok(e.message.startsWith("/etc/tako/\\u{1b}[31mapp line 4: "), e.message);
});

/** Parses `text` and checks the outcome: a Config, or a clean config error that names the file. */
async function parsesOrFailsCleanly(text: string): Promise<void> {
  try {
    const config = await parseConfig(text, FILE);
    assert.ok(config.origins.length > 0 && config.publicKeys.length > 0);
    assert.ok(config.destination !== "" && !config.destination.includes("\0"));
  } catch (e) {
    if (!(e instanceof TakoError)) throw e;
    assert.equal(e.kind, "config");
    assert.ok(
      e.message.startsWith(`${FILE} line `) || e.message.startsWith(`${FILE}: `),
      e.message,
    );
    assert.doesNotMatch(e.message, /\p{Cc}/u, e.message);
  }
}

Deno.test("`parseConfig()` throws only config errors on arbitrary text", async () => {
  await fc.assert(
    fc.asyncProperty(fc.string({ unit: "binary", maxLength: 300 }), parsesOrFailsCleanly),
    { numRuns: fuzzRuns() },
  );
});

const VALID_LINES = [
  ...BASE,
  `PublicKey=${ROTATED_KEY}`,
  "Origin=http://mirror.example.org/app-foo/",
  "Origin=file:///srv/images",
  "Version=1.*",
  "Version=^1.4",
  "Version=1.0 <= v < 2.0",
  "Version=1.13.7",
  "Restart=a.service b",
  "RestartUnit=c@1.service",
  "KeepImages=4",
  "MaxStoreSize=10G",
  "# comment",
  "  ; comment",
  "",
];
const KEYS = [
  "Origin",
  "PublicKey",
  "Destination",
  "Version",
  "Restart",
  "RestartUnit",
  "KeepImages",
  "MaxStoreSize",
];
const INVALID_LINES = [
  "Origin",
  "=",
  "Origin=ftp://x",
  "Origin=https://x/?q",
  "PublicKey=AAAA",
  "Destination=",
  "Version=1*",
  "Version=^",
  "Version=1.0 <= v <",
  "Restart=-x",
  "KeepImages=0",
  "MaxStoreSize=1.5G",
  "Unknown=1",
  "origin=https://x",
];

Deno.test("`parseConfig()` throws only config errors on mixes of valid and invalid lines", async () => {
  const line = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...VALID_LINES) },
    { weight: 2, arbitrary: fc.constantFrom(...INVALID_LINES) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.constantFrom(...KEYS), fc.string({ unit: "binary", maxLength: 40 }))
        .map(([k, v]) => `${k}=${v}`),
    },
  );
  const text = fc.tuple(fc.array(line, { maxLength: 20 }), fc.constantFrom("\n", "\r\n"))
    .map(([lines, end]) => lines.join(end));
  await fc.assert(fc.asyncProperty(text, parsesOrFailsCleanly), { numRuns: fuzzRuns() });
});
