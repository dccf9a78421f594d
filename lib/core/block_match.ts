/**
 * Finds the blocks of a new image (described by its {@link ChunkIndex}) in
 * local images, at any byte offset: zsync's 4 KiB rolling match, which holds
 * both on packed formats (squashfs, tar), where a change shifts everything
 * after it, and on block filesystems (ext4, erofs), which keep 4 KiB
 * alignment. Pure: the caller streams each local image through
 * {@link BlockMatcher.scan} in buffers it reuses.
 *
 * Blocks are found in pairs, as zsync's `seq_matches=2`: the scan rolls the
 * windows at x and x + 4096 together and looks up the pair of their 16-bit
 * weak keys (32 bits), and a candidate is confirmed by both blocks' strong
 * checksums (64 bits). A run of matching blocks is then followed block by
 * block (one strong checksum each), and backwards over the missing blocks
 * before its pair, so a run of two or more is found whole. When a run breaks,
 * the next blocks are probed where a change in place leaves them (a single
 * unchanged block between changed ones); a single one elsewhere is fetched,
 * except the new image's last block, also tried at each local image's end.
 *
 * Speed: only bytes between runs of matches are rolled, one filter bit test
 * each, over a table of the pairs with a block still missing; blocks found
 * before a scan (by a join) are jumped over as runs. A run of one byte value
 * (zeros) is the same pair of windows everywhere: checked once.
 *
 * @module
 */
import { strongSumOf, viewOf } from "./block_sums.ts";
import { type ChunkIndex, weakKey, weakSum } from "./chunk_index.ts";
import type { Matches } from "./delta_plan.ts";
import { FoundBlocks } from "./found_blocks.ts";
import { joinProbes, PROBES } from "./join_probes.ts";
import { MatchOffsets } from "./match_offsets.ts";
import { PairTable } from "./pair_table.ts";
import { fillByte, NONE, pairKey, RollingScan, rollPair, SPENT, sumPair } from "./rolling_sum.ts";

/**
 * Streams local images against an index and records where each block of the new image was found.
 *
 * @example
 * ```ts
 * import type { ChunkIndex } from "./chunk_index.ts";
 * declare const index: ChunkIndex, local: Uint8Array;
 * const matcher = new BlockMatcher(index);
 * matcher.begin(0, local.length);
 * // One buffer holding the whole local image; in pieces (of at least 2 blocks),
 * // the next starts at matcher.keepFrom(from).
 * matcher.scan(local, 0, 0);
 * ```
 */
export class BlockMatcher implements Matches {
  /** Per block: the local image's number, 8 bits (delta_plan.ts MAX_LOCAL_IMAGES are matched). */
  readonly image: Int8Array;
  readonly #offsets: MatchOffsets;
  readonly offsetOf = (j: number): number => this.#offsets.get(j);
  readonly #index: ChunkIndex;
  readonly #block: number;
  /** Blocks of full length; the last block is shorter when the size is not a multiple. */
  readonly #full: number;
  readonly #tail: number;
  #missing: number;
  /** The pairs (j, j + 1) of full blocks with one still missing. */
  readonly #table: PairTable;
  // The local image being scanned.
  #local = NONE;
  #localSize = 0;
  #expect = NONE;
  /** Where blocks found before this scan lie in the local image: jumped over as runs. */
  #known: FoundBlocks | undefined;
  /** A block found by a probe, and its offset: the scan goes on with its run on reaching it. */
  #resumeBlock = NONE;
  #resumeAt = NONE;
  /** The rolling sums a and b of the two windows being rolled. */
  readonly #sums = new Int32Array(4);
  /** Made on the first roll: a join alone never rolls. */
  #rolling: RollingScan | undefined;
  /** Per byte value: 1 once two windows of only that byte matched no missing pair (stays so). */
  readonly #spentFills = new Uint8Array(256);
  #strongChecks = 0;
  #rolled = 0;
  /** A view of the buffer being scanned, for the strong checksums of whole blocks. */
  #view: DataView | undefined;

  constructor(index: ChunkIndex) {
    this.#index = index;
    this.#block = index.blockSize;
    this.#tail = index.size % index.blockSize;
    this.#full = this.#tail === 0 ? index.count : index.count - 1;
    this.#table = new PairTable((j) => pairKey(index.weak[j]!, index.weak[j + 1]!));
    this.image = new Int8Array(index.count).fill(NONE);
    this.#offsets = new MatchOffsets(index.count);
    this.#missing = index.count;
  }

  /** What the scans cost so far: strong checksums (4 KiB each), bytes rolled (fill runs skipped). */
  get work(): { readonly strongChecks: number; readonly rolledBytes: number } {
    return { strongChecks: this.#strongChecks, rolledBytes: this.#rolled };
  }

  /** Blocks not found yet. */
  get missing(): number {
    return this.#missing;
  }

  /**
   * Starts scanning the local image numbered `image` (`size` bytes): the
   * table then holds only the pairs with a block still missing. `again`:
   * another stretch of the same image, the table kept (found pairs leave it as met).
   */
  begin(image: number, size: number, again = false): void {
    this.#local = image;
    this.#localSize = size;
    this.#expect = NONE;
    this.#resumeAt = NONE;
    if (again) return;
    this.#table.build(this.#full - 1, this.#missing, (j) => !this.#pairFound(j));
    this.#known = FoundBlocks.of(this, image, size, this.#block, this.#full);
  }

  /**
   * Matches the local image numbered `image` by its cached chunk index
   * `local` instead of reading it: what a scan finds at block-aligned
   * offsets (blocks where they were, pairs, then probes), without I/O; a
   * wrong claim costs only the digest check.
   */
  join(image: number, local: ChunkIndex): void {
    if (local.blockSize !== this.#block) return;
    this.begin(image, local.size, true);
    const full = Math.floor(local.size / this.#block);
    const { weak, strong } = local;
    // First each block where it was: most of a block filesystem's, and then the table is built
    // for the rest only (at 4 GiB a table of every block is 10 MB of slots and filter).
    for (let j = 0, both = Math.min(full, this.#full); j < both; j++) {
      if (weak[j] === this.#index.weak[j] && strong[j] === this.#index.strong[j]) {
        this.#found(j, j * this.#block);
      }
    }
    if (this.#missing === 0) return;
    this.#table.build(this.#full - 1, this.#missing, (j) => !this.#pairFound(j));
    const { pair, next } = this.#table;
    for (let k = 0; k + 1 < full && this.#missing > 0; k++) {
      const slot = this.#table.find(pairKey(weak[k]!, weak[k + 1]!));
      if (slot === NONE) continue;
      // Found pairs leave the chain, as in a scan (else each local zero pair walks all of them).
      for (let m = this.#liveHead(slot), previous = NONE; m !== NONE; m = next[m]!) {
        const j = pair[m]!;
        if (this.#pairFound(j)) {
          next[previous] = next[m]!;
          continue;
        }
        previous = m;
        if (this.#index.strong[j] !== strong[k] || this.#index.strong[j + 1] !== strong[k + 1]) {
          continue;
        }
        this.#found(j, k * this.#block);
        this.#found(j + 1, (k + 1) * this.#block);
      }
    }
    joinProbes(this, this.#index, local, image, (j, offset) => this.#found(j, offset));
  }

  /**
   * Scans `buffer`, the local image's bytes from offset `base`, checking the
   * windows that start at `from` (≥ base) or later and lie wholly in it.
   * Returns where the next scan must go on (its `from`); the next buffer must
   * start at or before {@link BlockMatcher.keepFrom} of it and hold at least
   * two blocks. The buffer that reaches the end of the local image finishes
   * it (the result is its size).
   */
  scan(buffer: Uint8Array, base: number, from: number): number {
    if (this.#view?.buffer !== buffer.buffer) this.#view = viewOf(buffer);
    const block = this.#block;
    const end = base + buffer.length;
    const final = end >= this.#localSize;
    let pos = from;
    while (this.#missing > 0) {
      if (this.#expect !== NONE) {
        const length = this.#expect < this.#index.count ? this.#lengthOf(this.#expect) : 0;
        // A run that goes on past this buffer is followed in the next one.
        if (length > 0 && pos + length > end && !final) return pos;
        const j = this.#expect;
        if (this.#tryExpected(buffer, pos - base, pos)) {
          pos += length;
          continue;
        }
        this.#probeAfter(buffer, base, j, pos);
      }
      if (this.#resumeAt !== NONE && pos >= this.#resumeAt) {
        // The gap before the probed block is rolled: its run goes on after it.
        pos = this.#resumeAt + this.#lengthOf(this.#resumeBlock);
        this.#expect = this.#resumeBlock + 1;
        this.#resumeAt = NONE;
        continue;
      }
      const known = this.#known?.runFrom(pos);
      if (known !== undefined) {
        [pos, this.#expect] = [known.end, known.last + 1];
        continue;
      }
      if (pos + 2 * block > end) break;
      const next = this.#known?.nextStart(pos) ?? Infinity;
      pos = this.#roll(
        buffer,
        base,
        pos,
        Math.min(this.#resumeAt === NONE ? end : this.#resumeAt, next),
      );
      // A match in the gap starts a run of its own; the probed block stays found.
      if (this.#expect !== NONE) this.#resumeAt = NONE;
    }
    if (!final) return pos;
    this.#matchLast(buffer, base);
    return this.#localSize;
  }

  /**
   * The first byte the next buffer must hold for a scan to go on at `from`:
   * `from` itself, or earlier so that the local image's last block stays
   * available for the new image's last block.
   */
  keepFrom(from: number): number {
    return Math.max(0, Math.min(from, this.#localSize - this.#block));
  }

  /** Tries the block that follows the last match, here; on success records it. */
  #tryExpected(buffer: Uint8Array, at: number, pos: number): boolean {
    const j = this.#expect;
    this.#expect = NONE;
    if (j >= this.#index.count) return false;
    const length = this.#lengthOf(j);
    if (at + length > buffer.length) return false;
    // Within a run the strong checksum alone decides (no weak sum): a false continuation has
    // odds of 2^-32 per block, and the image's digest catches it.
    this.#strongChecks++;
    if (this.#strong(buffer, at, at + length) !== this.#index.strong[j]) return false;
    this.#found(j, pos);
    this.#expect = j + 1;
    return true;
  }

  /**
   * After a run broke at block `j` (not at `pos`): the next {@link PROBES}
   * missing blocks, each where it lies if block j changed in place (a block
   * filesystem, a rewritten header), so that a single unchanged block between
   * changed ones is found too. The first that matches is recorded and the
   * scan resumes its run there, after rolling the bytes before it (which may
   * hold blocks moved from elsewhere).
   */
  #probeAfter(buffer: Uint8Array, base: number, j: number, pos: number): void {
    for (let k = 1; k <= PROBES && j + k < this.#index.count; k++) {
      const i = j + k;
      const at = pos + k * this.#block - base;
      const length = this.#lengthOf(i);
      if (at + length > buffer.length) break;
      if (this.image[i] !== NONE) continue;
      this.#strongChecks++;
      if (this.#strong(buffer, at, at + length) !== this.#index.strong[i]) continue;
      this.#found(i, base + at);
      this.#resumeBlock = i;
      this.#resumeAt = base + at;
      return;
    }
  }

  /**
   * Rolls the checksums byte by byte from `pos` until a pair of windows
   * matches a pair with a missing block (records it, returns the offset after
   * it) or the buffer or the offset `before` ends (returns the first offset
   * not checked; the next scan sums it anew, 8 KiB of work).
   */
  #roll(buffer: Uint8Array, base: number, pos: number, before: number): number {
    const block = this.#block;
    const last = Math.min(buffer.length - 2 * block, before - 1 - base);
    const sums = this.#sums;
    let at = pos - base;
    sumPair(buffer, at, block, sums);
    for (;;) {
      const from = at;
      at = (this.#rolling ??= new RollingScan(block)).toCandidate(
        buffer,
        at,
        last,
        block,
        sums,
        this.#table,
      );
      this.#rolled += (at < 0 ? last : at) - from;
      if (at < 0) return base + last + 1;
      const fill = fillByte(buffer, at, 2 * block);
      if (fill === NONE || !this.#spentFills[fill]) {
        const slot = this.#table.find(pairKey(sums[1]!, sums[3]!));
        const found = slot === NONE ? NONE : this.#strongMatch(buffer, at, slot, base + at);
        if (found !== NONE) {
          this.#extendBack(buffer, base, found, base + at);
          this.#expect = found + 2;
          return base + at + 2 * block;
        }
        if (fill !== NONE) this.#spentFills[fill] = 1;
      }
      // A run of one byte value (zeros, free space) is the same pair at every offset: checked once.
      if (fill !== NONE) { while (at < last && buffer[at + 2 * block] === fill) at++; }
      if (at >= last) return base + at + 1;
      rollPair(buffer, at, block, sums);
      at++;
    }
  }

  /** The chain in `slot` from its first member still missing; one with none becomes SPENT. */
  #liveHead(slot: number): number {
    const { pair, next, slots } = this.#table;
    let head = slots[slot]!;
    while (head !== NONE && this.#pairFound(pair[head]!)) head = next[head]!;
    slots[slot] = head === NONE ? SPENT : head;
    return head;
  }

  /**
   * Checks the two windows at `at` against the chain in `slot` (pairs with
   * their key), dropping pairs found meanwhile from the chain; records every
   * pair whose two strong checksums are the windows' and returns the first,
   * or -1.
   */
  #strongMatch(buffer: Uint8Array, at: number, slot: number, pos: number): number {
    const { strong: strongOfBlock } = this.#index;
    const { pair, next } = this.#table;
    const block = this.#block;
    const head = this.#liveHead(slot);
    if (head === NONE) return NONE;
    this.#strongChecks++;
    const strong = this.#strong(buffer, at, at + block);
    let second: number | undefined;
    let first = NONE;
    for (let m = head, previous = NONE; m !== NONE; m = next[m]!) {
      const j = pair[m]!;
      if (this.#pairFound(j)) {
        next[previous] = next[m]!;
        continue;
      }
      previous = m;
      if (strongOfBlock[j] !== strong) continue;
      if (second === undefined) {
        this.#strongChecks++;
        second = this.#strong(buffer, at + block, at + 2 * block);
      }
      if (strongOfBlock[j + 1] !== second) continue;
      this.#found(j, pos);
      // A second block equal to the first (a zero run) is copied from the same bytes: one span.
      this.#found(j + 1, strongOfBlock[j + 1] === strong ? pos : pos + block);
      if (first === NONE) first = j;
    }
    return first;
  }

  /**
   * A run found by its pair (j, j + 1) at `pos` may begin earlier, in bytes
   * passed over while following another run (content held twice): its
   * missing blocks before j are tried backwards, one strong checksum each.
   */
  #extendBack(buffer: Uint8Array, base: number, j: number, pos: number): void {
    const block = this.#block;
    for (let i = j - 1, at = pos - base - block; i >= 0 && at >= 0; i--, at -= block) {
      if (this.image[i] !== NONE) return;
      this.#strongChecks++;
      if (this.#strong(buffer, at, at + block) !== this.#index.strong[i]) return;
      this.#found(i, base + at);
    }
  }

  #strong = (buffer: Uint8Array, start: number, end: number) =>
    strongSumOf(buffer, this.#view!, start, end);

  #pairFound(j: number): boolean {
    return this.image[j] !== NONE && this.image[j + 1] !== NONE;
  }

  #found(j: number, pos: number): void {
    if (this.image[j] !== NONE || !this.#offsets.set(j, pos)) return;
    this.image[j] = this.#local;
    this.#missing--;
  }

  #lengthOf(j: number): number {
    return j === this.#full && this.#tail !== 0 ? this.#tail : this.#block;
  }

  /**
   * The new image's last block (short or full), tried against the local
   * image's last bytes by its weak key and strong checksum: what finds a
   * one-block image, or a last block after a change, which no pair holds.
   */
  #matchLast(buffer: Uint8Array, base: number): void {
    const j = this.#index.count - 1;
    if (j < 0 || this.image[j] !== NONE) return;
    const length = this.#lengthOf(j);
    const at = this.#localSize - length - base;
    if (at < 0) return;
    const end = at + length;
    if (weakKey(weakSum(buffer, at, end)) !== this.#index.weak[j]) return;
    if (this.#strong(buffer, at, end) !== this.#index.strong[j]) return;
    this.#found(j, base + at);
  }
}
