/**
 * The peers bench's own checks (scripts/_bench_peer.ts): a read that loses,
 * repeats or reorders events fails instead of giving a figure (an
 * at-least-once read: that loses one, and its repeats are counted), and a phase's
 * rate and CPU per event come from what it did.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { AtLeastOnceCheck, measurePhase, peerBody, SequenceCheck } from "../scripts/_bench_peer.ts";

describe("SequenceCheck", () => {
  it("accepts the events in order from the first, and says when all came", () => {
    const check = new SequenceCheck("read", 3, -1);
    for (const i of [-1, 0, 1]) {
      assert.equal(check.complete, false);
      check.next(JSON.parse(peerBody(i)));
    }
    assert.equal(check.complete, true);
    assert.equal(check.seen, 3);
    check.done();
  });

  it("refuses a reordered, repeated or foreign event, naming the one expected", () => {
    const reordered = new SequenceCheck("read", 3);
    reordered.next({ i: 0 });
    assert.throws(() => reordered.next({ i: 2 }), /read: expected event i=1 at read 2, got \{"i":2\}/);
    const repeated = new SequenceCheck("read", 3);
    repeated.next({ i: 0 });
    assert.throws(() => repeated.next({ i: 0 }), /expected event i=1/);
    assert.throws(() => new SequenceCheck("read", 1).next(null), /expected event i=0 at read 1, got null/);
    assert.throws(() => new SequenceCheck("read", 1).next({ i: "0" }), /expected event i=0/);
  });

  it("refuses more events than were written, and fewer at the end", () => {
    const extra = new SequenceCheck("read", 1);
    extra.next({ i: 0 });
    assert.throws(() => extra.next({ i: 1 }), /read more than the 1 events written \(event i=1\)/);
    const short = new SequenceCheck("stream x", 2);
    short.next({ i: 0 });
    assert.throws(() => short.done(), /stream x: read 1 of the 2 events written/);
  });
});

describe("AtLeastOnceCheck", () => {
  it("is complete once every event came, in any order, and counts the repeats", () => {
    const check = new AtLeastOnceCheck("consumer", 3);
    for (const key of ["b:1", "a:0", "b:1", "a:0", "b:2"]) check.next(key);
    assert.equal(check.complete, true);
    assert.equal(check.seen, 3);
    assert.equal(check.repeated, 2);
    check.done();
  });

  it("refuses a missing event at the end, and more distinct events than were written", () => {
    const short = new AtLeastOnceCheck("consumer", 2);
    short.next("a:0");
    short.next("a:0");
    assert.equal(short.complete, false);
    assert.throws(() => short.done(), /consumer: read 1 of the 2 events written/);
    const extra = new AtLeastOnceCheck("consumer", 1);
    extra.next("a:0");
    assert.throws(() => extra.next("a:1"), /read more than the 1 events written \(event a:1\)/);
  });
});

describe("measurePhase", () => {
  it("gives events per second over the work and the bench process's CPU per event", async () => {
    const result = await measurePhase({ phase: "spin", kind: "read", events: 10, system: {} }, () => {
      // Spend at least 5 ms of CPU in this process (CPU, not wall time: the machine may be loaded).
      const start = process.cpuUsage();
      while (process.cpuUsage(start).user + process.cpuUsage(start).system < 5000) { /* spin */ }
      return Promise.resolve();
    });
    assert.equal(result.phase, "spin");
    assert.equal(result.kind, "read");
    assert.equal(result.events, 10);
    assert.ok(Number.isFinite(result.rate) && result.rate > 0, `rate ${result.rate}`);
    assert.ok(result.clientCpu * 10 >= 5000, `client CPU ${result.clientCpu} µs/event over 10 events`);
    assert.equal(result.systemCpu, 0); // no system processes selected
  });

  it("sums the CPU of every selected system process", async () => {
    const result = await measurePhase(
      { phase: "spin", kind: "write", events: 1, system: { a: { pids: [process.pid] }, b: { pids: [process.pid] } } },
      () => {
        const start = process.cpuUsage();
        while (process.cpuUsage(start).user + process.cpuUsage(start).system < 30_000) { /* spin */ }
        return Promise.resolve();
      },
    );
    // /proc counts in 10 ms ticks: 30 ms of CPU shows as at least 20 ms in each of the two groups.
    assert.ok(result.systemCpu >= 40_000, `system CPU ${result.systemCpu} µs for the same process counted twice`);
  });
});
