/**
 * What a request to an origin refuses, in one sentence each: an origin that
 * is no URL of a scheme Tako reads, an answer of the wrong status, a body
 * larger than allowed. Pure (http.ts makes the requests).
 *
 * @module
 */
import { printable, shownUrl, TakoError } from "./errors.ts";
import { originUrl } from "./http_policy.ts";

const SCHEMES = new Set(["https:", "http:", "file:"]);

/** The URL of `path` under `origin`; a config error when it is none or not of a scheme Tako reads. */
export function parseOrigin(origin: string, path: string): URL {
  let url: URL;
  try {
    url = new URL(originUrl(origin, path));
  } catch {
    throw new TakoError("config", `Origin "${printable(origin)}" is not a valid URL.`);
  }
  if (!SCHEMES.has(url.protocol)) {
    throw new TakoError(
      "config",
      `Origin ${shownUrl(url)} has an unsupported scheme; expected https:, http: or file:.`,
    );
  }
  return url;
}

/** An answer of the wrong status; an image's 410 is tagged "gone" (the caller falls back). */
export function httpError(url: URL, response: Response, isImage: boolean): TakoError {
  const gone = isImage && response.status === 410;
  return new TakoError(
    "runtime",
    `${shownUrl(url)} answered ${status(response)}.`,
    gone ? { tag: "gone" } : undefined,
  );
}

/** More bytes than `limit` allows (default: what a manifest may have). */
export function oversize(url: URL, what: string, maxBytes: number, limit?: string): TakoError {
  limit ??= "a manifest may have";
  return new TakoError(
    "integrity",
    `${shownUrl(url)} ${what} than the ${maxBytes} bytes ${limit}.`,
  );
}

/** The status line of an answer, its reason printable. */
export function status(response: Response): string {
  const reason = printable(response.statusText, 60);
  return reason === "" ? String(response.status) : `${response.status} ${reason}`;
}
