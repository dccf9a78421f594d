/**
 * lib/partial.ts: the record beside a partial download, and the cleaning of
 * stale partials. (Resuming itself is tested end to end in
 * tests/cli/fetch_resume_test.ts.)
 */
import {
  dropPartials,
  parsePartialRecord,
  partialPath,
  type PartialRecord,
  serializePartialRecord,
} from "../../../lib/shell/partial.ts";
import { assert } from "../../support/assert.ts";

const SHA_ONE = "1".repeat(64);
const SHA_TWO = "2".repeat(64);
const RECORD: PartialRecord = {
  size: 12_345_678,
  url: `https://images.example.com/app/store/${SHA_ONE}`,
  validator: '"5f-18c2d"',
};

Deno.test("`parsePartialRecord()` round-trips what `serializePartialRecord()` writes", () => {
  for (const record of [RECORD, { ...RECORD, validator: undefined }, { ...RECORD, size: 0 }]) {
    assert.deepEqual(parsePartialRecord(serializePartialRecord(record)), record);
  }
});

Deno.test("`parsePartialRecord()` gives undefined for a missing or damaged record", () => {
  const table: (string | undefined)[] = [
    undefined,
    "",
    "{",
    "null",
    "[]",
    JSON.stringify({ ...RECORD, size: -1 }),
    JSON.stringify({ ...RECORD, size: 1.5 }),
    JSON.stringify({ ...RECORD, size: "10" }),
    JSON.stringify({ ...RECORD, size: 2 ** 53 }),
    JSON.stringify({ ...RECORD, url: 7 }),
    JSON.stringify({ ...RECORD, url: "u".repeat(5000) }),
  ];
  for (const text of table) assert.equal(parsePartialRecord(text), undefined, String(text));
});

Deno.test("`parsePartialRecord()` drops a validator that is no safe header value", () => {
  for (const validator of ['"a"\r\nX-Evil: 1', "", "x".repeat(300), 5]) {
    const text = JSON.stringify({ ...RECORD, validator });
    assert.deepEqual(parsePartialRecord(text), { ...RECORD, validator: undefined });
  }
});

Deno.test("`dropPartials()` removes partials and records except those of the image kept", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tako-partial-test-" });
  try {
    const keep = [
      SHA_ONE,
      `.tmp-0123`,
      `.partial-dir`,
      `README`,
      `${partialPath(dir, SHA_TWO).slice(dir.length + 1)}`,
      `${partialPath(dir, SHA_TWO).slice(dir.length + 1)}.json`,
    ];
    for (const name of keep.filter((n) => n !== ".partial-dir")) {
      await Deno.writeTextFile(`${dir}/${name}`, "x");
    }
    await Deno.mkdir(`${dir}/.partial-dir`);
    await Deno.writeTextFile(`${dir}/.partial-${SHA_ONE}`, "half an image");
    await Deno.writeTextFile(`${dir}/.partial-${SHA_ONE}.json`, serializePartialRecord(RECORD));
    await Deno.symlink("/etc/passwd", `${dir}/.partial-link`);

    assert.equal(await dropPartials(dir, SHA_TWO), 3);
    const names = (await Array.fromAsync(Deno.readDir(dir), (e) => e.name)).sort();
    assert.deepEqual(names, [...keep].sort());
    assert.ok((await Deno.stat("/etc/passwd")).isFile, "a link is removed, not followed");

    assert.equal(await dropPartials(dir), 2, "without an image to keep, every partial goes");
    assert.equal(await dropPartials(`${dir}/missing`), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
