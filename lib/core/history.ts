/**
 * Trust in an origin's history when there is no stored manifest to compare a
 * new one with (SPEC §7). Only a destination without any image is a first
 * contact, taking any validly signed history. One that already holds the
 * image `latest` points to lost its manifest (removed by hand, say) but not
 * its history: a manifest that does not list that image, with the same
 * digest and size, would move `latest` to another history — a rollback.
 *
 * @module
 */
import { printable, TakoError } from "./errors.ts";
import type { Entry } from "./manifest.ts";

/** The image `latest` points to, as found on disk. */
export interface CurrentImage {
  readonly sha256: string;
  /** The size of `store/<sha256>`, or undefined when the file is missing. */
  readonly size: bigint | undefined;
}

/**
 * Checks a verified manifest taken without a stored one: throws an integrity
 * error naming `source` unless `current` is undefined (no image: first
 * contact) or the manifest lists that digest with that size.
 *
 * @example
 * ```ts
 * import type { Entry } from "./manifest.ts";
 * declare const entries: Entry[];
 * checkAnchoredHistory(entries, { sha256: "ab…", size: 10n }, "https://example.com/app/manifest");
 * ```
 */
export function checkAnchoredHistory(
  entries: readonly Entry[],
  current: CurrentImage | undefined,
  source: string,
): void {
  if (current === undefined) return;
  const listed = entries.some((e) =>
    e.sha256 === current.sha256 && (current.size === undefined || e.size === current.size)
  );
  if (listed) return;
  const size = current.size === undefined ? "" : `, ${current.size} bytes`;
  throw new TakoError(
    "integrity",
    `${source}: the manifest does not list the image latest points to (${
      printable(current.sha256, 64)
    }${size}); without a stored manifest to compare with, taking it could roll the history back, so latest stays. To accept this history anyway, remove the destination's latest as well.`,
  );
}
