import { createHash } from "node:crypto";
import { equalBytes, toHex } from "../../../lib/core/bytes.ts";
import { assert } from "../../support/assert.ts";

Deno.test("toHex writes two lowercase digits per byte, as node:crypto does", async () => {
  assert.equal(toHex(new Uint8Array()), "");
  assert.equal(toHex(new Uint8Array([0, 9, 10, 171, 255])), "00090aabff");
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  assert.equal(toHex(all), (await import("node:buffer")).Buffer.from(all).toString("hex"));
  const digest = createHash("sha256").update("tako").digest();
  assert.equal(toHex(new Uint8Array(digest)), createHash("sha256").update("tako").digest("hex"));
});

Deno.test("equalBytes compares length and every byte", () => {
  assert(equalBytes(new Uint8Array(), new Uint8Array()));
  assert(equalBytes(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3])));
  assert(!equalBytes(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2])));
  assert(!equalBytes(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 4])));
  assert(!equalBytes(new Uint8Array([0]), new Uint8Array([1])));
});
