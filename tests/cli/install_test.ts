/**
 * `make install` / `make uninstall` with PREFIX and DESTDIR, the installed man
 * pages (`man tako-fetch`), and the template units: the files in systemd/ are
 * the ones docs/systemd.md shows, and `systemd-analyze verify` accepts them as
 * installed (no systemd manager is started: verify only loads the files).
 *
 * @module
 */
import { join } from "node:path";
import { manPageNames } from "../../lib/core/man_page.ts";
import { assert } from "../support/assert.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const UNITS = ["tako@.service", "tako@.timer", "tako@.service.d/prometheus.conf"];

async function run(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string } | undefined> {
  let output;
  try {
    // The outer make's jobserver and level must not leak into this one.
    output = await new Deno.Command(command, {
      args,
      cwd: ROOT,
      env: { MAKEFLAGS: "", MAKELEVEL: "", MFLAGS: "", ...env },
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

async function files(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (sub: string) => {
    for await (const entry of Deno.readDir(join(dir, sub))) {
      const path = sub === "" ? entry.name : `${sub}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else found.push(path);
    }
  };
  await walk("");
  return found.sort();
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tako-install-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("docs/systemd.md shows the unit files of systemd/ exactly", async () => {
  const doc = await Deno.readTextFile(join(ROOT, "docs/systemd.md"));
  for (const unit of UNITS) {
    const text = await Deno.readTextFile(join(ROOT, "systemd", unit));
    const indented = text.split("\n").map((l) => l === "" ? "" : `    ${l}`).join("\n");
    assert.ok(doc.includes(`    # systemd/${unit}\n${indented}`), `docs/systemd.md lacks ${unit}`);
  }
});

Deno.test("`make install` with DESTDIR and PREFIX stages everything; `make uninstall` removes it", async () => {
  await withDir(async (dir) => {
    const vars = [`DESTDIR=${dir}/stage`, "PREFIX=/usr", `MANBUILD=${dir}/man`];
    const install = await run("make", ["--no-print-directory", "install", ...vars]);
    assert.equal(install?.code, 0, install?.stderr);
    const built = await Deno.stat(join(ROOT, "bin/tako")).then(() => true, () => false);
    const expected = [
      ...(built ? ["usr/bin/tako"] : []),
      "usr/lib/systemd/system/tako@.service",
      "usr/lib/systemd/system/tako@.timer",
      "usr/share/doc/tako/examples/prometheus.conf",
      ...manPageNames().map((n) => `usr/share/man/man1/${n}.1`),
    ].sort();
    assert.deepEqual(await files(`${dir}/stage`), expected);
    if (!built) assert.match(install!.stderr, /bin\/tako is not built.*make build/);
    const unit = await Deno.readTextFile(`${dir}/stage/usr/lib/systemd/system/tako@.service`);
    assert.ok(unit.includes("ExecStart=/usr/bin/tako fetch /etc/tako/%i"), unit);
    assert.ok(!unit.includes("/usr/local/"), "the units name the installed binary");
    for (const page of manPageNames()) {
      const info = await Deno.stat(`${dir}/stage/usr/share/man/man1/${page}.1`);
      assert.equal(info.mode! & 0o777, 0o644, page);
    }

    // `man tako-fetch` finds and renders the installed page.
    const man = await run("man", ["-M", `${dir}/stage/usr/share/man`, "-P", "cat", "tako-fetch"], {
      MANWIDTH: "100",
    });
    if (man !== undefined) {
      assert.equal(man.code, 0, man.stderr);
      assert.match(man.stdout, /tako fetch \[--init \| --dry-run\]/);
    }

    const uninstall = await run("make", ["--no-print-directory", "uninstall", ...vars]);
    assert.equal(uninstall?.code, 0, uninstall?.stderr);
    assert.deepEqual(await files(`${dir}/stage`), []);
  });
});

Deno.test("the installed template units pass `systemd-analyze verify`", async (t) => {
  await withDir(async (prefix) => {
    const install = await run("make", [
      "--no-print-directory",
      "install",
      `PREFIX=${prefix}`,
      `MANBUILD=${prefix}/man-build`,
    ]);
    assert.equal(install?.code, 0, install?.stderr);
    // verify checks that ExecStart= names an executable: the binary, or a stand-in when not built.
    const binary = `${prefix}/bin/tako`;
    if (!(await Deno.stat(binary).then(() => true, () => false))) {
      await Deno.mkdir(`${prefix}/bin`, { recursive: true });
      await Deno.writeTextFile(binary, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    }
    const units = `${prefix}/lib/systemd/system`;
    // The metrics drop-in beside the template, where a host would put it.
    await Deno.mkdir(`${units}/tako@.service.d`);
    await Deno.copyFile(
      `${prefix}/share/doc/tako/examples/prometheus.conf`,
      `${units}/tako@.service.d/prometheus.conf`,
    );
    const verify = await run("systemd-analyze", [
      "verify",
      "--man=no",
      `${units}/tako@app.service`,
      `${units}/tako@app.timer`,
    ]);
    if (verify === undefined) {
      await t.step({ name: "systemd-analyze is not installed", ignore: true, fn: () => {} });
      return;
    }
    assert.equal(verify.code, 0, verify.stderr);
    assert.equal(verify.stderr, "", "no warning either (unknown keys are only warned about)");

    // The check has teeth: a misspelt key in the drop-in is reported.
    await Deno.writeTextFile(
      `${units}/tako@.service.d/typo.conf`,
      "[Service]\nExecStartPost=x\nRestartSec=\nReadWritePath=/x\n",
    );
    const typo = await run("systemd-analyze", ["verify", "--man=no", `${units}/tako@app.service`]);
    assert.match(typo!.stderr, /ReadWritePath/);
  });
});
