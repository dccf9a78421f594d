import { patternProblem } from "../../../lib/core/offer.ts";
import { parsePattern } from "../../../lib/core/pattern.ts";
import { assert } from "../../support/assert.ts";

const entry = (version: string) => ({ version, size: 1n, sha256: "a".repeat(64) });

Deno.test("`patternProblem()` reports a pattern that matches none of the versions on offer", async () => {
  const offer = ["1.0.0", "1.1.0", "2.0.0"].map(entry);
  assert.equal(patternProblem(await parsePattern("1.*"), offer), undefined);
  assert.equal(patternProblem(await parsePattern("3.*"), []), undefined);
  assert.equal(
    patternProblem(await parsePattern("3.*"), offer),
    "no version matches Version=3.* (newest on offer: 2.0.0, 1.1.0, 1.0.0).",
  );
  const semver = patternProblem(await parsePattern("^1.4"), ["1.4", "1.5"].map(entry));
  assert.ok(
    semver?.startsWith("no version matches Version=^1.4 (newest on offer: 1.5, 1.4); "),
    semver,
  );
  assert.ok(semver?.includes("not SemVer") && semver.includes("'1.4.0 <= v < 2' or '1.*'"), semver);
  // Long versions are shortened: a hostile manifest cannot blow the sentence up.
  const long = patternProblem(await parsePattern("9.*"), [entry("1." + "9".repeat(65536))]);
  assert.ok(long !== undefined && long.length < 300, String(long?.length));
});
