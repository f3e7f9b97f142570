import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { WrongExpectedVersionError } from "../lib/errors.ts";
import { type EventStoreLike, handleCommandOn } from "../lib/handle_command.ts";
import type { EventRecord } from "../lib/record.ts";
import type { AppendToStreamOptions } from "../lib/stream_appender.ts";
import type { StreamEvent } from "../lib/stream_event.ts";

/** One stream in memory; `sneakIn` appends n events by "another writer" just before the next append. */
class MemoryStore implements EventStoreLike {
  readonly records: EventRecord[] = [];
  readonly appends: AppendToStreamOptions[] = [];
  sneakIn = 0;

  readStream(stream: string) {
    return Promise.resolve({
      events: this.records.filter((r) => r.stream === stream),
      streamVersion: this.records.length,
    });
  }

  appendToStream(stream: string, events: StreamEvent | readonly StreamEvent[], options: AppendToStreamOptions = {}) {
    this.appends.push(options);
    if (this.sneakIn > 0) {
      this.sneakIn--;
      this.#add(stream, { type: "Deposited", data: { amount: 1 } });
    }
    const version = this.records.length;
    const expected = options.expectedVersion ?? "any";
    const ok = expected === "any" || (expected === "no_stream" ? version === 0 : expected === version);
    if (!ok) return Promise.reject(new WrongExpectedVersionError(stream, expected, version));
    for (const event of Array.isArray(events) ? events : [events]) this.#add(stream, event);
    return Promise.resolve({ position: this.records.length, streamVersion: this.records.length });
  }

  #add(stream: string, event: StreamEvent): void {
    const n = this.records.length + 1;
    this.records.push({ position: n, id: `e${n}`, time: "t", stream, streamVersion: n, ...event });
  }
}

type Event = { type: "Deposited" | "Withdrawn"; data: { amount: number } };
const evolve = (balance: number, e: Event) =>
  e.type === "Deposited" ? balance + e.data.amount : balance - e.data.amount;
const withdraw = (amount: number) => (balance: number): Event => {
  if (balance < amount) throw new RangeError(`Insufficient funds: ${balance} < ${amount}`);
  return { type: "Withdrawn", data: { amount } };
};

describe("handleCommandOn", () => {
  it("appends at the version read (no_stream for a new stream) and returns the state after the new events", async () => {
    const store = new MemoryStore();
    const opened = await handleCommandOn("acct-1", () => [{ type: "Deposited", data: { amount: 10 } } as Event], {
      store,
      evolve,
      initialState: () => 0,
    });
    assert.deepEqual(opened, {
      state: 10,
      streamVersion: 1,
      position: 1,
      events: [{ type: "Deposited", data: { amount: 10 } }],
    });
    const after = await handleCommandOn("acct-1", async (balance) => await withdraw(4)(balance), {
      store,
      evolve,
      initialState: () => 0,
    });
    assert.equal(after.state, 6);
    assert.deepEqual(store.appends.map((a) => a.expectedVersion), ["no_stream", 1]);
  });

  it("re-reads and decides again after a conflict, on the new state", async () => {
    const store = new MemoryStore();
    await store.appendToStream("acct-1", { type: "Deposited", data: { amount: 10 } });
    store.sneakIn = 2;
    const states: number[] = [];
    const result = await handleCommandOn("acct-1", (balance: number) => {
      states.push(balance);
      return withdraw(5)(balance);
    }, { store, evolve, initialState: () => 0 });
    assert.deepEqual(states, [10, 11, 12]);
    assert.deepEqual([result.state, result.streamVersion], [7, 4]);
  });

  it("gives up after retries conflicts with the last WrongExpectedVersionError", async () => {
    const store = new MemoryStore();
    store.sneakIn = 3;
    let decisions = 0;
    await assert.rejects(
      handleCommandOn("acct-1", () => (decisions++, { type: "Deposited", data: { amount: 1 } }) as Event, {
        store,
        evolve,
        initialState: () => 0,
        retries: 2,
      }),
      WrongExpectedVersionError,
    );
    assert.equal(decisions, 3);
  });

  it("appends nothing when decide returns [], and lets decide's error through", async () => {
    const store = new MemoryStore();
    const none = await handleCommandOn("acct-1", () => [], { store, evolve, initialState: () => 0 });
    assert.deepEqual(none, { state: 0, streamVersion: 0, position: 0, events: [] });
    assert.equal(store.appends.length, 0);
    await assert.rejects(handleCommandOn("acct-1", withdraw(1), { store, evolve, initialState: () => 0 }), {
      name: "RangeError",
      message: "Insufficient funds: 0 < 1",
    });
  });

  it("runs only on a stream at expectedVersion, without retrying when it moved on", async () => {
    const store = new MemoryStore();
    await store.appendToStream("acct-1", { type: "Deposited", data: { amount: 10 } });
    const error = await handleCommandOn("acct-1", withdraw(1), {
      store,
      evolve,
      initialState: () => 0,
      expectedVersion: "no_stream",
    }).catch((e) => e);
    assert.ok(error instanceof WrongExpectedVersionError);
    assert.deepEqual([error.expected, error.actual], ["no_stream", 1]);
    assert.equal(store.appends.length, 1);
    const ok = await handleCommandOn("acct-1", withdraw(1), {
      store,
      evolve,
      initialState: () => 0,
      expectedVersion: 1,
    });
    assert.equal(ok.streamVersion, 2);
    assert.deepEqual(store.appends[1], { expectedVersion: 1 });
  });

  it("refuses a bad decide or retries", async () => {
    const store = new MemoryStore();
    const options = { store, evolve, initialState: () => 0 };
    await assert.rejects(handleCommandOn("s", 5 as never, options), TypeError);
    await assert.rejects(handleCommandOn("s", () => [], { ...options, retries: -1 }), {
      name: "RangeError",
      message: "Cannot handle a command on stream s: retries must be a non-negative integer, got -1",
    });
  });
});
