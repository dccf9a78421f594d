/**
 * A throwaway certificate authority for https test origins
 * (`startOrigin(root, { tls })` in origin_server.ts).
 *
 * @module
 */

/** A throwaway certificate authority and a certificate for 127.0.0.1 that it signed, as PEM. */
export interface TestCertificate {
  /** The CA certificate: trust it with `Deno.createHttpClient({ caCerts: [caCert] })` or DENO_CERT. */
  readonly caCert: string;
  /** The server certificate and key, for `startOrigin(root, { tls: { cert, key } })`. */
  readonly cert: string;
  readonly key: string;
}

/**
 * Makes a {@link TestCertificate} with openssl (valid for two days), or
 * returns undefined when openssl cannot be run (missing, or no --allow-run).
 */
export async function createTestCertificate(): Promise<TestCertificate | undefined> {
  const dir = await Deno.makeTempDir({ prefix: "tako-test-tls-" });
  const openssl = async (...args: string[]): Promise<boolean> => {
    try {
      const out = await new Deno.Command("openssl", {
        args,
        cwd: dir,
        stdout: "null",
        stderr: "null",
      }).output();
      return out.success;
    } catch {
      return false;
    }
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  try {
    await Deno.writeTextFile(
      `${dir}/leaf.ext`,
      "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    );
    const made = await openssl(
      "req",
      "-x509",
      ...ec,
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      "-days",
      "2",
      "-subj",
      "/CN=Tako test CA",
    ) &&
      await openssl(
        "req",
        ...ec,
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=127.0.0.1",
      ) &&
      await openssl(
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
      );
    if (!made) return undefined;
    return {
      caCert: await Deno.readTextFile(`${dir}/ca.pem`),
      cert: await Deno.readTextFile(`${dir}/leaf.pem`),
      key: await Deno.readTextFile(`${dir}/leaf.key`),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
