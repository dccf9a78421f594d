/**
 * lib/shell/byte_source.ts: what the copy pump reads from; a stream without
 * BYOB support is copied through its default reader.
 */
import { streamSource } from "../../../lib/shell/byte_source.ts";
import { assert } from "../../support/assert.ts";

Deno.test("`streamSource()` copies through the default reader when BYOB is not available", async () => {
  const body = ReadableStream.from([new Uint8Array([1, 2, 3]), new Uint8Array([4, 5])]);
  const source = streamSource(body);
  const buffer = new ArrayBuffer(4);
  const reads: number[] = [];
  let at = 0;
  for (;;) {
    const got = await source.read(buffer, at, Math.min(2, 4 - at));
    if (got.end) break;
    reads.push(got.n);
    at += got.n;
    if (at === 4) break;
  }
  assert.deepEqual(reads, [2, 1, 1]);
  assert.deepEqual([...new Uint8Array(buffer)], [1, 2, 3, 4]);
  await source.cancel();
});
