import { requireDigest, SHA256_HEX } from "../../../lib/core/digest.ts";
import { assert, assertTakoError } from "../../support/assert.ts";

const DIGEST = "81b9783a13d6822dfb3d1413ae5654228b04fa8790c5d6a5b79ba889f184cce5";

Deno.test("`requireDigest()` accepts 64 lowercase hex digits and nothing else, as integrity", () => {
  requireDigest(DIGEST);
  assert.ok(SHA256_HEX.test(DIGEST));
  for (const bad of [DIGEST.toUpperCase(), DIGEST.slice(1), `${DIGEST}0`, "../../etc", ""]) {
    assert.equal(SHA256_HEX.test(bad), false, bad);
    assertTakoError(() => requireDigest(bad), "integrity", "not a SHA-256 digest", "64 lowercase");
  }
  assertTakoError(() => requireDigest("a\x1b[2J"), "integrity", '"a\\u{1b}[2J"');
});
