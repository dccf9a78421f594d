import fc from "fast-check";
import { posix } from "node:path";
import { basename, dirname, join, resolve } from "../../../lib/core/path.ts";
import { assert } from "../../support/assert.ts";
import { fuzzRuns } from "../../support/fuzz.ts";

/** Paths made of the pieces that matter: separators, dots, names. */
const path = fc.array(fc.constantFrom("/", "//", ".", "..", "a", "b.c", "...", "x y", "é"), {
  maxLength: 8,
}).map((pieces) => pieces.join(""));

Deno.test("`join()` agrees with node:path's posix join", () => {
  assert.equal(join("/var/lib/tako/app", "store", "x"), "/var/lib/tako/app/store/x");
  fc.assert(
    fc.property(fc.array(path, { maxLength: 4 }), (parts) => {
      assert.equal(join(...parts), posix.join(...parts), JSON.stringify(parts));
    }),
    { numRuns: fuzzRuns() },
  );
});

Deno.test("`dirname()` agrees with node:path's posix dirname", () => {
  assert.equal(dirname("/var/lib/tako/app/.state"), "/var/lib/tako/app");
  fc.assert(
    fc.property(path, (p) => {
      assert.equal(dirname(p), posix.dirname(p), JSON.stringify(p));
    }),
    { numRuns: fuzzRuns() },
  );
});

Deno.test("`resolve()` agrees with node:path's posix resolve from a working directory", () => {
  assert.equal(resolve("/etc/tako", "../images/app"), "/etc/images/app");
  const cwd = path.map((p) => posix.resolve("/", p));
  fc.assert(
    fc.property(cwd, path, (dir, p) => {
      assert.equal(resolve(dir, p), posix.resolve(dir, p), JSON.stringify([dir, p]));
    }),
    { numRuns: fuzzRuns() },
  );
});

Deno.test("`basename()` agrees with node:path's posix basename", () => {
  assert.equal(basename("/etc/tako/app.tako"), "app.tako");
  fc.assert(
    fc.property(path, (p) => {
      assert.equal(basename(p), posix.basename(p), JSON.stringify(p));
    }),
    { numRuns: fuzzRuns() },
  );
});
