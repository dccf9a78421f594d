import { parseConfig } from "../../../lib/core/config.ts";
import { assert, assertRejectsTako } from "../../support/assert.ts";

const FILE = "/etc/tako/app";
const BASE = [
  "Origin=https://images.example.com/app",
  "PublicKey=l0D28J2fiIXvWPbeZP7wkaq+dB55Gl2ysigl9mQH29k=",
  "Destination=/var/lib/images/app",
];

function configOf(...lines: string[]): string {
  return [...BASE, ...lines].join("\n") + "\n";
}

Deno.test("`parseConfig()` defaults: system scope, a 15 s health check only when units are configured", async () => {
  const none = await parseConfig(configOf(), FILE);
  assert.equal(none.unitScope, "system");
  assert.equal(none.healthCheckMs, 0);
  assert.equal(none.healthCommand, undefined);
  assert.equal(none.rolloutSpreadMs, 0);
  const units = await parseConfig(configOf("Restart=app.service"), FILE);
  assert.equal(units.healthCheckMs, 15_000);
});

Deno.test("`parseConfig()` reads UnitScope=, HealthCheckSec=, HealthCommand= and RolloutSpreadSec=", async () => {
  const config = await parseConfig(
    configOf(
      "Restart=app.service",
      "UnitScope=user",
      "HealthCheckSec=1min 30s",
      "HealthCommand=/usr/local/bin/check-app  --port 8080",
      "RolloutSpreadSec=6h",
    ),
    FILE,
  );
  assert.equal(config.unitScope, "user");
  assert.equal(config.healthCheckMs, 90_000);
  assert.deepEqual(config.healthCommand, ["/usr/local/bin/check-app", "--port", "8080"]);
  assert.equal(config.rolloutSpreadMs, 6 * 3_600_000);
  const off = await parseConfig(configOf("Restart=app.service", "HealthCheckSec=0"), FILE);
  assert.equal(off.healthCheckMs, 0);
});

Deno.test("`parseConfig()` rejects bad rollout values naming the line and what was expected", async () => {
  const table: [string, string[]][] = [
    ["UnitScope=users", ["UnitScope= 'users'", "UnitScope=system or UnitScope=user"]],
    ["UnitScope=System", ["UnitScope= 'System'"]],
    ["HealthCheckSec=15 parsecs", ["HealthCheckSec= '15 parsecs'", "time span"]],
    ["HealthCheckSec=-1", ["HealthCheckSec= '-1'"]],
    ["RolloutSpreadSec=forever", ["RolloutSpreadSec= 'forever'", "time span"]],
    ["RolloutSpreadSec=400d", ["RolloutSpreadSec= '400d'", "at most a year"]],
    ["HealthCommand=check-app --port 1", ["HealthCommand= 'check-app --port 1'", "absolute path"]],
  ];
  for (const [line, parts] of table) {
    const e = await assertRejectsTako(() => parseConfig(configOf(line), FILE), "config", ...parts);
    assert.ok(e.message.startsWith(`${FILE} line 4: `), e.message);
  }
});

Deno.test("`parseConfig()` takes each rollout key once", async () => {
  for (
    const key of [
      "UnitScope=user",
      "HealthCheckSec=1s",
      "HealthCommand=/bin/true",
      "RolloutSpreadSec=1h",
    ]
  ) {
    await assertRejectsTako(
      () => parseConfig(configOf(key, key), FILE),
      "config",
      "line 5",
      "repeated (first set on line 4)",
    );
  }
});
