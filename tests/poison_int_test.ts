/**
 * Poison messages against the real server and RabbitMQ (issue 3, item 5).
 *
 * A message the server cannot store — not valid UTF-8, not valid JSON, or
 * larger than MAXEVENTBYTES (default 1 MiB) — is published to the
 * dead-letter queue `<QUEUENAME>.dead` (declared by the server, durable) with
 * the header `x-rejected-reason`, then rejected from the input queue. It
 * takes no position and does not hold up the events behind it.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import type { Delivery } from "../lib/broker_session.ts";
import { deadLetterQueueName } from "../server.ts";
import { delay, history, prng, setup, type TestContext, waitFor } from "./_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

type Kind = "good" | "json" | "utf8" | "size";

interface Planned {
  id: string;
  kind: Kind;
  body: Uint8Array;
  reason?: RegExp;
}

/** A JSON object body of exactly `size` bytes. */
function jsonOfSize(i: number, size: number): Uint8Array {
  const head = `{"i":${i},"pad":"`;
  const body = head + "x".repeat(size - head.length - 2) + '"}';
  assert.equal(body.length, size);
  return encoder.encode(body);
}

const badJson = [
  (i: number) => `{"i":${i},`,
  (i: number) => `{'i':${i}}`,
  (i: number) => `{"i":${i}} trailing`,
  (i: number) => `[${i}, NaN]`,
  (i: number) => `{"i":${i},"s":"unterminated`,
  () => "",
  () => " \n\t ",
];
const badUtf8 = [
  (i: number) => [...encoder.encode(`{"i":${i},"s":"`), 0xff, 0x22, 0x7d], // a byte never valid in UTF-8
  (i: number) => [...encoder.encode(`{"i":${i},"s":"`), 0xc0, 0xaf, 0x22, 0x7d], // an overlong "/"
  (i: number) => [...encoder.encode(`{"i":${i},"s":"`), 0xed, 0xa0, 0x80, 0x22, 0x7d], // an encoded lone surrogate
  (i: number) => [...encoder.encode(`{"i":${i},"s":"`), 0xe2, 0x82, 0x22, 0x7d], // a truncated sequence
  (i: number) => [...encoder.encode(`{"i":${i},"s":"`), 0x22, 0x7d, 0xc3], // cut inside the last character
];

/** 10,000 messages, 1% of them bad (a third of each kind), at seeded random places. */
function plan(total: number, maxEventBytes: number): Planned[] {
  const random = prng(2026);
  const badAt = new Set<number>();
  while (badAt.size < total / 100) badAt.add(Math.floor(random() * (total - 1))); // the last one stays good
  const kinds: Kind[] = ["json", "utf8", "size"];
  let k = 0;
  return Array.from({ length: total }, (_, i): Planned => {
    if (!badAt.has(i)) {
      // Every 997th good event is exactly at the maximum: the limit is inclusive.
      const body = i % 997 === 0 ? jsonOfSize(i, maxEventBytes) : encoder.encode(`{"i":${i}}`);
      return { id: `good-${i}`, kind: "good", body };
    }
    const kind = kinds[k++ % kinds.length];
    const variant = Math.floor(random() * 1000);
    if (kind === "json") {
      const text = badJson[variant % badJson.length](i);
      return {
        id: `bad-${i}`,
        kind,
        body: encoder.encode(text),
        reason: text.trim() === "" ? /^event is empty$/ : /^event is not valid JSON: /,
      };
    }
    if (kind === "utf8") {
      return {
        id: `bad-${i}`,
        kind,
        body: Uint8Array.from(badUtf8[variant % badUtf8.length](i)),
        reason: /^event is not valid UTF-8$/,
      };
    }
    const size = maxEventBytes + 1 + (variant % 3 === 0 ? 0 : variant * 7);
    return {
      id: `bad-${i}`,
      kind,
      body: jsonOfSize(i, size),
      reason: new RegExp(`^event is ${size} bytes, larger than the maximum of ${maxEventBytes} \\(MAXEVENTBYTES\\)$`),
    };
  });
}

/** Consume the dead-letter queue into a map by messageId (and count duplicates). */
async function tapDeadLetters(ctx: TestContext): Promise<{ byId: Map<string, Delivery>; received: () => number }> {
  const byId = new Map<string, Delivery>();
  let received = 0;
  await ctx.broker.consume(deadLetterQueueName(ctx.queueName), 500, (d) => {
    received++;
    byId.set(d.messageId ?? `(none ${received})`, d);
    void ctx.broker.ack(d.tag);
  });
  return { byId, received: () => received };
}

async function publishAll(ctx: TestContext, messages: Planned[], window = 500): Promise<number> {
  let confirmed = 0;
  for (let i = 0; i < messages.length; i += window) {
    await Promise.all(
      messages.slice(i, i + window).map(async (m) => {
        await ctx.broker.publish("", ctx.queueName, m.body, { messageId: m.id });
        confirmed++;
      }),
    );
  }
  return confirmed;
}

describe("poison messages against RabbitMQ", () => {
  let ctx: TestContext;
  before(async () => {
    ctx = await setup("poison");
  });
  after(async () => {
    await ctx?.cleanup();
  });

  it("1% of 10,000 are bad: the good get contiguous positions in order, the bad go to <queue>.dead with the reason", async () => {
    const maxEventBytes = 4096;
    const total = 10_000;
    const messages = plan(total, maxEventBytes);
    const good = messages.filter((m) => m.kind === "good");
    const bad = messages.filter((m) => m.kind !== "good");
    const server = await ctx.startServer({ maxEventBytes });
    assert.equal(server.settings.maxEventBytes, maxEventBytes);
    assert.equal(server.stopped, server.closed, "stopped stays as a deprecated alias of closed");
    const dead = await tapDeadLetters(ctx);
    let fatal: unknown;
    server.closed.catch((error) => (fatal = error));

    const confirmed = await publishAll(ctx, messages);
    await waitFor(
      () => {
        if (fatal) throw new Error(`the server stopped: ${fatal}`);
        return server.head >= good.length && dead.byId.size >= bad.length;
      },
      `${good.length} stored and ${bad.length} dead-lettered`,
      60_000,
    );
    await delay(300); // anything extra (a position for a bad message, a duplicate) would show up now

    const records = await history(server.port);
    const storedIds = records.map((r) => String(r.id));
    const seen = new Set<string>();
    const duplicated = storedIds.filter((id) => seen.has(id) || !seen.add(id)).length;
    const lost = good.filter((m) => !seen.has(m.id)).length;
    let outOfOrder = 0;
    for (let i = 1; i < storedIds.length; i++) {
      if (Number(storedIds[i].slice(5)) < Number(storedIds[i - 1].slice(5))) outOfOrder++;
    }
    const gaps = records.filter((r, i) => r.position !== i + 1).length;
    const badStored = storedIds.filter((id) => id.startsWith("bad-")).length;
    const byKind = (kind: Kind) => bad.filter((m) => m.kind === kind && dead.byId.has(m.id)).length;
    console.log(
      `poison: published ${total}, confirmed ${confirmed}, stored ${records.length} (head ${server.head}), ` +
        `dead-lettered ${dead.byId.size} (invalid JSON ${byKind("json")}, invalid UTF-8 ${byKind("utf8")}, too large ${
          byKind("size")
        }), ` +
        `dead-letter deliveries ${dead.received()}, lost ${lost}, duplicated ${duplicated}, out of order ${outOfOrder}, ` +
        `position gaps ${gaps}, bad ones stored ${badStored}`,
    );

    assert.equal(confirmed, total);
    assert.equal(server.head, good.length, "every good event stored, no position used by a bad one");
    assert.deepEqual(records.map((r) => r.position), Array.from({ length: good.length }, (_, i) => i + 1));
    assert.deepEqual(storedIds, good.map((m) => m.id), "the good events, each once, in publish order");
    records.forEach((r, i) => assert.deepEqual(r.data, JSON.parse(decoder.decode(good[i].body))));

    assert.equal(dead.received(), bad.length, "each bad message dead-lettered exactly once");
    for (const m of bad) {
      const d = dead.byId.get(m.id);
      assert.ok(d, `${m.id} (${m.kind}) reached ${deadLetterQueueName(ctx.queueName)}`);
      assert.deepEqual(d.body, m.body, `${m.id}: the dead letter keeps the original bytes`);
      assert.match(String(d.headers?.["x-rejected-reason"]), m.reason!, `${m.id} (${m.kind})`);
      assert.equal(String(d.headers?.["x-original-queue"]), ctx.queueName);
    }
    assert.equal(byKind("json") + byKind("utf8") + byKind("size"), 100);
    assert.ok(byKind("json") >= 33 && byKind("utf8") >= 33 && byKind("size") >= 33);
    await server.close();
  });

  it("a corrected message republished with the rejected one's messageId is stored: a rejection reserves nothing", async () => {
    const server = await ctx.startServer({ maxEventBytes: 4096 });
    const before = server.head;
    await ctx.broker.publish("", ctx.queueName, "{broken", { messageId: "fixme" });
    await ctx.broker.publish("", ctx.queueName, '{"fixed":true}', { messageId: "fixme" });
    await waitFor(() => server.head === before + 1, "the corrected message stored");
    const [record] = await history(server.port, `?from=${before + 1}`);
    assert.equal(record.id, "fixme");
    assert.deepEqual(record.data, { fixed: true });
    await server.close();
  });
});

describe("MAXEVENTBYTES default", () => {
  let ctx: TestContext;
  before(async () => {
    ctx = await setup("poison-default");
  });
  after(async () => {
    await ctx?.cleanup();
  });

  it("is 1 MiB: an event of exactly 1 MiB is stored, one byte more is dead-lettered", async (t) => {
    if (process.env.MAXEVENTBYTES) {
      t.skip(`MAXEVENTBYTES is set to ${process.env.MAXEVENTBYTES} in this environment`);
      return;
    }
    const server = await ctx.startServer();
    assert.equal(server.settings.maxEventBytes, 1024 * 1024);
    const dead = await tapDeadLetters(ctx);
    await ctx.broker.publish("", ctx.queueName, jsonOfSize(1, 1024 * 1024), { messageId: "exactly" });
    await ctx.broker.publish("", ctx.queueName, jsonOfSize(2, 1024 * 1024 + 1), { messageId: "one-more" });
    await ctx.broker.publish("", ctx.queueName, '"after"', { messageId: "after" });
    await waitFor(() => server.head === 2 && dead.byId.size === 1, "2 stored and 1 dead-lettered");
    const records = await history(server.port);
    assert.deepEqual(records.map((r) => r.id), ["exactly", "after"]);
    assert.equal(
      String(dead.byId.get("one-more")?.headers?.["x-rejected-reason"]),
      "event is 1048577 bytes, larger than the maximum of 1048576 (MAXEVENTBYTES)",
    );
  });
});

describe("dead-letter queue deleted while the server runs", () => {
  let ctx: TestContext;
  before(async () => {
    ctx = await setup("poison-dlq");
  });
  after(async () => {
    await ctx?.cleanup();
  });

  it("a poison message is not lost: the dead-letter queue is declared again before it is used", async () => {
    const server = await ctx.startServer();
    await ctx.broker.deleteQueue(deadLetterQueueName(ctx.queueName));
    await ctx.broker.publish("", ctx.queueName, "{lost?", { messageId: "poison-after-delete" });
    await ctx.broker.publish("", ctx.queueName, '"good"', { messageId: "good-after-delete" });
    await waitFor(() => server.head === 1, "the good message stored");
    await delay(200);
    const dead = await tapDeadLetters(ctx).catch((error) => {
      throw new Error(`the dead-letter queue is gone, and the poison message with it: ${error}`);
    });
    await waitFor(
      () => dead.byId.has("poison-after-delete"),
      "the poison message in the re-created dead-letter queue",
      5_000,
    );
    await server.close();
  });
});
