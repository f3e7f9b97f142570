import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { appendFile, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { encodeRecord } from "../lib/record.ts";
import { openSession } from "../lib/amqp_session.ts";
import type { Delivery } from "../lib/broker_session.ts";
import { BrokerRefusedError, ConfigError, QueueInUseError } from "../lib/errors.ts";
import { listen } from "../listener.ts";
import { startServer } from "../server.ts";
import { AMQP_URL, delay, history, recordLines, setup, type TestContext, waitFor } from "./_helpers.ts";
import { publishInsideBroker, rabbitmqctl } from "../scripts/_broker_admin.ts";

/** Bind a fresh queue to the context's fanout and collect what arrives. */
async function tapFanout(ctx: TestContext): Promise<Delivery[]> {
  const got: Delivery[] = [];
  await ctx.broker.declareFanout(ctx.exchangeName);
  const queue = await ctx.broker.declareQueue("", { durable: false, exclusive: true, autoDelete: true });
  await ctx.broker.bind(queue, ctx.exchangeName);
  await ctx.broker.consume(queue, 1000, (d) => {
    got.push(d);
    void ctx.broker.ack(d.tag);
  });
  return got;
}

describe("server against RabbitMQ", () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await setup("server");
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it("stores published events at dense positions and serves them as NDJSON", async () => {
    const server = await ctx.startServer();
    for (let i = 0; i < 10; i++) {
      await ctx.broker.publish("", ctx.queueName, JSON.stringify({ i }), { messageId: `m${i}` });
    }
    await waitFor(() => server.head === 10, "10 stored events");
    const records = await history(server.port);
    assert.deepEqual(records.map((r) => r.position), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual(records.map((r) => r.id), Array.from({ length: 10 }, (_, i) => `m${i}`));
    assert.deepEqual(records[3].data, { i: 3 });
    for (const r of records) assert.match(r.time as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const file = await readFile(ctx.storageFile, "utf8");
    assert.equal(file.split("\n").length, 12, "a header line, 10 records, and the final newline");
    assert.equal((await recordLines(ctx.storageFile)).length, 10);
  });

  it("generates a UUID id when the publisher set no messageId, and stores the AMQP type", async () => {
    const server = await ctx.startServer();
    await ctx.broker.publish("", ctx.queueName, '"no id"', { type: "Greeting" });
    await waitFor(() => server.head === 1, "one stored event");
    const [record] = await history(server.port);
    assert.match(record.id as string, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(record.type, "Greeting");
    assert.equal(record.data, "no id");
  });

  it("republishes each record to the fanout with the same bytes, messageId, position header and content type", async () => {
    const got = await tapFanout(ctx);
    const server = await ctx.startServer();
    for (let i = 0; i < 5; i++) await ctx.broker.publish("", ctx.queueName, `{"n":${i}}`, { messageId: `f${i}` });
    await waitFor(() => got.length === 5, "5 fanout messages");
    const lines = await recordLines(ctx.storageFile);
    got.forEach((d, i) => {
      assert.equal(new TextDecoder().decode(d.body), lines[i]);
      assert.equal(d.messageId, `f${i}`);
      assert.equal(Number(d.headers?.position), i + 1);
    });
    assert.equal(server.head, 5);
  });

  it("stores a messageId once: duplicates are acked without a new position, also after a restart", async () => {
    let server = await ctx.startServer();
    for (const id of ["a", "b", "a", "c", "b"]) {
      await ctx.broker.publish("", ctx.queueName, `"${id}"`, { messageId: id });
    }
    await waitFor(() => server.head === 3, "3 stored events");
    await delay(200);
    assert.equal(server.head, 3);
    await server.close();
    server = await ctx.startServer();
    await ctx.broker.publish("", ctx.queueName, '"again"', { messageId: "a" });
    await ctx.broker.publish("", ctx.queueName, '"d"', { messageId: "d" });
    await waitFor(() => server.head === 4, "4 stored events");
    const records = await history(server.port);
    assert.deepEqual(records.map((r) => r.id), ["a", "b", "c", "d"]);
    assert.deepEqual(records.map((r) => r.position), [1, 2, 3, 4]);
  });

  it("rejects invalid messages to the dead-letter queue without a position and without stalling", async () => {
    const server = await ctx.startServer({ maxEventBytes: 64 });
    const dead: Delivery[] = [];
    await ctx.broker.consume(`${ctx.queueName}.dead`, 100, (d) => {
      dead.push(d);
      void ctx.broker.ack(d.tag);
    });
    const bodies: Array<string | Uint8Array> = [
      '{"ok":1}',
      "{not json",
      new Uint8Array([0x22, 0xc3, 0x28, 0x22]),
      '"' + "x".repeat(100) + '"',
      "",
      '{"ok":2}',
    ];
    for (const body of bodies) await ctx.broker.publish("", ctx.queueName, body);
    await waitFor(() => server.head === 2 && dead.length === 4, "2 stored and 4 dead-lettered");
    const records = await history(server.port);
    assert.deepEqual(records.map((r) => r.data), [{ ok: 1 }, { ok: 2 }]);
    assert.deepEqual(records.map((r) => r.position), [1, 2]);
    const reasons = dead.map((d) => String(d.headers?.["x-rejected-reason"]));
    assert.match(reasons[0], /not valid JSON/);
    assert.match(reasons[1], /not valid UTF-8/);
    assert.match(reasons[2], /larger than the maximum of 64/);
    assert.match(reasons[3], /empty/);
  });

  it("continues positions across restarts and truncates a torn last line", async () => {
    let server = await ctx.startServer();
    for (let i = 0; i < 3; i++) await ctx.broker.publish("", ctx.queueName, String(i));
    await waitFor(() => server.head === 3, "3 stored events");
    await server.close();
    await appendFile(ctx.storageFile, '{"position":4,"id":"torn","ti');
    server = await ctx.startServer();
    assert.equal(server.head, 3);
    await ctx.broker.publish("", ctx.queueName, '"next"');
    await waitFor(() => server.head === 4, "4th event");
    const records = await history(server.port);
    assert.deepEqual(records.map((r) => r.position), [1, 2, 3, 4]);
    assert.equal(records[3].data, "next");
  });

  it("refuses to start on damage before the last line, naming line and offset", async () => {
    const lines = [1, 2, 3].map((p) => encodeRecord(p, `i${p}`, "t", "1") + "\n");
    await writeFile(ctx.storageFile, lines[0] + "garbage\n" + lines[2]);
    await assert.rejects(
      ctx.startServer(),
      (e: Error) => e.name === "CorruptLogError" && /line 2 \(byte offset \d+\)/.test(e.message),
    );
  });

  it("republishes records that were stored but never confirmed on the fanout at start-up", async () => {
    // As if the server died right after fsync: records on disk, no watermark.
    const lines = [1, 2, 3].map((p) => encodeRecord(p, `pre${p}`, "2026-01-01T00:00:00.000Z", `{"p":${p}}`) + "\n");
    await writeFile(ctx.storageFile, lines.join(""));
    const got = await tapFanout(ctx);
    const server = await ctx.startServer();
    await waitFor(() => got.length >= 3, "3 republished records");
    assert.deepEqual(got.slice(0, 3).map((d) => Number(d.headers?.position)), [1, 2, 3]);
    await ctx.broker.publish("", ctx.queueName, '"fourth"');
    await waitFor(() => got.some((d) => Number(d.headers?.position) === 4), "record 4 on the fanout");
    await server.close();
    // The watermark now says everything was confirmed: a restart republishes nothing.
    const before = got.length;
    const again = await ctx.startServer();
    await delay(300);
    assert.equal(got.length, before);
    await again.close();
  });

  it("publishes to the fanout again what the broker nacked, on the same connection", async () => {
    // A bound queue that is full with overflow reject-publish makes the real broker nack fanout publishes.
    const tap = `${ctx.queueName}.tap`;
    const policy = `${tap}-full`;
    await ctx.broker.declareFanout(ctx.exchangeName);
    await ctx.broker.declareQueue(tap, { durable: false });
    await ctx.broker.bind(tap, ctx.exchangeName);
    await rabbitmqctl(
      "set_policy",
      "--apply-to",
      "queues",
      policy,
      `^${tap.replaceAll(".", "\\.")}$`,
      '{"max-length":1,"overflow":"reject-publish"}',
    );
    try {
      const server = await ctx.startServer({ confirmTimeout: 1000 });
      for (let i = 1; i <= 3; i++) await ctx.broker.publish("", ctx.queueName, `{"n":${i}}`, { messageId: `nack${i}` });
      await waitFor(() => server.head === 3, "3 stored");
      await delay(300);
      const health = async () =>
        ((await (await fetch(`http://127.0.0.1:${server.port}/health`)).json()) as { published: number }).published;
      assert.ok((await health()) < 3, "positions the broker nacked are not counted as published");
      const got: number[] = [];
      await ctx.broker.consume(tap, 1, (d) => {
        got.push(Number(d.headers?.position));
        void ctx.broker.ack(d.tag);
      });
      await waitFor(() => [1, 2, 3].every((p) => got.includes(p)), "positions 1..3 on the tapped queue");
      await waitFor(async () => (await health()) === 3, "watermark at 3");
    } finally {
      await rabbitmqctl("clear_policy", policy).catch(() => {});
      await ctx.broker.deleteQueue(tap).catch(() => {});
    }
  });

  it("on close, stores what it took and leaves the rest in the queue: nothing lost", async () => {
    const server = await ctx.startServer();
    const total = 2000;
    await Promise.all(Array.from({ length: total }, (_, i) => ctx.broker.publish("", ctx.queueName, `{"i":${i}}`)));
    await waitFor(() => server.head > 0, "some stored events");
    await server.close();
    const stored = (await recordLines(ctx.storageFile)).length;
    const remaining = await ctx.broker.declareQueue(ctx.queueName).then(() => countQueue(ctx));
    assert.equal(stored + remaining, total, `stored ${stored} + queued ${remaining}`);
  });

  it("re-declares and consumes again when the broker cancels its consumer (input queue deleted)", async () => {
    const server = await ctx.startServer();
    await ctx.broker.publish("", ctx.queueName, '"before"');
    await waitFor(() => server.head === 1, "first event");
    await ctx.broker.deleteQueue(ctx.queueName);
    await waitFor(async () => {
      await ctx.broker.declareQueue(ctx.queueName);
      await ctx.broker.publish("", ctx.queueName, '"after"', { messageId: "after" });
      return server.head === 2;
    }, "an event stored after the queue came back");
    const records = await history(server.port);
    assert.deepEqual(records.map((r) => r.data), ["before", "after"]);
  });

  it("refuses a second server on the same QUEUENAME with one line; the first numbers every event alone", async () => {
    const fanout = await tapFanout(ctx);
    const first = await ctx.startServer();
    // The second server has records of its own that were never published: it must not publish them either.
    const otherFile = join(ctx.dir, "other-storage");
    const time = new Date().toISOString();
    await writeFile(otherFile, [1, 2, 3].map((n) => encodeRecord(n, `other-${n}`, time, "{}") + "\n").join(""));
    await assert.rejects(
      startServer(ctx.serverOptions({ storageFile: otherFile })),
      (error: Error) =>
        error instanceof QueueInUseError &&
        error.message ===
          `QUEUENAME "${ctx.queueName}" is already consumed by another server; stop that server, ` +
            `or give this one its own QUEUENAME (and STORAGEFILE)`,
    );
    for (let i = 0; i < 20; i++) await ctx.broker.publish("", ctx.queueName, `{"i":${i}}`, { messageId: `q${i}` });
    await waitFor(() => first.head === 20 && fanout.length === 20, "20 stored and published by the first server");
    assert.deepEqual((await history(first.port)).map((r) => r.id), Array.from({ length: 20 }, (_, i) => `q${i}`));
    assert.deepEqual(fanout.map((d) => d.messageId), Array.from({ length: 20 }, (_, i) => `q${i}`));
    console.log(
      `two servers on one QUEUENAME: the second refused at start; published 20, confirmed 20, stored 20 ` +
        `(positions 1..20, all by the first), lost 0, duplicated 0; fanout ${fanout.length} messages, ` +
        `${fanout.filter((d) => String(d.messageId).startsWith("other-")).length} of the second's own records`,
    );
  });

  it("stores events with 120 KB and 1 MiB headers, dead-letters an invalid one, and a listener survives them", async () => {
    const server = await ctx.startServer();
    const dead: Delivery[] = [];
    await ctx.broker.consume(`${ctx.queueName}.dead`, 10, (d) => {
      dead.push(d);
      void ctx.broker.ack(d.tag);
    });
    const got: number[] = [];
    const listener = listen(0, (e) => void got.push(e.position), {
      amqpUrl: AMQP_URL,
      exchangeName: ctx.exchangeName,
      historyUrl: `http://127.0.0.1:${server.port}/`,
    });
    await listener.ready;
    // A client on a 128 KiB connection (RabbitMQ's default frame_max) may send 120 KB of headers; from
    // inside the broker (management UI, shovels) there is no frame limit at all.
    const wide = await openSession(`${AMQP_URL}?frameMax=131072`);
    const big = "x".repeat(120_000);
    try {
      await wide.publish("", ctx.queueName, '{"n":1}', { messageId: "h120k", headers: { big } });
      await publishInsideBroker(ctx.queueName, '{"n":2}', { big: 1024 * 1024 }, "h1m");
      await wide.publish("", ctx.queueName, "{not json", { messageId: "bad", headers: { big } });
      await waitFor(() => server.head === 2 && dead.length === 1, "2 stored and 1 dead-lettered");
      // The same record again on the fanout with 120 KB of headers (any client may publish there): the
      // listener's connection reads it and drops it as already delivered.
      await waitFor(() => got.length === 2, "2 delivered to the listener");
      const [line] = await recordLines(ctx.storageFile);
      await wide.publish(ctx.exchangeName, "", line, { messageId: "h120k", headers: { position: 1, big } });
    } finally {
      await wide.close();
    }
    await ctx.broker.publish("", ctx.queueName, '{"n":3}', { messageId: "after" });
    await waitFor(() => server.head === 3 && got.length === 3, "the event after them stored and delivered");
    await listener.close();
    assert.deepEqual(got, [1, 2, 3]);
    console.log(
      `hostile headers: published 4 (120 KB headers, 1 MiB headers, an invalid body with 120 KB headers, a plain one), ` +
        `stored ${server.head}, dead-lettered ${dead.length}, lost 0; the listener delivered ${got.join(",")} ` +
        `(and dropped a 120 KB-header copy of record 1 on the fanout)`,
    );
    assert.deepEqual((await history(server.port)).map((r) => [r.id, r.data]), [
      ["h120k", { n: 1 }],
      ["h1m", { n: 2 }],
      ["after", { n: 3 }],
    ]);
    assert.equal(dead[0].messageId, "bad");
    assert.match(String(dead[0].headers?.["x-rejected-reason"]), /not valid JSON/);
    assert.equal(dead[0].headers?.["x-original-queue"], ctx.queueName);
    assert.equal(dead[0].headers?.["x-original-headers"], "dropped: larger than one AMQP frame");
    assert.equal(dead[0].headers?.big, undefined);
  });

  it("stops with one line, not retrying, on a QUEUENAME over 250 bytes in UTF-8 or an unknown vhost", async () => {
    await assert.rejects(
      ctx.startServer({ queueName: "\u00e9".repeat(200) }), // 200 UTF-16 units, 400 bytes
      (error: Error) =>
        error instanceof ConfigError && /^QUEUENAME must be 1 to 250 bytes in UTF-8/.test(error.message),
    );
    const url = new URL(AMQP_URL);
    url.pathname = "/res-no-such-vhost";
    await assert.rejects(
      ctx.startServer({ amqpUrl: url.toString(), brokerStartTimeout: 3_000 }),
      (error: Error) =>
        error instanceof BrokerRefusedError &&
        /has no vhost "res-no-such-vhost"; create it \(rabbitmqctl add_vhost res-no-such-vhost\) or correct the vhost in AMQPURL$/
          .test(error.message),
    );
  });

  it("says what to change when the broker is unreachable or the port is taken", async () => {
    await assert.rejects(
      startServer(ctx.serverOptions({ amqpUrl: "amqp://guest:guest@127.0.0.1:1", brokerStartTimeout: 300 })),
      /Cannot connect to RabbitMQ at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:1.*check AMQPHOST or AMQPURL/,
    );
    const server = await ctx.startServer();
    await assert.rejects(
      startServer(ctx.serverOptions({ port: server.port, storageFile: `${ctx.storageFile}-second` })),
      /Cannot listen on port \d+: it is already in use; set PORT/,
    );
  });
});

async function countQueue(ctx: TestContext): Promise<number> {
  let n = 0;
  const seen = new Promise<void>((resolve) => {
    let timer = setTimeout(resolve, 500);
    void ctx.broker.consume(ctx.queueName, 5000, () => {
      n++;
      clearTimeout(timer);
      timer = setTimeout(resolve, 300);
    });
  });
  await seen;
  return n;
}
