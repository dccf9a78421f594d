import fc from "fast-check";
import { formatSecretKey, generateSecretKey } from "../../../lib/core/keys.ts";
import {
  HIDDEN_KEY,
  holdsSecretKey,
  loadKeyCheck,
  maskUrl,
  maskUrlPasswords,
  mayHoldKeyBody,
  redactSecrets,
} from "../../../lib/core/secrets.ts";
import { printable, shownUrl } from "../../../lib/core/errors.ts";
import { assert } from "../../support/assert.ts";
import { fuzzRuns } from "../../support/fuzz.ts";
import { TEST_PUBLIC_KEY, TEST_SECRET_KEY, TEST_SECRET_KEY_64 } from "../../support/vectors.ts";

// The tests below hold the exact check; the one after them, the cautious one before it loads.
await loadKeyCheck();

const BODY = TEST_SECRET_KEY.slice("SECRET+".length);
const BODY_64 = TEST_SECRET_KEY_64.slice("SECRET+".length);
/** Enough of the seed's base64 to tell whether any of it leaked. */
const SEED_PART = BODY.slice(0, 40);

Deno.test("`holdsSecretKey()` finds a secret key in either form, with or without its prefix", () => {
  for (
    const text of [
      TEST_SECRET_KEY,
      TEST_SECRET_KEY_64,
      `PublicKey=${TEST_SECRET_KEY}`,
      `Origin=https://host/${TEST_SECRET_KEY}`,
      `secret+${BODY}`,
      `SECRET+${BODY.slice(0, 20)}`, // a cut-off key is still one
      `PublicKey=${BODY}`,
      `PublicKey = ${BODY_64}`,
      `Destination=/srv/${BODY}`,
      `${BODY}=x`,
      `KeepImages=x${BODY_64}`,
      `Version=${BODY}x`,
      `MaxStoreSize=x${BODY}/`,
    ]
  ) {
    assert.ok(holdsSecretKey(text), text);
  }
  for (
    const text of [
      `PublicKey=${TEST_PUBLIC_KEY}`,
      "Destination=/var/lib/images/app/store/" + "ab".repeat(32),
      "A".repeat(128), // base64 of zeros: not a seed with its own public key
      "SECRET+",
      "the secret: none",
    ]
  ) {
    assert.ok(!holdsSecretKey(text), text);
  }
});

Deno.test("`redactSecrets()` and `printable()` never let a secret key through", () => {
  for (
    const text of [TEST_SECRET_KEY, BODY, `x/${BODY}/y`, `'${BODY_64}'`, `a ${TEST_SECRET_KEY}.`]
  ) {
    const redacted = redactSecrets(text);
    assert.ok(redacted.includes(HIDDEN_KEY), redacted);
    assert.ok(!redacted.includes(SEED_PART.slice(0, 12)), redacted);
    assert.ok(!printable(text).includes(SEED_PART.slice(0, 12)));
    assert.ok(!printable(text, 20, "end").includes(SEED_PART.slice(0, 12)));
  }
  // Text without secrets is left alone, paths of digests included.
  const path = "/var/lib/images/app/store/" + "0123456789abcdef".repeat(4);
  assert.equal(redactSecrets(path), path);
});

Deno.test("`redactSecrets()` masks any key in any text (property)", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.string(),
      fc.string(),
      fc.boolean(),
      (seed, before, after, prefixed) => {
        const secret = formatSecretKey(generateSecretKey(seed));
        const body = secret.slice("SECRET+".length);
        const text = `${before}${prefixed ? secret : ` ${body} `}${after}`;
        assert.ok(holdsSecretKey(text));
        const shown = printable(text, 1000);
        for (let i = 0; i + 16 <= 43; i += 9) {
          assert.ok(!shown.includes(body.slice(i, i + 16)), shown);
        }
      },
    ),
    { numRuns: fuzzRuns(200) },
  );
});

Deno.test("`maskUrlPasswords()` hides the password of every URL and keeps the rest", () => {
  const table: [string, string][] = [
    ["https://deploy:hunter2@host/app", "https://deploy:***@host/app"],
    [
      "from 'http://u:p:w@h:8080/x' and ftp://a:b@c",
      "from 'http://u:***@h:8080/x' and ftp://a:***@c",
    ],
    ["https://u@x:pw@host/", "https://u@x:***@host/"],
    ["https://u:p@ss@host/", "https://u:***@host/"],
    ["a https://u:pw@h and http://v:qq@k", "a https://u:***@h and http://v:***@k"],
    ["https:u:pw@host", "https:u:***@host"],
    ["/tmp/'http:/deploy:pw@host", "/tmp/'http:/deploy:***@host"],
    ["https://u:p%40w@host/", "https://u:***@host/"],
    ["https://host:8080/a@b", "https://host:8080/a@b"],
    ["mail me at ops@example.com", "mail me at ops@example.com"],
    ["https://only-user@host/", "https://only-user@host/"],
  ];
  for (const [text, expected] of table) assert.equal(maskUrlPasswords(text), expected, text);
});

Deno.test("`maskUrl()` masks an origin too malformed for the URL parser", () => {
  assert.equal(maskUrl("https://u:p w/x@host/app"), "https://u:***@host/app");
  assert.equal(maskUrl("https://u:pw@host/a?b"), "https://u:***@host/a?b");
  assert.equal(maskUrl("https://host/app"), "https://host/app");
  assert.equal(shownUrl(new URL("https://u:pw@host/manifest")), "https://u:***@host/manifest");
});

Deno.test("`printable()` shortens from the end it is told to keep", () => {
  const text =
    "error sending request from 127.0.0.1:4711 for url (http://h/): message head is too large";
  const tail = printable(text, 30, "end");
  assert.ok(tail.startsWith("…") && tail.endsWith("message head is too large"), tail);
  assert.ok(printable(text, 30).endsWith("…"));
  assert.equal(printable("short", 30, "end"), "short");
  // Very long input is bounded too.
  assert.ok(printable("v".repeat(65536)).length <= 81);
  assert.ok(printable("v".repeat(65536), 80, "end").length <= 81);
});

Deno.test("`redactSecrets()` takes linear time on any text", () => {
  for (
    const text of [
      "a".repeat(200_000) + "@",
      "a:".repeat(100_000) + "@",
      "@".repeat(200_000),
      "A".repeat(1 << 20),
      "https://u:".repeat(20_000) + "@",
      ("A".repeat(127) + "/").repeat(8192),
      "A/".repeat(1 << 19),
    ]
  ) {
    const started = performance.now();
    redactSecrets(text);
    const ms = performance.now() - started;
    assert.ok(ms < 2000, `${ms} ms for ${JSON.stringify(text.slice(0, 12))}…`);
  }
});

Deno.test("before loadKeyCheck(), text shaped like a key body counts as one; after it, only a real one", async () => {
  // A process of its own: in this one the curve library is loaded already.
  const secrets = new URL("../../../lib/core/secrets.ts", import.meta.url).href;
  const config = new URL("../../../deno.json", import.meta.url).pathname;
  const zeros = "A".repeat(128); // base64 of 96 zero bytes: shaped like a key body, not one
  const code = `import { holdsSecretKey, loadKeyCheck, redactSecrets } from "${secrets}";
const text = "x ${zeros} y";
const before = [holdsSecretKey(text), redactSecrets(text)];
await loadKeyCheck();
console.log(JSON.stringify([before, [holdsSecretKey(text), redactSecrets(text)]]));`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--cached-only", "--config", config, code],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const [before, after] = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.deepEqual(before, [true, `x ${HIDDEN_KEY} y`]);
  assert.deepEqual(after, [false, `x ${zeros} y`]);
  assert.equal(mayHoldKeyBody(zeros), true);
  assert.equal(mayHoldKeyBody(`PublicKey=${TEST_PUBLIC_KEY}`), false);
});
