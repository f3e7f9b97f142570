import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LiveFeed, type LiveRecord } from "../lib/live_feed.ts";

const rec = (position: number, stream?: string, line = `{"position":${position}}`): LiveRecord => ({
  position,
  stream,
  line,
});
const positions = (records: LiveRecord[]) => records.map((r) => r.position);

describe("LiveFeed", () => {
  it("hands over: records at or below the position history gave are dropped, now and later", () => {
    const feed = new LiveFeed();
    const live = feed.subscribe()!;
    feed.publish([rec(4), rec(5), rec(6)]); // stored while history was being read
    live.after(5); // history went up to 5
    feed.publish([rec(5)]); // a late hand-over of a batch history already had
    feed.publish([rec(7)]);
    assert.deepEqual(positions(live.take()), [6, 7]);
    feed.publish([rec(7), rec(8)]); // what was taken is not given again
    assert.deepEqual(positions(live.take()), [8]);
    assert.equal(live.closed, undefined);
    live.close();
    assert.equal(feed.clients, 0);
  });

  it("applies a stream or a category filter; events in no stream match neither", () => {
    const feed = new LiveFeed();
    const one = feed.subscribe({ stream: "order-1" })!;
    const all = feed.subscribe({ category: "order" })!;
    const every = feed.subscribe()!;
    feed.publish([rec(1, "order-1"), rec(2, "order-12"), rec(3), rec(4, "user-1"), rec(5, "order")]);
    assert.deepEqual(positions(one.take()), [1]);
    assert.deepEqual(positions(all.take()), [1, 2, 5]);
    assert.deepEqual(positions(every.take()), [1, 2, 3, 4, 5]);
  });

  it("closes a client that still has more than bufferBytes waiting when a batch arrives, and drops its buffer", () => {
    const feed = new LiveFeed({ bufferBytes: 100 });
    const slow = feed.subscribe()!;
    const fast = feed.subscribe()!;
    const line = "x".repeat(40);
    feed.publish([rec(1, undefined, line), rec(2, undefined, line), rec(3, undefined, line)]); // a burst: 120
    assert.equal(slow.closed, undefined, "one batch always fits");
    assert.deepEqual(positions(fast.take()), [1, 2, 3]);
    feed.publish([rec(4, undefined, line)]); // 120 still waiting: too slow
    assert.match(slow.closed ?? "", /^too slow: more than 100 bytes of events waited for this client$/);
    assert.deepEqual(slow.take(), []);
    feed.publish([rec(5, undefined, line)]);
    assert.deepEqual(slow.take(), [], "a closed client gets nothing more");
    assert.deepEqual(positions(fast.take()), [4, 5], "the other client is not affected");
  });

  it("counts the bytes waiting in UTF-8", () => {
    const feed = new LiveFeed({ bufferBytes: 10 });
    const live = feed.subscribe()!;
    feed.publish([rec(1, undefined, "ééééé")]); // 10 bytes (5 UTF-16 units)
    feed.publish([rec(2, undefined, "a")]); // 10 waiting: not more than the bound
    assert.equal(live.closed, undefined);
    feed.publish([rec(3, undefined, "a")]); // 11 waiting
    assert.match(live.closed ?? "", /too slow/);
    const reader = feed.subscribe()!;
    feed.publish([rec(4, undefined, "ééééé")]);
    reader.take(); // a client that reads is never closed
    feed.publish([rec(5, undefined, "ééééé")]);
    assert.equal(reader.closed, undefined);
  });

  it("refuses a client beyond maxClients, and takes one again once a client left", () => {
    const feed = new LiveFeed({ maxClients: 2 });
    const a = feed.subscribe()!;
    assert.ok(feed.subscribe());
    assert.equal(feed.subscribe(), undefined);
    assert.equal(feed.clients, 2);
    assert.deepEqual(feed.byKind(), { sse: 2, follow: 0 });
    a.close();
    assert.ok(feed.subscribe());
  });

  it("wakes a waiting client on a record and on close; close waits for clients to leave and refuses new ones", async () => {
    const feed = new LiveFeed();
    const live = feed.subscribe()!;
    const woken = live.wait();
    feed.publish([rec(1)]);
    await woken;
    assert.deepEqual(positions(live.take()), [1]);
    const waiting = live.wait();
    let closed = false;
    const closing = feed.close("the server is closing").then(() => closed = true);
    await waiting;
    assert.equal(live.closed, "the server is closing");
    assert.equal(feed.subscribe(), undefined);
    await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(closed, false, "close waits until the client has left");
    live.close();
    await closing;
    assert.equal(feed.clients, 0);
  });

  it("stops waiting for clients that do not leave after the grace", async () => {
    const feed = new LiveFeed();
    feed.subscribe();
    await feed.close("bye", 10);
    assert.equal(feed.clients, 1);
  });

  it("refuses a cap or a buffer that is not a positive integer", () => {
    assert.throws(() => new LiveFeed({ maxClients: 0 }), {
      name: "RangeError",
      message: "Cannot create a live feed with maxClients 0: expected a positive integer",
    });
    assert.throws(() => new LiveFeed({ bufferBytes: 1.5 }), /bufferBytes 1.5/);
  });
});
