/**
 * The one way Tako writes a JSON document (`status --json`, `fetch --json`):
 * two-space indentation, a final line feed, and every character outside
 * printable ASCII as a `\uXXXX` escape, so no reader or terminal ever meets
 * a raw control or bidirectional character. Pure.
 *
 * @module
 */

/**
 * The document as ASCII JSON text.
 *
 * @example
 * ```ts
 * asciiJson({ a: "\u00e9" }); // '{\n  "a": "\\u00e9"\n}\n'
 * ```
 */
export function asciiJson(document: unknown): string {
  const text = JSON.stringify(document, undefined, 2);
  // Strings are escaped by JSON.stringify except printable Unicode and DEL; escape those too.
  return text.replace(/[^\x20-\x7e\n]/g, (ch) => {
    return `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`;
  }) + "\n";
}
