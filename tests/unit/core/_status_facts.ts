/** Facts of `tako status` for the core tests: a healthy destination and a broken config. */
import { type Config, parseConfig } from "../../../lib/core/config.ts";
import type { TakoError } from "../../../lib/core/errors.ts";
import type { Entry } from "../../../lib/core/manifest.ts";
import { EMPTY_STATE, type State } from "../../../lib/core/state.ts";
import type { StatusFacts } from "../../../lib/core/status_report.ts";
import { TEST_PUBLIC_KEY, THREE_IMAGES } from "../../support/vectors.ts";

export const [ONE, ONE_ONE, TWO] = THREE_IMAGES.map((i) => ({
  version: i.version,
  size: i.size,
  sha256: i.sha256,
})) as [Entry, Entry, Entry];
export const ENTRIES: readonly Entry[] = [ONE, ONE_ONE, TWO];
export const NOW = new Date("2024-05-01T12:00:00.000Z");

export async function config(extra = "Version=1.*\n"): Promise<Config> {
  return await parseConfig(
    "Origin=https://images.example.com/app\n" +
      "Origin=https://mirror.example.com/app\n" +
      `PublicKey=${TEST_PUBLIC_KEY}\n` +
      "Destination=/var/lib/images/app\n" +
      "Restart=app.service\n" +
      extra,
    "/etc/tako/app",
  );
}

/** Facts of a healthy destination: 1.0.0 (previous) and 2.0.0 (latest) stored. */
export async function healthy(overrides: Partial<StatusFacts> = {}): Promise<StatusFacts> {
  const state: State = {
    ...EMPTY_STATE,
    previous: ONE.sha256,
    lastSuccess: "2024-05-01T09:00:00.000Z",
    restartPending: true,
  };
  return {
    configPath: "/etc/tako/app",
    config: await config(),
    destination: "/var/lib/images/app",
    manifest: { status: "verified", entries: ENTRIES },
    store: [{ sha256: TWO.sha256, size: 10 }, { sha256: ONE.sha256, size: 10 }],
    partials: [],
    latest: { kind: "image", sha256: TWO.sha256 },
    state,
    errors: [],
    ...overrides,
  };
}

/** Whether text holds a control character other than the line feed. */
export function hasControl(text: string): boolean {
  return [...text].some((ch) => {
    const code = ch.codePointAt(0)!;
    return (code < 0x20 && code !== 0x0a) || (code >= 0x7f && code < 0xa0);
  });
}

/** Facts of a config that could not be read. */
export function broken(path: string, error: TakoError): StatusFacts {
  return {
    configPath: path,
    config: undefined,
    destination: undefined,
    manifest: undefined,
    store: undefined,
    partials: undefined,
    latest: undefined,
    state: undefined,
    errors: [error],
  };
}
