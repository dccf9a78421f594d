import { checkAnchoredHistory } from "../../../lib/core/history.ts";
import { assert, assertTakoError } from "../../support/assert.ts";

const A = "a".repeat(64);
const B = "b".repeat(64);
const ENTRIES = [
  { version: "1.0", size: 10n, sha256: A },
  { version: "2.0", size: 20n, sha256: B },
];

Deno.test("`checkAnchoredHistory()` takes any history only for a destination without an image", () => {
  checkAnchoredHistory([], undefined, "m");
  checkAnchoredHistory(ENTRIES, { sha256: B, size: 20n }, "m");
  // latest dangles: its digest alone anchors the history.
  checkAnchoredHistory(ENTRIES, { sha256: A, size: undefined }, "m");
  const table: { sha256: string; size: bigint | undefined }[] = [
    { sha256: "c".repeat(64), size: 10n },
    { sha256: B, size: 21n },
    { sha256: "c".repeat(64), size: undefined },
  ];
  for (const current of table) {
    const e = assertTakoError(
      () => checkAnchoredHistory(ENTRIES, current, "https://o/manifest"),
      "integrity",
      "https://o/manifest: the manifest does not list the image latest points to",
      current.sha256,
      "latest stays",
    );
    assert.equal(e.exitCode, 4);
  }
});
