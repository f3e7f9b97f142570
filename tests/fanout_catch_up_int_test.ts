/**
 * A restored store (copied without its watermark) against the real server
 * and RabbitMQ: the server republishes the whole history to the fanout,
 * paced, while live events are published at once beside it. A listener from
 * 0 gets history and the live events in order, each once, before the
 * catch-up is over; history reads answer meanwhile; a shutdown stops the
 * catch-up, and the next start goes on from the watermark it saved.
 */
import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { listen } from "../listener.ts";
import { encodeRecord } from "../lib/record.ts";
import { AMQP_URL, history, setup, tapFanout, type TestContext, waitFor } from "./_helpers.ts";

const STORED = 3_000;
const LIVE = 50;
/** 3,000 records at 300/s: the catch-up lasts at least 10 s by construction, far longer than what is checked here. */
const RATE = 300;

describe("a restored store's catch-up (real server, real broker)", () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await setup("catchup");
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it("republishes its history paced, publishes live events at once beside it, and loses nothing", async () => {
    // A store as an older version wrote it (a header without the watermark slot), restored without its
    // `.published` side file: nothing is known to be published.
    const storeId = "5b0c2f9e-3a41-4c7e-9d2b-0f6a1e8c7b35";
    const lines = [`{"rabbitEventstore":1,"storeId":"${storeId}","created":"2026-12-01T00:00:00.000Z"}`];
    for (let p = 1; p <= STORED; p++) {
      lines.push(encodeRecord(p, `old-${p}`, "2026-12-01T00:00:00.000Z", `{"n":${p}}`));
    }
    await writeFile(ctx.storageFile, lines.join("\n") + "\n");

    const tap = await tapFanout(ctx.broker, ctx.exchangeName);
    const server = await ctx.startServer({ republishRate: RATE });
    const health = async () =>
      (await (await fetch(`http://127.0.0.1:${server.port}/health`)).json()) as { head: number; published: number };

    const delivered: number[] = [];
    const listener = listen(0, (event) => {
      delivered.push(event.position);
    }, {
      amqpUrl: AMQP_URL,
      exchangeName: ctx.exchangeName,
      queueName: ctx.queueName,
      historyUrl: `http://127.0.0.1:${server.port}/`,
    });
    try {
      await listener.ready;
      for (let i = 1; i <= LIVE; i++) {
        await ctx.broker.publish("", ctx.queueName, `{"live":${i}}`, { messageId: `live-${i}` });
      }
      const total = STORED + LIVE;
      await waitFor(() => delivered.length >= total, `the listener's ${total} events`);
      // History reads answer during the catch-up, whole.
      const served = await history(server.port);
      assert.equal(served.length, total);
      const during = await health();
      assert.equal(during.head, total);
      assert.ok(during.published < STORED, `the catch-up is still going (watermark ${during.published})`);

      // The listener: every position once, in order, live events included.
      assert.deepEqual(delivered, Array.from({ length: total }, (_, i) => i + 1), "in order, none lost, none twice");
      // The fanout: the live events went out at once, ahead of the republished history still to come.
      for (let p = STORED + 1; p <= total; p++) assert.ok(tap.includes(p), `live ${p} on the fanout`);
      const republished = tap.filter((p) => p <= STORED);
      assert.ok(republished.length < STORED, `the history is republished paced (${republished.length} so far)`);
      assert.deepEqual(republished, Array.from({ length: republished.length }, (_, i) => i + 1), "in order");

      // Shutdown does not wait for the catch-up: it stops where it is and saves the watermark.
      await listener.close();
      await server.close();
      const reached = tap.filter((p) => p <= STORED).length;
      const restart = tap.length;
      const again = await ctx.startServer({ republishRate: 0 });
      await waitFor(() => tap.lastIndexOf(total) >= restart, "the rest republished after the restart");
      const second = tap.slice(restart);
      assert.ok(
        second[0] > 1 && second[0] <= reached + 1,
        `the next start went on from its watermark (${second[0]}), not from 1`,
      );
      assert.deepEqual(second, Array.from({ length: total - second[0] + 1 }, (_, i) => second[0] + i));
      const published = async () =>
        ((await (await fetch(`http://127.0.0.1:${again.port}/health`)).json()) as { published: number }).published;
      await waitFor(async () => (await published()) === total, "everything published");
      console.log(
        `restored store: ${STORED} stored, ${LIVE} live during the catch-up at ${RATE}/s; listener delivered ${delivered.length}, ` +
          `lost 0, duplicated 0, out of order 0; fanout ${tap.length} messages, the restart went on from ${second[0]}`,
      );
    } finally {
      await listener.close();
    }
  });
});
