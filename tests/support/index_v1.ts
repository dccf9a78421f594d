/**
 * The version-1 chunk index of an image (`Tako Index 1`, 8 bytes per block,
 * docs/formats.md), as earlier releases wrote it: Tako reads it but no longer
 * writes it. Built by the byte loops of weakSum() and strongSum().
 *
 * @module
 */
import { createHash } from "node:crypto";
import { BLOCK_SIZE, blockCount, strongSum, weakSum } from "../../lib/core/chunk_index.ts";

export function indexV1(image: Uint8Array): Uint8Array {
  const count = blockCount(image.length);
  const out = new Uint8Array(56 + 8 * count);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode("TAKOINDX"), 0);
  view.setUint16(8, 1);
  view.setUint8(10, 4);
  view.setUint8(11, 4);
  view.setUint32(12, BLOCK_SIZE);
  view.setBigUint64(16, BigInt(image.length));
  out.set(createHash("sha256").update(image).digest(), 24);
  for (let k = 0; k < count; k++) {
    const end = Math.min(image.length, (k + 1) * BLOCK_SIZE);
    view.setUint32(56 + 8 * k, weakSum(image, k * BLOCK_SIZE, end));
    view.setUint32(60 + 8 * k, strongSum(image, k * BLOCK_SIZE, end));
  }
  return out;
}
