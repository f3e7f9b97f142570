/**
 * Listeners filtered by stream and by category against a real server (in
 * process) and RabbitMQ: started while events of several streams (and some in
 * no stream, some in batches) are being published, across the history→live
 * hand-over, each gets exactly the matching events of the server's history,
 * in order, once; one resumed from a saved position continues without a gap
 * or a repeat. The unit tests (tests/event_feed_test.ts) prove each rule with
 * fakes; this proves them together on the wire.
 */
import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type EventRecord, listen, type Listener, type ListenOptions, subscribe } from "../listener.ts";
import { categoryOf } from "../lib/stream_name.ts";
import type { EventStoreServer } from "../server.ts";
import { AMQP_URL, delay, history, prng, setup, type TestContext, waitFor } from "./_helpers.ts";

/** What a publisher writes: streams of two categories, and events in no stream. */
const STREAMS = ["order-1", "order-2", "order-30", "user-1", "user-2", undefined] as const;

describe("filtered listeners against a real server and RabbitMQ", () => {
  let ctx: TestContext;
  let server: EventStoreServer;
  let options: ListenOptions;
  let listeners: Listener[];

  beforeEach(async () => {
    ctx = await setup("streams");
    server = await ctx.startServer();
    options = { amqpUrl: AMQP_URL, exchangeName: ctx.exchangeName, historyUrl: `http://127.0.0.1:${server.port}/` };
    listeners = [];
  });
  afterEach(async () => {
    for (const listener of listeners) await listener.close();
    await ctx.cleanup();
  });

  /**
   * Publish `n` events to the server's queue (each in a random stream of {@link STREAMS}, one in ten
   * a batch of three), `parallel` at a time; resolves when the broker confirmed them all.
   */
  async function publish(n: number, seed: number, parallel = 50): Promise<void> {
    const random = prng(seed);
    let sent = 0;
    while (sent < n) {
      const round: Promise<void>[] = [];
      for (let i = 0; i < parallel && sent < n; i++) {
        const stream = STREAMS[Math.floor(random() * STREAMS.length)];
        const id = `${seed}-${sent}`;
        const headers: Record<string, unknown> = stream === undefined ? {} : { stream };
        if (stream !== undefined && random() < 0.1 && n - sent >= 3) {
          const body = JSON.stringify([0, 1, 2].map((k) => ({ type: "Batched", data: { id, k } })));
          round.push(
            ctx.broker.publish("", ctx.queueName, body, { messageId: id, headers: { ...headers, batch: true } }),
          );
          sent += 3;
        } else {
          round.push(ctx.broker.publish("", ctx.queueName, JSON.stringify({ id }), { messageId: id, headers }));
          sent++;
        }
      }
      await Promise.all(round);
    }
  }

  /** The server's whole history, and the positions of the records `keep` lets through. */
  async function expected(keep: (stream: string | undefined) => boolean, from = 1): Promise<number[]> {
    const all = await history(server.port);
    assert.equal(all.length, server.head);
    return all.filter((r) => (r.position as number) >= from && keep(r.stream as string | undefined))
      .map((r) => r.position as number);
  }

  /** Wait until the server's fanout publishes up to `position` were confirmed (its /health `published`). */
  async function published(position: number): Promise<void> {
    await waitFor(async () => {
      const health = await (await fetch(`http://127.0.0.1:${server.port}/health`)).json() as { published: number };
      return health.published >= position;
    }, `published up to ${position}`);
  }

  /** A listener that records positions (and checks each event's stream) and sometimes yields. */
  function recording(from: number | undefined, filter: { stream: string } | { category: string }) {
    const got: EventRecord[] = [];
    const handler = async (event: EventRecord) => {
      got.push(event);
      if (event.position % 97 === 0) await delay(3); // a slow handler now and then, during the hand-over
    };
    const listener = from === undefined ? listen(handler, { ...options, ...filter }) : listen(from, handler, {
      ...options,
      ...filter,
    });
    listeners.push(listener);
    return { listener, got };
  }

  it("a stream and a category listener started mid-publish get exactly their events, in order, once", async () => {
    const N1 = 1500;
    const N2 = 1500;
    await publish(N1, 1);
    await waitFor(() => server.head >= N1, `${N1} stored`);
    const stored1 = server.head;
    await published(stored1); // so none of them reaches a queue bound from now on
    // New events only, ready before the second phase: exactly the matching events after stored1.
    const fresh = recording(undefined, { category: "order" });
    await fresh.listener.ready;
    const publishing = publish(N2, 2);
    await waitFor(() => server.head >= stored1 + 300, "the second phase under way");
    const stream = recording(0, { stream: "order-2" });
    const category = recording(1, { category: "user" });
    const iterated: number[] = [];
    const subscription = subscribe(1, { ...options, stream: "user-1" });
    const iterating = (async () => {
      for await (const event of subscription) iterated.push(event.position);
    })();
    await publishing;
    await waitFor(() => server.head >= stored1 + N2, "everything stored");
    const head = server.head;
    const want = {
      stream: await expected((s) => s === "order-2"),
      category: await expected((s) => s !== undefined && categoryOf(s) === "user"),
      fresh: await expected((s) => s !== undefined && categoryOf(s) === "order", stored1 + 1),
      iterated: await expected((s) => s === "user-1"),
    };
    for (const [name, list] of Object.entries(want)) assert.ok(list.length > 100, `${name}: ${list.length} to expect`);
    await waitFor(
      () =>
        stream.listener.position === head + 1 && category.listener.position === head + 1 &&
        fresh.listener.position === head + 1,
      `every listener past ${head}`,
    );
    await waitFor(() => iterated.length >= want.iterated.length, "the subscription's events");
    await delay(200); // anything extra would arrive now
    await subscription.close();
    await iterating;
    assert.deepEqual(stream.got.map((e) => e.position), want.stream);
    assert.deepEqual(category.got.map((e) => e.position), want.category);
    assert.deepEqual(fresh.got.map((e) => e.position), want.fresh);
    assert.deepEqual(iterated, want.iterated);
    // The records themselves are the server's, stream versions dense per stream.
    assert.deepEqual(stream.got.map((e) => e.streamVersion), want.stream.map((_, i) => i + 1));
    const users = await history(server.port, "?category=user");
    assert.deepEqual(category.got.map((e) => e.id), users.map((r) => r.id));
  });

  it("a category listener closed mid-stream and resumed from its saved position misses and repeats nothing", async () => {
    await publish(800, 3);
    const publishing = publish(2000, 4);
    await waitFor(() => server.head >= 1200, "the second phase under way");
    const filter = { category: "order" };
    const first = recording(0, filter);
    await waitFor(() => first.got.length >= 400, "400 delivered");
    await first.listener.close();
    const saved = first.listener.position!;
    assert.ok(saved > first.got.at(-1)!.position, "one past the last event handled, or beyond");
    await delay(100); // events stored while nobody listens
    const second = recording(saved, filter);
    await publishing;
    await waitFor(() => server.head >= 2800, "everything stored");
    const head = server.head;
    await waitFor(() => second.listener.position === head + 1, `the resumed listener past ${head}`);
    await delay(200);
    const want = await expected((s) => s !== undefined && categoryOf(s) === "order");
    const got = [...first.got, ...second.got].map((e) => e.position);
    assert.deepEqual(got, want);
    assert.ok(second.got.length > 100 && first.got.length >= 400, `${first.got.length} + ${second.got.length}`);
  });
});
