import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { BrokerSession, PublishProperties, Reply, ReplyChannel } from "../lib/broker_session.ts";
import { InvalidEventError, WrongExpectedVersionError } from "../lib/errors.ts";
import { StreamAppender } from "../lib/stream_appender.ts";

interface Sent {
  routingKey: string;
  body: string;
  properties: PublishProperties;
}

/** A session whose reply channels record what is sent, and let the test answer it. */
class FakeSession {
  closed = false;
  channelsOpened = 0;
  readonly sent: Sent[] = [];
  #onReply: ((reply: Reply) => void) | undefined;
  #channelClosed = false;
  /** Answer each request with this (by default nothing: the test replies itself). */
  answer: ((sent: Sent) => unknown) | undefined;

  openReplyChannel(onReply: (reply: Reply) => void): Promise<ReplyChannel> {
    this.channelsOpened++;
    this.#onReply = onReply;
    this.#channelClosed = false;
    const isClosed = () => this.#channelClosed || this.closed;
    return Promise.resolve({
      get closed() {
        return isClosed();
      },
      publish: (_exchange: string, routingKey: string, body: string | Uint8Array, properties = {}) => {
        const sent = { routingKey, body: String(body), properties };
        this.sent.push(sent);
        if (this.answer) {
          const value = this.answer(sent);
          queueMicrotask(() => this.reply(properties.correlationId, value));
        }
        return Promise.resolve();
      },
    });
  }

  reply(correlationId: string | undefined, value: unknown): void {
    this.#onReply?.({ correlationId, body: new TextEncoder().encode(JSON.stringify(value)) });
  }

  closeChannel(): void {
    this.#channelClosed = true;
  }

  asSession(): BrokerSession {
    return this as unknown as BrokerSession;
  }
}

const stored = (position: number, streamVersion: number) => ({ ok: true, position, streamVersion, count: 1 });

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 2));
  assert.ok(check(), "condition not reached");
}

describe("StreamAppender", () => {
  it("sends one batch message with the stream, expected-version, id and a correlationId, and resolves on ok", async () => {
    const fake = new FakeSession();
    fake.answer = () => stored(7, 2);
    const appender = new StreamAppender({ queueName: "in", session: () => Promise.resolve(fake.asSession()) });
    const result = await appender.append(
      "cart-1",
      [{ type: "A", data: 1 }, { type: "B", data: 2, metadata: { m: 1 } }],
      {
        expectedVersion: 0,
        id: "m1",
      },
    );
    assert.deepEqual(result, { position: 7, streamVersion: 2 });
    assert.equal(fake.sent.length, 1);
    const [sent] = fake.sent;
    assert.equal(sent.routingKey, "in");
    assert.equal(sent.body, '[{"type":"A","data":1},{"type":"B","metadata":{"m":1},"data":2}]');
    assert.equal(sent.properties.messageId, "m1");
    assert.deepEqual(sent.properties.headers, { stream: "cart-1", "expected-version": "0", batch: true });
    assert.match(sent.properties.correlationId!, /^[0-9a-f-]{36}$/);
    // A second append uses the same reply channel, a new id and a new correlationId.
    await appender.append("cart-1", { type: "C", data: 3 });
    assert.equal(fake.channelsOpened, 1);
    assert.equal(fake.sent[1].properties.headers!["expected-version"], "any");
    assert.notEqual(fake.sent[1].properties.messageId, "m1");
    assert.notEqual(fake.sent[1].properties.correlationId, sent.properties.correlationId);
    appender.close();
  });

  it("rejects with the named error of a conflict or an invalid reply", async () => {
    const fake = new FakeSession();
    const appender = new StreamAppender({ queueName: "in", session: () => Promise.resolve(fake.asSession()) });
    fake.answer = () => ({
      ok: false,
      error: "WrongExpectedVersion",
      stream: "cart-1",
      expected: "no_stream",
      actual: 4,
    });
    const conflict = await appender.append("cart-1", { type: "A", data: 1 }, { expectedVersion: "no_stream" }).catch((
      e,
    ) => e);
    assert.ok(conflict instanceof WrongExpectedVersionError);
    assert.deepEqual([conflict.stream, conflict.expected, conflict.actual], ["cart-1", "no_stream", 4]);
    fake.answer = () => ({ ok: false, error: "InvalidEvent", reason: "stream name is empty" });
    await assert.rejects(appender.append("", { type: "A", data: 1 }), (error) => {
      assert.ok(error instanceof InvalidEventError);
      assert.equal(error.reason, "stream name is empty");
      return true;
    });
    assert.equal(fake.sent.length, 2, "a refusal is never retried");
    appender.close();
  });

  it("sends the same message again on a new session when the channel is lost, ignoring a late reply", async () => {
    const first = new FakeSession();
    const second = new FakeSession();
    let current = first;
    const appender = new StreamAppender({ queueName: "in", session: () => Promise.resolve(current.asSession()) });
    const pending = appender.append("cart-1", { type: "A", data: 1 }, { id: "same" });
    await until(() => first.sent.length === 1);
    first.closed = true; // the connection drops: its reply can never come
    current = second;
    await until(() => second.sent.length === 1);
    assert.equal(second.sent[0].properties.messageId, "same");
    assert.equal(second.sent[0].body, first.sent[0].body);
    assert.notEqual(second.sent[0].properties.correlationId, first.sent[0].properties.correlationId);
    // A reply to the lost attempt is not taken (it could be stale); the current attempt's is.
    second.reply(first.sent[0].properties.correlationId, stored(1, 1));
    second.reply(second.sent[0].properties.correlationId, stored(9, 3));
    assert.deepEqual(await pending, { position: 9, streamVersion: 3 });
    assert.equal(second.channelsOpened, 1);
    appender.close();
  });

  it("opens a new reply channel when the old one closed on a live session", async () => {
    const fake = new FakeSession();
    const appender = new StreamAppender({ queueName: "in", session: () => Promise.resolve(fake.asSession()) });
    const pending = appender.append("cart-1", { type: "A", data: 1 }, { id: "x" });
    await until(() => fake.sent.length === 1);
    fake.closeChannel();
    await until(() => fake.sent.length === 2);
    assert.equal(fake.channelsOpened, 2);
    fake.reply(fake.sent[1].properties.correlationId, stored(1, 1));
    assert.deepEqual(await pending, { position: 1, streamVersion: 1 });
    appender.close();
  });

  it("sends again after replyTimeout, and gives up after retryFor", async () => {
    const fake = new FakeSession();
    const appender = new StreamAppender({
      queueName: "in",
      session: () => Promise.resolve(fake.asSession()),
      replyTimeout: 20,
      retryFor: 150,
    });
    await assert.rejects(
      appender.append("cart-1", { type: "A", data: 1 }, { id: "lost" }),
      /Cannot append lost to stream cart-1: no reply within 150 ms \(no reply within 20 ms\)/,
    );
    assert.ok(fake.sent.length >= 3, `sent ${fake.sent.length} times`);
    assert.ok(fake.sent.every((s) => s.properties.messageId === "lost"));
    appender.close();
  });

  it("close() ends a waiting append and refuses new ones", async () => {
    const fake = new FakeSession();
    const appender = new StreamAppender({ queueName: "in", session: () => Promise.resolve(fake.asSession()) });
    const pending = appender.append("cart-1", { type: "A", data: 1 });
    await until(() => fake.sent.length === 1);
    appender.close();
    await assert.rejects(pending, /the command was closed/);
    await assert.rejects(appender.append("cart-1", { type: "A", data: 1 }), /the command was closed/);
  });

  it("refuses bad arguments with TypeError and RangeError before sending", async () => {
    const fake = new FakeSession();
    const appender = new StreamAppender({ queueName: "in", session: () => Promise.resolve(fake.asSession()) });
    const append = appender.append.bind(appender) as (...args: unknown[]) => Promise<unknown>;
    await assert.rejects(append(undefined, { type: "A", data: 1 }), {
      name: "TypeError",
      message: "Cannot append to stream: stream must be a string, got undefined",
    });
    await assert.rejects(append("s", { type: "A", data: 1 }, { expectedVersion: 1.5 }), {
      name: "RangeError",
      message: "Cannot append to stream s: expectedVersion must be a non-negative integer, got 1.5",
    });
    await assert.rejects(append("s", { type: "A", data: 1 }, { expectedVersion: "7" }), TypeError);
    await assert.rejects(append("s", { type: "A", data: 1 }, { id: 5 }), TypeError);
    assert.equal(fake.sent.length, 0);
    appender.close();
  });
});
