/**
 * The help texts: the overview, one text per command, and the exit codes each
 * command can return (docs/exit-codes.md). They are also the source of the man
 * pages (man_page.ts renders them), so that the two never disagree. Pure.
 *
 * @module
 */
import type { CommandName } from "./cli.ts";

/** Every exit code with what it means in general (docs/exit-codes.md). */
const EXIT_MEANINGS: Readonly<Record<number, string>> = {
  0: "success",
  1: "runtime failure (network, disk, systemctl, busy lock, no compatible image)",
  2: "usage error (command line; for store also its key, image and version)",
  3: "configuration error (config file, public key, version pattern)",
  4: "integrity failure (signature, digest, size, rolled-back history)",
  70: "internal error (a bug in Tako; TAKO_DEBUG=1 shows the stack trace)",
};

/** The codes each command can return, with what they mean for it where that is narrower. */
const COMMAND_EXITS: Record<CommandName, readonly (number | [number, string])[]> = {
  "fetch": [0, 1, 2, 3, 4, 70],
  "store": [
    0,
    [1, "runtime failure (writing the origin directory)"],
    [2, "usage error (command line, secret key or key file, image, version, origin directory)"],
    [4, "integrity failure (the origin's manifest does not verify under the key)"],
    70,
  ],
  "index": [
    0,
    [1, "runtime failure (reading or writing the origin directory)"],
    [2, "usage error (command line, origin directory)"],
    [4, "integrity failure (an image does not have the digest of its name)"],
    70,
  ],
  "resign": [
    0,
    [1, "runtime failure (writing the origin directory, a busy lock)"],
    [2, "usage error (command line, secret key or key file, --previous-key, origin directory)"],
    [4, "integrity failure (the manifest does not verify under --previous-key)"],
    70,
  ],
  "gen-key": [
    0,
    [1, "runtime failure (stdout closed, or the key files cannot be written)"],
    [2, "usage error (command line; a key file that exists already)"],
    70,
  ],
  "status": [
    0,
    [1, "runtime failure (a destination missing or unreadable)"],
    [2, "usage error (command line)"],
    3,
    [4, "integrity failure (a stored manifest does not verify)"],
    70,
  ],
  "verify": [
    0,
    [1, "runtime failure (a destination or image unreadable, latest missing or dangling)"],
    [2, "usage error (command line)"],
    3,
    [4, "integrity failure (an image's bytes, the stored manifest, latest outside it)"],
    70,
  ],
  "prune": [
    0,
    [1, "runtime failure (disk, busy lock)"],
    [2, "usage error (command line)"],
    3,
    [4, "integrity failure (a stored manifest does not verify)"],
    70,
  ],
  "rollback": [
    0,
    [1, "runtime failure (no previous image, a unit that does not come back, busy lock)"],
    [2, "usage error (command line)"],
    3,
    70,
  ],
};

function exitTable(codes: readonly (number | [number, string])[], several: boolean): string {
  const lines = codes.map((c) => {
    const [code, meaning] = typeof c === "number" ? [c, EXIT_MEANINGS[c]!] : c;
    return `  ${String(code).padEnd(2)} ${meaning}`;
  });
  const tail = several ? ["  When several configs fail, the highest code is returned."] : [];
  return ["Exit codes:", ...lines, ...tail].join("\n");
}

const EXIT_TABLE = exitTable([0, 1, 2, 3, 4, 70], true);

/** One line for each command: what it does (a man page's NAME line). */
export const SUMMARIES: Record<CommandName, string> = {
  "fetch": "update the images of these configs",
  "store": "publish an image to an origin directory",
  "index": "add chunk indexes to the images of an origin",
  "resign": "re-sign an origin's manifest with a new key",
  "gen-key": "make a new key pair",
  "status": "show what is stored (no network)",
  "verify": "re-hash every stored image",
  "prune": "apply KeepImages= and MaxStoreSize=",
  "rollback": "go back to the previous image (no network)",
};

const MAIN_USAGE = `Tako takes images: it downloads signed, versioned images from a static HTTP
origin, verifies them, keeps them in a local store and points 'latest' at the
newest compatible one.

Usage:
  tako fetch [--init | --dry-run] [--json] [--] <config>...
                                           ${SUMMARIES.fetch}
  tako [--if-not-exists] <config>...       the same (original dialect)
  tako store [-k <key> | -f <file>] -o <dir> [--] <image> <version>
                                           ${SUMMARIES.store}
  tako index -o <dir>                      ${SUMMARIES.index}
  tako resign [-k <key> | -f <file>] -o <dir> --previous-key <public key>
                                           ${SUMMARIES.resign}
  tako gen-key [-o <name>]                 ${SUMMARIES["gen-key"]}
  tako status [--json | --prometheus] <config>...
                                           ${SUMMARIES.status}
  tako verify <config>...                  ${SUMMARIES.verify}
  tako prune <config>...                   ${SUMMARIES.prune}
  tako rollback <config>...                ${SUMMARIES.rollback}
  tako --help | tako <command> --help | tako --version

Options for every command:
  -q, --quiet      only errors
  -v, --verbose    more detail

${EXIT_TABLE}

Documentation: 'man tako-<command>', or docs/ in the source tree.`;

const KEY_OPTIONS = `  -k, --key <secret-key>    the secret key (SECRET+...)
  -f, --key-file <file>     read the secret key from a file (as gen-key -o writes)`;

const ENV_KEY = `The secret key may also come from the environment variable TAKO_SECRET_KEY;
the options win.`;

const COMMAND_USAGE: Record<CommandName, string> = {
  "fetch": `Usage: tako fetch [--init | --dry-run] [--json] [options] [--] <config>...
       tako [--if-not-exists] <config>...

For each config: download and verify the origin's manifest, pick the newest
version that Version= allows, download and verify that image, point 'latest'
at it and restart the Restart= units if 'latest' changed; with a health check
(HealthCheckSec=, HealthCommand=), watch them and roll back to the previous
image when they do not stay healthy. One failing config does not stop the
next; the exit code reports any failure.

Options:
  --init, --if-not-exists   do nothing (no network, no lock) when the stored
                            manifest verifies and 'latest' points to a present
                            image of it that Version= allows; never restart
                            units (for ExecStartPre=)
  --now                     install a new version at once, without waiting for
                            this host's place in RolloutSpreadSec=
  --dry-run                 fetch and verify the manifest only; say which
                            version a fetch would install, how many bytes it
                            would download and which units it would restart;
                            write nothing and restart nothing
  --json                    one JSON document on stdout with the outcome of
                            every config (schema in docs/tako-fetch.md)
  --connect-timeout <s>     deadline for each response's headers (default 30)
  --idle-timeout <s>        longest pause within a response body (default 60)
  --no-delta                download images in full, never by delta from the
                            local images (docs/delta.md)
  -q, --quiet | -v, --verbose`,
  "store": `Usage: tako store [-k <key> | -f <file>] -o <dir> [--] <image> <version>

Copy <image> to <dir>/store/<sha256> (read-only) with its chunk index beside
it, add '<version> <size> <sha256>' to <dir>/manifest in version order and sign
the manifest. Storing an identical
entry again changes nothing; the same version with other contents is refused.

Options:
${KEY_OPTIONS}
  -o, --output <dir>        the origin directory (must exist)
${ENV_KEY}`,
  "index": `Usage: tako index -o <dir>

Write <dir>/store/<sha256>.index (the chunk index that lets clients update by
delta) for each image in <dir>/store/ without a valid one, checking its digest.
'tako store' indexes the images it adds. Upload indexes before the manifest.

Options:
  -o, --output <dir>        the origin directory`,
  "resign": `Usage: tako resign [-k <key> | -f <file>] -o <dir> --previous-key <public key>

Re-sign <dir>/manifest with a new secret key, for key rotation: the manifest
must verify under the previous public key; its signed bytes are kept exactly
and only the signature line is replaced (atomically, as store writes). A
manifest that does not verify under --previous-key is refused, never re-signed.

Options:
${KEY_OPTIONS.replaceAll("the secret key", "the new secret key")}
  -o, --output <dir>        the origin directory
  --previous-key <key>      the public key the manifest is signed with now
${ENV_KEY}`,
  "gen-key": `Usage: tako gen-key [-o <name>]

Make a new key pair. Without -o, print the secret key (for your secret store;
never publish it) and its public key (for the PublicKey= line of the clients'
configs) on stdout; nothing is written to disk.

Options:
  -o, --output <name>       write the secret key to <name>.key (mode 0600) and
                            the public key to <name>.pub; an existing file is
                            never overwritten`,
  "status": `Usage: tako status [--json | --prometheus] <config>...

Show, for each config, the origins, the version pattern, the versions of the
stored manifest (present / latest / newest compatible), the store size and the
time of the last successful fetch. Never touches the network.

Options:
  --json          machine-readable output on stdout (schema in docs/tako-status.md)
  --prometheus    metrics in the Prometheus text format, for node_exporter's
                  textfile collector (docs/tako-status.md)`,
  "verify": `Usage: tako verify <config>...

Check each config's destination without trusting any cache: re-hash every image
in store/, verify the stored manifest under the config's keys and check that
'latest' points to a present image of it. Every image whose bytes no longer
match their digest is named; the next fetch downloads it again. Never touches
the network and changes nothing.`,
  "rollback": `Usage: tako rollback <config>...
       tako rollback --clear <version> <config>...

Point 'latest' back at the image it pointed to before, restart the Restart=
units by the same rules as fetch (running and failed units; stopped ones stay
stopped), run the health check, and mark the version rolled back from as
rejected: fetch never installs it again. No network; under the lock.

Options:
  --clear <version>   instead, clear the rejection of <version> (or its
                      sha256), so that fetch may install it again`,
  "prune": `Usage: tako prune <config>...

Remove old images from the store according to KeepImages= and MaxStoreSize=.
The image 'latest' points to and the one before it are always kept; files
that Tako did not write are never removed.`,
};

/** The help text for a command, or the overview. */
export function usage(topic: CommandName | undefined): string {
  if (topic === undefined) return MAIN_USAGE;
  const several = topic === "fetch" || topic === "status" || topic === "verify" ||
    topic === "prune" ||
    topic === "rollback";
  return `${COMMAND_USAGE[topic]}\n\n${exitTable(COMMAND_EXITS[topic], several)}`;
}
