import { proxyFor, requestFailureCause, requestFailureHint } from "../../../lib/core/net_errors.ts";
import { assert } from "../../support/assert.ts";

Deno.test("`requestFailureCause()` keeps the cause at the end of Deno's messages", () => {
  const table: [string, string][] = [
    [
      "error sending request from 127.0.0.1:41732 for http://127.0.0.1:46703/ (127.0.0.1:46703): client error (SendRequest): message head is too large",
      "message head is too large",
    ],
    [
      "error sending request for url (http://example.invalid/): client error (Connect): tcp connect error: Connection refused (os error 111)",
      "tcp connect error: Connection refused (os error 111)",
    ],
    ["Error fetching file '/srv/o/manifest': permission denied", "permission denied"],
    ["connection reset", "connection reset"],
  ];
  for (const [text, cause] of table) assert.equal(requestFailureCause(text), cause, text);
  // A long URL in the prefix never pushes the cause out; a long cause keeps its end.
  const longUrl = `http://h/${"a".repeat(5000)}`;
  assert.equal(
    requestFailureCause(`error sending request from 1.2.3.4:5 for ${longUrl} (1.2.3.4:80): reset`),
    "reset",
  );
  const long = requestFailureCause(`${"x".repeat(1000)}: message head is too large`);
  assert.ok(long.startsWith("…") && long.endsWith("message head is too large"), long);
  assert.ok(long.length <= 161);
});

Deno.test("`proxyFor()` picks the proxy Deno uses for a URL, honouring NO_PROXY", () => {
  const env = {
    HTTPS_PROXY: "http://p:3128",
    http_proxy: "http://q:8080",
    NO_PROXY: "local.test,.corp",
  };
  assert.deepEqual(proxyFor(new URL("https://images.example.com/a"), env), {
    variable: "HTTPS_PROXY",
    url: "http://p:3128",
  });
  assert.deepEqual(proxyFor(new URL("http://images.example.com/a"), env), {
    variable: "http_proxy",
    url: "http://q:8080",
  });
  assert.equal(proxyFor(new URL("https://local.test/a"), env), undefined);
  assert.equal(proxyFor(new URL("https://a.b.corp/a"), env), undefined);
  assert.equal(proxyFor(new URL("file:///srv/o"), env), undefined);
  assert.equal(proxyFor(new URL("https://h/"), {}), undefined);
  assert.equal(
    proxyFor(new URL("https://h/"), { HTTPS_PROXY: "http://p", NO_PROXY: "*" }),
    undefined,
  );
  assert.deepEqual(proxyFor(new URL("https://h/"), { ALL_PROXY: "socks5://s" }), {
    variable: "ALL_PROXY",
    url: "socks5://s",
  });
});

Deno.test("`requestFailureHint()` names DENO_CERT for an unknown CA and the proxy for a dead proxy", () => {
  const tls = requestFailureHint(
    "client error (Connect): invalid peer certificate: UnknownIssuer",
    undefined,
  );
  assert.ok(tls?.includes("DENO_CERT") && tls.includes("system CA store"), tls);
  const proxy = { variable: "HTTPS_PROXY", url: "http://ops:Pwsecret1@proxy.corp:3128" };
  const dead = requestFailureHint(
    "client error (Connect): tcp connect error: Connection refused",
    proxy,
  );
  assert.ok(dead?.includes("proxy http://ops:***@proxy.corp:3128 (from HTTPS_PROXY)"), dead);
  assert.ok(!dead?.includes("Pwsecret1"));
  // No proxy, or a failure after connecting: no proxy hint.
  assert.equal(requestFailureHint("tcp connect error: Connection refused", undefined), undefined);
  assert.equal(requestFailureHint("message head is too large", proxy), undefined);
});
