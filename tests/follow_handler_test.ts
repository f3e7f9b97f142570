import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { followHandler } from "../lib/follow_handler.ts";
import { historyHandler, type HistorySource } from "../lib/history_handler.ts";
import { LiveFeed } from "../lib/live_feed.ts";
import { MemoryStorage } from "../lib/memory_storage.ts";
import { encodeRecordLine } from "../lib/record.ts";
import type { AppendRecord } from "../lib/storage.ts";
import { StreamIndex } from "../lib/stream_index.ts";
import { liveReader, positionOf } from "./_live_reader.ts";
import { prng } from "./_helpers.ts";

const SSE = { accept: "text/event-stream" };

/** A store, its index and feed, and a writer that appends and hands batches over as the server does. */
function fixture(options: { maxClients?: number; bufferBytes?: number; heartbeat?: number; slow?: boolean } = {}) {
  const storage = new MemoryStorage();
  const index = new StreamIndex();
  const feed = new LiveFeed({ maxClients: options.maxClients, bufferBytes: options.bufferBytes });
  const versions = new Map<string, number>();
  // History in 61-byte pieces, a tick apart: lines cross chunks, and the writer appends during the hand-over.
  const source: HistorySource = options.slow
    ? {
      get head() {
        return storage.head;
      },
      storeId: storage.storeId,
      read: (from, o) => trickle(storage.read(from, o)),
      readPositions: (p) => trickle(storage.readPositions(p)),
    }
    : storage;
  const handle = followHandler(historyHandler(source, () => ({}), { streams: index }), {
    feed,
    heartbeat: options.heartbeat ?? 60_000,
  });
  /** Append `count` records (streams chosen by `streamOf`), then, after a tick, hand them to the feed. */
  const append = async (
    count: number,
    streamOf: (p: number) => string | undefined = () => undefined,
    meanwhile: () => void = () => {},
  ) => {
    const records: AppendRecord[] = [];
    for (let i = 0; i < count; i++) {
      const position = storage.head + 1 + i;
      const stream = streamOf(position);
      const streamVersion = stream === undefined ? undefined : (versions.get(stream) ?? 0) + 1;
      if (stream !== undefined) versions.set(stream, streamVersion!);
      const line = encodeRecordLine({ position, id: `id-${position}`, time: "t", stream, streamVersion, data: "{}" });
      records.push({ position, id: `id-${position}`, line, stream, streamVersion });
    }
    await storage.append(records);
    for (const r of records) if (r.stream !== undefined) index.add(r.position, r.stream, r.streamVersion!);
    meanwhile(); // head is up, the feed not yet fed: the window the hand-over must close
    await new Promise((resolve) => setTimeout(resolve, 0));
    feed.publish(records);
  };
  return { storage, feed, handle, append };
}

function trickle(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let pending: Uint8Array = new Uint8Array(0);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      if (pending.length === 0) {
        const { done, value } = await reader.read();
        if (done) return controller.close();
        pending = value;
      }
      controller.enqueue(pending.slice(0, 61));
      pending = pending.subarray(61);
    },
    cancel: () => reader.cancel(),
  }, { highWaterMark: 0 });
}

const streamOf = (p: number) => p % 3 === 0 ? undefined : p % 3 === 1 ? `order-${p % 4}` : `user-${p % 5}`;

describe("followHandler", () => {
  it("answers SSE: a retry hint, history with ids, then live records as they are stored", async () => {
    const { handle, append, feed } = fixture();
    await append(3);
    const response = await handle(new Request("http://x/any/path?from=2", { headers: SSE }));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "text/event-stream; charset=utf-8");
    assert.equal(response.headers.get("cache-control"), "no-store");
    assert.equal(response.headers.get("x-head-position"), "3");
    const reader = liveReader(response.body!, true);
    assert.deepEqual(await reader.next(), { retry: "1000", comments: [] });
    for (const p of [2, 3]) {
      const frame = await reader.next();
      assert.equal(frame?.id, String(p));
      assert.equal(positionOf(frame!.data!), p);
    }
    await append(2);
    for (const p of [4, 5]) assert.equal((await reader.nextRecord())?.id, String(p));
    await reader.cancel();
    assert.equal(feed.clients, 0, "a client that goes away leaves the feed");
  });

  it("keeps an NDJSON response open with ?follow=1, the records' own lines", async () => {
    const { handle, append, storage } = fixture();
    await append(2);
    const response = await handle(new Request("http://x/?follow=1"));
    assert.equal(response.headers.get("content-type"), "application/x-ndjson");
    const reader = liveReader(response.body!, false);
    await append(1);
    const lines = [];
    for (let i = 0; i < 3; i++) lines.push((await reader.nextRecord())!.data);
    const stored = await new Response(storage.read(1)).text();
    assert.equal(lines.join("\n") + "\n", stored);
    await reader.cancel();
  });

  it("hands over from history to live with no gap and no duplicate while records are appended", async () => {
    const { handle, append, feed, storage } = fixture({ slow: true });
    const random = prng(11);
    await append(60, streamOf);
    const FINAL = 400;
    const clients: Promise<void>[] = [];
    const writer = (async () => {
      while (true) {
        const head = storage.head;
        if (head >= FINAL) break;
        // Now and then a client joins, from somewhere in the past, with a filter or none: between the
        // append and the hand-over to the feed, or after both.
        const join = () => clients.push(follow(1 + Math.floor(random() * head), Math.floor(random() * 4)));
        const when = random();
        await append(Math.min(FINAL - head, 1 + Math.floor(random() * 6)), streamOf, when < 0.2 ? join : undefined);
        if (when > 0.85) join();
      }
    })();
    async function follow(from: number, kind: number) {
      const query = ["", "&category=order", "&category=user", ""][kind];
      const headers: Record<string, string> = kind === 3 ? { ...SSE, "last-event-id": String(from - 1) } : SSE;
      const url = kind === 3 ? "http://x/" : `http://x/?from=${from}${query}`;
      const response = await handle(new Request(url, { headers }));
      assert.equal(response.status, 200);
      const reader = liveReader(response.body!, true);
      const wanted = (p: number) =>
        kind === 1 ? streamOf(p)?.startsWith("order-") : kind === 2 ? streamOf(p)?.startsWith("user-") : true;
      const expected = [];
      for (let p = from; p <= FINAL; p++) if (wanted(p)) expected.push(p);
      const got: number[] = [];
      // Until the last wanted record, or 10 s: a gap must fail the test, not hang it.
      const timer = setTimeout(() => void reader.cancel(), 10_000);
      while (got.length === 0 || got[got.length - 1] < expected[expected.length - 1]) {
        const frame = await reader.nextRecord();
        if (!frame) break;
        assert.equal(Number(frame.id), positionOf(frame.data!));
        got.push(Number(frame.id));
      }
      clearTimeout(timer);
      await reader.cancel();
      assert.deepEqual(got, expected, `client from ${from} (${kind}) got every record once, in order`);
    }
    await writer;
    assert.ok(clients.length >= 20, `only ${clients.length} clients joined`);
    await Promise.all(clients);
    assert.equal(feed.clients, 0);
  });

  it("resumes after Last-Event-ID (a stream read resumes at that global position)", async () => {
    const { handle, append } = fixture();
    await append(9, streamOf);
    const plain = await handle(new Request("http://x/?from=2", { headers: { ...SSE, "last-event-id": "6" } }));
    const reader = liveReader(plain.body!, true);
    await reader.next();
    assert.equal((await reader.nextRecord())?.id, "7");
    await reader.cancel();
    // order-1: positions 1 and 13 (versions 1 and 2); Last-Event-ID wins over from (a version)
    const stream = await handle(
      new Request("http://x/?stream=order-1&from=5", { headers: { ...SSE, "last-event-id": "0" } }),
    );
    const streamReader = liveReader(stream.body!, true);
    assert.equal((await streamReader.nextRecord())?.id, "1");
    await append(4, streamOf); // 10..13: order-1 gets 13
    assert.equal((await streamReader.nextRecord())?.id, "13");
    await streamReader.cancel();
  });

  it("sends a heartbeat comment when nothing was sent for a while", async () => {
    const { handle } = fixture({ heartbeat: 20 });
    const response = await handle(new Request("http://x/", { headers: SSE }));
    const reader = liveReader(response.body!, true);
    await reader.next(); // retry
    assert.deepEqual(await reader.next(), { comments: ["heartbeat"] });
    await reader.cancel();
    const ndjson = await handle(new Request("http://x/?follow=1"));
    const lines = liveReader(ndjson.body!, false);
    assert.deepEqual(await lines.next(), { data: "", comments: [] }, "an NDJSON heartbeat is an empty line");
    await lines.cancel();
  });

  it("closes a client too slow for its buffer with the reason and where to resume", async () => {
    const { handle, append, feed } = fixture({ bufferBytes: 500 });
    await append(2);
    const abort = new AbortController();
    const response = await handle(new Request("http://x/", { headers: SSE, signal: abort.signal }));
    await append(20); // nobody reads: more than 500 bytes wait when the next batch comes
    await append(1);
    const reader = liveReader(response.body!, true);
    await reader.next();
    assert.equal((await reader.nextRecord())?.id, "1");
    assert.equal((await reader.nextRecord())?.id, "2");
    const last = await reader.next();
    assert.deepEqual(last?.comments, [
      "closed: too slow: more than 500 bytes of events waited for this client; resume after 2",
    ]);
    assert.equal(await reader.next(), undefined, "the response ends after the reason");
    assert.equal(feed.clients, 1, "the client holds its place until its response closes");
    abort.abort();
    assert.equal(feed.clients, 0);

    const slow = await handle(new Request("http://x/?follow=1"));
    await append(20);
    await append(1);
    const lines = liveReader(slow.body!, false);
    const got = [];
    for (let frame = await lines.next(); frame; frame = await lines.next()) got.push(JSON.parse(frame.data!));
    assert.equal(got.length, 24); // the 23 records history holds, then the reason (the live ones were dropped)
    assert.deepEqual(got.at(-1), {
      closed: "too slow: more than 500 bytes of events waited for this client",
      lastPosition: 23,
    });
  });

  it("answers 503 beyond the cap on live clients, and ends live responses when the feed closes", async () => {
    const { handle, feed } = fixture({ maxClients: 2 });
    const abort = new AbortController();
    const a = await handle(new Request("http://x/", { headers: SSE, signal: abort.signal }));
    const b = await handle(new Request("http://x/?follow=1", { signal: abort.signal }));
    const refused = await handle(new Request("http://x/", { headers: SSE }));
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("retry-after"), "1");
    assert.equal(await refused.text(), "Cannot serve more than 2 live clients at once; retry later\n");
    assert.equal((await handle(new Request("http://x/"))).status, 200, "plain history is not capped");
    const closing = feed.close("the server is closing");
    const [sse, ndjson] = await Promise.all([a.text(), b.text()]);
    assert.equal(sse, "retry: 1000\n\n: closed: the server is closing; resume after 0\n\n");
    assert.equal(ndjson, '{"closed":"the server is closing","lastPosition":0}\n');
    abort.abort(); // the responses closed
    await closing;
    assert.equal((await handle(new Request("http://x/", { headers: SSE }))).status, 503);
  });

  it("refuses bad input with 400 and one line, and keeps the history's own checks", async () => {
    const { handle, feed } = fixture();
    const cases: Array<[string, Record<string, string>, string]> = [
      ["http://x/?follow=yes", {}, 'Cannot read query parameter follow: expected 1 or 0, got "yes"\n'],
      [
        "http://x/?follow=1&limit=5",
        {},
        "Cannot read query parameter limit: a live response has no limit; leave it out\n",
      ],
      [
        "http://x/",
        { ...SSE, "last-event-id": "abc" },
        'Cannot read header Last-Event-ID: expected a position, got "abc"\n',
      ],
      ["http://x/?from=x", SSE, 'Cannot read query parameter from: expected a non-negative integer, got "x"\n'],
      [
        "http://x/?category=a-b&follow=1",
        {},
        'Cannot read query parameter category: "a-b" has a "-" (a category is what comes before it)\n',
      ],
    ];
    for (const [url, headers, message] of cases) {
      const response = await handle(new Request(url, { headers }));
      assert.equal(response.status, 400, url);
      assert.equal(await response.text(), message);
    }
    assert.equal(feed.clients, 0, "a refused request holds no place");
    const health = await handle(new Request("http://x/health", { headers: SSE }));
    assert.equal(health.headers.get("content-type"), "application/json");
    const off = await handle(new Request("http://x/?follow=0"));
    assert.equal(off.headers.get("content-type"), "application/x-ndjson");
    assert.equal(await off.text(), "", "follow=0 is plain history, which ends");
  });
});
