/**
 * lib/event_feed.ts with fakes instead of RabbitMQ and the HTTP history: a
 * fake opener hands the feed's BrokerLink one {@link FakeSession} (a live
 * message is `session.publish(...)` by the test), and a fake history reader
 * serves records from an array, calling `onResponse` first. Proves gap
 * repair, duplicate drop, the history→live hand-over, batched acks, handler
 * errors, stray messages and a changed store id, with no broker.
 * tests/listener_int_test.ts proves the same against a real server and broker.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type BatchHandler, EventFeed, type EventFeedOptions, type Handler } from "../lib/event_feed.ts";
import type { BrokerSession, Consumer, Delivery, OpenSession } from "../lib/broker_session.ts";
import { listenerSettings } from "../lib/config.ts";
import { BrokerRefusedError, HandlerError, StoreChangedError } from "../lib/errors.ts";
import { type EventFilter, matches } from "../lib/event_filter.ts";
import type { readHistoryChunks } from "../lib/history_client.ts";
import type { EventRecord } from "../lib/record.ts";
import { waitFor } from "./_helpers.ts";

const STORE = "store-a";
const encoder = new TextEncoder();

function record(position: number, stream?: string, streamVersion = 1): EventRecord {
  const base = { position, id: `e${position}`, time: "2026-01-01T00:00:00.000Z" };
  return stream === undefined
    ? { ...base, data: { n: position } }
    : { ...base, stream, streamVersion, data: { n: position } };
}

/** Records `from`..`to` inclusive. */
function records(from: number, to: number): EventRecord[] {
  return Array.from({ length: to - from + 1 }, (_, i) => record(from + i));
}

/** Let every pending promise and timer of the feed run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 20));
}

/** What `feed` stopped with (its error), or "still running" after `ms`; the feed is closed either way. */
async function stopped(feed: EventFeed, ms = 2_000): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise((resolve) => (timer = setTimeout(() => resolve("still running"), ms)));
  const outcome = await Promise.race([feed.closed.then(() => "closed without an error", (error) => error), timeout]);
  clearTimeout(timer);
  await feed.close();
  return outcome;
}

/** A promise the test resolves by hand. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/**
 * The broker side of one connection: `publish` plays the fanout delivering a
 * message to the feed's queue (tags from 1); acks are recorded in `log`.
 */
class FakeSession implements BrokerSession {
  closed = false;
  prefetch = 0;
  #onDelivery: ((delivery: Delivery) => void) | undefined;
  #tag = 0;
  constructor(readonly log: string[]) {}
  /** Deliver `body` with the record's headers; returns its tag. */
  live(body: EventRecord | string, headers: Record<string, unknown> = {}): number {
    const text = typeof body === "string" ? body : JSON.stringify(body);
    const position = typeof body === "string" ? undefined : body.position;
    // As the server's fanout: a record of a stream carries its name and version as headers too.
    const stream = typeof body === "string" || body.stream === undefined
      ? {}
      : { stream: body.stream, "stream-version": body.streamVersion };
    const tag = ++this.#tag;
    assert.ok(this.#onDelivery, "the feed consumes");
    this.#onDelivery({
      body: encoder.encode(text),
      headers: { "store-id": STORE, ...(position === undefined ? {} : { position }), ...stream, ...headers },
      tag,
      redelivered: false,
    });
    return tag;
  }
  /** Deliver each record live; returns their tags. */
  liveAll(list: EventRecord[]): number[] {
    return list.map((r) => this.live(r));
  }
  declareQueue(): Promise<string> {
    return Promise.resolve("amq.gen-1");
  }
  declareFanout(): Promise<void> {
    return Promise.resolve();
  }
  bind(): Promise<void> {
    return Promise.resolve();
  }
  consume(_queue: string, prefetch: number, onDelivery: (delivery: Delivery) => void): Promise<Consumer> {
    this.prefetch = prefetch;
    this.#onDelivery = onDelivery;
    return Promise.resolve({ cancel: () => Promise.resolve() });
  }
  ack(tag: number, multiple = false): Promise<void> {
    this.log.push(`ack ${tag}${multiple ? " multiple" : ""}`);
    return Promise.resolve();
  }
  reject(): Promise<void> {
    return Promise.reject(new Error("the feed never rejects"));
  }
  publish(): Promise<void> {
    return Promise.reject(new Error("the feed never publishes"));
  }
  deleteQueue(): Promise<void> {
    return Promise.resolve();
  }
  openReplyChannel(): Promise<never> {
    return Promise.reject(new Error("not used here"));
  }
  deleteExchange(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

/**
 * A server's history: `stored` are its records (the test may append to them),
 * answered as they are when a read starts, `chunk` records per chunk. Each read
 * is logged as `history <from> <limit>` (plus ` stream=S` or ` category=C` for a
 * filtered read, which answers only the matching records, as the server does);
 * `pause(read, chunk)` may hold a chunk back.
 */
function fakeHistory(
  stored: EventRecord[],
  log: string[],
  options: {
    storeId?: string;
    chunk?: number;
    pause?: (read: number, chunk: number) => Promise<void> | void;
    /** Answer with every record, whatever `from` and `limit` asked (a proxy that drops the query). */
    everything?: boolean;
    /** Ignore `stream` and `category` (a server without stream reads that answers everything from `from`). */
    ignoreFilter?: boolean;
  } = {},
): typeof readHistoryChunks {
  const size = options.chunk ?? 2;
  let reads = 0;
  return async function* (_url, from, read = {}) {
    const n = ++reads;
    const limit = read.limit ?? Infinity;
    const filter: EventFilter | undefined = options.ignoreFilter
      ? undefined
      : read.stream !== undefined
      ? { stream: read.stream }
      : read.category !== undefined
      ? { category: read.category }
      : undefined;
    const asked = read.stream !== undefined
      ? ` stream=${read.stream}`
      : read.category
      ? ` category=${read.category}`
      : "";
    log.push(`history ${from} ${limit}${asked}`);
    const answer = options.everything
      ? [...stored]
      : stored.filter((r) => r.position >= from && matches(filter, r.stream)).slice(0, limit);
    const head = stored.at(-1)?.position;
    read.onResponse?.({
      storeId: options.storeId ?? STORE,
      head,
      ...(filter === undefined ? {} : { last: answer.at(-1)?.position ?? 0 }),
    });
    for (let i = 0; i * size < answer.length; i++) {
      await options.pause?.(n, i);
      yield answer.slice(i * size, (i + 1) * size);
    }
  };
}

/** A feed on one fake session; `log` holds deliveries, acks and history reads, in order. */
function feedWith(
  stored: EventRecord[],
  options: EventFeedOptions & {
    handler?: Handler;
    /** With `batch`: the handler of groups. */
    batchHandler?: BatchHandler;
    prefetch?: number;
    historyOptions?: Parameters<typeof fakeHistory>[2];
  } = {},
) {
  const log: string[] = [];
  const delivered: number[] = [];
  const session = new FakeSession(log);
  const open: OpenSession = () => Promise.resolve(session);
  const handler: Handler = options.handler ?? ((event) => {
    delivered.push(event.position);
    log.push(`deliver ${event.position}`);
  });
  const settings = listenerSettings(
    { historyUrl: "http://history.test/", exchangeName: "events", prefetch: options.prefetch ?? 256 },
    {},
  );
  const feed = new EventFeed(settings, options.batchHandler ?? handler, {
    from: 1,
    ...options,
    open: options.open ?? open,
    history: fakeHistory(stored, log, options.historyOptions),
  });
  feed.start();
  return { feed, session, log, delivered };
}

describe("EventFeed with a fake broker and history", () => {
  it("binds on the fanout's broker (FANOUTURL), not the queue's", async () => {
    const urls: string[] = [];
    const session = new FakeSession([]);
    const settings = listenerSettings({ historyUrl: "http://history.test/" }, {
      AMQPURL: "amqp://queue.test",
      FANOUTURL: "amqp://fanout.test",
    });
    const feed = new EventFeed(settings, () => {}, {
      from: 1,
      open: (url) => (urls.push(url), Promise.resolve(session)),
      history: fakeHistory([], []),
    });
    feed.start();
    await feed.ready;
    assert.deepEqual(urls, ["amqp://fanout.test"]);
    await feed.close();
  });

  it("repairs a gap: a live event that skips ahead fetches the missing range from history first", async () => {
    const stored = records(1, 2);
    const { feed, session, log, delivered } = feedWith(stored);
    await feed.ready;
    await waitFor(() => delivered.length === 2, "history 1..2");
    await settle(); // the read after the bind (it finished during the first read): nothing new yet
    // The server stored 3..5 but only 5 reached this queue (3 and 4 were published before a reconnect).
    stored.push(...records(3, 5));
    const tag = session.live(record(5));
    await waitFor(() => delivered.length === 5, "the gap and the live event");
    assert.deepEqual(log, [
      "history 1 Infinity",
      "deliver 1",
      "deliver 2",
      "history 3 Infinity",
      "history 3 2",
      "deliver 3",
      "deliver 4",
      "deliver 5",
      `ack ${tag} multiple`,
    ]);
    assert.equal(feed.next, 6);
    await feed.close();
  });

  it("reads history before the broker set-up ends, and reads again after the bind: no gap", async () => {
    const setUp = gate();
    const stored = records(1, 3);
    let session: FakeSession | undefined;
    const log: string[] = [];
    const open: OpenSession = async () => {
      await setUp.promise; // the broker is slow to answer (connection, channels, declare, bind)
      return (session = new FakeSession(log));
    };
    const fake = feedWith(stored, { open });
    await waitFor(() => fake.delivered.length === 3, "history while the set-up is still running");
    assert.equal(session, undefined, "delivered before the queue was bound");
    // Stored after the history answer but published before the bind: on no queue, only in history.
    stored.push(...records(4, 5));
    setUp.open();
    await waitFor(() => fake.delivered.length === 5, "what the read after the bind found");
    await fake.feed.ready;
    assert.deepEqual(fake.log, [
      "history 1 Infinity",
      "deliver 1",
      "deliver 2",
      "deliver 3",
      "history 4 Infinity",
      "deliver 4",
      "deliver 5",
    ]);
    const tag = session!.live(record(6));
    await waitFor(() => log.includes(`ack ${tag} multiple`), "the live event's ack");
    assert.deepEqual(fake.delivered, [1, 2, 3, 4, 5, 6]);
    await fake.feed.close();
  });

  it("delivers history while the broker is down, and close() then ends it without an error", async () => {
    let attempts = 0;
    const open: OpenSession = () => {
      attempts++;
      return Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:5672"));
    };
    const { feed, delivered } = feedWith(records(1, 2), { open });
    await waitFor(() => delivered.length === 2, "history without a broker");
    await waitFor(() => attempts >= 2, "a retried connection");
    assert.equal(await stopped(feed, 300), "still running", "an unreachable broker is retried, not fatal");
    assert.equal(await feed.closed.then(() => "resolved", (error) => error), "resolved");
  });

  it("stops with the broker's refusal of the first connection, even while history is being read", async () => {
    const hold = gate();
    const open: OpenSession = () =>
      Promise.reject(new BrokerRefusedError("RabbitMQ refused the login", "ACCESS_REFUSED"));
    const { feed } = feedWith(records(1, 4), {
      open,
      historyOptions: { pause: (_read, chunk) => (chunk === 1 ? hold.promise : undefined) },
    });
    const error = await stopped(feed);
    hold.open();
    assert.ok(error instanceof BrokerRefusedError, `got ${error}`);
  });

  it("repeats nothing when a history answer starts before the position it asked for", async () => {
    const stored = records(1, 2);
    const { feed, session, log, delivered } = feedWith(stored, { historyOptions: { everything: true } });
    await waitFor(() => delivered.length === 2, "history 1..2");
    stored.push(...records(3, 5));
    const tag = session.live(record(5));
    await waitFor(() => log.includes(`ack ${tag} multiple`), "the live event's ack");
    assert.deepEqual(delivered, [1, 2, 3, 4, 5]);
    await feed.close();
  });

  it("acks and drops a live event at or below the delivered position", async () => {
    const { feed, session, log, delivered } = feedWith(records(1, 3));
    await waitFor(() => delivered.length === 3, "history 1..3");
    await settle();
    assert.equal(log[4], "history 4 Infinity", "the read after the bind");
    const last = session.live(record(3)); // the last one delivered
    await waitFor(() => log.includes(`ack ${last} multiple`), "the duplicate's ack");
    const older = session.live(record(1));
    await waitFor(() => log.includes(`ack ${older} multiple`), "the older duplicate's ack");
    const next = session.live(record(4));
    await waitFor(() => log.includes(`ack ${next} multiple`), "the next event's ack");
    assert.deepEqual(delivered, [1, 2, 3, 4]);
    assert.deepEqual(log.slice(5), [
      `ack ${last} multiple`,
      `ack ${older} multiple`,
      "deliver 4",
      `ack ${next} multiple`,
    ]);
    await feed.close();
  });

  it("hands over from history to live: live events during history wait, then come once, no gap", async () => {
    const hold = gate();
    const stored = records(1, 4);
    const { feed, session, log, delivered } = feedWith(stored, {
      historyOptions: { chunk: 2, pause: (read, chunk) => (read === 1 && chunk === 1 ? hold.promise : undefined) },
    });
    await waitFor(() => delivered.length === 2, "the first history chunk");
    // While history streams: 4 was stored after the queue was bound but before the history read
    // (so it comes both ways), 5 and 6 after the read started (live only).
    stored.push(...records(5, 6));
    const tags = session.liveAll(records(4, 6));
    await settle();
    assert.deepEqual(delivered, [1, 2], "live events wait for history");
    assert.ok(!log.some((line) => line.startsWith("ack")), "nothing acked while they wait");
    hold.open();
    await waitFor(() => log.includes(`ack ${tags[2]} multiple`), "the live events' ack");
    assert.deepEqual(delivered, [1, 2, 3, 4, 5, 6]);
    // The queue was bound during the first read, so a second read follows it: 5 and 6 come from it,
    // and their live copies are dropped as duplicates.
    assert.deepEqual(log, [
      "history 1 Infinity",
      "deliver 1",
      "deliver 2",
      "deliver 3",
      "deliver 4",
      "history 5 Infinity",
      "deliver 5",
      "deliver 6",
      `ack ${tags[2]} multiple`,
    ]);
    await feed.close();
  });

  it("new events only: starts after the head history named, so a republished old position comes first in vain", async () => {
    for (const batch of [undefined, { maxEvents: 8 }]) {
      const stored = records(1, 5);
      const groups: number[][] = [];
      const { feed, session, log, delivered } = feedWith(stored, {
        from: undefined,
        batch,
        batchHandler: batch && ((events) => void groups.push(events.map((event) => event.position))),
      });
      await feed.ready;
      assert.equal(feed.next, 6, "the head + 1");
      // The fanout's catch-up republishes old position 3 beside the live publishes of 6 and 7.
      stored.push(...records(6, 7));
      const tags = session.liveAll([record(3), record(7)]);
      await waitFor(() => log.includes(`ack ${tags[1]} multiple`), "the acks");
      const got = batch ? groups.flat() : delivered;
      assert.deepEqual(got, [6, 7], `${batch ? "batch" : "one by one"}: only what was stored after the head`);
      assert.equal(feed.next, 8);
      await feed.close();
    }
  });

  it("acks several live messages with one multiple-ack, only after their handlers finished", async () => {
    const gates = new Map<number, ReturnType<typeof gate>>();
    const log: string[] = [];
    const handler: Handler = (event) => {
      log.push(`start ${event.position}`);
      const g = gate();
      gates.set(event.position, g);
      return g.promise.then(() => void log.push(`end ${event.position}`));
    };
    const fake = feedWith([], { handler });
    await fake.feed.ready;
    const tags = fake.session.liveAll(records(1, 3));
    for (const position of [1, 2, 3]) {
      await waitFor(() => gates.has(position), `handler ${position}`);
      await settle();
      assert.ok(!fake.log.some((line) => line.startsWith("ack")), `nothing acked while handler ${position} runs`);
      gates.get(position)!.open();
    }
    await waitFor(() => fake.log.some((line) => line.startsWith("ack")), "the ack");
    await settle();
    assert.deepEqual(log, ["start 1", "end 1", "start 2", "end 2", "start 3", "end 3"]);
    assert.deepEqual(fake.log.filter((line) => line.startsWith("ack")), [`ack ${tags[2]} multiple`]);
    await fake.feed.close();
  });

  it("acks at least every quarter of the prefetch, so the broker never runs dry", async () => {
    const { feed, session, log, delivered } = feedWith([], { prefetch: 8 });
    await feed.ready;
    assert.equal(session.prefetch, 8);
    const tags = session.liveAll(records(1, 5));
    await waitFor(() => delivered.length === 5, "five live events");
    await settle();
    assert.deepEqual(log.filter((line) => line.startsWith("ack")), [
      `ack ${tags[1]} multiple`,
      `ack ${tags[3]} multiple`,
      `ack ${tags[4]} multiple`,
    ]);
    await feed.close();
  });

  it("stops with a HandlerError at the failing live event and acks nothing from it on", async () => {
    const { feed, session, log, delivered } = feedWith(records(1, 2), {
      handler: (event) => {
        log.push(`deliver ${event.position}`);
        if (event.position === 4) return Promise.reject(new Error("projection failed"));
        delivered.push(event.position);
      },
    });
    await waitFor(() => delivered.length === 2, "history 1..2");
    const before = session.live(record(3));
    await waitFor(() => log.includes(`ack ${before} multiple`), "event 3's ack");
    const failing = session.live(record(4));
    const error = await stopped(feed);
    assert.ok(error instanceof HandlerError, `got ${error}`);
    assert.equal(error.position, 4);
    assert.equal(feed.next, 4, "4 was not delivered");
    session.live(record(5));
    await settle();
    assert.deepEqual(delivered, [1, 2, 3]);
    assert.ok(!log.includes("deliver 5"), "nothing after the failure is delivered");
    const acked = log.filter((line) => line.startsWith("ack")).map((line) => Number(line.split(" ")[1]));
    assert.deepEqual(acked, [before], `acked ${acked}, failed on tag ${failing}`);
    assert.ok(session.closed, "the session is closed");
  });

  it("stops with a HandlerError at the failing history event", async () => {
    const { feed, log } = feedWith(records(1, 4), {
      handler: (event) => {
        log.push(`deliver ${event.position}`);
        if (event.position === 3) throw new Error("projection failed");
      },
    });
    const error = await stopped(feed);
    assert.ok(error instanceof HandlerError, `got ${error}`);
    assert.equal(error.position, 3);
    assert.deepEqual(log, ["history 1 Infinity", "deliver 1", "deliver 2", "deliver 3"]);
  });

  it("acks and skips a stray live message that is not a record, and warns", async () => {
    const warnings: string[] = [];
    const { feed, session, log, delivered } = feedWith([], { warn: (line) => warnings.push(line) });
    await feed.ready;
    session.live(record(1));
    await waitFor(() => delivered.length === 1, "event 1");
    const stray = session.live('{"type":"Ok"}');
    await waitFor(() => log.includes(`ack ${stray} multiple`), "the stray's ack");
    assert.equal(feed.next, 2);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /Skipped a message on exchange events that is not a record/);
    const next = session.live(record(2));
    await waitFor(() => log.includes(`ack ${next} multiple`), "event 2's ack");
    assert.deepEqual(delivered, [1, 2]);
    await feed.close();
  });

  it("stops with a StoreChangedError when a live message names another store, delivering nothing of it", async () => {
    const { feed, session, log, delivered } = feedWith(records(1, 1));
    await waitFor(() => delivered.length === 1, "history 1");
    assert.equal(feed.storeId, STORE, "learned from the history response");
    session.live(record(2), { "store-id": "store-b" });
    const error = await stopped(feed);
    assert.ok(error instanceof StoreChangedError, `got ${error}`);
    assert.equal(error.expected, STORE);
    assert.equal(error.actual, "store-b");
    assert.deepEqual(delivered, [1]);
    assert.ok(!log.some((line) => line.startsWith("ack")), "the other store's message is not acked");
  });

  it("stops with a StoreChangedError when history answers for another store than the one asked for", async () => {
    const { feed, delivered } = feedWith(records(1, 2), { storeId: "store-b" });
    const error = await stopped(feed);
    assert.ok(error instanceof StoreChangedError, `got ${error}`);
    assert.equal(error.expected, "store-b");
    assert.equal(error.actual, STORE);
    assert.deepEqual(delivered, [], "no record of the other store is delivered");
  });
});

/** Streams by position: 1 order-1, 2 user-1, 3 order-2, 4 none, 5 order-1 … */
function streamOf(p: number): string | undefined {
  return [undefined, "order-1", "user-1", "order-2"][p % 4];
}

/** Records `from`..`to` of the streams {@link streamOf} names, with their stream versions. */
function mixed(from: number, to: number): EventRecord[] {
  return Array.from({ length: to - from + 1 }, (_, i) => {
    const p = from + i;
    const stream = streamOf(p);
    let version = 0;
    for (let q = 1; q <= p; q++) if (streamOf(q) === stream) version++;
    return record(p, stream, version);
  });
}

/** The positions in `from`..`to` that `filter` lets through. */
function matching(filter: EventFilter, from: number, to: number): number[] {
  return mixed(from, to).filter((r) => matches(filter, r.stream)).map((r) => r.position);
}

describe("EventFeed with a stream or category filter", () => {
  it("catches up with a filtered read, moves next to its head, then delivers matching live events", async () => {
    const stored = mixed(1, 10);
    const { feed, session, log, delivered } = feedWith(stored, { filter: { stream: "order-1" } });
    await waitFor(() => delivered.length === 3, "order-1 from history");
    await settle();
    assert.deepEqual(delivered, [1, 5, 9]);
    assert.equal(feed.next, 11, "the head + 1, not the last match + 1");
    stored.push(...mixed(11, 13));
    const tags = session.liveAll(mixed(11, 13)); // user-1, order-2, order-1
    await waitFor(() => log.includes(`ack ${tags[2]} multiple`), "the live events' ack");
    assert.deepEqual(delivered, [1, 5, 9, 13]);
    assert.deepEqual(log, [
      "history 1 Infinity stream=order-1",
      "deliver 1",
      "deliver 5",
      "deliver 9",
      "history 11 Infinity stream=order-1",
      "deliver 13",
      `ack ${tags[2]} multiple`,
    ]);
    assert.equal(feed.next, 14);
    await feed.close();
  });

  it("a category takes every stream before its first dash, a stream only itself", async () => {
    const stored = [
      record(1, "order-1"),
      record(2, "orders-1"),
      record(3, "order"),
      record(4, "order-1-a"),
      record(5),
      record(6, "order-2"),
      record(7, "order-1", 2),
    ];
    const category = feedWith(stored, { filter: { category: "order" } });
    const stream = feedWith(stored, { filter: { stream: "order-1" } });
    await waitFor(() => category.delivered.length === 5 && stream.delivered.length === 2, "both catch-ups");
    assert.deepEqual(category.delivered, [1, 3, 4, 6, 7]);
    assert.deepEqual(stream.delivered, [1, 7]);
    assert.equal(category.log[0], "history 1 Infinity category=order");
    const live = [record(8, "orders-2"), record(9, "order-3"), record(10, "order-1", 3), record(11)];
    stored.push(...live);
    const lastTags = [category.session.liveAll(live).at(-1), stream.session.liveAll(live).at(-1)];
    await waitFor(() => category.log.includes(`ack ${lastTags[0]} multiple`), "the category's acks");
    await waitFor(() => stream.log.includes(`ack ${lastTags[1]} multiple`), "the stream's acks");
    assert.deepEqual(category.delivered, [1, 3, 4, 6, 7, 9, 10]);
    assert.deepEqual(stream.delivered, [1, 7, 10]);
    assert.equal(category.feed.next, 12);
    assert.equal(stream.feed.next, 12);
    await Promise.all([category.feed.close(), stream.feed.close()]);
  });

  it("repairs a gap under a filter with an unfiltered read of the gap, delivering only its matches", async () => {
    const filter = { category: "order" };
    const stored = mixed(1, 4);
    const { feed, session, log, delivered } = feedWith(stored, { filter });
    await waitFor(() => delivered.length === 2, "history 1..4");
    await settle();
    // 5..10 stored, only 10 reached this queue.
    stored.push(...mixed(5, 10));
    const tag = session.live(mixed(10, 10)[0]);
    await waitFor(() => log.includes(`ack ${tag} multiple`), "the live event's ack");
    assert.deepEqual(delivered, matching(filter, 1, 10));
    assert.deepEqual(log.filter((line) => line.startsWith("history")), [
      "history 1 Infinity category=order",
      "history 5 Infinity category=order",
      "history 5 5",
    ]);
    assert.equal(feed.next, 11);
    // A gap before an event outside the filter is repaired too, and the event passed over.
    stored.push(...mixed(11, 16));
    const other = session.live(mixed(16, 16)[0]); // in no stream
    await waitFor(() => log.includes(`ack ${other} multiple`), "the other event's ack");
    assert.deepEqual(delivered, matching(filter, 1, 16));
    assert.equal(log.filter((line) => line.startsWith("history")).at(-1), "history 11 5");
    assert.equal(feed.next, 17);
    await feed.close();
  });

  it("passes over live events outside the filter: acked, next moves on, nothing parsed or warned", async () => {
    const warnings: string[] = [];
    const { feed, session, log, delivered } = feedWith([], {
      from: undefined,
      filter: { stream: "order-1" },
      warn: (line) => warnings.push(line),
    });
    await feed.ready;
    const tags = session.liveAll(mixed(2, 4)); // user-1, order-2, none
    await waitFor(() => log.includes(`ack ${tags[2]} multiple`), "their ack");
    assert.equal(feed.next, 5);
    assert.deepEqual(delivered, []);
    // The fanout's headers say it is the server's record of another stream: its body is not read.
    const skipped = session.live("not json", { position: 5, stream: "user-1" });
    await waitFor(() => log.includes(`ack ${skipped} multiple`), "the skipped message's ack");
    assert.equal(feed.next, 6);
    // Without the server's headers (one that sends no store id) the parsed record's stream decides.
    const bare = session.live(record(6, "user-1", 2), { "store-id": undefined, stream: undefined });
    await waitFor(() => log.includes(`ack ${bare} multiple`), "the bare message's ack");
    assert.equal(feed.next, 7);
    const wanted = session.live(record(7, "order-1"));
    await waitFor(() => log.includes(`ack ${wanted} multiple`), "order-1's ack");
    assert.deepEqual(delivered, [7]);
    assert.deepEqual(warnings, []);
    assert.deepEqual(log.filter((line) => line.startsWith("history")), ["history 1 0"], "only the probe");
    await feed.close();
  });

  it("hands over from a filtered history to live without a gap or a repeat", async () => {
    const hold = gate();
    const filter = { category: "order" };
    const stored = mixed(1, 8);
    const { feed, session, log, delivered } = feedWith(stored, {
      filter,
      historyOptions: { chunk: 2, pause: (read, chunk) => (read === 1 && chunk === 1 ? hold.promise : undefined) },
    });
    await waitFor(() => delivered.length === 2, "the first chunk");
    // 7 and 8 are in the history answer and on the queue; 9..12 only on the queue.
    stored.push(...mixed(9, 12));
    const tags = session.liveAll(mixed(7, 12));
    await settle();
    assert.deepEqual(delivered, [1, 3]);
    hold.open();
    await waitFor(() => log.includes(`ack ${tags.at(-1)} multiple`), "the live events' ack");
    assert.deepEqual(delivered, matching(filter, 1, 12));
    assert.deepEqual(log.filter((line) => line.startsWith("history")), [
      "history 1 Infinity category=order",
      "history 9 Infinity category=order",
    ]);
    assert.equal(feed.next, 13);
    await feed.close();
  });

  it("resumes from a saved next under a filter: what follows, once, with no read below it", async () => {
    const filter = { stream: "user-1" };
    const stored = mixed(1, 9);
    const first = feedWith(stored, { filter });
    await waitFor(() => first.delivered.length === 2, "user-1 from history");
    await settle();
    await first.feed.close();
    const saved = first.feed.next!;
    assert.equal(saved, 10);
    stored.push(...mixed(10, 20));
    const second = feedWith(stored, { filter, from: saved });
    await waitFor(() => second.delivered.length === 3, "the rest of user-1");
    await settle();
    assert.deepEqual([...first.delivered, ...second.delivered], matching(filter, 1, 20));
    assert.equal(second.log[0], "history 10 Infinity stream=user-1");
    assert.equal(second.feed.next, 21);
    await second.feed.close();
  });

  it("filters again on its side when the server ignores the filter", async () => {
    const filter = { stream: "order-2" };
    const { feed, delivered } = feedWith(mixed(1, 12), { filter, historyOptions: { ignoreFilter: true } });
    await waitFor(() => delivered.length === 3, "order-2");
    await settle();
    assert.deepEqual(delivered, [3, 7, 11]);
    assert.equal(feed.next, 13);
    await feed.close();
  });
});

describe("EventFeed with a batch handler", () => {
  it("delivers each history chunk as one group, then live events in groups, in order, once", async () => {
    const hold = gate();
    const busy = gate();
    const stored = records(1, 6);
    const groups: number[][] = [];
    const handler: BatchHandler = (events) => {
      const positions = events.map((event) => event.position);
      groups.push(positions);
      feedLog.push(`group ${positions.join(",")}`);
      if (positions.includes(8)) return busy.promise; // a slow group: live events queue up behind it
    };
    const { feed, session, log: feedLog } = feedWith(stored, {
      batchHandler: handler,
      batch: { maxEvents: 3 },
      historyOptions: { chunk: 3, pause: (read, chunk) => (read === 1 && chunk === 1 ? hold.promise : undefined) },
    });
    await waitFor(() => groups.length === 1, "the first chunk");
    // The hand-over: 5 and 6 are in the history answer and on the queue; 7 was stored after the
    // answer (the read after the bind finds it) and is on the queue too.
    stored.push(record(7));
    session.liveAll(records(5, 7));
    await settle();
    assert.deepEqual(groups, [[1, 2, 3]], "live events wait for history");
    hold.open();
    await waitFor(() => groups.flat().includes(7), "history to its end");
    // Live only: 8 (its group is slow), then 9..12 arrive together behind it.
    stored.push(...records(8, 12));
    session.live(record(8));
    await waitFor(() => groups.flat().includes(8), "the slow group");
    const tags = session.liveAll(records(9, 12));
    await settle();
    busy.open();
    await waitFor(() => feedLog.includes(`ack ${tags.at(-1)} multiple`), "the live groups' acks");
    assert.deepEqual(groups.flat(), records(1, 12).map((r) => r.position), "strict order, no gap, no repeat");
    assert.deepEqual(groups, [[1, 2, 3], [4, 5, 6], [7], [8], [9, 10, 11], [12]]);
    // Each live group is acked with one multiple-ack (tag t carried position t + 4), only after its
    // handler returned: the ack comes after the group in the shared log.
    const acks = feedLog.filter((line) => line.startsWith("ack"));
    assert.deepEqual(acks, ["ack 3 multiple", "ack 4 multiple", "ack 7 multiple", "ack 8 multiple"]);
    for (const ack of acks.slice(1)) {
      const position = String(Number(ack.split(" ")[1]) + 4);
      const handled = feedLog.findIndex((line) =>
        line.startsWith("group") && line.slice(6).split(",").includes(position)
      );
      assert.ok(handled !== -1 && handled < feedLog.indexOf(ack), `${ack} after the group of ${position}: ${feedLog}`);
    }
    assert.equal(feed.next, 13);
    await feed.close();
  });

  it("a failed group stops the feed at its first event, acks none of it, and a restart delivers it again", async () => {
    const stored = records(1, 2);
    let fail = true;
    const groups: number[][] = [];
    const handler: BatchHandler = async (events) => {
      await Promise.resolve();
      if (fail && events.some((event) => event.position === 4)) throw new Error("projection failed");
      groups.push(events.map((event) => event.position));
    };
    const first = feedWith(stored, { batchHandler: handler, batch: { maxEvents: 10 } });
    await waitFor(() => groups.length === 1, "history");
    await settle();
    stored.push(...records(3, 5));
    const tags = first.session.liveAll(records(3, 5));
    const error = await stopped(first.feed);
    assert.ok(error instanceof HandlerError, `got ${error}`);
    assert.equal(error.position, 3, "the group's first event");
    assert.equal(first.feed.next, 3, "resume before the failed group");
    assert.ok(!first.log.some((line) => line.startsWith("ack")), `nothing of ${tags} acked`);
    // At least once: a restart from the saved position gets the failed group's events again.
    fail = false;
    const second = feedWith(stored, { batchHandler: handler, batch: { maxEvents: 10 }, from: first.feed.next });
    await waitFor(() => groups.flat().includes(5), "the group again");
    assert.deepEqual(groups, [[1, 2], [3, 4], [5]], "history chunks of two, from the failed group's first event");
    await second.feed.close();
  });

  it("refuses a group size that is not a positive integer", () => {
    const settings = listenerSettings({ historyUrl: "http://history.test/" }, {});
    assert.throws(() => new EventFeed(settings, () => {}, { batch: { maxEvents: 0 } }), RangeError);
  });
});
