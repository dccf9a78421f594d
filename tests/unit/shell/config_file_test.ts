import { TakoError } from "../../../lib/core/errors.ts";
import { inContext } from "../../../lib/shell/config_file.ts";
import { assert } from "../../support/assert.ts";

Deno.test("`inContext()` puts the config in front of a message once, keeping kind and tag", () => {
  const busy = new TakoError("runtime", "/var/lib/app is busy.", { tag: "busy" });
  const e = inContext("/etc/tako/app", busy);
  assert.equal(e.message, "/etc/tako/app: /var/lib/app is busy.");
  assert.equal(e.kind, "runtime");
  assert.equal(e.tag, "busy");
  assert.equal(e.cause, busy.cause);
  assert.equal(inContext("/etc/tako/app", e), e, "a message that starts with it is kept");
});

Deno.test("`inContext()` shows the config and the message without raw control characters", () => {
  const e = inContext("/etc/tako/\x1b[2J\u00e9", new TakoError("config", "bad\x07 line…"));
  assert.equal(e.message, "/etc/tako/\\u{1b}[2J\\u{e9}: bad\\u{7} line…");
  const again = inContext("/etc/tako/\x1b[2J\u00e9", e);
  assert.equal(again.message, e.message, "the printable name is recognised as already there");
});

Deno.test("`inContext()` lets what is not a TakoError through unchanged", () => {
  const bug = new TypeError("a bug");
  assert.equal(inContext("/etc/tako/app", bug), bug);
});
