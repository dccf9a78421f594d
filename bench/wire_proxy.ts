/**
 * A TCP proxy on 127.0.0.1 that counts the bytes crossing it both ways: the
 * benchmark puts it in front of the origin to show how little a periodic
 * check sends and receives.
 *
 * @module
 */

/** A running proxy. */
export interface CountingProxy {
  /** "http://127.0.0.1:<port>" */
  readonly url: string;
  /** Bytes from clients to the origin plus bytes back, since the last reset. */
  total(): number;
  reset(): void;
  close(): Promise<void>;
}

/**
 * Forwards every connection to 127.0.0.1:`targetPort`.
 *
 * @example
 * ```ts
 * const proxy = await startCountingProxy(8000);
 * // ... requests to proxy.url ...
 * console.log(proxy.total());
 * ```
 */
export function startCountingProxy(targetPort: number): Promise<CountingProxy> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let bytes = 0;
  const open = new Set<Deno.Conn>();
  const pump = async (from: Deno.Conn, to: Deno.Conn) => {
    const buffer = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await from.read(buffer);
        if (n === null) break;
        bytes += n;
        let at = 0;
        while (at < n) at += await to.write(buffer.subarray(at, n));
      }
    } catch { /* a side closed */ }
    try {
      await to.closeWrite();
    } catch { /* already closed */ }
  };
  const serving = (async () => {
    for await (const client of listener) {
      (async () => {
        let server: Deno.Conn | undefined;
        try {
          server = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
          open.add(client);
          open.add(server);
          await Promise.all([pump(client, server), pump(server, client)]);
        } catch {
          /* the origin is gone */
        } finally {
          for (const conn of [client, server]) {
            if (conn === undefined) continue;
            open.delete(conn);
            try {
              conn.close();
            } catch { /* closed */ }
          }
        }
      })();
    }
  })();
  return Promise.resolve({
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    total: () => bytes,
    reset: () => {
      bytes = 0;
    },
    async close() {
      listener.close();
      for (const conn of open) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
      await serving.catch(() => {});
    },
  });
}
