import { assert } from "../support/assert.ts";
import { takoFlags } from "../../dev/run_tako.ts";

const config = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));

Deno.test("the compiled binary gets exactly the permissions the tests run with", async () => {
  const compile: string[] = config.tasks.compile.split(/\s+/);
  assert.deepEqual(compile.slice(0, 2), ["deno", "compile"]);
  const flags = compile.slice(2).filter((w) => w.startsWith("--allow") || w === "--no-prompt");
  assert.deepEqual(flags, await takoFlags());
});

Deno.test("the binary's permissions are least privilege: no -A, named variables", async () => {
  const flags = await takoFlags();
  assert.ok(!flags.includes("-A") && !flags.includes("--allow-all"), flags.join(" "));
  // Running programs is not limited to systemctl: HealthCommand= names any absolute path,
  // which only the config's owner chooses; nothing from the network is ever run.
  assert.ok(flags.includes("--allow-run"), flags.join(" "));
  const env = flags.find((f) => f.startsWith("--allow-env"));
  // TAKO_MACHINE_ID for the phased rollout; the proxy variables only for naming a proxy in messages; Deno's fetch reads them anyway.
  assert.equal(
    env,
    "--allow-env=TAKO_SECRET_KEY,TAKO_DEBUG,JOURNAL_STREAM,TAKO_MACHINE_ID,HTTPS_PROXY,https_proxy,HTTP_PROXY,http_proxy,ALL_PROXY,all_proxy,NO_PROXY,no_proxy",
  );
  assert.ok(!flags.some((f) => f.startsWith("--allow-ffi") || f.startsWith("--allow-sys")));
});
