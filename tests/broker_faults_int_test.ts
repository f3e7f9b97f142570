// test-runner: exclusive (it stops the shared RabbitMQ and closes all its connections; scripts/run_tests.mjs runs it alone)
/**
 * Issue 3, item 3: broker faults during a 20,000-event run. RabbitMQ drops
 * every connection several times (`rabbitmqctl close_all_connections`), and
 * separately the RabbitMQ application is stopped and started again. The
 * server (a child process), the command module and a listener from 0 must
 * recover by themselves; afterwards every confirmed event is stored exactly
 * once at positions 1..N and the listener delivered 1..N once, in order.
 *
 * These faults hit every client of the shared broker, not only ours.
 */
import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { openSession } from "../lib/amqp_session.ts";
import { AMQP_URL, delay, setup, type TestContext } from "./_helpers.ts";
import { bounceBroker, closeAllConnections, waitForBrokerPort } from "../scripts/_broker_admin.ts";
import { type RunControl, type RunResult, runScenario } from "../scripts/_scenario.ts";
import { faults, NO_FAULTS } from "../scripts/_tally.ts";

const EVENTS = 20_000;

/** Wait until `fraction` of the events is confirmed (or publishing ended). */
async function confirmed(run: RunControl, fraction: number): Promise<void> {
  while (run.publishing && run.pumped.confirmed.size < EVENTS * fraction) await delay(20);
}

function check(result: RunResult, what: string): void {
  console.log(`${what}\n${result.table}`);
  assert.ok(result.drained, `the input queue was not drained\n${result.table}`);
  assert.equal(result.store.confirmed, EVENTS, `the command did not get every publish confirmed\n${result.table}`);
  assert.equal(result.store.stored, EVENTS, result.table);
  assert.deepEqual(faults(result.store), NO_FAULTS, result.table);
  assert.equal(result.listener.stored, EVENTS, result.table);
  assert.deepEqual(faults(result.listener), NO_FAULTS, result.table);
}

describe("broker faults", () => {
  it("publishes cut off by a connection close reject their callers and leave no unhandled rejection", async () => {
    // Large bodies keep many frame writes pending when RabbitMQ closes the connection; the
    // client used to reject their confirms with nothing chained yet, which ends the process.
    let unhandled = 0;
    const count = () => unhandled++;
    process.on("unhandledRejection", count);
    let ok = 0;
    let rejected = 0;
    try {
      const body = new Uint8Array(512 * 1024);
      for (let round = 0; round < 3; round++) {
        const session = await openSession(AMQP_URL, { name: "broker-faults orphan confirms" });
        let stop = false;
        const workers = Array.from({ length: 32 }, async () => {
          while (!stop && !session.closed) {
            await session.publish("", "broker-faults-unroutable", body).then(() => ok++, () => rejected++);
          }
        });
        await delay(500);
        await closeAllConnections();
        stop = true;
        await Promise.all(workers);
        await session.close();
        await delay(200); // an orphaned rejection surfaces within a tick or two
      }
    } finally {
      process.off("unhandledRejection", count);
    }
    console.log(`publishes confirmed ${ok}, rejected by the close ${rejected}, unhandled rejections ${unhandled}`);
    assert.ok(rejected > 0, "no publish was cut off: the test did not test anything");
    assert.equal(unhandled, 0);
  });

  let ctx: TestContext;
  beforeEach(async () => {
    await waitForBrokerPort();
    ctx = await setup("brokerfaults");
  });
  afterEach(async () => {
    await waitForBrokerPort();
    await ctx.cleanup();
  });

  it(`${EVENTS} events while RabbitMQ closes all connections 4 times: everything recovers, nothing lost or duplicated`, async () => {
    let closes = 0;
    let whilePublishing = 0;
    const result = await runScenario(ctx, {
      events: EVENTS,
      ratePerSecond: 2000,
      listenerAt: 0.1,
      disturb: async (run) => {
        await run.startServer();
        for (let i = 0; i < 4; i++) {
          await delay(300);
          await closeAllConnections();
          closes++;
          if (run.publishing) whilePublishing++;
          run.log(`closed all connections at ${run.pumped.confirmed.size} confirmed`);
        }
      },
      log: (m) => console.log(`  ${m}`),
    });
    check(
      result,
      `close_all_connections x${closes} (${whilePublishing} while publishing), ${result.starts} server start(s)`,
    );
    assert.ok(whilePublishing >= 3, `only ${whilePublishing} closes hit the run while publishing`);
    assert.equal(result.starts, 1, "the server had to be restarted: it did not recover by itself");
  });

  it(`${EVENTS} events while the RabbitMQ application is stopped and started: everything recovers, nothing lost or duplicated`, async () => {
    const result = await runScenario(ctx, {
      events: EVENTS,
      ratePerSecond: 4000,
      listenerAt: 0.1,
      disturb: async (run) => {
        await run.startServer();
        await confirmed(run, 0.3);
        run.log(`stopping RabbitMQ at ${run.pumped.confirmed.size} confirmed`);
        await bounceBroker(2000);
        run.log(`RabbitMQ started again; ${run.pumped.confirmed.size} confirmed`);
      },
      log: (m) => console.log(`  ${m}`),
    });
    check(result, `stop_app/start_app, ${result.starts} server start(s)`);
    assert.equal(result.starts, 1, "the server had to be restarted: it did not recover by itself");
  });
});
