/**
 * The server configurations of docs/distributing-images.md for withdrawn
 * images, run as written (only the address and the root are changed): nginx
 * and Caddy answer 410 Gone for a deleted `store/<sha256>`, and `tako fetch`
 * falls back to the next newest compatible version. Each test is skipped when
 * its server is not installed.
 */
import { assert } from "../support/assert.ts";
import {
  assertOutcome,
  closedPort,
  latestDigest,
  sha256Hex,
  withSetup,
} from "../support/publish.ts";

const DOCS = new URL("../../docs/distributing-images.md", import.meta.url);
const V100 = { version: "1.0.0", content: "image one\n" };
const V110 = { version: "1.1.0", content: "image one point one\n" };
const V120 = { version: "1.2.0", content: "image one point two\n" };

/** The indented block of the docs that starts with `first` (4 spaces in), up to its closing brace. */
async function docsBlock(first: string): Promise<string> {
  const lines = (await Deno.readTextFile(DOCS)).split("\n");
  const start = lines.indexOf(`    ${first}`);
  assert.ok(start >= 0, `docs/distributing-images.md shows '${first}'`);
  const end = lines.indexOf("    }", start);
  return lines.slice(start, end + 1).map((l) => l.slice(4)).join("\n") + "\n";
}

async function installed(name: string): Promise<boolean> {
  try {
    const out = await new Deno.Command(name, { args: ["-v"], stdout: "null", stderr: "null" })
      .output();
    return out.success || out.code !== 127;
  } catch {
    return false;
  }
}

/** Waits until something answers HTTP on the port. */
async function waitForServer(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/`);
      await response.body?.cancel();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`no server on port ${port}`);
}

/**
 * Serves `dir/www` (the origin published as `www/app`) with a server started
 * by `start`, then: 1.0.0 is installed, 1.1.0 and 1.2.0 are published, 1.2.0's
 * image is deleted, and a fetch must land on 1.1.0.
 */
async function checkFallback(
  start: (root: string, port: number, dir: string) => Promise<Deno.ChildProcess>,
): Promise<void> {
  await withSetup([V100], async (s) => {
    const root = `${s.dir}/www`;
    await Deno.mkdir(root);
    await Deno.symlink(s.originDir, `${root}/app`);
    const port = closedPort();
    const server = await start(root, port, s.dir);
    try {
      await waitForServer(port);
      await s.writeConfig({ origins: [`http://127.0.0.1:${port}/app`], version: "1.*" });
      assertOutcome(await s.fetch(), 0);
      await s.publish([V100, V110, V120]);
      await Deno.remove(`${s.originDir}/store/${sha256Hex(V120.content)}`);
      const gone = await fetch(`http://127.0.0.1:${port}/app/store/${sha256Hex(V120.content)}`);
      await gone.body?.cancel();
      assert.equal(gone.status, 410, "the server answers 410 for the withdrawn image");
      const result = await s.fetch();
      assertOutcome(result, 0, "1.2.0 was withdrawn (410 Gone)");
      assert.equal(await latestDigest(s.dest), sha256Hex(V110.content));
    } finally {
      server.kill("SIGTERM");
      await server.status;
    }
  });
}

Deno.test({
  name: "docs: the nginx configuration answers 410 for a withdrawn image, and fetch falls back",
  ignore: !(await installed("nginx")),
  async fn() {
    const block = await docsBlock("server {");
    await checkFallback(async (root, port, dir) => {
      const server = block
        .replace("listen 80;", `listen 127.0.0.1:${port};`)
        .replace("root /var/www/images;", `root ${root};`);
      assert.ok(server.includes(`listen 127.0.0.1:${port};`) && server.includes(root));
      await Deno.writeTextFile(
        `${dir}/nginx.conf`,
        `daemon off;\nmaster_process off;\npid ${dir}/nginx.pid;\nerror_log ${dir}/nginx.log;\n` +
          `events {}\nhttp {\naccess_log off;\n${server}}\n`,
      );
      return new Deno.Command("nginx", {
        args: ["-p", dir, "-c", `${dir}/nginx.conf`],
        stdout: "null",
        stderr: "null",
      }).spawn();
    });
  },
});

Deno.test({
  name: "docs: the Caddy configuration answers 410 for a withdrawn image, and fetch falls back",
  ignore: !(await installed("caddy")),
  async fn() {
    const block = await docsBlock("images.example.com {");
    await checkFallback(async (root, port, dir) => {
      const site = block
        .replace("images.example.com {", `http://127.0.0.1:${port} {`)
        .replace("root * /var/www/images", `root * ${root}`);
      assert.ok(site.includes(`http://127.0.0.1:${port} {`) && site.includes(root));
      await Deno.writeTextFile(`${dir}/Caddyfile`, `{\n\tadmin off\n}\n${site}`);
      return new Deno.Command("caddy", {
        args: ["run", "--config", `${dir}/Caddyfile`, "--adapter", "caddyfile"],
        env: { HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
        stdout: "null",
        stderr: "null",
      }).spawn();
    });
  },
});
