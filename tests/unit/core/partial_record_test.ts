/** lib/core/partial_record.ts: the record beside a partial download. */
import {
  parsePartialRecord,
  type PartialRecord,
  serializePartialRecord,
} from "../../../lib/core/partial_record.ts";
import { assert } from "../../support/assert.ts";

const RECORD: PartialRecord = {
  size: 12_345_678,
  url: `https://images.example.com/app/store/${"1".repeat(64)}`,
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
