/**
 * Black-box tests of `tako fetch` against an origin that lies (SPEC §2, §6,
 * §7): images of the wrong size or digest, forged or malformed manifests,
 * rolled-back history, endless and compressed bodies. Every case ends with
 * exit code 4 (or 1 for a broken connection), leaves the destination's
 * invariants intact and the stored manifest untouched.
 */
import { assert } from "../support/assert.ts";
import type { Behaviour } from "../support/origin_server.ts";
import {
  assertOutcome,
  checkInvariants,
  entryOf,
  type FetchSetup,
  imageRequests,
  latestDigest,
  OTHER_KEY,
  signedPartOf,
  signRaw,
  withSetup,
  writeManifest,
} from "../support/publish.ts";
import { THREE_IMAGES } from "../support/vectors.ts";

const [V100, V110, V200] = THREE_IMAGES as [
  typeof THREE_IMAGES[0],
  typeof THREE_IMAGES[0],
  typeof THREE_IMAGES[0],
];
const EXIT_RUNTIME = 1;
const EXIT_INTEGRITY = 4;

/** Asserts that a destination holds no image and no latest, only (maybe) the manifest. */
async function assertNoImage(s: FetchSetup): Promise<void> {
  assert.equal(await latestDigest(s.dest), undefined);
  const names = (await Array.fromAsync(Deno.readDir(`${s.dest}/store`))).map((e) => e.name);
  assert.deepEqual(names, []);
  await checkInvariants(s.dest);
}

const BAD_IMAGES: { name: string; behaviour: Behaviour; code: number; says: string }[] = [
  {
    name: "larger than signed, announced",
    behaviour: { extraBytes: 5 },
    code: EXIT_INTEGRITY,
    says: "announces 15 bytes",
  },
  {
    name: "larger than signed, chunked",
    behaviour: { extraBytes: 5, contentLength: "none" },
    code: EXIT_INTEGRITY,
    says: "more than the 10 bytes",
  },
  {
    name: "smaller than signed, announced",
    behaviour: { truncateAt: 4, contentLength: 4 },
    code: EXIT_INTEGRITY,
    says: "announces 4 bytes",
  },
  {
    name: "smaller than signed, chunked",
    behaviour: { truncateAt: 4, contentLength: "none" },
    code: EXIT_INTEGRITY,
    says: "ended after 4 of the 10 bytes",
  },
  {
    name: "cut short of its Content-Length",
    behaviour: { truncateAt: 4 },
    code: EXIT_RUNTIME,
    says: "broke off",
  },
  {
    name: "connection reset mid-body",
    behaviour: { resetAtByte: 4 },
    code: EXIT_RUNTIME,
    says: "broke off",
  },
  {
    name: "wrong digest, right size",
    behaviour: { body: "image ONE\n" },
    code: EXIT_INTEGRITY,
    says: `the manifest lists ${V100.sha256}`,
  },
  {
    name: "gzip-encoded",
    behaviour: { gzip: true },
    code: EXIT_INTEGRITY,
    says: V100.sha256,
  },
  {
    name: "an HTML page with 200",
    behaviour: { body: "<html>Sorry</html>\n" },
    code: EXIT_INTEGRITY,
    says: "announces 19 bytes",
  },
];

for (const { name, behaviour, code, says } of BAD_IMAGES) {
  Deno.test(`\`tako fetch\` refuses an image ${name}`, async () => {
    await withSetup([V100], async (s) => {
      s.origin.behave(`/store/${V100.sha256}`, behaviour);
      const result = await s.fetch();
      assertOutcome(result, code, s.config, says);
      await assertNoImage(s);
      // The manifest itself was fine: it is kept.
      assert.deepEqual(
        await Deno.readFile(`${s.dest}/manifest`),
        await Deno.readFile(`${s.originDir}/manifest`),
      );
    });
  });
}

Deno.test("`tako fetch` keeps the current image when a new one has the wrong digest", async () => {
  await withSetup([V100], async (s) => {
    await s.writeConfig({ restart: ["app.service"] });
    assertOutcome(await s.fetch(), 0);
    await s.publish([V100, V110]);
    s.origin.behave(`/store/${V110.sha256}`, { body: "image one point ONE\n" });

    assertOutcome(await s.fetch(), EXIT_INTEGRITY, V110.sha256);
    assert.equal(await latestDigest(s.dest), V100.sha256);
    assert.deepEqual(await s.systemctl.calls(), ["restart -- app.service"]);
    await checkInvariants(s.dest);
  });
});

/** Validly signed manifests that break the format's rules, and forged ones. */
const BAD_MANIFESTS: { name: string; make: () => Uint8Array | string; says: string }[] = [
  {
    name: "signed by another key",
    make: () => signRaw(signedPartOf(THREE_IMAGES.map(entryOf)), OTHER_KEY),
    says: "signature",
  },
  {
    name: "with a changed entry under the old signature",
    make: () => {
      const text = new TextDecoder().decode(signRaw(signedPartOf(THREE_IMAGES.map(entryOf))));
      return text.replace("2.0.0 10 ", "2.0.0 11 ");
    },
    says: "signature",
  },
  {
    name: "with CRLF line ends",
    make: () => signRaw(signedPartOf(THREE_IMAGES.map(entryOf)).replaceAll("\n", "\r\n")),
    says: "carriage return",
  },
  {
    name: "with trailing bytes after the signature",
    make: () => {
      const text = new TextDecoder().decode(signRaw(signedPartOf(THREE_IMAGES.map(entryOf))));
      return `${text}trailing\n`;
    },
    says: "signature",
  },
  {
    name: "without the final line feed",
    make: () => signRaw(signedPartOf(THREE_IMAGES.map(entryOf))).slice(0, -1),
    says: "line feed",
  },
  {
    name: "with unsorted entries",
    make: () => {
      const [a, b, c] = THREE_IMAGES.map(entryOf);
      return signRaw(signedPartOf([a!, c!, b!]));
    },
    says: "ascending",
  },
  {
    name: "with two equal versions spelled differently",
    make: () => {
      const entries = THREE_IMAGES.map(entryOf);
      const twin = { ...entries[2]!, version: "2.0-0" };
      return signRaw(signedPartOf([...entries, twin]));
    },
    says: "equal",
  },
  {
    name: "with a non-canonical size",
    make: () => signRaw(signedPartOf(THREE_IMAGES.map(entryOf)).replace("2.0.0 10 ", "2.0.0 010 ")),
    says: "line 5",
  },
  {
    name: "that is an HTML page",
    make: () => "<html><body>Welcome</body></html>\n",
    says: "not a Tako manifest",
  },
  { name: "that is empty", make: () => "", says: "not a Tako manifest" },
];

for (const { name, make, says } of BAD_MANIFESTS) {
  Deno.test(`\`tako fetch\` refuses a manifest ${name}, into an empty destination`, async () => {
    await withSetup(THREE_IMAGES, async (s) => {
      await writeManifest(s.originDir, make());
      const result = await s.fetch();
      assertOutcome(result, EXIT_INTEGRITY, `${s.origin.url}/manifest`, says);
      // Nothing was trusted: the manifest never verified.
      assert.ok(!result.stderr.includes("trusting"), result.stderr);
      await assert.rejects(Deno.lstat(`${s.dest}/manifest`), Deno.errors.NotFound);
      assert.deepEqual(imageRequests(s.origin), []);
      await checkInvariants(s.dest);
    });
  });
}

/**
 * Manifests that verify but rewrite history (SPEC §2 append-only rule), and a
 * few of the bad ones above (each is refused before the stored manifest counts).
 */
const ROLLBACKS: { name: string; make: () => Uint8Array | string; says: string }[] = [
  {
    name: "that drops a version (rollback)",
    make: () => signRaw(signedPartOf([V100, V200].map(entryOf))),
    says: "1.1.0",
  },
  {
    name: "that drops every version",
    make: () => signRaw(signedPartOf([])),
    says: "1.0.0",
  },
  {
    name: "that changes a version's digest",
    make: () => {
      const entries = THREE_IMAGES.map(entryOf);
      entries[1] = entryOf({ version: "1.1.0", content: "image ONE POINT ONE\n" });
      return signRaw(signedPartOf(entries));
    },
    says: "1.1.0",
  },
  {
    name: "that respells a version",
    make: () => {
      const entries = THREE_IMAGES.map(entryOf);
      entries[0] = { ...entries[0]!, version: "1.0" };
      return signRaw(signedPartOf(entries));
    },
    says: "1.0.0",
  },
  ...BAD_MANIFESTS.filter((m) => /another key|unsorted|HTML/.test(m.name)),
];

for (const { name, make, says } of ROLLBACKS) {
  Deno.test(`\`tako fetch\` refuses a manifest ${name}, keeping the stored one`, async () => {
    await withSetup(THREE_IMAGES, async (s) => {
      await s.writeConfig({ restart: ["app.service"] });
      assertOutcome(await s.fetch(), 0);
      const stored = await Deno.readFile(`${s.dest}/manifest`);
      await writeManifest(s.originDir, make());
      s.origin.clear();

      const result = await s.fetch();
      assertOutcome(result, EXIT_INTEGRITY, says);
      assert.deepEqual(await Deno.readFile(`${s.dest}/manifest`), stored);
      assert.equal(await latestDigest(s.dest), V200.sha256);
      assert.deepEqual(imageRequests(s.origin), []);
      assert.deepEqual(await s.systemctl.calls(), ["restart -- app.service"]);
      await checkInvariants(s.dest);
    });
  });
}

Deno.test("`tako fetch` without a stored manifest still refuses a history that drops latest's image", async () => {
  const others: [string, () => Uint8Array][] = [
    ["an older history", () => signRaw(signedPartOf([V100, V110].map(entryOf)))],
    [
      "another size for the same digest",
      () => signRaw(signedPartOf([V100, { ...entryOf(V200), size: 11n }])),
    ],
  ];
  for (const [what, make] of others) {
    await withSetup(THREE_IMAGES, async (s) => {
      await s.writeConfig({ restart: ["app.service"] });
      assertOutcome(await s.fetch(), 0);
      // The old advice for a key problem: remove the manifest.
      await Deno.remove(`${s.dest}/manifest`);
      await writeManifest(s.originDir, make());
      const result = await s.fetch();
      assertOutcome(
        result,
        EXIT_INTEGRITY,
        "does not list the image latest points to",
        V200.sha256,
      );
      assert.ok(!result.stderr.includes("trusting"), `${what}: ${result.stderr}`);
      assert.equal(await latestDigest(s.dest), V200.sha256, what);
      await assert.rejects(Deno.lstat(`${s.dest}/manifest`), Deno.errors.NotFound);
      assert.deepEqual(await s.systemctl.calls(), ["restart -- app.service"], what);
      await checkInvariants(s.dest);
    });
  }
});

Deno.test("`tako fetch` without a stored manifest takes a history that lists latest's image", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    assertOutcome(await s.fetch(), 0);
    const manifest = await Deno.readFile(`${s.dest}/manifest`);
    await Deno.remove(`${s.dest}/manifest`);
    const result = await s.fetch();
    assertOutcome(result, 0, "lists the image latest points to, so its history is taken");
    assert.deepEqual(await Deno.readFile(`${s.dest}/manifest`), manifest);
    assert.equal(await latestDigest(s.dest), V200.sha256);
    // Removing latest too makes it a first contact again: any signed history is taken.
    await Deno.remove(`${s.dest}/manifest`);
    await Deno.remove(`${s.dest}/latest`);
    await writeManifest(s.originDir, signRaw(signedPartOf([V100, V110].map(entryOf))));
    assertOutcome(await s.fetch(), 0, "trusting the origin's signed history");
    assert.equal(await latestDigest(s.dest), V110.sha256);
    await checkInvariants(s.dest);
  });
});

Deno.test("`tako fetch` accepts a manifest that appends versions to the stored history", async () => {
  await withSetup([V100, V110], async (s) => {
    assertOutcome(await s.fetch(), 0);
    const grown = await s.publish(THREE_IMAGES);
    assertOutcome(await s.fetch(), 0);
    assert.deepEqual(await Deno.readFile(`${s.dest}/manifest`), grown.manifest);
    assert.equal(await latestDigest(s.dest), V200.sha256);
  });
});

Deno.test("`tako fetch` refuses a manifest announced larger than the cap before reading it", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    s.origin.behave("/manifest", { contentLength: 17 * 1024 * 1024, truncateAt: 0 });
    assertOutcome(await s.fetch(), EXIT_INTEGRITY, "than the 16777216 bytes a manifest may have");
    await checkInvariants(s.dest);
  });
});

Deno.test("`tako fetch` refuses a gzip-encoded manifest cleanly", async () => {
  await withSetup(THREE_IMAGES, async (s) => {
    s.origin.behave("/manifest", { gzip: true });
    assertOutcome(await s.fetch(), EXIT_INTEGRITY, "not a Tako manifest");
    await checkInvariants(s.dest);
  });
});

Deno.test("`tako fetch` shortens 64 KiB versions of a signed manifest in every message", async () => {
  const huge = (c: string) => ({ version: `1.${c.repeat(65536)}`, size: 10n, sha256: V100.sha256 });
  const cases: [string, () => Uint8Array][] = [
    ["unsorted", () => signRaw(signedPartOf([huge("b"), huge("a")]))],
    ["equal", () => signRaw(signedPartOf([huge("a"), huge("a")]))],
    ["matching nothing", () => signRaw(signedPartOf([huge("a"), huge("b")]))],
  ];
  for (const [what, make] of cases) {
    await withSetup(THREE_IMAGES, async (s) => {
      await s.writeConfig({ version: "9.*" });
      await writeManifest(s.originDir, make());
      const result = await s.fetch();
      assert.notEqual(result.code, 0, what);
      const longest = Math.max(...result.stderr.split("\n").map((l) => l.length));
      assert.ok(longest < 1000, `${what}: a ${longest}-character line`);
    });
  }
});
