/**
 * Black-box tests of resumed image downloads: a download that breaks off
 * (idle timeout, kill -9) leaves `store/.partial-<sha256>`, never a final
 * name, and the next run asks a Range-capable origin only for the rest
 * (`Range` + `If-Range`), re-hashing the kept part; an origin that ignores
 * Range, a failed If-Range or a wrong kept part cost a full download, never a
 * wrong image.
 */
import { assert } from "../support/assert.ts";
import { type RequestRecord, startOrigin, type TestOrigin } from "../support/origin_server.ts";
import {
  assertOutcome,
  checkInvariants,
  type FetchSetup,
  imageRequests,
  type ImageSpec,
  latestDigest,
  sha256Hex,
  withSetup,
} from "../support/publish.ts";
import { takoCommand } from "../../dev/run_tako.ts";

const MIB = 1024 * 1024;
const EXIT_RUNTIME = 1;

/** Several of Tako's 4 MiB write buffers: a break after 10 MiB leaves the 8 MiB written. */
const BIG: Uint8Array = (() => {
  const bytes = new Uint8Array(12 * MIB + 321);
  let x = 2463534242;
  for (let i = 0; i < bytes.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
})();
const V1: ImageSpec = { version: "1.0.0", content: "image one\n" };
const V2: ImageSpec = { version: "2.0.0", content: BIG };
const V2_SHA = sha256Hex(BIG);
const V2_PATH = `/store/${V2_SHA}`;
const STALL_AT = 10 * MIB;
/** Short limits, so that a stall ends the run quickly. */
const FAST = ["--connect-timeout", "2", "--idle-timeout", "0.5"];

/** Runs `fn` with the default setup's origin replaced by one with (or without) Range support. */
async function withOrigin(
  ranges: boolean,
  fn: (s: FetchSetup, origin: TestOrigin) => Promise<void>,
): Promise<void> {
  await withSetup([V1, V2], async (s) => {
    const origin = await startOrigin(s.originDir, { ranges });
    try {
      await s.writeConfig({ origins: [origin.url] });
      await fn(s, origin);
    } finally {
      await origin.close();
    }
  });
}

function partialOf(s: FetchSetup): string {
  return `${s.dest}/store/.partial-${V2_SHA}`;
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await Deno.lstat(path)).size;
  } catch {
    return undefined;
  }
}

/** The names under store/ that are not images' final names. */
async function partialNames(s: FetchSetup): Promise<string[]> {
  const names = await Array.fromAsync(Deno.readDir(`${s.dest}/store`), (e) => e.name);
  return names.filter((n) => n.startsWith(".partial-")).sort();
}

/** A first run that breaks off at STALL_AT (idle timeout): asserts what it leaves; returns the kept size. */
async function breakOff(s: FetchSetup, origin: TestOrigin): Promise<number> {
  origin.behave(V2_PATH, { stallAtByte: STALL_AT, times: 1 });
  const result = await s.fetch(...FAST);
  assertOutcome(result, EXIT_RUNTIME, `${origin.url}${V2_PATH}`, "0.5 s");
  return await assertKeptPartial(s);
}

/** Asserts that a partial download is kept and nothing carries the final name. */
async function assertKeptPartial(s: FetchSetup): Promise<number> {
  await assert.rejects(Deno.lstat(`${s.dest}/store/${V2_SHA}`), Deno.errors.NotFound);
  assert.equal(await latestDigest(s.dest), undefined);
  const kept = await sizeOf(partialOf(s));
  assert.ok(kept !== undefined && kept >= MIB && kept <= STALL_AT, `kept ${kept} bytes`);
  await checkInvariants(s.dest);
  return kept;
}

/** Asserts a finished fetch: V2 in place with its digest, no partial left. */
async function assertDone(s: FetchSetup): Promise<void> {
  assert.equal(await latestDigest(s.dest), V2_SHA);
  assert.deepEqual(await partialNames(s), []);
  await checkInvariants(s.dest);
}

function lastImageRequest(origin: TestOrigin): RequestRecord {
  const request = imageRequests(origin).at(-1);
  assert.ok(request !== undefined, "an image was requested");
  return request;
}

Deno.test("`tako fetch` resumes an image download that timed out, with Range and If-Range", async () => {
  await withOrigin(true, async (s, origin) => {
    const kept = await breakOff(s, origin);
    const first = lastImageRequest(origin);
    assert.equal(first.headers.range, undefined, "a first download asks for everything");

    const result = await s.fetch(...FAST);
    assertOutcome(result, 0, `resuming 2.0.0 at byte ${kept}`);
    const second = lastImageRequest(origin);
    assert.equal(second.headers.range, `bytes=${kept}-`);
    assert.ok(second.headers["if-range"]?.startsWith('"'), "If-Range carries the ETag");
    assert.equal(second.status, 206);
    assert.equal(second.bytesSent, BIG.length - kept, "only the rest crossed the wire");
    await assertDone(s);
  });
});

Deno.test("`tako fetch` killed mid-download leaves only a partial file, and the next run resumes", async () => {
  await withOrigin(true, async (s, origin) => {
    origin.behave(V2_PATH, { stallAtByte: STALL_AT, times: 1 });
    const command = await takoCommand(["fetch", s.config], { env: s.systemctl.env, cwd: s.dir });
    const child = command.spawn();
    try {
      const deadline = Date.now() + 20_000;
      while (((await sizeOf(partialOf(s))) ?? 0) < 8 * MIB) {
        assert.ok(Date.now() < deadline, "the download never reached 8 MiB");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } finally {
      child.kill("SIGKILL");
      await child.output();
    }
    const kept = await assertKeptPartial(s);

    assertOutcome(await s.fetch(...FAST), 0, "resuming");
    assert.equal(lastImageRequest(origin).headers.range, `bytes=${kept}-`);
    await assertDone(s);
  });
});

Deno.test("`tako fetch` downloads in full from an origin that ignores Range", async () => {
  await withOrigin(false, async (s, origin) => {
    const kept = await breakOff(s, origin);
    assertOutcome(await s.fetch(...FAST), 0);
    const second = lastImageRequest(origin);
    assert.equal(second.headers.range, `bytes=${kept}-`, "resuming was tried");
    assert.equal(second.status, 200);
    assert.equal(second.bytesSent, BIG.length, "the whole image came, once");
    assert.equal(imageRequests(origin).length, 2);
    await assertDone(s);
  });
});

Deno.test("`tako fetch` downloads in full when If-Range fails (the origin's copy changed)", async () => {
  await withOrigin(true, async (s, origin) => {
    await breakOff(s, origin);
    // Same bytes, new modification time: a new ETag, so the kept part's no longer matches.
    const later = new Date(Date.now() + 5000);
    await Deno.utime(`${s.originDir}/store/${V2_SHA}`, later, later);
    assertOutcome(await s.fetch(...FAST), 0);
    const second = lastImageRequest(origin);
    assert.ok(second.headers["if-range"] !== undefined);
    assert.equal(second.status, 200);
    assert.equal(second.bytesSent, BIG.length);
    await assertDone(s);
  });
});

Deno.test("`tako fetch` finds a damaged partial by the image digest and downloads it in full", async () => {
  await withOrigin(true, async (s, origin) => {
    const kept = await breakOff(s, origin);
    // One kept byte changes (a disk error, a reboot that lost a page).
    const file = await Deno.open(partialOf(s), { read: true, write: true });
    await file.seek(12345, Deno.SeekMode.Start);
    const byte = new Uint8Array(1);
    await file.read(byte);
    await file.seek(12345, Deno.SeekMode.Start);
    await file.write(new Uint8Array([byte[0]! ^ 0xff]));
    file.close();

    const result = await s.fetch(...FAST);
    assertOutcome(result, 0, "resuming", "resumed at byte", "in full");
    const [, resumed, full] = imageRequests(origin);
    assert.equal(resumed?.headers.range, `bytes=${kept}-`);
    assert.equal(full?.headers.range, undefined);
    assert.equal(full?.bytesSent, BIG.length);
    assert.equal(imageRequests(origin).length, 3);
    await assertDone(s);
  });
});

Deno.test("`tako fetch` does not resume a partial without its record, nor one that is too old", async () => {
  for (const spoil of ["record removed", "older than 7 days"] as const) {
    await withOrigin(true, async (s, origin) => {
      await breakOff(s, origin);
      if (spoil === "record removed") {
        await Deno.remove(`${partialOf(s)}.json`);
      } else {
        const old = new Date(Date.now() - 8 * 24 * 3600_000);
        await Deno.utime(partialOf(s), old, old);
      }
      assertOutcome(await s.fetch(...FAST), 0);
      const second = lastImageRequest(origin);
      assert.equal(second.headers.range, undefined, spoil);
      assert.equal(second.bytesSent, BIG.length, spoil);
      await assertDone(s);
    });
  }
});

Deno.test("`tako fetch` drops the partial of an image no longer wanted", async () => {
  await withOrigin(true, async (s, origin) => {
    await breakOff(s, origin);
    // Pinned to 1.0.0 now: the 2.0.0 partial is stale.
    await s.writeConfig({ origins: [origin.url], version: "1.0.0" });
    assertOutcome(await s.fetch(...FAST), 0);
    assert.equal(await latestDigest(s.dest), sha256Hex(V1.content));
    assert.deepEqual(await partialNames(s), []);
    await checkInvariants(s.dest);
  });
});

Deno.test("`tako fetch` never writes through a link planted as the partial file", async () => {
  await withOrigin(true, async (s) => {
    await Deno.mkdir(`${s.dest}/store`, { recursive: true });
    const outside = `${s.dir}/outside`;
    await Deno.writeTextFile(outside, "not Tako's");
    await Deno.symlink(outside, partialOf(s));
    assertOutcome(await s.fetch(...FAST), 0);
    assert.equal(await Deno.readTextFile(outside), "not Tako's");
    await assertDone(s);

    // A hard link to a file outside is refused just the same.
    await Deno.remove(`${s.dest}/latest`);
    await Deno.remove(`${s.dest}/store/${V2_SHA}`);
    await Deno.link(outside, partialOf(s));
    assertOutcome(await s.fetch(...FAST), 0);
    assert.equal(await Deno.readTextFile(outside), "not Tako's");
    await assertDone(s);
  });
});

Deno.test("`tako fetch` keeps .lock, .state and partial downloads private (0600), repairing wider ones", async () => {
  const modeOf = async (path: string) => (await Deno.lstat(path)).mode! & 0o777;
  await withOrigin(true, async (s, origin) => {
    await breakOff(s, origin);
    const record = (await partialNames(s)).map((n) => `${s.dest}/store/${n}`);
    assert.equal(record.length, 2, "the partial and its record");
    const privates = [`${s.dest}/.lock`, `${s.dest}/.state`, ...record];
    for (const path of privates.slice(0, 1).concat(record)) {
      assert.equal(await modeOf(path), 0o600, path);
    }
    // As an older Tako left them: readable, so lockable, by every user.
    await Deno.writeTextFile(`${s.dest}/.state`, "{}", { mode: 0o644 });
    for (const path of privates) await Deno.chmod(path, 0o644);
    origin.behave(V2_PATH, { status: 503, times: 1 });
    assertOutcome(await s.fetch(...FAST), EXIT_RUNTIME, "503");
    for (const path of privates) assert.equal(await modeOf(path), 0o600, path);
    assertOutcome(await s.fetch(...FAST), 0);
    assert.equal(await modeOf(`${s.dest}/.state`), 0o600);
    await assertDone(s);
  });
});

Deno.test("`tako status` shows a kept partial download and the failure that left it", async () => {
  await withOrigin(true, async (s, origin) => {
    const kept = await breakOff(s, origin);
    const json = await s.run(["status", "--json", s.config]);
    assert.equal(json.code, 0, json.stderr);
    const entry = JSON.parse(json.stdout).configs[0];
    assert.deepEqual(entry.partials, [{ sha256: V2_SHA, bytes: kept }]);
    assert.ok(entry.last_failure.message.includes("for 0.5 s"), entry.last_failure.message);
    assert.ok(!Number.isNaN(Date.parse(entry.last_failure.time)));
    assert.equal(entry.problems.length, 1);
    assert.ok(entry.problems[0].startsWith("the last fetch failed ("), entry.problems[0]);
    const text = await s.run(["status", s.config]);
    assert.ok(text.stdout.includes(`partial      store/${V2_SHA.slice(0, 12)}…`), text.stdout);
    // A successful run ends the problem; the failure stays on record.
    assertOutcome(await s.fetch(...FAST), 0);
    const after = JSON.parse((await s.run(["status", "--json", s.config])).stdout).configs[0];
    assert.deepEqual(after.problems, []);
    assert.deepEqual(after.partials, []);
    assert.notEqual(after.last_failure, null);
  });
});
