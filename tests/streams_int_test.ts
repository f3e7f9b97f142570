/**
 * Issue 9, the server's side of the stream wire contract, against the real
 * broker and real files: replies by RabbitMQ's direct reply-to, dead-letter
 * reasons without one, the fanout's stream headers, stream versions and
 * idempotent results across a restart, a batch kept whole or not at all
 * across SIGKILL (and a torn write of it), and versions across a crash loop.
 *
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile, truncate } from "node:fs/promises";
import type { Reply, ReplyChannel } from "../lib/broker_session.ts";
import { parseRecord } from "../lib/record.ts";
import { delay, history, recordLines, setup, type TestContext, waitFor } from "./_helpers.ts";
import { freePort, ServerChild, serverHead } from "../scripts/_server_child.ts";

const decoder = new TextDecoder();

/** Requests with replies by direct reply-to, on the test's own session. */
async function requester(ctx: TestContext): Promise<{
  channel: ReplyChannel;
  ask(body: unknown, headers: Record<string, unknown>, id?: string): Promise<Record<string, unknown>>;
}> {
  const waiting = new Map<string, (reply: Record<string, unknown>) => void>();
  const channel = await ctx.broker.openReplyChannel((reply: Reply) => {
    waiting.get(reply.correlationId ?? "")?.(JSON.parse(decoder.decode(reply.body)));
  });
  let n = 0;
  return {
    channel,
    ask(body, headers, id) {
      const correlationId = `c-${++n}`;
      const answered = new Promise<Record<string, unknown>>((resolve) => waiting.set(correlationId, resolve));
      const text = typeof body === "string" ? body : JSON.stringify(body);
      void channel.publish("", ctx.queueName, text, { messageId: id, correlationId, headers });
      return Promise.race([
        answered,
        delay(10_000).then(() => Promise.reject(new Error(`no reply to ${correlationId} within 10 s`))),
      ]);
    },
  };
}

/** Consume the dead-letter queue and collect each message's `x-rejected-reason`. */
async function deadLetterReasons(ctx: TestContext): Promise<string[]> {
  const reasons: string[] = [];
  const name = `${ctx.queueName}.dead`;
  await ctx.broker.declareQueue(name);
  await ctx.broker.consume(name, 100, (d) => {
    const reason = d.headers?.["x-rejected-reason"];
    reasons.push(reason instanceof Uint8Array ? decoder.decode(reason) : String(reason));
    void ctx.broker.ack(d.tag).catch(() => {});
  });
  return reasons;
}

describe("streams on the wire (real broker)", () => {
  it("answers by direct reply-to with the request's correlation id: stored, conflict, invalid", async () => {
    const ctx = await setup("streams-reply");
    try {
      await ctx.startServer();
      const { ask } = await requester(ctx);
      assert.deepEqual(await ask({ n: 1 }, { stream: "cart-1", "expected-version": "no_stream" }, "a"), {
        ok: true,
        position: 1,
        streamVersion: 1,
        count: 1,
      });
      assert.deepEqual(await ask({ n: 2 }, { stream: "cart-1", "expected-version": "no_stream" }, "b"), {
        ok: false,
        error: "WrongExpectedVersion",
        stream: "cart-1",
        expected: "no_stream",
        actual: 1,
      });
      assert.deepEqual(
        await ask([{ type: "A", data: 1 }, { type: "B", data: 2 }], {
          stream: "cart-1",
          "expected-version": 1,
          batch: true,
        }, "c"),
        { ok: true, position: 3, streamVersion: 3, count: 2 },
      );
      const invalid = await ask("{nope", { stream: "cart-1" }, "d");
      assert.equal(invalid.ok, false);
      assert.equal(invalid.error, "InvalidEvent");
      assert.match(String(invalid.reason), /not valid JSON/);
      assert.deepEqual(await ask({ n: 3 }, {}, "e"), { ok: true, position: 4, count: 1 }, "no stream: no version");
      assert.deepEqual(await ask({ n: 1 }, { stream: "cart-1", "expected-version": "no_stream" }, "a"), {
        ok: true,
        position: 1,
        streamVersion: 1,
        count: 1,
      }, "a repeated id gets its original result, not a conflict");
    } finally {
      await ctx.cleanup();
    }
  });

  it("dead-letters a refusal that has no reply-to, with x-rejected-reason naming expected and actual", async () => {
    const ctx = await setup("streams-dead");
    try {
      const server = await ctx.startServer();
      const reasons = await deadLetterReasons(ctx);
      const publish = (id: string, headers: Record<string, unknown>, body = "{}") =>
        ctx.broker.publish("", ctx.queueName, body, { messageId: id, headers });
      await publish("a", { stream: "order-1" });
      await publish("b", { stream: "order-1", "expected-version": 0 });
      await publish("c", { stream: "order-1", "expected-version": "7" });
      await publish("d", { stream: "x".repeat(256) });
      await publish("e", { stream: "order-2", batch: true }, "[]");
      await waitFor(() => reasons.length === 4, "four dead letters");
      assert.deepEqual(reasons, [
        "WrongExpectedVersion: stream order-1 expected version 0, but it is at 1",
        "WrongExpectedVersion: stream order-1 expected version 7, but it is at 1",
        "stream name is 256 bytes, longer than 255",
        "batch: holds 0 events, expected 1 to 1000",
      ]);
      assert.equal(server.head, 1, "nothing of a refused message was stored");
    } finally {
      await ctx.cleanup();
    }
  });

  it("a reply-to that leads nowhere (a gone requester, no such queue) stalls nothing and loses nothing", async () => {
    const ctx = await setup("streams-nowhere");
    try {
      const server = await ctx.startServer();
      const nowhere = [
        "amq.rabbitmq.reply-to.garbage",
        "amq.rabbitmq.reply-to.g1h2AA5yZXBseUA0MjQ1NzY3OQAAAAAAAAAAAAAAAAAAAAAAAA==",
        "no-such-queue",
        "amq.direct",
      ];
      for (const replyTo of nowhere) {
        await ctx.broker.publish("", ctx.queueName, "{}", { messageId: replyTo, replyTo, headers: { stream: "s-1" } });
      }
      await ctx.broker.publish("", ctx.queueName, "{}", { messageId: "after", headers: { stream: "s-1" } });
      await waitFor(() => server.head === nowhere.length + 1, "every message stored");
      const { ask } = await requester(ctx);
      assert.deepEqual(await ask({}, { stream: "s-1", "expected-version": 5 }, "last"), {
        ok: true,
        position: 6,
        streamVersion: 6,
        count: 1,
      }, "the server still answers");
    } finally {
      await ctx.cleanup();
    }
  });

  it("sends stream and stream-version as fanout headers, and the record carries them", async () => {
    const ctx = await setup("streams-fanout");
    try {
      await ctx.startServer();
      await ctx.broker.declareFanout(ctx.exchangeName);
      const queue = await ctx.broker.declareQueue("", { durable: false, exclusive: true, autoDelete: true });
      await ctx.broker.bind(queue, ctx.exchangeName);
      const seen: Array<[unknown, unknown, unknown, number | undefined]> = [];
      await ctx.broker.consume(queue, 100, (d) => {
        const record = parseRecord(decoder.decode(d.body));
        const stream = d.headers?.stream;
        seen.push([
          stream instanceof Uint8Array ? decoder.decode(stream) : stream,
          d.headers?.["stream-version"],
          record.stream,
          record.streamVersion,
        ]);
        void ctx.broker.ack(d.tag);
      });
      await ctx.broker.publish("", ctx.queueName, "{}", { messageId: "a", headers: { stream: "order-9" } });
      await ctx.broker.publish("", ctx.queueName, "{}", { messageId: "b" });
      await waitFor(() => seen.length === 2, "two fanout messages");
      assert.deepEqual(seen, [["order-9", 1, "order-9", 1], [undefined, undefined, undefined, undefined]]);
    } finally {
      await ctx.cleanup();
    }
  });

  it("keeps stream versions and original results across a restart (the index is rebuilt from the store)", async () => {
    const ctx = await setup("streams-restart");
    try {
      let server = await ctx.startServer();
      let asker = await requester(ctx);
      for (let i = 1; i <= 5; i++) {
        const reply = await asker.ask({ i }, { stream: "acct-1", "expected-version": i - 1 }, `m-${i}`);
        assert.equal(reply.streamVersion, i);
      }
      await asker.ask({ other: true }, { stream: "acct-2" }, "o-1");
      await server.close();
      server = await ctx.startServer();
      asker = await requester(ctx);
      assert.deepEqual(await asker.ask({ i: 3 }, { stream: "acct-1", "expected-version": 2 }, "m-3"), {
        ok: true,
        position: 3,
        streamVersion: 3,
        count: 1,
      }, "the original result, from the rebuilt window and the store");
      assert.deepEqual(await asker.ask({ i: 6 }, { stream: "acct-1", "expected-version": 4 }, "m-6"), {
        ok: false,
        error: "WrongExpectedVersion",
        stream: "acct-1",
        expected: 4,
        actual: 5,
      });
      assert.deepEqual(await asker.ask({ i: 6 }, { stream: "acct-1", "expected-version": 5 }, "m-6b"), {
        ok: true,
        position: 7,
        streamVersion: 6,
        count: 1,
      });
      const response = await fetch(`http://127.0.0.1:${server.port}/?stream=acct-1&from=5`);
      assert.equal(response.headers.get("x-stream-version"), "6");
      const records = (await response.text()).trim().split("\n").map((line) => parseRecord(line));
      assert.deepEqual(records.map((r) => [r.position, r.streamVersion]), [[5, 5], [7, 6]]);
    } finally {
      await ctx.cleanup();
    }
  });

  for (const torn of [false, true]) {
    const name = torn ? "a write of it torn inside the group" : "SIGKILL after the write";
    it(`keeps a batch whole or not at all: ${name}, then redelivered and stored once`, async () => {
      const ctx = await setup(`streams-batch-${torn ? "torn" : "kill"}`);
      const port = await freePort();
      const servers: ServerChild[] = [];
      const BATCHES = 8;
      const SIZE = 50;
      try {
        // Die before the fsync of the third append: its batch is written (page cache), never acknowledged.
        const first = new ServerChild({ ...ctx, port, crashAt: "before-fsync:3", env: { DEBUG: "1" } });
        servers.push(first);
        await first.ready;
        for (let b = 1; b <= BATCHES; b++) {
          const events = Array.from({ length: SIZE }, (_, i) => ({ type: "Added", data: { b, i } }));
          await ctx.broker.publish("", ctx.queueName, JSON.stringify(events), {
            messageId: `batch-${b}`,
            headers: { stream: `cart-${b}`, "expected-version": "no_stream", batch: true },
          });
          // One message per append, so the crash hits exactly one batch; the rest wait in the queue.
          await waitFor(async () => !first.running || (await serverHead(port)) === b * SIZE, `batch ${b} stored`);
        }
        const exit = await Promise.race([first.exited, delay(20_000).then(() => undefined)]);
        assert.equal(exit?.signal, "SIGKILL", `the crash point did not fire: ${first.output}`);
        const written = await recordLines(ctx.storageFile);
        assert.equal(written.length, 3 * SIZE, "the crashed batch is in the file, whole (page cache)");
        if (torn) {
          // Keep the crashed group's first 20 records and half of the 21st, as a torn write would.
          const text = await readFile(ctx.storageFile);
          let offset = 0;
          for (let line = 0; line < 1 + 2 * SIZE + 20; line++) offset = text.indexOf(0x0a, offset) + 1;
          await truncate(ctx.storageFile, offset + 30);
        }
        const second = new ServerChild({ ...ctx, port });
        servers.push(second);
        await second.ready;
        if (torn) assert.match(second.output, /dropping positions 101\.\.120, the first 20 of a group of 50/);
        await waitFor(async () => (await serverHead(port)) === BATCHES * SIZE, "every batch stored", 30_000);
        await delay(300); // anything stored twice would show up now
        const records = (await history(port)).map((r) => parseRecord(JSON.stringify(r)));
        assert.equal(records.length, BATCHES * SIZE, "each batch stored once");
        for (let b = 1; b <= BATCHES; b++) {
          const mine = records.filter((r) => r.stream === `cart-${b}`);
          assert.deepEqual(mine.map((r) => r.streamVersion), Array.from({ length: SIZE }, (_, i) => i + 1));
          const first = mine[0].position;
          assert.deepEqual(
            mine.map((r) => r.position),
            Array.from({ length: SIZE }, (_, i) => first + i),
            "consecutive",
          );
          assert.equal(mine[0].batchSize, SIZE);
        }
        await second.stop();
      } finally {
        for (const s of servers) await s.kill();
        await ctx.cleanup();
      }
    });
  }

  it("keeps every stream's versions dense across a crash loop (SIGKILL while appending, restart, repeat)", async () => {
    const ctx = await setup("streams-loop");
    const port = await freePort();
    const servers: ServerChild[] = [];
    const STREAMS = 10;
    const PER_ROUND = 300;
    const ROUNDS = 5;
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const server = new ServerChild({ ...ctx, port });
        servers.push(server);
        await server.ready;
        const sent = Array.from({ length: PER_ROUND }, (_, i) => {
          const n = round * PER_ROUND + i;
          return ctx.broker.publish("", ctx.queueName, JSON.stringify({ n }), {
            messageId: `e-${n}`,
            headers: { stream: `acct-${n % STREAMS}` },
          });
        });
        await delay(50 + 40 * round); // kill it mid-stream
        await server.kill();
        await Promise.all(sent);
      }
      const last = new ServerChild({ ...ctx, port });
      servers.push(last);
      await last.ready;
      await waitFor(async () => (await serverHead(port)) === ROUNDS * PER_ROUND, "every event stored", 30_000);
      await last.stop();
      const records = (await recordLines(ctx.storageFile)).map((line) => parseRecord(line));
      assert.deepEqual(records.map((r) => r.position), records.map((_, i) => i + 1), "dense positions");
      assert.equal(new Set(records.map((r) => r.id)).size, ROUNDS * PER_ROUND, "each event once");
      for (let s = 0; s < STREAMS; s++) {
        const versions = records.filter((r) => r.stream === `acct-${s}`).map((r) => r.streamVersion);
        assert.deepEqual(versions, versions.map((_, i) => i + 1), `acct-${s}: versions 1..n in global order`);
      }
      console.log(`crash loop: ${ROUNDS} kills, ${records.length} events in ${STREAMS} streams, versions dense`);
    } finally {
      for (const s of servers) await s.kill();
      await ctx.cleanup();
    }
  });
});
