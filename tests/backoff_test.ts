/**
 * lib/backoff.ts: the delays each call site relies on (exponential and
 * linear, capped, reset) and a sleep that an AbortSignal ends early.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Backoff, sleep } from "../lib/backoff.ts";
import { DEFAULTS } from "../lib/defaults.ts";

function delays(backoff: Backoff, n: number): number[] {
  return Array.from({ length: n }, () => backoff.next());
}

describe("Backoff", () => {
  it("doubles from first up to max, and reset starts again", () => {
    const backoff = new Backoff({ first: 100, max: 1_000 });
    assert.equal(backoff.delay, 100);
    assert.deepEqual(delays(backoff, 6), [100, 200, 400, 800, 1_000, 1_000]);
    backoff.reset();
    assert.deepEqual(delays(backoff, 2), [100, 200]);
  });

  it("grows by first each time when linear", () => {
    assert.deepEqual(delays(new Backoff({ first: 50, max: 200, growth: "linear" }), 5), [50, 100, 150, 200, 200]);
  });

  it("keeps each call site's former delays", () => {
    // The hand-written loops these replace: BrokerLink and EventFeed 100 ms doubling to 5 s, the
    // command 20 ms to 1 s, the fanout resend 50 ms to 2 s, the dead-letter retry 50 ms × attempt.
    assert.deepEqual(delays(new Backoff(DEFAULTS.link.reconnect), 8), [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    assert.deepEqual(delays(new Backoff(DEFAULTS.listener.historyRetry), 7), [100, 200, 400, 800, 1600, 3200, 5000]);
    assert.deepEqual(delays(new Backoff(DEFAULTS.command.retry), 7), [20, 40, 80, 160, 320, 640, 1000]);
    assert.deepEqual(delays(new Backoff(DEFAULTS.fanout.resend), 7), [50, 100, 200, 400, 800, 1600, 2000]);
    assert.deepEqual(delays(new Backoff(DEFAULTS.deadLetter.retry), DEFAULTS.deadLetter.attempts - 1), [
      50,
      100,
      150,
      200,
    ]);
  });

  it("refuses a first delay that is not positive, or a max below it, with a RangeError", () => {
    assert.throws(() => new Backoff({ first: 0, max: 10 }), {
      name: "RangeError",
      message: "Cannot create a backoff: first must be positive, got 0",
    });
    assert.throws(() => new Backoff({ first: 10, max: 5 }), {
      name: "RangeError",
      message: "Cannot create a backoff: max must be at least first (10), got 5",
    });
  });

  it("sleeps its current delay, then grows", async () => {
    const backoff = new Backoff({ first: 20, max: 100 });
    const started = performance.now();
    assert.equal(await backoff.sleep(), true);
    assert.ok(performance.now() - started >= 15);
    assert.equal(backoff.delay, 40);
  });
});

describe("sleep", () => {
  it("resolves true after the time", async () => {
    const started = performance.now();
    assert.equal(await sleep(20), true);
    assert.ok(performance.now() - started >= 15);
  });

  it("resolves false at once when the signal aborts, or was aborted already", async () => {
    const stop = new AbortController();
    const slept = sleep(60_000, stop.signal);
    setTimeout(() => stop.abort(), 10);
    // Not a speed figure: the 60 s sleep must end on the abort, long before this 5 s guard.
    assert.equal(await Promise.race([slept, sleep(5_000).then(() => "still sleeping")]), false);
    assert.equal(await sleep(60_000, stop.signal), false);
  });
});
