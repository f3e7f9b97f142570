/**
 * The server on a storage handed to `startServer({ storage })` — here the
 * in-memory backend — against the real RabbitMQ: what a second backend needs
 * is one file that passes the contract suite (tests/_storage_contract.ts).
 */
import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import type { Delivery } from "../lib/broker_session.ts";
import { MemoryStorage } from "../lib/memory_storage.ts";
import type { StoredRecord } from "../lib/storage.ts";
import { history, setup, type TestContext, waitFor } from "./_helpers.ts";

describe("server on a given storage (MemoryStorage) against RabbitMQ", () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await setup("memstore");
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it("stores, serves history over HTTP and fans out from it; a restart on the same store keeps dedup and the watermark", async () => {
    const got: Delivery[] = [];
    await ctx.broker.declareFanout(ctx.exchangeName);
    const tap = await ctx.broker.declareQueue("", { durable: false, exclusive: true, autoDelete: true });
    await ctx.broker.bind(tap, ctx.exchangeName);
    await ctx.broker.consume(tap, 1000, (d) => {
      got.push(d);
      void ctx.broker.ack(d.tag);
    });

    const storage = new MemoryStorage();
    let server = await ctx.startServer({ storage });
    for (let i = 1; i <= 6; i++) {
      await ctx.broker.publish("", ctx.queueName, `{"n":${i}}`, {
        messageId: `m${i}`,
        type: i % 2 ? "Odd" : undefined,
      });
    }
    await ctx.broker.publish("", ctx.queueName, `{"n":1}`, { messageId: "m1" }); // a duplicate
    await waitFor(() => got.length === 6 && server.head === 6, "6 stored and fanned out");

    const stored: StoredRecord[] = [];
    for await (const r of storage.scan(1)) stored.push(r);
    assert.deepEqual(stored.map((r) => [r.position, r.id, r.type]), [
      [1, "m1", "Odd"],
      [2, "m2", undefined],
      [3, "m3", "Odd"],
      [4, "m4", undefined],
      [5, "m5", "Odd"],
      [6, "m6", undefined],
    ]);
    const served = await history(server.port);
    assert.deepEqual(
      served.map((r) => [r.position, r.id, r.type, r.data]),
      stored.map((r, i) => [
        r.position,
        r.id,
        r.type,
        { n: i + 1 },
      ]),
    );
    const response = await fetch(`http://127.0.0.1:${server.port}/?from=4`);
    assert.equal(response.headers.get("x-store-id"), storage.storeId);
    assert.equal(await response.text(), stored.slice(3).map((r) => r.line + "\n").join(""));
    got.forEach((d, i) => {
      assert.equal(new TextDecoder().decode(d.body), stored[i].line, "the fanout body is the stored line");
      assert.equal(d.messageId, stored[i].id);
      assert.equal(d.type, stored[i].type);
      assert.equal(Number(d.headers?.position), i + 1);
      assert.equal(d.headers?.["store-id"], storage.storeId);
    });
    assert.ok(!existsSync(ctx.storageFile), "STORAGEFILE is not touched when a storage is given");
    await server.close();
    assert.equal(await storage.publishedMark.load(), 6, "the watermark went to the storage");

    // A restart over the same records: the dedup window comes back through scanIds, the
    // watermark through publishedMark (nothing is fanned out again).
    const again = storage.reopen();
    server = await ctx.startServer({ storage: again });
    await ctx.broker.publish("", ctx.queueName, `{"n":2}`, { messageId: "m2" }); // stored before the restart
    await ctx.broker.publish("", ctx.queueName, `{"n":7}`, { messageId: "m7" });
    await waitFor(() => got.length === 7 && server.head === 7, "the 7th stored and fanned out");
    assert.equal(new TextDecoder().decode(got[6].body), await lastLine(again));
    assert.equal(Number(got[6].headers?.position), 7);
    assert.equal((await history(server.port)).length, 7, "m2 was not stored twice");
  });
});

async function lastLine(storage: MemoryStorage): Promise<string> {
  let line = "";
  for await (const r of storage.scan(storage.head)) line = r.line;
  return line;
}
