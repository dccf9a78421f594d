/** Assertions shared by the tests: node's strict assert plus Tako's error checks. */
import assert from "node:assert/strict";
import { type ErrorKind, TakoError } from "../../lib/core/errors.ts";

export { assert };

/** Asserts that `fn` throws a TakoError of `kind` whose message contains every `parts`. */
export function assertTakoError(fn: () => unknown, kind: ErrorKind, ...parts: string[]): TakoError {
  try {
    fn();
  } catch (e) {
    return checkTakoError(e, kind, parts);
  }
  assert.fail(`expected a TakoError of kind ${kind}, nothing was thrown`);
}

/** Async form of {@link assertTakoError}. */
export async function assertRejectsTako(
  fn: () => Promise<unknown>,
  kind: ErrorKind,
  ...parts: string[]
): Promise<TakoError> {
  try {
    await fn();
  } catch (e) {
    return checkTakoError(e, kind, parts);
  }
  assert.fail(`expected a TakoError of kind ${kind}, nothing was thrown`);
}

function checkTakoError(e: unknown, kind: ErrorKind, parts: string[]): TakoError {
  if (!(e instanceof TakoError)) {
    assert.fail(`expected a TakoError of kind ${kind}, got ${e instanceof Error ? e.stack : e}`);
  }
  assert.equal(e.kind, kind, `wrong kind for: ${e.message}`);
  for (const p of parts) {
    assert.ok(
      e.message.includes(p),
      `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(p)}`,
    );
  }
  return e;
}
