import { closestWord } from "../../../lib/core/suggest.ts";
import { assert } from "../../support/assert.ts";

Deno.test("`closestWord()` finds the word within two edits, swaps of neighbours counting one", () => {
  const words = ["fetch", "store", "gen-key", "status", "prune", "help"];
  const table: [string, string | undefined][] = [
    ["stauts", "status"], // one swap
    ["statsu", "status"],
    ["fecth", "fetch"],
    ["fetc", "fetch"],
    ["genkey", "gen-key"],
    ["prun", "prune"],
    ["hlep", "help"],
    ["status", "status"],
    ["frobnicate", undefined],
    ["app", undefined],
    ["", undefined],
  ];
  for (const [word, expected] of table) assert.equal(closestWord(word, words), expected, word);
  assert.equal(closestWord("abc", ["abd", "xyz"], 0), undefined);
  // The closest wins over an earlier candidate that is farther.
  assert.equal(closestWord("store", ["stare", "store"]), "store");
});
