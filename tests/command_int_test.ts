import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createCommand } from "../command.ts";
import type { Delivery } from "../lib/broker.ts";
import { AMQP_URL, history, setup, waitFor, type TestContext } from "./_helpers.ts";

describe("command against RabbitMQ", () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await setup("command");
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it("publishes persistent JSON with a messageId and resolves after the broker confirmed", async () => {
    const cmd = createCommand({ amqpUrl: AMQP_URL, queueName: ctx.queueName });
    const id = await cmd.publish({ hello: "world" }, { type: "Greeting" });
    const own = await cmd.publish([1, 2], { id: "mine-1" });
    assert.equal(own, "mine-1");
    // Confirmed means enqueued: both are in the queue now.
    const got: Delivery[] = [];
    await ctx.broker.consume(ctx.queueName, 10, (d) => got.push(d));
    await waitFor(() => got.length === 2, "2 queued messages");
    assert.equal(got[0].messageId, id);
    assert.equal(got[0].type, "Greeting");
    assert.equal(new TextDecoder().decode(got[0].body), '{"hello":"world"}');
    assert.equal(got[1].messageId, "mine-1");
    await cmd.close();
  });

  it("pipelines a burst over one connection, and a retried id is stored once", async () => {
    const server = await ctx.startServer();
    const cmd = createCommand({ amqpUrl: AMQP_URL, queueName: ctx.queueName });
    const ids = await Promise.all(Array.from({ length: 1000 }, (_, i) => cmd.publish({ i })));
    assert.equal(new Set(ids).size, 1000);
    await cmd.publish({ retry: true }, { id: ids[0] });
    await cmd.publish({ last: true });
    await waitFor(() => server.head === 1001, "1001 stored");
    const records = await history(server.port);
    assert.deepEqual(records.slice(0, 1000).map((r) => r.id), ids);
    assert.deepEqual(records[1000].data, { last: true });
    await cmd.close();
    await assert.rejects(cmd.publish(1), /closed/);
  });
});
