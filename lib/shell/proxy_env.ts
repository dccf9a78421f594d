/**
 * The proxy environment variables, read for messages only: Deno's fetch reads
 * the same ones itself and sends requests through the proxy they name.
 *
 * @module
 */
import { PROXY_VARIABLES, type ProxyEnvironment } from "../core/net_errors.ts";

/**
 * The proxy variables that are set; one Tako may not read counts as unset.
 *
 * @example
 * ```ts
 * proxyEnvironment().HTTPS_PROXY; // "http://proxy.corp:3128" or undefined
 * ```
 */
export function proxyEnvironment(): ProxyEnvironment {
  const env: Record<string, string | undefined> = {};
  for (const name of PROXY_VARIABLES) {
    try {
      env[name] = Deno.env.get(name);
    } catch {
      // Not permitted: then no proxy is named in hints.
    }
  }
  return env;
}
