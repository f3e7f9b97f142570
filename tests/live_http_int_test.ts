import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { connect } from "node:net";
import parsePrometheus from "parse-prometheus-text-format";
import { liveReader, positionOf } from "./_live_reader.ts";
import { delay, setup, type TestContext, waitFor } from "./_helpers.ts";
import type { EventStoreServer } from "../server.ts";

const SSE = { accept: "text/event-stream" };

describe("live history over HTTP (real server, broker and sockets)", () => {
  let ctx: TestContext;
  let server: EventStoreServer;
  let sent = 0;
  const url = (query = "") => `http://127.0.0.1:${server.port}/${query}`;
  /** Publish `count` events (in stream `stream`, if given) and wait until they are stored. */
  const publish = async (count: number, options: { stream?: string; bytes?: number } = {}) => {
    const pad = "x".repeat(options.bytes ?? 0);
    const confirms = [];
    for (let i = 0; i < count; i++) {
      const n = ++sent;
      confirms.push(ctx.broker.publish("", ctx.queueName, JSON.stringify({ n, pad }), {
        messageId: `e${n}`,
        headers: options.stream ? { stream: options.stream } : undefined,
      }));
    }
    await Promise.all(confirms);
    await waitFor(() => server.head >= sent, `head ${sent}`);
  };

  before(async () => {
    ctx = await setup("live");
    server = await ctx.startServer({
      // A write timeout far shorter than the first test's idle wait: a healthy live response outlives it. The
      // slow-client test needs a server of its own with the default, or the timeout would cut it off first.
      httpWriteTimeout: 1_000,
      httpHeartbeat: 100,
      httpLiveClients: 3,
      httpLiveBuffer: 64 * 1024,
    });
  });
  after(async () => {
    await ctx.cleanup();
  });

  it("streams history then live events as SSE, and NDJSON with ?follow=1, past the write timeout", async () => {
    await publish(3);
    const abort = new AbortController();
    const sse = await fetch(url("?from=2"), { headers: SSE, signal: abort.signal });
    assert.equal(sse.status, 200);
    assert.equal(sse.headers.get("content-type"), "text/event-stream; charset=utf-8");
    const follow = await fetch(url("?follow=1"), { signal: abort.signal });
    assert.equal(follow.headers.get("content-type"), "application/x-ndjson");
    const events = liveReader(sse.body!, true);
    const lines = liveReader(follow.body!, false);
    assert.equal((await events.next())?.retry, "1000");
    for (const p of [2, 3]) assert.equal((await events.nextRecord())?.id, String(p));
    for (const p of [1, 2, 3]) assert.equal(positionOf((await lines.nextRecord())!.data!), p);
    // Idle for longer than the write timeout (1 s): the heartbeats keep going, the responses stay open.
    await delay(1_500);
    const heartbeat = await events.next();
    assert.deepEqual(heartbeat?.comments, ["heartbeat"]);
    await publish(2);
    for (const p of [4, 5]) {
      const frame = await events.nextRecord();
      assert.equal(frame?.id, String(p));
      assert.equal(JSON.parse(frame!.data!).data.n, p);
      assert.equal(positionOf((await lines.nextRecord())!.data!), p);
    }
    abort.abort();
    await waitFor(() => fetch(url("health")).then((r) => r.ok), "health");
  });

  it("resumes after Last-Event-ID and filters live events by stream and category", async () => {
    await publish(2, { stream: "order-7" });
    await publish(1, { stream: "user-1" });
    const abort = new AbortController();
    const start = server.head;
    const resumed = await fetch(url(), {
      headers: { ...SSE, "last-event-id": String(start - 1) },
      signal: abort.signal,
    });
    const orders = await fetch(url(`?category=order&from=${start - 1}`), { headers: SSE, signal: abort.signal });
    const one = await fetch(url("?stream=user-1&follow=1"), { signal: abort.signal });
    const all = liveReader(resumed.body!, true);
    const category = liveReader(orders.body!, true);
    const stream = liveReader(one.body!, false);
    assert.equal((await all.nextRecord())?.id, String(start));
    assert.equal((await category.nextRecord())?.id, String(start - 1)); // order-7's second event; user-1's is not
    assert.equal(JSON.parse((await stream.nextRecord())!.data!).stream, "user-1");
    await publish(1, { stream: "user-1" });
    await publish(1, { stream: "order-8" });
    assert.equal((await all.nextRecord())?.id, String(start + 1));
    assert.equal((await all.nextRecord())?.id, String(start + 2));
    assert.equal((await category.nextRecord())?.id, String(start + 2));
    const line = JSON.parse((await stream.nextRecord())!.data!);
    assert.deepEqual([line.position, line.stream, line.streamVersion], [start + 1, "user-1", 2]);
    abort.abort();
  });

  it("answers 503 beyond HTTPLIVECLIENTS; plain history is not counted", async () => {
    const abort = new AbortController();
    const open = [];
    for (let i = 0; i < 2; i++) open.push(await fetch(url(), { headers: SSE, signal: abort.signal }));
    open.push(await fetch(url("?follow=1"), { signal: abort.signal }));
    // The metrics count them by kind (read with a real exposition-format parser).
    const families = parsePrometheus(await (await fetch(url("metrics"))).text()) as Array<
      { name: string; metrics: Array<{ value?: string; labels?: Record<string, string> }> }
    >;
    const live = families.find((family) => family.name === "rabbit_eventstore_live_clients")!.metrics;
    assert.deepEqual(
      Object.fromEntries(live.map((m) => [m.labels?.kind, Number(m.value)])),
      { sse: 2, follow: 1 },
    );
    const refused = await fetch(url(), { headers: SSE });
    assert.equal(refused.status, 503);
    assert.equal(await refused.text(), "Cannot serve more than 3 live clients at once; retry later\n");
    assert.equal((await fetch(url("?limit=1"))).status, 200);
    abort.abort();
    // The places are given back once the responses close.
    await waitFor(async () => {
      const again = await fetch(url(), { headers: SSE });
      await again.body?.cancel();
      return again.status === 200;
    }, "a live place again");
  });

  it("ends live responses cleanly with the reason when the server closes", async () => {
    const sse = await fetch(url(`?from=${server.head + 1}`), { headers: SSE });
    const follow = await fetch(url(`?from=${server.head + 1}&follow=1`));
    const closing = server.close();
    const [events, lines] = await Promise.all([sse.text(), follow.text()]);
    await closing;
    // (with a heartbeat or two before, at 100 ms)
    assert.equal(
      events.replaceAll(": heartbeat\n\n", ""),
      "retry: 1000\n\n: closed: the server is closing; resume after 0\n\n",
    );
    assert.equal(lines.replace(/^\n+/, ""), '{"closed":"the server is closing","lastPosition":0}\n');
  });
});

describe("a live client too slow for its buffer", () => {
  it("closes a client too slow for its buffer with the reason; it resumes from its last id with no gap", async () => {
    const ctx = await setup("live-slow");
    const server = await ctx.startServer({ httpLiveBuffer: 64 * 1024 });
    try {
      await slowClient(ctx, server);
    } finally {
      await ctx.cleanup();
    }
  });
});

async function slowClient(ctx: TestContext, server: EventStoreServer): Promise<void> {
  const url = (query = "") => `http://127.0.0.1:${server.port}/${query}`;
  /** Publish `count` events of `bytes` in waves of `wave`, each stored before the next: separate batches. */
  const publish = async (count: number, bytes: number, wave: number) => {
    const pad = "x".repeat(bytes);
    for (let first = 1; first <= count; first += wave) {
      const confirms = [];
      for (let n = first; n < first + wave && n <= count; n++) {
        confirms.push(ctx.broker.publish("", ctx.queueName, JSON.stringify({ n, pad }), { messageId: `s${n}` }));
      }
      await Promise.all(confirms);
      const head = Math.min(count, first + wave - 1);
      await waitFor(() => server.head >= head, `head ${head}`);
    }
  };
  const from = 1;
  const abort = new AbortController();
  // A raw socket that reads nothing until the events are stored: fetch would not do (Node's reads the body
  // ahead into memory, so the server would never see a slow client). HTTP/1.0, so the body is not chunked.
  const socket = connect(server.port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  socket.pause();
  socket.write(`GET /?from=${from} HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
  // 200 events of 64 KiB (13 MiB) in 10 batches: more than the socket buffers and the 64 KiB live buffer hold
  // unread. (A single batch always fits: a burst alone closes no client.)
  await publish(200, 64 * 1024, 20);
  const chunks: Uint8Array[] = [];
  const ended = new Promise<void>((resolve) => socket.once("end", resolve).once("close", resolve));
  socket.on("data", (chunk: Uint8Array) => chunks.push(chunk));
  socket.resume();
  // Until the server ends the response (a client that was never closed would hang here: 30 s, then it fails).
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([ended, new Promise((resolve) => timer = setTimeout(resolve, 30_000))]);
  clearTimeout(timer);
  socket.destroy();
  const text = new TextDecoder().decode(Buffer.concat(chunks));
  const head = text.slice(0, text.indexOf("\r\n\r\n"));
  assert.match(head, /^HTTP\/1\.[01] 200 /);
  const reader = liveReader(new Response(text.slice(head.length + 4)).body!, true);
  const got: number[] = [];
  let reason: string | undefined;
  for (let frame = await reader.next(); frame; frame = await reader.next()) {
    if (frame.id) got.push(Number(frame.id));
    const closed = frame.comments.find((c) => c.startsWith("closed:"));
    if (closed) reason = closed;
  }
  assert.ok(got.length < 200, `the slow client got all ${got.length} events`);
  assert.equal(
    reason,
    `closed: too slow: more than 65536 bytes of events waited for this client; resume after ${got.at(-1) ?? 0}`,
  );
  const resume = await fetch(url(), {
    headers: { ...SSE, "last-event-id": String(got.at(-1) ?? from - 1) },
    signal: abort.signal,
  });
  const rest = liveReader(resume.body!, true);
  while ((got.at(-1) ?? 0) < server.head) got.push(Number((await rest.nextRecord())!.id));
  assert.deepEqual(got, Array.from({ length: 200 }, (_, i) => from + i));
  abort.abort();
}
