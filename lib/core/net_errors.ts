/**
 * Turning the text of a failed request into words for operators: the cause
 * that Deno puts at the end of its messages, and a hint where operators get
 * stuck (a private CA, a proxy that does not answer). Pure: the shell gives
 * the error's text and the proxy in force.
 *
 * @module
 */
import { printable, shownUrl } from "./errors.ts";

/** How much of a cause is shown; its end is kept, where the reason is. */
const CAUSE_CHARS = 160;

/**
 * The prefixes Deno puts before the cause: "error sending request for url
 * (…): ", Deno 2.9's "error sending request from <addr> for <url> (<addr>): ",
 * hyper's "client error (SendRequest): " and file reads' "Error fetching file '…': ".
 */
const PREFIXES = [
  /^error sending request for url \([^)]*\): /,
  /^error sending request from \S+ for \S+(?: \([^)]*\))?: /,
  /^client error \((?:SendRequest|Connect)\): /,
  /^Error fetching file '[^']*': /,
];

/**
 * The cause of a failed request, without the URL it repeats and shortened
 * from the front, so that "message head is too large" survives a long prefix.
 *
 * @example
 * ```ts
 * requestFailureCause(
 *   "error sending request from 127.0.0.1:4711 for http://h/m (127.0.0.1:80): client error (SendRequest): message head is too large",
 * ); // "message head is too large"
 * ```
 */
export function requestFailureCause(text: string): string {
  let rest = text;
  for (let changed = true; changed;) {
    changed = false;
    for (const prefix of PREFIXES) {
      const stripped = rest.replace(prefix, "");
      if (stripped !== rest) [rest, changed] = [stripped, true];
    }
  }
  return printable(rest, CAUSE_CHARS, "end");
}

/** The proxy a request goes through, as Deno picks it from the environment. */
export interface ProxyInUse {
  /** The environment variable that set it, such as "HTTPS_PROXY". */
  readonly variable: string;
  readonly url: string;
}

/** The proxy environment: variable name → value, for the variables that are set. */
export type ProxyEnvironment = Readonly<Record<string, string | undefined>>;

/** The proxy variables Deno reads, in the order it prefers them. */
export const PROXY_VARIABLES = [
  "HTTPS_PROXY",
  "https_proxy",
  "HTTP_PROXY",
  "http_proxy",
  "ALL_PROXY",
  "all_proxy",
  "NO_PROXY",
  "no_proxy",
] as const;

/** Whether NO_PROXY (comma-separated hosts, `.domain` suffixes, `*`) exempts `host`. */
function exempt(host: string, noProxy: string | undefined): boolean {
  if (noProxy === undefined) return false;
  return noProxy.split(",").map((e) => e.trim().toLowerCase()).some((entry) => {
    if (entry === "") return false;
    if (entry === "*") return true;
    const bare = entry.replace(/^\*?\./, "").replace(/:\d+$/, "");
    return host === bare || host.endsWith(`.${bare}`);
  });
}

/**
 * The proxy a request to `url` uses, or undefined for none: HTTPS_PROXY for
 * https, HTTP_PROXY for http (either spelling), ALL_PROXY otherwise, unless
 * NO_PROXY names the host. File URLs never use one.
 */
export function proxyFor(url: URL, env: ProxyEnvironment): ProxyInUse | undefined {
  if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
  if (exempt(url.hostname.toLowerCase(), env.NO_PROXY ?? env.no_proxy)) return undefined;
  const names = url.protocol === "https:"
    ? ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    : ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"];
  for (const variable of names) {
    const value = env[variable];
    if (value !== undefined && value !== "") return { variable, url: value };
  }
  return undefined;
}

/** A failure to connect or to resolve a name, as opposed to one after connecting. */
const CONNECT_FAILURE =
  /client error \(Connect\)|tcp connect error|dns error|Connection refused|failed to lookup|timed out/i;
/** The TLS verifier's words for a certificate chain it cannot trace to a trusted root. */
const UNKNOWN_ISSUER = /UnknownIssuer|unknown ?issuer|self[- ]signed|invalid peer certificate/i;

/**
 * A hint for a failed request, or undefined: a certificate from a CA Tako
 * does not trust names DENO_CERT and the system CA store; a connection that
 * failed through a proxy names the proxy, since the origin was never reached.
 */
export function requestFailureHint(
  text: string,
  proxy: ProxyInUse | undefined,
): string | undefined {
  if (UNKNOWN_ISSUER.test(text)) {
    return "The origin's certificate is signed by a CA that Tako does not trust: point DENO_CERT at that CA's certificate (PEM), or add it to the system CA store and set DENO_TLS_CA_STORE=system.";
  }
  if (proxy !== undefined && CONNECT_FAILURE.test(text)) {
    return `The request went through the proxy ${
      shownUrl(proxy.url, 200)
    } (from ${proxy.variable}), which could not be reached; check the proxy, or list the origin's host in NO_PROXY.`;
  }
  return undefined;
}
