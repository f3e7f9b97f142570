import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createCommand } from "../command.ts";
import type { Delivery } from "../lib/broker_session.ts";
import { AMQP_URL, delay, history, setup, type TestContext, waitFor } from "./_helpers.ts";
import { rabbitmqctl } from "../scripts/_broker_admin.ts";

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

  it("publishes again with the same id when the broker nacks, until it accepts", async () => {
    // A policy makes the real broker answer basic.nack (overflow reject-publish on a full queue),
    // as it does for messages to a queue that is stopping during `rabbitmqctl stop_app`. In such a
    // burst RabbitMQ 3.10 also leaves some confirms unanswered: the confirm timeout covers those.
    const policy = `${ctx.queueName}-nack`;
    const cmd = createCommand({ amqpUrl: AMQP_URL, queueName: ctx.queueName, confirmTimeout: 1000 });
    await cmd.publish({ n: 0 }); // declares the queue
    await rabbitmqctl(
      "set_policy",
      "--apply-to",
      "queues",
      policy,
      `^${ctx.queueName}$`,
      '{"max-length":1,"overflow":"reject-publish"}',
    );
    try {
      let confirmed = 0;
      const pending = [1, 2, 3].map((n) => cmd.publish({ n }, { id: `nacked-${n}` }).then((id) => (confirmed++, id)));
      await delay(500); // the queue is full: every publish is being nacked and retried
      assert.equal(confirmed, 0, "nothing is confirmed while the broker nacks");
      const got: Delivery[] = [];
      await ctx.broker.consume(ctx.queueName, 1, (d) => {
        got.push(d);
        void ctx.broker.ack(d.tag);
      });
      assert.deepEqual(await Promise.all(pending), ["nacked-1", "nacked-2", "nacked-3"]);
      await waitFor(() => got.length === 4, "4 deliveries");
      assert.deepEqual(got.slice(1).map((d) => d.messageId).sort(), ["nacked-1", "nacked-2", "nacked-3"]);
    } finally {
      await rabbitmqctl("clear_policy", policy).catch(() => {});
      await cmd.close();
    }
  });
});
