// test-runner: exclusive (its kill timing wants the machine to itself; scripts/run_tests.mjs runs it alone)
/**
 * Issue 3, item 1: the crash loop. The server (a child process, as in
 * production) is SIGKILLed a random 50–500 ms after every start while events
 * are published with pipelined confirms. Afterwards every confirmed event is
 * stored exactly once at positions 1..N, the file parses, and a listener
 * started from 0 during the run delivered 1..N once each, in order.
 *
 * The full-size run (100,000 events) is `deno task torture`.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { setup, type TestContext } from "./_helpers.ts";
import { crashLoop, type DisturbStats, runScenario } from "../scripts/_scenario.ts";
import { faults, NO_FAULTS } from "../scripts/_tally.ts";

const EVENTS = 10_000;
const MIN_KILLS = 10;

describe("crash loop", () => {
  let ctx: TestContext;
  before(async () => {
    ctx = await setup("crashloop");
  });
  after(async () => {
    await ctx.cleanup();
  });

  it(`${EVENTS} events, server SIGKILLed at least ${MIN_KILLS} times: nothing lost, duplicated or reordered`, async () => {
    const stats: DisturbStats = { kills: 0, faults: 0 };
    const result = await runScenario(ctx, {
      events: EVENTS,
      window: 300,
      // Spread the publishing over the kills, so crashes land while messages keep arriving.
      ratePerSecond: 1000,
      disturb: crashLoop(MIN_KILLS, stats),
      log: (m) => console.log(`  ${m}`),
    });
    console.log(`crash loop: ${stats.kills} kills, ${result.starts} server starts\n${result.table}`);
    assert.ok(stats.kills >= MIN_KILLS, `only ${stats.kills} kills`);
    assert.ok(result.drained, `the input queue was not drained\n${result.table}`);
    assert.equal(result.store.confirmed, EVENTS, result.table);
    assert.equal(result.store.stored, EVENTS, result.table);
    assert.deepEqual(faults(result.store), NO_FAULTS, result.table);
    assert.equal(result.listener.stored, EVENTS, result.table);
    assert.deepEqual(faults(result.listener), NO_FAULTS, result.table);
  });
});
