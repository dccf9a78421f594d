import { printable, safeText } from "../../../lib/core/errors.ts";
import { assert } from "../../support/assert.ts";

Deno.test("`printable()` escapes control characters and non-ASCII, and shortens", () => {
  assert.equal(printable("1.0\x1b[2J\u00e9"), "1.0\\u{1b}[2J\\u{e9}");
  assert.equal(printable("abcdef", 3), "abc…");
  assert.equal(printable("abc", 3), "abc");
});

Deno.test("`safeText()` escapes control and bidirectional characters and keeps the rest", () => {
  assert.equal(safeText("a\x1b[2Jb\nc\u202e…é"), "a\\u{1b}[2Jb\\u{a}c\\u{202e}…é");
});
