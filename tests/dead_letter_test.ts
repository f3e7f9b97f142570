/**
 * lib/dead_letter.ts with a fake session: what a dead-lettered message
 * carries, nacks retried 50 ms × attempt apart up to five attempts, headers
 * too large for one frame dropped, and a confirm that never comes failing
 * after `confirmTimeout`. tests/poison_int_test.ts proves it against RabbitMQ.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Delivery, PublishProperties } from "../lib/broker_session.ts";
import { DeadLetterQueue, deadLetterQueueName, type DeadLetterSessionLike } from "../lib/dead_letter.ts";
import { PublishNackedError } from "../lib/errors.ts";

type Answer = "confirm" | "nack" | "never" | "too big" | "lost";

interface Sent {
  at: number;
  exchange: string;
  queue: string;
  body: string;
  properties: PublishProperties;
}

/** A session whose n-th publish (from 1) is answered by `answer(n)`. */
class FakeSession implements DeadLetterSessionLike {
  readonly declared: string[] = [];
  readonly sent: Sent[] = [];
  constructor(readonly answer: (n: number) => Answer) {}
  declareQueue(name: string): Promise<string> {
    this.declared.push(name);
    return Promise.resolve(name);
  }
  publish(exchange: string, queue: string, body: string | Uint8Array, properties: PublishProperties = {}) {
    this.sent.push({
      at: performance.now(),
      exchange,
      queue,
      body: new TextDecoder().decode(body as Uint8Array),
      properties,
    });
    switch (this.answer(this.sent.length)) {
      case "confirm":
        return Promise.resolve();
      case "nack":
        return Promise.reject(new PublishNackedError(properties.messageId));
      case "never":
        return new Promise<void>(() => {});
      case "too big":
        return Promise.reject(new RangeError("Cannot publish: the message's properties and headers do not fit"));
      case "lost":
        return Promise.reject(new Error("Socket closed"));
    }
  }
}

const delivery: Delivery = {
  body: new TextEncoder().encode("not json"),
  messageId: "m1",
  type: "OrderPlaced",
  headers: { "x-trace": "t1" },
  tag: 7,
  redelivered: false,
};

describe("DeadLetterQueue", () => {
  it("is named <queue>.dead", () => {
    assert.equal(deadLetterQueueName("orders"), "orders.dead");
    assert.equal(new DeadLetterQueue("orders").name, "orders.dead");
  });

  it("declares the queue, then publishes the body, id, type and headers with the reason", async () => {
    const session = new FakeSession(() => "confirm");
    await new DeadLetterQueue("orders").send(session, delivery, "not valid JSON");
    assert.deepEqual(session.declared, ["orders.dead"]);
    assert.equal(session.sent.length, 1);
    const { at: _, ...sent } = session.sent[0];
    assert.deepEqual(sent, {
      exchange: "",
      queue: "orders.dead",
      body: "not json",
      properties: {
        messageId: "m1",
        type: "OrderPlaced",
        contentType: "application/octet-stream",
        headers: { "x-trace": "t1", "x-rejected-reason": "not valid JSON", "x-original-queue": "orders" },
      },
    });
  });

  it("publishes again after a nack, 50 ms × attempt later", async () => {
    const session = new FakeSession((n) => (n <= 2 ? "nack" : "confirm"));
    await new DeadLetterQueue("orders").send(session, delivery, "why");
    assert.equal(session.sent.length, 3);
    const [a, b, c] = session.sent.map((s) => s.at);
    assert.ok(b - a >= 45, `first pause ${b - a} ms`);
    assert.ok(c - b >= 95, `second pause ${c - b} ms`);
  });

  it("gives up with the PublishNackedError after five attempts", async () => {
    const session = new FakeSession(() => "nack");
    await assert.rejects(new DeadLetterQueue("orders").send(session, delivery, "why"), PublishNackedError);
    assert.equal(session.sent.length, 5);
  });

  it("drops the message's own headers when they do not fit in one frame", async () => {
    const session = new FakeSession((n) => (n === 1 ? "too big" : "confirm"));
    await new DeadLetterQueue("orders").send(session, delivery, "why");
    assert.equal(session.sent.length, 2);
    assert.deepEqual(session.sent[1].properties.headers, {
      "x-rejected-reason": "why",
      "x-original-queue": "orders",
      "x-original-headers": "dropped: larger than one AMQP frame",
    });
  });

  it("rethrows when even the reason does not fit, and other failures at once", async () => {
    const tooBig = new FakeSession(() => "too big");
    await assert.rejects(new DeadLetterQueue("orders").send(tooBig, delivery, "x".repeat(9000)), RangeError);
    assert.equal(tooBig.sent.length, 2);
    const lost = new FakeSession(() => "lost");
    await assert.rejects(new DeadLetterQueue("orders").send(lost, delivery, "why"), /Socket closed/);
    assert.equal(lost.sent.length, 1);
  });

  it("fails when the broker does not confirm within confirmTimeout", async () => {
    const session = new FakeSession(() => "never");
    await assert.rejects(
      new DeadLetterQueue("orders", { confirmTimeout: 30 }).send(session, delivery, "why"),
      { message: "dead-letter publish not confirmed within 30 ms" },
    );
    assert.equal(session.sent.length, 1);
  });
});
