/**
 * Measures what one periodic check costs on the wire when nothing changed:
 * `tako fetch` against the test origin (tests/support/origin_server.ts), once
 * over http and once over https, through a proxy that counts every byte both
 * ways (TCP payload: request, 304 response and, for https, the TLS handshake).
 * The figures feed the fleet cost in docs/distributing-images.md.
 *
 *     deno run -A bench/check_bytes.ts
 *
 * @module
 */
import { runTako } from "../dev/run_tako.ts";
import { startOrigin } from "../tests/support/origin_server.ts";
import { createTestCertificate } from "../tests/support/test_certificate.ts";
import { buildOrigin, writeConfig } from "../tests/support/publish.ts";
import { startCountingProxy } from "./wire_proxy.ts";

const RUNS = 5;

async function measure(tls: boolean): Promise<number[] | undefined> {
  const dir = await Deno.makeTempDir({ prefix: "tako-check-bytes-" });
  const certificate = tls ? await createTestCertificate() : undefined;
  if (tls && certificate === undefined) return undefined;
  try {
    await buildOrigin(`${dir}/origin`, [{ version: "1.0.0", content: "image\n" }]);
    const origin = await startOrigin(
      `${dir}/origin`,
      certificate === undefined ? {} : {
        tls: { cert: certificate.cert, key: certificate.key },
      },
    );
    const proxy = await startCountingProxy(Number(new URL(origin.url).port));
    const env: Record<string, string> = {};
    if (certificate !== undefined) {
      await Deno.writeTextFile(`${dir}/ca.pem`, certificate.caCert);
      env.DENO_CERT = `${dir}/ca.pem`;
    }
    try {
      const url = origin.url.replace(/:\d+$/, `:${new URL(proxy.url).port}`);
      const config = await writeConfig(`${dir}/app.tako`, {
        origins: [url],
        destination: `${dir}/d`,
      });
      const first = await runTako(["fetch", "-q", config], { env });
      if (first.code !== 0) throw new Error(first.stderr);
      const bytes: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        origin.clear();
        proxy.reset();
        const run = await runTako(["fetch", "-q", config], { env });
        if (run.code !== 0) throw new Error(run.stderr);
        const statuses = origin.requests.map((r) => `${r.path} ${r.status}`);
        if (statuses.join() !== "/manifest 304") throw new Error(`not a 304: ${statuses}`);
        bytes.push(proxy.total());
      }
      return bytes;
    } finally {
      await proxy.close();
      await origin.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

for (const tls of [false, true]) {
  const bytes = await measure(tls);
  console.log(
    `${tls ? "https" : "http "}: ${
      bytes === undefined ? "skipped (no openssl)" : `${bytes.join(", ")} bytes per check`
    }`,
  );
}
