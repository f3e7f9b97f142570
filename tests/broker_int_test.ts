/**
 * lib/amqp_session.ts and lib/broker_link.ts against the real RabbitMQ: frames bigger than the negotiated
 * frame size, exclusive consumers and what the reconnect loop does when
 * another consumer holds the queue, and refusals that must stop at once.
 */
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Socket } from "node:net";
import { openSession } from "../lib/amqp_session.ts";
import { BrokerLink } from "../lib/broker_link.ts";
import type { BrokerSession, Delivery } from "../lib/broker_session.ts";
import { BrokerRefusedError, PublishNackedError, QueueInUseError } from "../lib/errors.ts";
import { AMQP_URL, setup, type TestContext, uniqueName, waitFor } from "./_helpers.ts";
import { publishInsideBroker, rabbitmqctl } from "../scripts/_broker_admin.ts";

/** A URL like AMQP_URL with other credentials and vhost. */
function urlWith(user: string, password: string, vhost: string): string {
  const url = new URL(AMQP_URL);
  url.username = user;
  url.password = password;
  url.pathname = `/${encodeURIComponent(vhost)}`;
  return url.toString();
}

describe("broker session against RabbitMQ", () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await setup("broker");
    await ctx.broker.declareFanout(ctx.exchangeName); // cleanup deletes it
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it("reads header frames bigger than its 8 KiB frame size: 120 KB from a client, 1 MiB from inside the broker", async () => {
    await ctx.broker.declareQueue(ctx.queueName);
    // A client on a 128 KiB connection (RabbitMQ's default frame_max) may send a 120 KB header frame.
    const wide = await openSession(`${AMQP_URL}?frameMax=131072`);
    await wide.publish("", ctx.queueName, '{"n":1}', { messageId: "h120k", headers: { big: "x".repeat(120_000) } });
    await wide.close();
    await publishInsideBroker(ctx.queueName, '{"n":2}', { big: 1024 * 1024, other: 10 }, "h1m");
    await ctx.broker.publish("", ctx.queueName, '{"n":3}', { messageId: "small" });

    let lost: Error | undefined;
    const session = await openSession(AMQP_URL, { onClose: (error) => (lost = error ?? new Error("closed")) });
    try {
      const got: Delivery[] = [];
      await session.consume(ctx.queueName, 10, (d) => {
        got.push(d);
        void session.ack(d.tag);
      });
      await waitFor(() => got.length === 3, "3 deliveries");
      assert.deepEqual(got.map((d) => d.messageId), ["h120k", "h1m", "small"]);
      assert.deepEqual(got.map((d) => new TextDecoder().decode(d.body)), ['{"n":1}', '{"n":2}', '{"n":3}']);
      assert.equal(String(got[0].headers?.big).length, 120_000);
      assert.equal(String(got[1].headers?.big).length, 1024 * 1024);
      assert.equal(String(got[1].headers?.other).length, 10);
      assert.equal(lost, undefined);
      assert.equal(session.closed, false);
    } finally {
      await session.close();
    }
  });

  it("sets TCP_NODELAY on its socket before the handshake, not after it (Nagle held the handshake 40 ms)", async () => {
    const calls: Array<{ noDelay: unknown; connecting: boolean }> = [];
    const original = Socket.prototype.setNoDelay;
    Socket.prototype.setNoDelay = function (this: Socket, noDelay?: boolean) {
      calls.push({ noDelay, connecting: this.connecting });
      return original.call(this, noDelay);
    };
    let session: BrokerSession | undefined;
    try {
      session = await openSession(AMQP_URL, { name: "nodelay test" });
    } finally {
      Socket.prototype.setNoDelay = original;
    }
    await session.close();
    assert.ok(calls.length >= 1, "setNoDelay was called");
    assert.deepEqual(calls[0], { noDelay: true, connecting: true }, "on, while the TCP connection was still opening");
  });

  it("refuses to publish headers that do not fit in one frame with a RangeError, and stays open", async () => {
    await ctx.broker.declareQueue(ctx.queueName);
    await assert.rejects(
      ctx.broker.publish("", ctx.queueName, "{}", { headers: { big: "x".repeat(20_000) } }),
      (error: Error) =>
        error instanceof RangeError &&
        /Cannot publish: the message's properties and headers do not fit in one frame of 8192 bytes/.test(
          error.message,
        ),
    );
    assert.equal(ctx.broker.closed, false);
    await ctx.broker.publish("", ctx.queueName, '"after"', { headers: { small: "x".repeat(4000) } });
  });

  it("publishes a batch in one write, in order, bodies and properties intact, and confirms it whole", async () => {
    await ctx.broker.declareQueue(ctx.queueName);
    await ctx.broker.bind(ctx.queueName, ctx.exchangeName);
    const big = JSON.stringify("é".repeat(10_000)); // 20 KB: three body frames of an 8 KiB connection
    const bodies = ['{"n":1}', "", big, new TextEncoder().encode('{"bytes":true}'), '"ünïcødé ✓"'];
    await ctx.broker.publishBatch!(
      ctx.exchangeName,
      "",
      bodies.map((body, i) => ({
        body,
        properties: { messageId: `m${i}`, type: `T${i}`, headers: { position: i + 1, stream: "s-1" } },
      })),
    );
    const got: Delivery[] = [];
    await ctx.broker.consume(ctx.queueName, 10, (d) => {
      got.push(d);
      void ctx.broker.ack(d.tag);
    });
    await waitFor(() => got.length === bodies.length, `${bodies.length} deliveries`);
    const text = (b: string | Uint8Array) => typeof b === "string" ? b : new TextDecoder().decode(b);
    assert.deepEqual(got.map((d) => new TextDecoder().decode(d.body)), bodies.map(text));
    assert.deepEqual(got.map((d) => d.messageId), ["m0", "m1", "m2", "m3", "m4"]);
    assert.deepEqual(got.map((d) => d.type), ["T0", "T1", "T2", "T3", "T4"]);
    assert.deepEqual(got.map((d) => d.headers?.position), [1, 2, 3, 4, 5]);
    assert.equal(got[4].headers?.stream, "s-1");
    // The channel's delivery tags stay in step: a single publish after the batch is confirmed too.
    await ctx.broker.publish(ctx.exchangeName, "", '"after"', { messageId: "after" });
    await waitFor(() => got.length === bodies.length + 1, "the publish after the batch");
  });

  it("rejects a batch the broker nacks with a PublishNackedError, and one whose headers do not fit with a RangeError", async () => {
    // A queue that refuses publishes past 2 messages: the broker nacks the rest.
    await ctx.broker.declareQueue(ctx.queueName, { arguments: { "x-max-length": 2, "x-overflow": "reject-publish" } });
    await ctx.broker.bind(ctx.queueName, ctx.exchangeName);
    const messages = [1, 2, 3, 4].map((n) => ({ body: `{"n":${n}}`, properties: { messageId: `m${n}` } }));
    await assert.rejects(ctx.broker.publishBatch!(ctx.exchangeName, "", messages), PublishNackedError);
    assert.equal(ctx.broker.closed, false);
    await assert.rejects(
      ctx.broker.publishBatch!(ctx.exchangeName, "", [
        { body: "{}" },
        { body: "{}", properties: { headers: { big: "x".repeat(20_000) } } },
      ]),
      (error: Error) => error instanceof RangeError && /do not fit in one frame of 8192 bytes/.test(error.message),
    );
    assert.equal(ctx.broker.closed, false);
    await ctx.broker.deleteQueue(ctx.queueName);
    await ctx.broker.declareQueue(ctx.queueName);
    await ctx.broker.bind(ctx.queueName, ctx.exchangeName);
    await ctx.broker.publishBatch!(ctx.exchangeName, "", messages); // the session still publishes and confirms
  });

  it("consumes exclusively: another consumer is refused with a QueueInUseError naming the queue, either way round", async () => {
    await ctx.broker.declareQueue(ctx.queueName);
    await ctx.broker.consume(ctx.queueName, 1, () => {}, { exclusive: true });
    for (const exclusive of [true, false]) {
      const other = await openSession(AMQP_URL);
      try {
        await assert.rejects(
          other.consume(ctx.queueName, 1, () => {}, { exclusive }),
          (error: Error) =>
            error instanceof QueueInUseError && error.queue === ctx.queueName &&
            error.message.startsWith(`QUEUENAME "${ctx.queueName}" is already consumed by another server; `),
        );
      } finally {
        await other.close();
      }
    }
    // And an exclusive consumer is refused while a plain one consumes.
    const plainQueue = `${ctx.queueName}.dead`; // deleted by cleanup
    await ctx.broker.declareQueue(plainQueue);
    const plain = await openSession(AMQP_URL);
    const other = await openSession(AMQP_URL);
    try {
      await plain.consume(plainQueue, 1, () => {});
      await assert.rejects(other.consume(plainQueue, 1, () => {}, { exclusive: true }), QueueInUseError);
    } finally {
      await plain.close();
      await other.close();
    }
  });

  /** A link that consumes ctx.queueName exclusively; its second setup waits for `beforeReconsume`. */
  function exclusiveLink(beforeReconsume: Promise<void>, extra: { inUseGrace?: number } = {}) {
    const got: string[] = [];
    const warnings: string[] = [];
    let setups = 0;
    let fatal: Error | undefined;
    const link = new BrokerLink(AMQP_URL, {
      minDelay: 20,
      maxDelay: 100,
      warn: (message) => warnings.push(message),
      onFatal: (error) => (fatal = error),
      ...extra,
      setup: async (session: BrokerSession) => {
        setups++;
        await session.declareQueue(ctx.queueName);
        if (setups === 2) await beforeReconsume;
        await session.consume(ctx.queueName, 10, (d) => {
          got.push(new TextDecoder().decode(d.body));
          void session.ack(d.tag);
        }, { exclusive: true });
      },
    });
    return { link, got, warnings, fatal: () => fatal, setups: () => setups };
  }

  /** Make the link's consumer go (its queue is deleted, so it reconnects) and let `other` take the queue first. */
  async function takeOverDuringReconnect(other: BrokerSession, got: string[]): Promise<void> {
    await ctx.broker.deleteQueue(ctx.queueName);
    await other.declareQueue(ctx.queueName);
    await other.consume(ctx.queueName, 10, (d) => {
      got.push(new TextDecoder().decode(d.body));
      void other.ack(d.tag);
    }, { exclusive: true });
  }

  it("after a reconnect never takes a queue another consumer holds, says so, and gives up after inUseGrace", async () => {
    let release!: () => void;
    const { link, got, warnings, fatal, setups } = exclusiveLink(new Promise((r) => (release = r)), {
      inUseGrace: 1_000,
    });
    await link.start();
    await ctx.broker.publish("", ctx.queueName, '"to the link"');
    await waitFor(() => got.length === 1, "the link's first delivery");
    const other = await openSession(AMQP_URL);
    const otherGot: string[] = [];
    try {
      await takeOverDuringReconnect(other, otherGot);
      release();
      await waitFor(() => fatal() !== undefined, "onFatal");
      for (let i = 0; i < 5; i++) await ctx.broker.publish("", ctx.queueName, `"to the other ${i}"`);
      await waitFor(() => otherGot.length === 5, "5 deliveries to the other consumer");
      assert.ok(fatal() instanceof QueueInUseError, String(fatal()));
      assert.deepEqual(got, ['"to the link"'], "the link took nothing after the other consumer held the queue");
      assert.ok(setups() >= 2);
      assert.match(
        warnings[0],
        new RegExp(`^QUEUENAME "${ctx.queueName}" is already consumed by another server; .*; not consuming, retrying`),
      );
      assert.match(warnings.at(-1)!, /; gave up reconnecting after 1000 ms$/);
      assert.equal(warnings.length, 2, `one line when it starts waiting, one when it gives up: ${warnings}`);
      assert.equal(link.session, undefined);
    } finally {
      await other.close();
      await link.close();
    }
  });

  it("after a reconnect takes the queue back once the other consumer is gone (its own lost connection)", async () => {
    let release!: () => void;
    const { link, got, warnings, fatal } = exclusiveLink(new Promise((r) => (release = r)));
    await link.start();
    const other = await openSession(AMQP_URL);
    const otherGot: string[] = [];
    try {
      await takeOverDuringReconnect(other, otherGot);
      release();
      await waitFor(() => warnings.length === 1, "the link's warning");
      await other.close(); // RabbitMQ drops a lost connection's consumers like this one
      await waitFor(() => link.session !== undefined, "the link to consume again");
      await ctx.broker.publish("", ctx.queueName, '"back"');
      await waitFor(() => got.length === 1, "a delivery to the link");
      assert.equal(fatal(), undefined);
      assert.deepEqual(otherGot, []);
    } finally {
      await other.close();
      await link.close();
    }
  });
});

describe("broker refusals", () => {
  const vhost = uniqueName("res-vh");
  const noAccess = uniqueName("res-u-none");
  const noPermissions = uniqueName("res-u-perm");
  before(async () => {
    await rabbitmqctl("add_vhost", vhost);
    for (const user of [noAccess, noPermissions]) await rabbitmqctl("add_user", user, "secret-pw");
    await rabbitmqctl("set_permissions", "-p", vhost, noPermissions, "^$", "^$", "^$");
  });
  after(async () => {
    for (const user of [noAccess, noPermissions]) await rabbitmqctl("delete_user", user).catch(() => {});
    await rabbitmqctl("delete_vhost", vhost).catch(() => {});
  });

  /** Start a link that declares a queue; return its error and how many times it retried. */
  async function startRefused(url: string): Promise<{ error: Error; retries: number }> {
    let retries = 0;
    const link = new BrokerLink(url, {
      startTimeout: 5_000,
      log: (message) => /not reachable/.test(message) && retries++,
      setup: async (session) => {
        await session.declareQueue("res-refusal-probe", { durable: false, autoDelete: true });
      },
    });
    const error = await link.start().then(() => new Error("started"), (e: Error) => e);
    await link.close();
    return { error, retries };
  }

  const at = (url: string) => `RabbitMQ at ${url.replace(/:[^:@/]*@/, ":***@")}`;

  it("stops at once on a vhost that does not exist, naming it", async () => {
    const url = urlWith("guest", "guest", "res-no-such-vhost");
    const { error, retries } = await startRefused(url);
    assert.ok(error instanceof BrokerRefusedError, String(error));
    assert.equal(error.code, "NOT_ALLOWED");
    assert.equal(
      error.message,
      `${at(url)} has no vhost "res-no-such-vhost"; create it (rabbitmqctl add_vhost res-no-such-vhost) ` +
        `or correct the vhost in AMQPURL`,
    );
    assert.equal(retries, 0);
  });

  it("stops at once on a refused login, naming the user and never the password", async () => {
    const url = urlWith("guest", "wrong-password", "");
    const { error, retries } = await startRefused(url);
    assert.ok(error instanceof BrokerRefusedError, String(error));
    assert.equal(error.code, "ACCESS_REFUSED");
    assert.match(error.message, /refused the login of user "guest": wrong user name or password .*; set AMQPURL/);
    assert.ok(!error.message.includes("wrong-password"));
    assert.equal(retries, 0);
  });

  it("stops at once when the user may not use the vhost, or may not declare the queue", async () => {
    const denied = await startRefused(urlWith(noAccess, "secret-pw", vhost));
    assert.ok(denied.error instanceof BrokerRefusedError, String(denied.error));
    assert.match(
      denied.error.message,
      new RegExp(`refused user "${noAccess}" access to vhost "${vhost}"; grant it \\(rabbitmqctl set_permissions`),
    );
    const forbidden = await startRefused(urlWith(noPermissions, "secret-pw", vhost));
    assert.ok(forbidden.error instanceof BrokerRefusedError, String(forbidden.error));
    assert.match(
      forbidden.error.message,
      new RegExp(`refused user "${noPermissions}" access to queue "res-refusal-probe" in vhost "${vhost}"; grant`),
    );
    assert.equal(denied.retries + forbidden.retries, 0);
  });
});
