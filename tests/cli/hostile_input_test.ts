/**
 * No input reaches an internal error: origins of every shape a config
 * accepts or refuses (malformed percent escapes, odd hosts and ports,
 * non-ASCII, credentials, file URLs) are run through the real CLI in one
 * `tako fetch` over many configs. Each config fails or succeeds on its own
 * with a documented exit code; none is a bug (exit 70), and the configs
 * after a failing one still run.
 */
import fc from "fast-check";
import { runTako } from "../../dev/run_tako.ts";
import { assert } from "../support/assert.ts";
import { scaledFuzzRuns } from "../support/fuzz.ts";
import { assertNoStackTrace, closedPort, configText, withSetup } from "../support/publish.ts";

const piece = fc.oneof(
  fc.constantFrom(
    "%",
    "%2",
    "%zz",
    "%25",
    "%00",
    "%ff",
    "%e9",
    "..",
    ".",
    "@",
    ":",
    "[",
    "]",
    "\\",
  ),
  fc.constantFrom(
    "é",
    "😀",
    "\u200b",
    "\u202e",
    "~",
    "!",
    "$",
    "&",
    "'",
    "(",
    ")",
    "*",
    "+",
    ",",
    ";",
    "=",
  ),
  fc.stringMatching(/^[a-z0-9]{1,6}$/),
);
const path = fc.array(piece, { maxLength: 6 }).map((parts) => parts.join(""));
const origin = fc.oneof(
  path.map((p) => `file:///srv/${p}/`),
  path.map((p) => `file://${p}`),
  fc.tuple(
    path,
    fc.constantFrom("127.0.0.1", "[::1]", "[::1", "localhost", "xn--", "a..b", "u:p@127.0.0.1"),
  )
    .map(([p, host]) => `http://${host}:${closedPort()}/${p}`),
  fc.tuple(path, fc.integer({ min: -1, max: 70000 })).map(([p, port]) =>
    `https://127.0.0.1:${port}/${p}`
  ),
  path.map((p) => `http:${p}`),
  path,
);

Deno.test("no origin URL makes `tako fetch` report an internal error, and every config runs (property)", async () => {
  await withSetup([{ version: "1.0.0", content: "image one\n" }], async (s) => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(origin, { minLength: 4, maxLength: 10 }), async (origins) => {
        run++;
        const paths: string[] = [];
        for (const [i, o] of origins.entries()) {
          const path = `${s.dir}/odd-${run}-${i}.tako`;
          const dest = `${s.dir}/dest-${run}-${i}`;
          await Deno.writeTextFile(path, configText({ origins: [o], destination: dest }));
          paths.push(path);
        }
        // A working config last: it still runs after all the odd ones.
        const good = `${s.dir}/good-${run}.tako`;
        await Deno.writeTextFile(
          good,
          configText({ origins: [s.origin.url], destination: `${s.dir}/good-${run}` }),
        );
        const result = await runTako(["fetch", "--connect-timeout", "2", ...paths, good], {
          env: s.systemctl.env,
          cwd: s.dir,
        });
        assertNoStackTrace(result.stderr);
        assert.ok([1, 3, 4].includes(result.code), `exit ${result.code}:\n${result.stderr}`);
        assert.ok(result.stderr.includes(`${good}: latest is now 1.0.0`), result.stderr);
      }),
      { numRuns: scaledFuzzRuns(3), endOnFailure: true },
    );
  });
});
