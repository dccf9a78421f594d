/**
 * `make demo`: Tako's main job end to end on this machine. Generates a key,
 * publishes two versions to a temporary origin, serves it on 127.0.0.1,
 * fetches, publishes a compatible update and a breaking one, fetches again
 * and shows `latest` move to the compatible one. Everything runs through the
 * real command line and is removed afterwards.
 *
 * @module
 */
import { runTako, type TakoResult } from "../dev/run_tako.ts";

const say = (text: string) => console.log(`\n== ${text}`);

function check(result: TakoResult, what: string): TakoResult {
  if (result.stderr.trim() !== "") console.log(result.stderr.trimEnd().replace(/^/gm, "   "));
  if (result.code !== 0) throw new Error(`${what} failed with exit code ${result.code}`);
  return result;
}

/** A minimal static file server for the origin directory. */
function serveOrigin(root: string): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    if (path.includes("..")) return new Response("bad path", { status: 400 });
    try {
      const file = await Deno.open(`${root}${path}`);
      const { size } = await file.stat();
      return new Response(file.readable, { headers: { "content-length": String(size) } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
}

async function writeImage(path: string, label: string, size: number): Promise<void> {
  const bytes = new Uint8Array(size);
  crypto.getRandomValues(bytes.subarray(0, Math.min(size, 65536)));
  bytes.set(new TextEncoder().encode(`${label}\n`));
  await Deno.writeFile(path, bytes);
}

async function showLatest(dest: string): Promise<void> {
  const target = await Deno.readLink(`${dest}/latest`);
  const { size } = await Deno.stat(`${dest}/latest`);
  const head = new TextDecoder().decode((await Deno.readFile(`${dest}/latest`)).subarray(0, 40));
  console.log(`   ${dest}/latest -> ${target} (${size} bytes, "${head.split("\n")[0]}")`);
}

async function demo(work: string): Promise<void> {
  const origin = `${work}/origin`;
  const dest = `${work}/host/app`;
  await Deno.mkdir(origin);
  await Deno.mkdir(`${work}/host`);

  say("tako gen-key: a key pair for the publisher");
  const keys = check(await runTako(["gen-key"]), "gen-key").stdout.split("\n");
  const secret = keys.find((l) => l.startsWith("SECRET+"))!;
  const publicKey = keys.find((l) => /^[A-Za-z0-9+/]{43}=$/.test(l))!;
  console.log(`   public key: ${publicKey}`);
  const publisher = { env: { TAKO_SECRET_KEY: secret } };

  say("tako store: publish versions 1.0.0 and 1.1.0 of a 4 MiB image");
  for (const version of ["1.0.0", "1.1.0"]) {
    await writeImage(`${work}/app-${version}.img`, `app image ${version}`, 4 << 20);
    check(
      await runTako(["store", "-o", origin, `${work}/app-${version}.img`, version], publisher),
      "store",
    );
  }
  console.log((await Deno.readTextFile(`${origin}/manifest`)).trimEnd().replace(/^/gm, "   "));

  const server = serveOrigin(origin);
  try {
    const url = `http://127.0.0.1:${server.addr.port}/`;
    const config = `${work}/app.tako`;
    await Deno.writeTextFile(
      config,
      `# Follow compatible 1.x releases: security updates yes, breaking changes no.\n` +
        `Origin=${url}\nPublicKey=${publicKey}\nDestination=${dest}\nVersion=^1.0\n`,
    );
    say(`the host's config ${config}`);
    console.log((await Deno.readTextFile(config)).trimEnd().replace(/^/gm, "   "));

    say("tako fetch: the first fetch installs the newest compatible image");
    check(await runTako(["fetch", config]), "fetch");
    await showLatest(dest);

    say("tako store: publish 1.2.0 (a compatible update) and 2.0.0 (a breaking change)");
    for (const version of ["1.2.0", "2.0.0"]) {
      await writeImage(`${work}/app-${version}.img`, `app image ${version}`, 4 << 20);
      check(
        await runTako(["store", "-o", origin, `${work}/app-${version}.img`, version], publisher),
        "store",
      );
    }

    say("tako fetch: latest moves to 1.2.0; 2.0.0 is left alone");
    check(await runTako(["fetch", config]), "fetch");
    await showLatest(dest);

    say("tako fetch --init: the image is in place, so no network access at all");
    check(await runTako(["fetch", "--init", config]), "fetch --init");

    say("the host's store: read-only images, the verified manifest, the latest link");
    for await (const entry of Deno.readDir(`${dest}/store`)) {
      const info = await Deno.stat(`${dest}/store/${entry.name}`);
      console.log(`   store/${entry.name} mode ${(info.mode! & 0o777).toString(8)}`);
    }
  } finally {
    await server.shutdown();
  }
  say("done: every step above ran the real tako command line");
}

const work = await Deno.makeTempDir({ prefix: "tako-demo-" });
try {
  await demo(work);
} finally {
  await Deno.remove(work, { recursive: true });
}
