/**
 * A publisher's origin directory (SPEC §5) as `tako store` and `tako resign`
 * find it before they lock and write it: any problem with it is the caller's
 * (a usage error, exit 2), like a wrong `-o` on the command line.
 *
 * @module
 */
import { asKind, printable, TakoError } from "../core/errors.ts";
import { fileError } from "./fs.ts";

/**
 * The origin directory that `-o` names, without trailing slashes, once it is
 * known to be a directory.
 *
 * @example
 * ```ts
 * const dir = await originDirectory("/srv/origin/app/"); // "/srv/origin/app"
 * ```
 */
export async function originDirectory(output: string): Promise<string> {
  const dir = output.replace(/\/+$/, "") || "/";
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new TakoError(
        "usage",
        `The origin directory ${printable(dir, 200)} does not exist; create it first.`,
      );
    }
    throw asKind(fileError("use", dir, e), "usage");
  }
  if (!info.isDirectory) {
    throw new TakoError("usage", `${printable(dir, 200)} is not a directory.`);
  }
  return dir;
}
