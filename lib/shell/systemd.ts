/**
 * Restarting the systemd units that use an image, behind a small interface so
 * the fetch procedure can be tested with a stand-in.
 *
 * @module
 */
import { printable, TakoError } from "../core/errors.ts";

/** What the fetch procedure needs from the service manager. */
export interface ServiceManager {
  /** Restarts all units in one call; throws TakoError("runtime") on failure. */
  restart(units: readonly string[]): Promise<void>;
}

/** The arguments of the one systemctl call: `--` keeps a unit name from being read as an option. */
export function restartArgs(units: readonly string[]): string[] {
  return ["restart", "--", ...units];
}

/**
 * Runs `systemctl restart -- <units>` found through PATH, as systemd's own
 * tools do; reports its exit status and the first line of its stderr.
 */
export const systemctl: ServiceManager = {
  async restart(units) {
    const names = printable(units.join(" "), 300);
    let output: Deno.CommandOutput;
    try {
      output = await new Deno.Command("systemctl", {
        args: restartArgs(units),
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).output();
    } catch (e) {
      const reason = e instanceof Deno.errors.NotFound
        ? "systemctl was not found on PATH"
        : e instanceof Error
        ? e.message
        : String(e);
      throw new TakoError("runtime", `Cannot run systemctl to restart ${names}: ${reason}.`, {
        cause: e,
      });
    }
    if (!output.success) {
      const detail = new TextDecoder().decode(output.stderr).trim().split("\n")[0] ?? "";
      throw new TakoError(
        "runtime",
        `systemctl restart ${names} failed with exit code ${output.code}` +
          (detail === "" ? "." : `: ${printable(detail, 200)}`),
      );
    }
  },
};
