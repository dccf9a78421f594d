import { type Command, COMMANDS, parseArgs } from "../../../lib/core/cli.ts";
import { usage } from "../../../lib/core/help.ts";
import { assert, assertTakoError } from "../../support/assert.ts";

const fetchOf = (
  configs: string[],
  extra: Partial<
    {
      init: boolean;
      now: boolean;
      dryRun: boolean;
      json: boolean;
      verbosity: string;
      net: object;
      delta: boolean;
    }
  > = {},
) => ({
  name: "fetch",
  verbosity: "normal",
  init: false,
  now: false,
  dryRun: false,
  delta: true,
  json: false,
  configs,
  net: {},
  ...extra,
});

const storeOf = (extra: Partial<Record<string, string | undefined>> = {}) => ({
  name: "store",
  verbosity: "normal",
  key: undefined,
  keyFile: undefined,
  output: "out",
  image: "image.raw",
  version: "1.0.0",
  ...extra,
});

const statusOf = (
  configs: string[],
  extra: Partial<{ json: boolean; prometheus: boolean }> = {},
) => ({
  name: "status",
  verbosity: "normal",
  json: false,
  prometheus: false,
  configs,
  ...extra,
});

Deno.test("`parseArgs()` reads both dialects of fetch", () => {
  const table: [string[], object][] = [
    [["fetch", "a"], fetchOf(["a"])],
    [["fetch", "--init", "a", "b"], fetchOf(["a", "b"], { init: true })],
    [["fetch", "a", "--init", "b"], fetchOf(["a", "b"], { init: true })],
    [["fetch", "--if-not-exists", "a"], fetchOf(["a"], { init: true })],
    [["fetch", "--now", "a"], fetchOf(["a"], { now: true })],
    // The original dialect: no command word.
    [["a"], fetchOf(["a"])],
    [["a", "b"], fetchOf(["a", "b"])],
    [["--if-not-exists", "a"], fetchOf(["a"], { init: true })],
    [["--if-not-exists", "a", "b"], fetchOf(["a", "b"], { init: true })],
    [
      ["/etc/tako/app-foo", "/etc/tako/app-bar"],
      fetchOf(["/etc/tako/app-foo", "/etc/tako/app-bar"]),
    ],
    // `--` ends the options, in either dialect.
    [["fetch", "--", "--weird-name"], fetchOf(["--weird-name"])],
    [["fetch", "--init", "--", "--init"], fetchOf(["--init"], { init: true })],
    [["--", "--weird-name"], fetchOf(["--weird-name"])],
    [["--if-not-exists", "--", "-x"], fetchOf(["-x"], { init: true })],
    // A lone "-" is an operand, as in most tools.
    [["fetch", "-"], fetchOf(["-"])],
    // Verbosity in either dialect.
    [["fetch", "-q", "a"], fetchOf(["a"], { verbosity: "quiet" })],
    [["fetch", "--verbose", "a"], fetchOf(["a"], { verbosity: "verbose" })],
    [["fetch", "--no-delta", "a"], fetchOf(["a"], { delta: false })],
    [["--no-delta", "a"], fetchOf(["a"], { delta: false })],
    [["--verbose", "a"], fetchOf(["a"], { verbosity: "verbose" })],
    [["-q", "--if-not-exists", "a"], fetchOf(["a"], { init: true, verbosity: "quiet" })],
    [["--init", "a"], fetchOf(["a"], { init: true })],
    [["-"], fetchOf(["-"])],
    // Dry run and JSON, in either dialect.
    [["fetch", "--dry-run", "a"], fetchOf(["a"], { dryRun: true })],
    [["fetch", "--json", "--dry-run", "a"], fetchOf(["a"], { dryRun: true, json: true })],
    [["--json", "a"], fetchOf(["a"], { json: true })],
    [["--if-not-exists", "--json", "a"], fetchOf(["a"], { init: true, json: true })],
  ];
  for (const [args, expected] of table) {
    assert.deepEqual(parseArgs(args), expected, args.join(" "));
  }
});

Deno.test("`parseArgs()` reads fetch's timeouts in seconds, as `--opt=value` and `--opt value`", () => {
  const table: [string[], object][] = [
    [["fetch", "--connect-timeout", "5", "a"], { connectTimeoutMs: 5000 }],
    [["fetch", "--connect-timeout=2.5", "a"], { connectTimeoutMs: 2500 }],
    [["fetch", "--idle-timeout=0.001", "a"], { idleTimeoutMs: 1 }],
    [["fetch", "--idle-timeout", "86400", "a"], { idleTimeoutMs: 86_400_000 }],
    [
      ["--connect-timeout=1", "--idle-timeout=2", "a"],
      { connectTimeoutMs: 1000, idleTimeoutMs: 2000 },
    ],
  ];
  for (const [args, net] of table) {
    const command = parseArgs(args);
    assert.equal(command.name, "fetch");
    assert.deepEqual((command as Command & { name: "fetch" }).net, net, args.join(" "));
  }
});

Deno.test("`parseArgs()` reads store with long, short and inline options", () => {
  const table: [string[], object][] = [
    [["store", "-o", "out", "image.raw", "1.0.0"], storeOf()],
    [["store", "--output", "out", "image.raw", "1.0.0"], storeOf()],
    [["store", "--output=out", "image.raw", "1.0.0"], storeOf()],
    [["store", "image.raw", "-o", "out", "1.0.0"], storeOf()],
    [["store", "-k", "SECRET+x", "-o", "out", "image.raw", "1.0.0"], storeOf({ key: "SECRET+x" })],
    [
      ["store", "--key=SECRET+x=", "-o", "out", "image.raw", "1.0.0"],
      storeOf({ key: "SECRET+x=" }),
    ],
    [["store", "-f", "k.txt", "-o", "out", "image.raw", "1.0.0"], storeOf({ keyFile: "k.txt" })],
    [
      ["store", "--key-file", "k.txt", "-o", "out", "image.raw", "1.0.0"],
      storeOf({ keyFile: "k.txt" }),
    ],
    // An option value may start with a dash; after `--` everything is an operand.
    [["store", "-o", "-out", "image.raw", "1.0.0"], storeOf({ output: "-out" })],
    [["store", "-o", "out", "--", "-image", "-1"], storeOf({ image: "-image", version: "-1" })],
    [["store", "-v", "-o", "out", "image.raw", "1.0.0"], storeOf({ verbosity: "verbose" })],
  ];
  for (const [args, expected] of table) {
    assert.deepEqual(parseArgs(args), expected, args.join(" "));
  }
});

Deno.test("`parseArgs()` reads help, version, gen-key, status and prune", () => {
  const table: [string[], object][] = [
    [["--help"], { name: "help", topic: undefined }],
    [["-h"], { name: "help", topic: undefined }],
    [["help"], { name: "help", topic: undefined }],
    [["help", "fetch"], { name: "help", topic: "fetch" }],
    [["help", "store"], { name: "help", topic: "store" }],
    [["fetch", "--help"], { name: "help", topic: "fetch" }],
    [["store", "-h"], { name: "help", topic: "store" }],
    // Help wins over anything else on the line, even an incomplete command.
    [["store", "--help", "-k"], { name: "help", topic: "store" }],
    [["fetch", "--quiet", "--verbose", "--help"], { name: "help", topic: "fetch" }],
    [["fetch", "--frobnicate", "-h"], { name: "help", topic: "fetch" }],
    [["--if-not-exists", "--help"], { name: "help", topic: "fetch" }],
    [["--version"], { name: "version" }],
    [["-V"], { name: "version" }],
    [["gen-key"], { name: "gen-key", verbosity: "normal", output: undefined }],
    [["gen-key", "-q"], { name: "gen-key", verbosity: "quiet", output: undefined }],
    [["gen-key", "-o", "k/app"], { name: "gen-key", verbosity: "normal", output: "k/app" }],
    [["gen-key", "--output=app"], { name: "gen-key", verbosity: "normal", output: "app" }],
    [["status", "a"], statusOf(["a"])],
    [["status", "--json", "a", "b"], statusOf(["a", "b"], { json: true })],
    [["status", "--prometheus", "a"], statusOf(["a"], { prometheus: true })],
    [["verify", "a", "b"], { name: "verify", verbosity: "normal", configs: ["a", "b"] }],
    [["resign", "-f", "new.key", "-o", "out", "--previous-key", "PUB"], {
      name: "resign",
      verbosity: "normal",
      key: undefined,
      keyFile: "new.key",
      output: "out",
      previousKey: "PUB",
    }],
    [["prune", "a"], { name: "prune", verbosity: "normal", configs: ["a"] }],
    [["rollback", "a", "b"], {
      name: "rollback",
      verbosity: "normal",
      configs: ["a", "b"],
    }],
    [["rollback", "--clear", "1.2.0", "a"], {
      name: "rollback",
      verbosity: "normal",
      clear: "1.2.0",
      configs: ["a"],
    }],
    [["index", "-o", "out"], { name: "index", verbosity: "normal", output: "out" }],
    [["index", "--output=out", "-q"], { name: "index", verbosity: "quiet", output: "out" }],
  ];
  for (const [args, expected] of table) {
    assert.deepEqual(parseArgs(args), expected, args.join(" "));
  }
});

Deno.test("`parseArgs()` refuses every malformed command line with a usage error", () => {
  const table: [string[], string[]][] = [
    [[], ["Expected a command", "tako --help"]],
    [["--frobnicate"], ["Unknown option '--frobnicate'", "tako --help"]],
    [["-x", "a"], ["Unknown option '-x'"]],
    [["--prometheus", "a"], ["Unknown option '--prometheus'"]],
    [["help", "frobnicate"], ["Unknown command 'frobnicate'"]],
    [["fetch"], ["at least one config", "tako fetch --help"]],
    [["--if-not-exists"], ["at least one config"]],
    [["fetch", "--frobnicate", "a"], ["Unknown option '--frobnicate'", "tako fetch --help"]],
    [["fetch", "--key", "k", "a"], ["Unknown option '--key'"]],
    [["fetch", "--init", "--init", "a"], ["--init", "twice"]],
    [["fetch", "--init=yes", "a"], ["--init", "takes no value"]],
    [["index"], ["--output (-o) is required", "tako index --help"]],
    [["index", "-o", "out", "extra"], ["index takes no operands"]],
    [["fetch", "--init", "--dry-run", "a"], ["--init", "--dry-run", "exclude"]],
    [["fetch", "--quiet", "--verbose", "a"], ["--quiet", "--verbose"]],
    [["fetch", "-q", "-v", "a"], ["--quiet", "--verbose"]],
    [["fetch", "a", "--connect-timeout"], ["--connect-timeout", "needs a value"]],
    [["fetch", "--connect-timeout=0", "a"], ["--connect-timeout", "'0'"]],
    [["fetch", "--connect-timeout=-1", "a"], ["--connect-timeout", "'-1'"]],
    [["fetch", "--idle-timeout=1e3", "a"], ["--idle-timeout", "'1e3'"]],
    [["fetch", "--idle-timeout=86401", "a"], ["--idle-timeout", "'86401'"]],
    [["fetch", "--idle-timeout=", "a"], ["--idle-timeout", "''"]],
    [["store", "image.raw", "1.0.0"], ["--output", "required", "tako store --help"]],
    [["store", "-o", "out"], ["<image> <version>", "0 operand"]],
    [["store", "-o", "out", "image.raw"], ["<image> <version>", "1 operand"]],
    [["store", "-o", "out", "a", "b", "c"], ["<image> <version>", "3 operand"]],
    [["store", "-o"], ["--output", "needs a value"]],
    [["store", "-o", "out", "-k", "K", "-f", "F", "i", "1"], ["--key", "--key-file", "exclude"]],
    [["store", "-o", "out", "--key=K", "--key-file=F", "i", "1"], ["--key", "--key-file"]],
    [["store", "-o", "a", "-o", "b", "i", "1"], ["--output", "twice"]],
    [["store", "--init", "-o", "out", "i", "1"], ["Unknown option '--init'"]],
    [["store", "-q", "-v", "-o", "out", "i", "1"], ["--quiet", "--verbose"]],
    // After `--`, "--help" is an operand like any other.
    [["store", "-o", "out", "--", "--help"], ["<image> <version>", "1 operand"]],
    [["gen-key", "extra"], ["no operands"]],
    [["gen-key", "--quiet", "--verbose"], ["--quiet", "--verbose"]],
    [["gen-key", "--key", "K"], ["Unknown option '--key'"]],
    [["status"], ["at least one config"]],
    [["status", "--json=yes", "a"], ["--json", "takes no value"]],
    [["status", "--json", "--prometheus", "a"], ["--json", "--prometheus", "exclude"]],
    [["verify"], ["at least one config"]],
    [["gen-key", "-o"], ["--output", "needs a value"]],
    [["gen-key", "-o", ""], ["--output", "file name"]],
    [["gen-key", "-o", "keys/"], ["--output", "file name"]],
    [["resign", "-o", "out"], ["--previous-key", "required"]],
    [["resign", "--previous-key", "P"], ["--output", "required"]],
    [["resign", "-o", "out", "--previous-key", "P", "extra"], ["no operands"]],
    [["resign", "-o", "o", "-k", "K", "-f", "F", "--previous-key", "P"], ["--key", "--key-file"]],
    [["prune"], ["at least one config"]],
    [["prune", "--json", "a"], ["Unknown option '--json'"]],
    [["rollback"], ["at least one config"]],
    [["rollback", "--clear"], ["--clear needs a value"]],
    [["rollback", "--now", "a"], ["Unknown option '--now'"]],
  ];
  for (const [args, parts] of table) {
    const e = assertTakoError(() => parseArgs(args), "usage", ...parts);
    assert.equal(e.exitCode, 2, args.join(" "));
    assert.match(e.message, /See 'tako( [a-z-]+)? --help'\.$/, args.join(" "));
  }
});

Deno.test("`parseArgs()` never echoes an option's inline value, which may be a secret key", () => {
  const secret = "SECRET+c2VjcmV0";
  const table: string[][] = [
    ["store", `--kye=${secret}`, "-o", "out", "i", "1"],
    ["fetch", `--secret=${secret}`, "a"],
    [`--frobnicate=${secret}`, "a"],
  ];
  for (const args of table) {
    const e = assertTakoError(() => parseArgs(args), "usage", "Unknown option");
    assert.ok(!e.message.includes(secret), e.message);
  }
});

Deno.test("`parseArgs()` errors show control characters of arguments as escapes", () => {
  const table: string[][] = [
    ["fetch", "--bad\x1b[2Jname", "a"],
    ["--bad\x1b[2J"],
    ["help", "fe\x1btch"],
    ["fetch", "--idle-timeout=\x07", "a"],
  ];
  for (const args of table) {
    const e = assertTakoError(() => parseArgs(args), "usage");
    // deno-lint-ignore no-control-regex -- looking for control characters is the point
    assert.ok(!/[\x00-\x1f\x7f]/.test(e.message), JSON.stringify(e.message));
  }
});

Deno.test("`parseArgs()` does not modify its argument array", () => {
  const args = ["fetch", "--init", "--", "a", "b"];
  const copy = [...args];
  parseArgs(args);
  assert.deepEqual(args, copy);
});

Deno.test("`usage()` describes every command and the exit codes", () => {
  const overview = usage(undefined);
  for (const name of COMMANDS) assert.ok(overview.includes(`tako ${name}`), name);
  assert.ok(overview.includes("tako [--if-not-exists] <config>..."));
  for (const code of ["0", "1", "2", "3", "4", "70"]) {
    assert.match(overview, new RegExp(`^  ${code} +[a-z]`, "m"), `exit code ${code}`);
  }
  for (const name of COMMANDS) {
    const text = usage(name);
    assert.ok(text.startsWith(`Usage: tako ${name}`), name);
    assert.ok(text.includes("Exit codes:"), name);
  }
  assert.ok(usage("store").includes("TAKO_SECRET_KEY"));
  assert.ok(usage("fetch").includes("--if-not-exists"));
});

Deno.test("`parseArgs()` reads bundled short options", () => {
  const table: [string[], object][] = [
    [["fetch", "-qh"], { name: "help", topic: "fetch" }],
    [["store", "-vo", "out", "image.raw", "1.0.0"], storeOf({ verbosity: "verbose" })],
    [["store", "-vfk.txt", "-o", "out", "image.raw", "1.0.0"], {
      ...storeOf({ verbosity: "verbose", keyFile: "k.txt" }),
    }],
    [["-q", "a"], fetchOf(["a"], { verbosity: "quiet" })],
    [["status", "-q", "a"], {
      name: "status",
      verbosity: "quiet",
      json: false,
      prometheus: false,
      configs: ["a"],
    }],
  ];
  for (const [args, expected] of table) {
    assert.deepEqual(parseArgs(args), expected, args.join(" "));
  }
  assertTakoError(() => parseArgs(["fetch", "-qv", "a"]), "usage", "--quiet and --verbose");
  assertTakoError(() => parseArgs(["-qv", "a"]), "usage", "--quiet and --verbose");
  assertTakoError(() => parseArgs(["fetch", "-qx", "a"]), "usage", "Unknown option '-x'");
  assertTakoError(() => parseArgs(["store", "-o"]), "usage", "--output needs a value");
  assertTakoError(() => parseArgs(["store", "-qq", "-o", "o", "i", "1"]), "usage", "twice");
});

Deno.test("`parseArgs()` explains a timeout of 0 as out of range, not as a malformed number", () => {
  const e = assertTakoError(() => parseArgs(["fetch", "--connect-timeout", "0", "a"]), "usage");
  assert.ok(e.message.includes("above 0 and at most 86400"), e.message);
  assert.ok(!e.message.includes("between 0"), e.message);
});

Deno.test("`parseArgs()` takes a mistyped command word in the original dialect for no fetch", () => {
  const missing = (path: string) => path.startsWith("/etc/");
  const table: [string[], string[]][] = [
    [["stauts", "/etc/tako/app"], ["Unknown command 'stauts' (did you mean status?)"]],
    [["fecth", "/etc/tako/app"], ["(did you mean fetch?)"]],
    [["prnue", "/etc/tako/app"], ["(did you mean prune?)"]],
    [["-v", "genkey"], ["(did you mean gen-key?)"]],
    [["Status", "/etc/tako/app"], ["Unknown command 'Status' (did you mean status?)"]],
    [["gen_key"], ["(did you mean gen-key?)"]],
    [["--if-not-exists", "frobnicate"], ["Unknown command 'frobnicate';", "nothing was done"]],
    [["help", "stauts"], ["Unknown command 'stauts' (did you mean status?)"]],
  ];
  for (const [args, parts] of table) {
    const e = assertTakoError(() => parseArgs(args, { exists: missing }), "usage", ...parts);
    assert.equal(e.exitCode, 2);
  }
  // A config file of that name, a path, or a word after `--` is a config as before.
  const present = () => true;
  assert.deepEqual(parseArgs(["stauts"], { exists: present }), fetchOf(["stauts"]));
  assert.deepEqual(parseArgs(["./stauts"], { exists: missing }), fetchOf(["./stauts"]));
  assert.deepEqual(parseArgs(["app.tako"], { exists: missing }), fetchOf(["app.tako"]));
  assert.deepEqual(parseArgs(["--", "stauts"], { exists: missing }), fetchOf(["stauts"]));
  assert.deepEqual(
    parseArgs(["--connect-timeout", "5", "/etc/a"], { exists: missing }),
    fetchOf(["/etc/a"], { net: { connectTimeoutMs: 5000 } }),
  );
});

Deno.test("`parseArgs()` refuses a secret key where a path or word belongs, without quoting it", () => {
  const secret =
    "SECRET+dGVzdC1rZXktdmVyeS1zZWN1cml0eS1zdWNoLXNhZmWXQPbwnZ+Ihe9Y9t5k/vCRqr50HnkaXbKyKCX2ZAfb2Q==";
  const table: [string[], string][] = [
    [["store", "-f", secret, "-o", "out", "i", "1"], "Option --key-file holds a secret key"],
    [["store", `--key-file=${secret}`, "-o", "out", "i", "1"], "Option --key-file holds"],
    [["store", "-vf", secret, "-o", "out", "i", "1"], "Option --key-file holds"],
    [["store", "-o", secret, "i", "1"], "Option --output holds a secret key"],
    [["store", "-o", "out", secret, "1"], "Operand 1 holds a secret key"],
    [["fetch", "a", secret], "Operand 2 holds a secret key; expected config files"],
    [[secret], "Operand 1 holds a secret key"],
    [["status", "--json", secret], "Operand 1 holds"],
  ];
  for (const [args, part] of table) {
    const e = assertTakoError(() => parseArgs(args), "usage", part);
    assert.ok(!e.message.includes(secret.slice(7, 20)), e.message);
  }
});

Deno.test("`usage()` of each command lists only the exit codes it can return", () => {
  const codes = (text: string) =>
    [...text.split("Exit codes:")[1]!.matchAll(/^ {2}([0-9]+) /gm)].map((m) => Number(m[1]));
  assert.deepEqual(codes(usage("fetch")), [0, 1, 2, 3, 4, 70]);
  assert.deepEqual(codes(usage("status")), [0, 1, 2, 3, 4, 70]);
  assert.deepEqual(codes(usage("prune")), [0, 1, 2, 3, 4, 70]);
  assert.deepEqual(codes(usage("store")), [0, 1, 2, 4, 70]);
  assert.deepEqual(codes(usage("gen-key")), [0, 1, 2, 70]);
  assert.ok(!usage("gen-key").includes("several configs"));
});
