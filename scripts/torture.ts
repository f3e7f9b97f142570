#!/usr/bin/env -S deno run -A
/**
 * The full-size crash loop of issue 3 (`deno task torture`): publish 100,000
 * events with pipelined confirms while the server, a child process, is
 * SIGKILLed a random 50–500 ms after every start; a listener from 0 joins
 * during the run. Prints the table (published, confirmed, stored, lost,
 * duplicated, out of order) and exits 1 if anything was lost, duplicated,
 * reordered or invented.
 *
 * Needs RabbitMQ at TEST_AMQPURL (default amqp://guest:guest@127.0.0.1:5672).
 * The CI-size run of the same scenario is `tests/crash_loop_int_test.ts`.
 *
 * ```sh
 * deno task torture                      # 100,000 events, >= 50 kills
 * deno task torture --events 20000 --kills 20 --rate 2000
 * deno task torture --help
 * ```
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { crashLoop, type DisturbStats, runScenario, scenarioContext } from "./_scenario.ts";
import { faults, NO_FAULTS } from "./_tally.ts";

const { values } = parseArgs({
  options: {
    events: { type: "string", default: "100000" },
    kills: { type: "string", default: "50" },
    rate: { type: "string", default: "2000" },
    window: { type: "string", default: "300" },
    quiet: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log(`Usage: deno task torture [--events N] [--kills N] [--rate N|0] [--window N] [--quiet]

  --events  events to publish (default 100000)
  --kills   at least this many SIGKILLs of the server (default 50)
  --rate    publish rate in events/s, 0 for unlimited (default 2000)
  --window  publishes awaiting a confirm at once (default 300)
  --quiet   print only the result table

Needs RabbitMQ at TEST_AMQPURL (default amqp://guest:guest@127.0.0.1:5672).`);
  process.exit(0);
}
const events = Number(values.events);
const minKills = Number(values.kills);
const rate = values.rate === "0" ? Infinity : Number(values.rate);
const window = Number(values.window);
for (const [name, n] of Object.entries({ events, kills: minKills, rate, window })) {
  if (!(n >= 1)) throw new RangeError(`Cannot run torture: --${name} must be a positive number, got ${n}`);
}

const started = Date.now();
const ctx = await scenarioContext("torture");
let ok = false;
try {
  const stats: DisturbStats = { kills: 0, faults: 0 };
  const result = await runScenario(ctx, {
    events,
    window,
    ratePerSecond: rate,
    disturb: crashLoop(minKills, stats),
    drainTimeoutMs: 300_000,
    log: values.quiet ? undefined : (m) => console.log(`  ${m}`),
  });
  console.log(
    `\ncrash loop: ${events} events, ${stats.kills} SIGKILLs, ${result.starts} server starts, ` +
      `queue drained: ${result.drained}, ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
  );
  console.log(result.table);
  ok = result.drained && result.store.stored === result.store.confirmed &&
    JSON.stringify(faults(result.store)) === JSON.stringify(NO_FAULTS) &&
    JSON.stringify(faults(result.listener)) === JSON.stringify(NO_FAULTS) &&
    result.listener.stored === result.store.stored;
  console.log(ok ? "\nPASS" : "\nFAIL");
} finally {
  await ctx.cleanup();
}
process.exit(ok ? 0 : 1);
