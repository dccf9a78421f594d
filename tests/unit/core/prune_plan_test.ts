import fc from "fast-check";
import {
  candidatesFrom,
  hasLimits,
  planPrune,
  type PruneCandidate,
  type PruneKeep,
  type PruneLimits,
} from "../../../lib/core/prune_plan.ts";
import type { Entry } from "../../../lib/core/manifest.ts";
import { assert } from "../../support/assert.ts";

/** A digest made of one repeated hex digit, e.g. sha("a"). */
const sha = (digit: string): string => digit.repeat(64);

/** A listed image: digest digit, size, position in the manifest. */
function listed(digit: string, size: number | bigint, order: number): PruneCandidate {
  return { sha256: sha(digit), size: BigInt(size), order, version: `${order + 1}.0` };
}

/** An image the manifest does not list. */
function unlisted(digit: string, size: number | bigint): PruneCandidate {
  return { sha256: sha(digit), size: BigInt(size), order: undefined, version: undefined };
}

const NO_LIMITS: PruneLimits = { keepImages: undefined, maxStoreSize: undefined };
const keepImages = (n: number): PruneLimits => ({ keepImages: n, maxStoreSize: undefined });
const maxSize = (n: bigint): PruneLimits => ({ keepImages: undefined, maxStoreSize: n });
const keep = (latest?: string, previous?: string): PruneKeep => ({
  latest: latest === undefined ? undefined : sha(latest),
  previous: previous === undefined ? undefined : sha(previous),
});

interface Case {
  readonly name: string;
  readonly images: readonly PruneCandidate[];
  readonly keep: PruneKeep;
  readonly limits: PruneLimits;
  /** Digest digits of the removed images, in removal order. */
  readonly removed: string;
  readonly unmet?: readonly string[];
  readonly keptCount: number;
  readonly keptSize: bigint;
}

const FOUR = [listed("1", 10, 0), listed("2", 20, 1), listed("3", 30, 2), listed("4", 40, 3)];

const CASES: readonly Case[] = [
  {
    name: "removes nothing without limits, however full the store",
    images: FOUR,
    keep: keep(),
    limits: NO_LIMITS,
    removed: "",
    keptCount: 4,
    keptSize: 100n,
  },
  {
    name: "removes nothing when the store is within KeepImages=",
    images: FOUR,
    keep: keep("4", "3"),
    limits: keepImages(4),
    removed: "",
    keptCount: 4,
    keptSize: 100n,
  },
  {
    name: "removes the oldest images by manifest order down to KeepImages=",
    images: FOUR,
    keep: keep("4", "3"),
    limits: keepImages(2),
    removed: "12",
    keptCount: 2,
    keptSize: 70n,
  },
  {
    name: "skips latest when it is the oldest image (a pinned older version)",
    images: FOUR,
    keep: keep("1", "4"),
    limits: keepImages(2),
    removed: "23",
    keptCount: 2,
    keptSize: 50n,
  },
  {
    name: "keeps latest and previous when KeepImages=1 cannot hold both, and says so",
    images: FOUR,
    keep: keep("4", "2"),
    limits: keepImages(1),
    removed: "13",
    unmet: ["KeepImages"],
    keptCount: 2,
    keptSize: 60n,
  },
  {
    name: "removes images the manifest does not list before listed ones, by digest",
    images: [listed("1", 10, 0), unlisted("f", 5), listed("2", 20, 1), unlisted("e", 5)],
    keep: keep("2"),
    limits: keepImages(2),
    removed: "ef",
    keptCount: 2,
    keptSize: 30n,
  },
  {
    name: "removes oldest first until the total is within MaxStoreSize=",
    images: FOUR,
    keep: keep("4", "3"),
    limits: maxSize(75n),
    removed: "12",
    keptCount: 2,
    keptSize: 70n,
  },
  {
    name: "removes nothing when the total equals MaxStoreSize= exactly",
    images: FOUR,
    keep: keep("4"),
    limits: maxSize(100n),
    removed: "",
    keptCount: 4,
    keptSize: 100n,
  },
  {
    name: "removes one byte over MaxStoreSize= by the oldest image",
    images: FOUR,
    keep: keep("4"),
    limits: maxSize(99n),
    removed: "1",
    keptCount: 3,
    keptSize: 90n,
  },
  {
    name: "keeps latest even when it alone is larger than MaxStoreSize=, and says so",
    images: FOUR,
    keep: keep("4"),
    limits: maxSize(39n),
    removed: "123",
    unmet: ["MaxStoreSize"],
    keptCount: 1,
    keptSize: 40n,
  },
  {
    name: "applies the stricter of KeepImages= and MaxStoreSize=",
    images: FOUR,
    keep: keep("4", "3"),
    limits: { keepImages: 3, maxStoreSize: 80n },
    removed: "12",
    keptCount: 2,
    keptSize: 70n,
  },
  {
    name: "names both limits when neither can be met",
    images: FOUR,
    keep: keep("4", "3"),
    limits: { keepImages: 1, maxStoreSize: 1n },
    removed: "12",
    unmet: ["KeepImages", "MaxStoreSize"],
    keptCount: 2,
    keptSize: 70n,
  },
  {
    name: "ignores a previous image that is not in the store",
    images: FOUR,
    keep: keep("4", "9"),
    limits: keepImages(1),
    removed: "123",
    keptCount: 1,
    keptSize: 40n,
  },
  {
    name: "may remove everything when nothing is protected",
    images: FOUR,
    keep: keep(),
    limits: maxSize(1n),
    removed: "1234",
    keptCount: 0,
    keptSize: 0n,
  },
  {
    name: "takes the candidates in any order",
    images: [FOUR[3]!, FOUR[1]!, FOUR[0]!, FOUR[2]!],
    keep: keep("4"),
    limits: keepImages(2),
    removed: "12",
    keptCount: 2,
    keptSize: 70n,
  },
  {
    name: "counts a repeated candidate once",
    images: [...FOUR, FOUR[0]!],
    keep: keep("4"),
    limits: keepImages(3),
    removed: "1",
    keptCount: 3,
    keptSize: 90n,
  },
  {
    name: "adds sizes above 2^53 exactly",
    images: [listed("1", 2n ** 60n, 0), listed("2", 2n ** 60n + 1n, 1)],
    keep: keep("2"),
    limits: maxSize(2n ** 60n + 1n),
    removed: "1",
    keptCount: 1,
    keptSize: 2n ** 60n + 1n,
  },
  {
    name: "handles an empty store",
    images: [],
    keep: keep("1", "2"),
    limits: keepImages(1),
    removed: "",
    keptCount: 0,
    keptSize: 0n,
  },
];

for (const c of CASES) {
  Deno.test(`\`planPrune()\` ${c.name}`, () => {
    const plan = planPrune(c.images, c.keep, c.limits);
    assert.deepEqual(plan.remove.map((image) => image.sha256), [...c.removed].map(sha));
    assert.deepEqual(plan.unmet, c.unmet ?? []);
    assert.equal(plan.keptCount, c.keptCount);
    assert.equal(plan.keptSize, c.keptSize);
  });
}

Deno.test("`planPrune()` never removes latest or previous, whatever the limits", () => {
  for (const limits of [keepImages(1), maxSize(1n), { keepImages: 1, maxStoreSize: 1n }]) {
    for (const [latest, previous] of [["1", "2"], ["4", "1"], ["2", "3"], ["3", "3"]]) {
      const plan = planPrune(FOUR, keep(latest, previous), limits);
      const removed = plan.remove.map((image) => image.sha256);
      assert.ok(!removed.includes(sha(latest!)), `latest ${latest} removed`);
      assert.ok(!removed.includes(sha(previous!)), `previous ${previous} removed`);
    }
  }
});

/** The order the rules give, written out independently: unlisted by digest, then listed by position. */
function byAge(a: PruneCandidate, b: PruneCandidate): number {
  const rank = (c: PruneCandidate) => c.order === undefined ? -1 : c.order;
  return rank(a) - rank(b) || (a.sha256 < b.sha256 ? -1 : a.sha256 > b.sha256 ? 1 : 0);
}

Deno.test("`planPrune()` removes the oldest unprotected images and meets the limits unless only protected ones are left", () => {
  const image = fc.record({
    digit: fc.constantFrom(..."0123456789abcdef"),
    size: fc.bigInt({ min: 0n, max: 2n ** 40n }),
    order: fc.option(fc.nat(50), { nil: undefined }),
  });
  const limits = fc.record({
    keepImages: fc.option(fc.integer({ min: 1, max: 20 }), { nil: undefined }),
    maxStoreSize: fc.option(fc.bigInt({ min: 1n, max: 2n ** 42n }), { nil: undefined }),
  });
  const digit = fc.option(fc.constantFrom(..."0123456789abcdef"), { nil: undefined });
  fc.assert(
    fc.property(fc.array(image, { maxLength: 16 }), digit, digit, limits, (raw, l, p, lim) => {
      const seen = new Set<string>();
      // Distinct digests and distinct manifest positions, as a real store and manifest have.
      const images = raw.filter((i) => !seen.has(i.digit) && seen.add(i.digit)).map((i, n) =>
        i.order === undefined
          ? unlisted(i.digit, i.size)
          : listed(i.digit, i.size, i.order * 16 + n)
      );
      const kept = new Set([l, p].filter((d) => d !== undefined).map((d) => sha(d!)));
      const plan = planPrune(images, keep(l, p), lim);
      const removable = [...images].sort(byAge).filter((i) => !kept.has(i.sha256));
      const removed = plan.remove.map((i) => i.sha256);
      // Oldest first: what is removed is a prefix of the removable images by age.
      assert.deepEqual(removed, removable.slice(0, removed.length).map((i) => i.sha256));
      const left = images.filter((i) => !removed.includes(i.sha256));
      const size = left.reduce((sum, i) => sum + i.size, 0n);
      const met = (lim.keepImages === undefined || left.length <= lim.keepImages) &&
        (lim.maxStoreSize === undefined || size <= lim.maxStoreSize);
      assert.ok(met || left.every((i) => kept.has(i.sha256)), "stopped before the limits");
      assert.equal(plan.unmet.length === 0, met);
      // Minimal: keeping the last removed image would break a limit.
      const last = plan.remove.at(-1);
      if (last !== undefined) {
        const fits = (lim.keepImages === undefined || left.length + 1 <= lim.keepImages) &&
          (lim.maxStoreSize === undefined || size + last.size <= lim.maxStoreSize);
        assert.ok(!fits, "removed more than needed");
      }
      assert.equal(plan.keptCount, left.length);
      assert.equal(plan.keptSize, size);
    }),
  );
});

Deno.test("`hasLimits()` is true when either limit is set", () => {
  assert.equal(hasLimits(NO_LIMITS), false);
  assert.equal(hasLimits(keepImages(1)), true);
  assert.equal(hasLimits(maxSize(1n)), true);
});

const entry = (version: string, digit: string, size = 10n): Entry => ({
  version,
  size,
  sha256: sha(digit),
});

Deno.test("`candidatesFrom()` orders unlisted images first, then by manifest position", () => {
  const entries = [entry("1.0", "1"), entry("1.1", "2"), entry("2.0", "3")];
  const stored = [
    { sha256: sha("3"), size: 30 },
    { sha256: sha("f"), size: 5 },
    { sha256: sha("1"), size: 10 },
    { sha256: sha("e"), size: 6 },
  ];
  assert.deepEqual(candidatesFrom(stored, entries), [
    { sha256: sha("e"), size: 6n, order: undefined, version: undefined },
    { sha256: sha("f"), size: 5n, order: undefined, version: undefined },
    { sha256: sha("1"), size: 10n, order: 0, version: "1.0" },
    { sha256: sha("3"), size: 30n, order: 2, version: "2.0" },
  ]);
});

Deno.test("`candidatesFrom()` dates an image listed under several versions by the newest", () => {
  const entries = [entry("1.0", "1"), entry("1.1", "2"), entry("1.2", "1")];
  const stored = [{ sha256: sha("1"), size: 10 }, { sha256: sha("2"), size: 10 }];
  const candidates = candidatesFrom(stored, entries);
  assert.deepEqual(candidates.map((c) => [c.version, c.order]), [["1.1", 1], ["1.2", 2]]);
});

Deno.test("`candidatesFrom()` counts every image as unlisted without a manifest", () => {
  const stored = [{ sha256: sha("2"), size: 1 }, { sha256: sha("1"), size: 2 }];
  const candidates = candidatesFrom(stored, []);
  assert.deepEqual(candidates.map((c) => c.sha256), [sha("1"), sha("2")]);
  assert.ok(candidates.every((c) => c.order === undefined && c.version === undefined));
});
