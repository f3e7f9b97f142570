import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { writeFile } from "node:fs/promises";
import { type Command, createCommand } from "../command.ts";
import {
  type EventRecord,
  HandlerError,
  listen,
  type Listener,
  listenInBatches,
  type ListenOptions,
  StoreChangedError,
  subscribe,
} from "../listener.ts";
import { encodeRecord } from "../lib/record.ts";
import { type HttpServer, serve } from "../lib/runtime/serve.ts";
import type { EventStoreServer } from "../server.ts";
import { AMQP_URL, delay, freePort, setup, type TestContext, waitFor } from "./_helpers.ts";

describe("listener against a real server and RabbitMQ", () => {
  let ctx: TestContext;
  let server: EventStoreServer;
  let command: Command;
  let options: ListenOptions;

  beforeEach(async () => {
    ctx = await setup("listener");
    server = await ctx.startServer();
    command = createCommand({ amqpUrl: AMQP_URL, queueName: ctx.queueName });
    options = { amqpUrl: AMQP_URL, exchangeName: ctx.exchangeName, historyUrl: `http://127.0.0.1:${server.port}/` };
  });
  afterEach(async () => {
    await command.close();
    await ctx.cleanup();
  });

  const publishMany = (n: number, tag = "e") =>
    Promise.all(Array.from({ length: n }, (_, i) => command.publish({ tag, i })));

  it("listen(0) delivers history then live events, in order, exactly once", async () => {
    await publishMany(300, "old");
    await waitFor(() => server.head === 300, "300 stored");
    const got: number[] = [];
    const listener = listen(0, (e) => {
      got.push(e.position);
    }, options);
    await publishMany(300, "new");
    await waitFor(() => got.length >= 600, "600 delivered");
    await delay(100);
    await listener.close();
    assert.deepEqual(got, Array.from({ length: 600 }, (_, i) => i + 1));
  });

  it("listen(N) starts at N inclusive and the record carries position, id, time and data", async () => {
    await publishMany(10);
    await waitFor(() => server.head === 10, "10 stored");
    const got: EventRecord[] = [];
    const listener = listen(7, (e) => {
      got.push(e);
    }, options);
    await waitFor(() => got.length === 4, "4 delivered");
    await listener.close();
    assert.deepEqual(got.map((e) => e.position), [7, 8, 9, 10]);
    assert.deepEqual(got[0].data, { tag: "e", i: 6 });
    assert.equal(typeof got[0].id, "string");
    assert.equal(typeof got[0].time, "string");
  });

  it("listen(handler) delivers only events stored after it started", async () => {
    await publishMany(5);
    await waitFor(() => server.head === 5, "5 stored");
    const got: number[] = [];
    const listener = listen((e) => {
      got.push(e.position);
    }, options);
    await listener.ready;
    await publishMany(5);
    await waitFor(() => got.length === 5, "5 new delivered");
    await listener.close();
    assert.deepEqual(got, [6, 7, 8, 9, 10]);
  });

  it("keeps strict order while events arrive during the history download", async () => {
    await publishMany(3000, "old");
    await waitFor(() => server.head === 3000, "3000 stored");
    const got: number[] = [];
    const listener = listen(0, async (e) => {
      got.push(e.position);
      if (e.position % 500 === 0) await delay(5);
    }, options);
    await publishMany(1000, "during");
    await waitFor(() => got.length >= 4000, "4000 delivered");
    await listener.close();
    assert.equal(got.length, 4000);
    assert.ok(got.every((p, i) => p === i + 1), "dense and in order");
  });

  it("in batches: history chunks then live groups, strict order, once, across the hand-over", async () => {
    await publishMany(3000, "old");
    await waitFor(() => server.head === 3000, "3000 stored");
    const groups: number[][] = [];
    let running = 0;
    let overlapped = false;
    const listener = listenInBatches(0, async (events) => {
      overlapped ||= running++ > 0;
      groups.push(events.map((e) => e.position));
      if (groups.length % 3 === 0) await delay(5); // slow now and then: live events pile up into groups
      running--;
    }, { ...options, maxBatch: 50 });
    await publishMany(1000, "during");
    await waitFor(() => groups.flat().length >= 4000, "4000 delivered");
    await delay(100);
    await listener.close();
    const got = groups.flat();
    assert.equal(got.length, 4000, "no repeat");
    assert.ok(got.every((p, i) => p === i + 1), "dense and in order");
    assert.ok(!overlapped, "one group at a time");
    assert.ok(groups.every((group) => group.length > 0), "no empty group");
    assert.ok(groups.length < 4000, `grouped: ${groups.length} calls for 4000 events`);
    assert.equal(listener.position, 4001);
  });

  it("in batches: a failed group stops it at the group's first event; a restart gets the group again", async () => {
    await publishMany(10);
    await waitFor(() => server.head === 10, "10 stored");
    const first: number[][] = [];
    const failing = listenInBatches(1, (events) => {
      if (events.some((e) => e.position === 14)) throw new Error("boom");
      first.push(events.map((e) => e.position));
    }, options);
    await failing.ready;
    await waitFor(() => first.flat().length === 10, "history");
    await publishMany(10); // 11..20 live: the group holding 14 fails
    await assert.rejects(failing.closed, (error: Error) => {
      assert.ok(error instanceof HandlerError, `got ${error}`);
      return true;
    });
    const saved = failing.position!;
    assert.ok(saved >= 11 && saved <= 14, `stopped at the failed group's first event, not after it: ${saved}`);
    assert.deepEqual(first.flat(), Array.from({ length: saved - 1 }, (_, i) => i + 1), "everything before it once");
    const second: number[] = [];
    const resumed = listenInBatches(saved, (events) => void second.push(...events.map((e) => e.position)), options);
    await waitFor(() => second.length === 21 - saved, "the failed group and the rest");
    await resumed.close();
    assert.deepEqual([...first.flat(), ...second], Array.from({ length: 20 }, (_, i) => i + 1), "at least once");
  });

  it("awaits the handler's promise before the next event", async () => {
    await publishMany(20);
    let running = 0;
    let maxRunning = 0;
    const got: number[] = [];
    const listener = listen(0, async (e) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await delay(5);
      got.push(e.position);
      running--;
    }, options);
    await publishMany(20);
    await waitFor(() => got.length === 40, "40 delivered");
    await listener.close();
    assert.equal(maxRunning, 1);
    assert.deepEqual(got, Array.from({ length: 40 }, (_, i) => i + 1));
  });

  it("stops at a failing handler and reports its position; later events are not delivered", async () => {
    await publishMany(10);
    await waitFor(() => server.head === 10, "10 stored");
    const got: number[] = [];
    const listener = listen(1, (e) => {
      if (e.position === 4) throw new Error("boom");
      got.push(e.position);
    }, options);
    await assert.rejects(listener.closed, (error: Error) => {
      assert.ok(error instanceof HandlerError);
      assert.equal(error.position, 4);
      assert.match(error.message, /position 4: boom/);
      return true;
    });
    assert.deepEqual(got, [1, 2, 3]);
    assert.equal(listener.position, 4);
  });

  it("delivers history in chunks without losing order across chunk boundaries (sync and thenable handlers)", async () => {
    await publishMany(5000);
    await waitFor(() => server.head === 5000, "5000 stored");
    const sync: number[] = [];
    const syncListener = listen(0, (e) => {
      sync.push(e.position); // returns nothing: no await per event
    }, options);
    // A thenable that is not a native promise is still awaited before the next event.
    let pending = 0;
    let maxPending = 0;
    const thenable: number[] = [];
    const thenableListener = listen(0, (e) =>
      ({
        then(resolve: () => void) {
          pending++;
          maxPending = Math.max(maxPending, pending);
          const settle = () => {
            thenable.push(e.position);
            pending--;
            resolve();
          };
          if (e.position % 1000 === 0) setTimeout(settle, 2);
          else queueMicrotask(settle);
        },
      }) as unknown as PromiseLike<void>, options);
    await waitFor(() => sync.length >= 5000 && thenable.length >= 5000, "5000 delivered twice");
    await syncListener.close();
    await thenableListener.close();
    const all = Array.from({ length: 5000 }, (_, i) => i + 1);
    assert.deepEqual(sync, all);
    assert.deepEqual(thenable, all);
    assert.equal(maxPending, 1);
  });

  it("a handler throwing in the middle of a history chunk reports its position and gets nothing after it", async () => {
    await publishMany(3000);
    await waitFor(() => server.head === 3000, "3000 stored");
    for (const mode of ["sync", "async"] as const) {
      const got: number[] = [];
      const listener = listen(0, (e) => {
        if (e.position === 1234) {
          if (mode === "sync") throw new Error("bad event");
          return Promise.reject(new Error("bad event"));
        }
        got.push(e.position);
      }, options);
      await assert.rejects(listener.closed, (error: Error) => {
        assert.ok(error instanceof HandlerError);
        assert.equal(error.position, 1234);
        return true;
      });
      await delay(50);
      assert.deepEqual(got, Array.from({ length: 1233 }, (_, i) => i + 1), mode);
      assert.equal(listener.position, 1234);
    }
  });

  it("close() stops in the middle of a history chunk", async () => {
    await publishMany(3000);
    await waitFor(() => server.head === 3000, "3000 stored");
    const got: number[] = [];
    let closing: Promise<void> | undefined;
    const listener = listen(0, (e) => {
      got.push(e.position);
      if (e.position === 777) closing = listener.close();
    }, options);
    await waitFor(() => closing !== undefined, "close called");
    await closing;
    await listener.closed;
    await delay(50);
    assert.deepEqual(got, Array.from({ length: 777 }, (_, i) => i + 1));
    assert.equal(listener.position, 778);
  });

  it("is an async iterable that fetches the next event only when asked", async () => {
    await publishMany(50);
    await waitFor(() => server.head === 50, "50 stored");
    const seen: number[] = [];
    for await (const event of subscribe(0, options)) {
      seen.push(event.position);
      if (event.position === 25) break;
    }
    assert.deepEqual(seen, Array.from({ length: 25 }, (_, i) => i + 1));
  });

  it("repairs a gap in the live feed from history", async () => {
    // A fixed port so the history URL survives a server restart.
    const port = await freePort();
    await server.close();
    server = await ctx.startServer({ port });
    options.historyUrl = `http://127.0.0.1:${port}/`;
    await publishMany(3);
    await waitFor(() => server.head === 3, "3 stored");
    const got: number[] = [];
    const listener = listen(0, (e) => {
      got.push(e.position);
    }, options);
    await waitFor(() => got.length === 3, "3 delivered");
    await server.close();
    // Records 4..6 reach the file but never the fanout (the watermark claims they did).
    const lines = [4, 5, 6].map((p) => encodeRecord(p, `gap${p}`, "2026-01-01T00:00:00.000Z", `{"gap":${p}}`) + "\n");
    const { appendFile } = await import("node:fs/promises");
    await appendFile(ctx.storageFile, lines.join(""));
    await writeFile(`${ctx.storageFile}.published`, "6\n");
    server = await ctx.startServer({ port });
    await command.publish({ after: "gap" });
    await waitFor(() => got.length === 7, "7 delivered");
    await listener.close();
    assert.deepEqual(got, [1, 2, 3, 4, 5, 6, 7]);
  });
});

/**
 * Collect what is written with console.warn (the listener's stderr) and console.log (its DEBUG
 * output) until `restore()`.
 */
function captureWarnings(): { lines: string[]; debug: string[]; restore: () => void } {
  const { warn, log } = console;
  const lines: string[] = [];
  const debug: string[] = [];
  console.warn = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
  console.log = (...args: unknown[]) => void debug.push(args.map(String).join(" "));
  return {
    lines,
    debug,
    restore: () => {
      console.warn = warn;
      console.log = log;
    },
  };
}

/** `promise`, or a rejection naming `what` after 20 s (so a missing stop fails instead of hanging). */
function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after 20000 ms waiting for ${what}`)), 20_000);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Whether a promise has settled, without waiting for it. */
function tracked(promise: Promise<unknown>): { readonly settled: boolean } {
  let settled = false;
  promise.then(() => (settled = true), () => (settled = true));
  return {
    get settled() {
      return settled;
    },
  };
}

const TIME = "2026-01-01T00:00:00.000Z";
const recordLine = (p: number) => encodeRecord(p, `id-${p}`, TIME, JSON.stringify({ p })) + "\n";

/**
 * A stand-in for the server's HTTP history (the server side of store ids lands separately): it
 * serves `records` (1..n) with `x-head-position`, and `x-store-id` when `storeId` is set, or a
 * 404 HTML page while `notFound`; it counts requests.
 */
interface FakeHistory {
  records: number;
  storeId?: string;
  notFound?: boolean;
  requests: number;
  server: HttpServer;
  url: string;
}

async function fakeHistory(init: Partial<FakeHistory> = {}, port = 0): Promise<FakeHistory> {
  const fake = { records: 0, requests: 0, ...init } as FakeHistory;
  fake.server = await serve((request) => {
    fake.requests++;
    if (fake.notFound) {
      return Promise.resolve(
        new Response("<html>\n<body><h1>404 Not Found</h1></body>\n</html>\n", {
          status: 404,
          headers: { "content-type": "text/html" },
        }),
      );
    }
    const query = new URL(request.url).searchParams;
    const from = Math.max(1, Number(query.get("from") ?? 1));
    const limit = query.has("limit") ? Number(query.get("limit")) : Infinity;
    let body = "";
    for (let p = from; p <= fake.records && p < from + limit; p++) body += recordLine(p);
    const headers: Record<string, string> = {
      "content-type": "application/x-ndjson",
      "x-head-position": String(fake.records),
    };
    if (fake.storeId !== undefined) headers["x-store-id"] = fake.storeId;
    return Promise.resolve(new Response(limit === 0 ? null : body, { headers }));
  }, { port, hostname: "127.0.0.1" });
  fake.url = `http://127.0.0.1:${fake.server.port}/`;
  return fake;
}

describe("listener hardening against RabbitMQ: store ids, stray messages, unreachable history", () => {
  let ctx: TestContext;
  let fake: FakeHistory | undefined;
  let warnings: ReturnType<typeof captureWarnings>;
  const listeners: Listener[] = [];

  beforeEach(async () => {
    ctx = await setup("hardening");
    await ctx.broker.declareFanout(ctx.exchangeName);
    warnings = captureWarnings();
  });
  afterEach(async () => {
    warnings.restore();
    for (const listener of listeners.splice(0)) await listener.close();
    await fake?.server.close();
    fake = undefined;
    await ctx.cleanup();
  });

  const start = (from: number | undefined, got: number[], extra: ListenOptions = {}) => {
    const options = { amqpUrl: AMQP_URL, exchangeName: ctx.exchangeName, historyUrl: fake?.url, ...extra };
    const handler = (e: EventRecord) => {
      got.push(e.position);
    };
    const listener = from === undefined ? listen(handler, options) : listen(from, handler, options);
    // Observed from the start: a stop can come before a test awaits `closed` (it then still rejects there).
    listener.closed.catch(() => {});
    listeners.push(listener);
    return listener;
  };
  /** Publish a record straight to the fanout, as the server does, with the given headers. */
  const publishRecord = (p: number, headers: Record<string, unknown>) =>
    ctx.broker.publish(ctx.exchangeName, "", recordLine(p), { headers: { position: p, ...headers } });
  const historyWarnings = () => warnings.lines.filter((l) => l.includes("Cannot read history"));

  it("a stray message on the fanout is skipped and warned about once; every event is delivered once, in order", async () => {
    const server = await ctx.startServer();
    const command = createCommand({ amqpUrl: AMQP_URL, queueName: ctx.queueName });
    try {
      const historyUrl = `http://127.0.0.1:${server.port}/`;
      // prefetch 2: strays that were never acked would stall the feed at once.
      const fromZero: number[] = [];
      const newOnly: number[] = [];
      const a = start(0, fromZero, { historyUrl, prefetch: 2 });
      const b = start(undefined, newOnly, { historyUrl, prefetch: 2 });
      const closed = [tracked(a.closed), tracked(b.closed)];
      await Promise.all([a.ready, b.ready]);
      const stray = () => ctx.broker.publish(ctx.exchangeName, "", '{"type":"Ok"}'); // the mistake in the issue
      await stray(); // before the first live event: must not set the new-only listener's position
      for (let round = 0; round < 10; round++) {
        await command.publish({ round });
        await stray();
        await ctx.broker.publish(ctx.exchangeName, "", "not json", { headers: { position: "x" } });
      }
      await waitFor(() => fromZero.length >= 10 && newOnly.length >= 10, "10 delivered to both");
      await delay(100);
      const all = Array.from({ length: 10 }, (_, i) => i + 1);
      assert.deepEqual(fromZero, all);
      assert.deepEqual(newOnly, all);
      assert.ok(closed.every((c) => !c.settled), "neither listener stopped");
      // 21 strays per listener, one warning each within the 30 s limit.
      const strays = warnings.lines.filter((l) => l.includes("not a record of this store"));
      assert.equal(strays.length, 2, strays.join("\n"));
      assert.match(strays[0], new RegExp(`exchange ${ctx.exchangeName} .*: \\{"type":"Ok"\\}$`));
      assert.equal(a.position, 11);
      process.stdout.write(
        `stray fanout messages: 10 events published, confirmed and stored, 21 strays on the exchange between them; ` +
          `a listener from 0 delivered ${fromZero.length} (lost 0, duplicated 0), a new-events-only one ${newOnly.length}; ` +
          `${strays.length} warnings in all, neither stopped\n`,
      );
    } finally {
      await command.close();
    }
  });

  it("stops with StoreChangedError when a live message comes from another store", async () => {
    fake = await fakeHistory({ records: 3, storeId: "store-a" });
    const got: number[] = [];
    const listener = start(0, got);
    await listener.ready;
    await waitFor(() => got.length === 3, "history delivered");
    assert.equal(listener.storeId, "store-a");
    await publishRecord(4, { "store-id": "store-a" });
    await waitFor(() => got.length === 4, "live 4 delivered");
    await publishRecord(5, { "store-id": "store-b" }); // the file was replaced and the server restarted
    await publishRecord(6, { "store-id": "store-a" });
    await assert.rejects(within(listener.closed, "the listener to stop"), (error: Error) => {
      assert.ok(error instanceof StoreChangedError, String(error));
      assert.equal(error.expected, "store-a");
      assert.equal(error.actual, "store-b");
      assert.match(error.message, /live message comes from store store-b, expected store store-a/);
      return true;
    });
    await delay(50);
    assert.deepEqual(got, [1, 2, 3, 4]);
    assert.equal(listener.position, 5);
  });

  it("stops with StoreChangedError when a history response (gap repair) comes from another store", async () => {
    fake = await fakeHistory({ records: 3, storeId: "store-a" });
    const got: number[] = [];
    const listener = start(0, got);
    await waitFor(() => got.length === 3, "history delivered");
    fake.storeId = "store-b";
    fake.records = 6;
    await publishRecord(6, {}); // no store-id: a gap, repaired from a history that is another store now
    await assert.rejects(within(listener.closed, "the listener to stop"), (error: Error) => {
      assert.ok(error instanceof StoreChangedError, String(error));
      assert.deepEqual([error.expected, error.actual], ["store-a", "store-b"]);
      assert.match(error.message, /history response/);
      return true;
    });
    assert.deepEqual(got, [1, 2, 3]);
  });

  it("with the storeId option, a first history response from another store stops it before any event", async () => {
    fake = await fakeHistory({ records: 3, storeId: "store-b" });
    const got: number[] = [];
    const listener = start(1, got, { storeId: "store-a" });
    await assert.rejects(within(listener.closed, "the listener to stop"), (error: Error) => {
      assert.ok(error instanceof StoreChangedError, String(error));
      assert.deepEqual([error.expected, error.actual], ["store-a", "store-b"]);
      return true;
    });
    assert.deepEqual(got, []);
  });

  it("a new-events-only listener learns the store from history and stops at a live message of another", async () => {
    fake = await fakeHistory({ records: 3, storeId: "store-a" });
    const got: number[] = [];
    const listener = start(undefined, got);
    await listener.ready;
    assert.equal(listener.storeId, "store-a");
    await publishRecord(4, { "store-id": "store-a" });
    await publishRecord(1, { "store-id": "store-b" });
    await assert.rejects(within(listener.closed, "the listener to stop"), StoreChangedError);
    assert.deepEqual(got, [4]);
  });

  it("an absent store id (a server that sends none) never stops it; the first id seen is followed", async () => {
    fake = await fakeHistory({ records: 2 });
    const got: number[] = [];
    const listener = start(0, got);
    await listener.ready; // bound: history is read while the live queue is set up, so wait for both
    await waitFor(() => got.length === 2, "history delivered");
    assert.equal(listener.storeId, undefined);
    await publishRecord(3, {});
    await publishRecord(4, { "store-id": "store-a" });
    await publishRecord(5, {});
    await publishRecord(6, { "store-id": "" });
    await publishRecord(7, { "store-id": "store-a" });
    await waitFor(() => got.length === 7, "7 delivered");
    assert.deepEqual(got, [1, 2, 3, 4, 5, 6, 7]);
    assert.equal(listener.storeId, "store-a");
    assert.equal(tracked(listener.closed).settled, false);
  });

  it("warns on stderr while nothing listens at the history URL, retries, and is ready once history answers", async () => {
    const port = await freePort();
    const historyUrl = `http://127.0.0.1:${port}/`;
    const fromOne: number[] = [];
    const newOnly: number[] = [];
    const a = start(1, fromOne, { historyUrl, warnInterval: 60_000, debug: true });
    const b = start(undefined, newOnly, { historyUrl, warnInterval: 60_000, debug: true });
    const ready = [tracked(a.ready), tracked(b.ready)];
    await waitFor(() => historyWarnings().length === 2, "a warning from each listener");
    for (const line of historyWarnings()) {
      assert.ok(line.startsWith(`[rabbit-eventstore listener] Cannot read history from ${historyUrl} (`), line);
      assert.match(line, /refused|ECONNREFUSED/i);
    }
    // Several retries each (the DEBUG log counts them) within the 60 s limit: still one warning each.
    await waitFor(() => warnings.debug.filter((l) => /History from 1 failed/.test(l)).length >= 8, "retries");
    assert.equal(historyWarnings().length, 2);
    assert.ok(ready.every((r) => !r.settled), "not ready while history is unreachable");
    fake = await fakeHistory({ records: 2 }, port);
    await Promise.all([a.ready, b.ready]);
    await waitFor(() => fromOne.length === 2, "history delivered");
    await publishRecord(3, {});
    await waitFor(() => fromOne.length === 3 && newOnly.length === 1, "live delivered");
    assert.deepEqual([fromOne, newOnly], [[1, 2, 3], [3]]);
    assert.equal(warnings.lines.filter((l) => l.endsWith(`History at ${historyUrl} answers again`)).length, 2);
  });

  it("an answer that is not history (404 HTML) is warned about the same way; ready waits for real history", async () => {
    fake = await fakeHistory({ records: 2, notFound: true });
    const got: number[] = [];
    const listener = start(0, got, { warnInterval: 60_000 });
    const ready = tracked(listener.ready);
    await waitFor(() => fake!.requests >= 4, "four history requests");
    assert.equal(historyWarnings().length, 1, historyWarnings().join("\n"));
    assert.match(historyWarnings()[0], new RegExp(`from ${fake.url} \\(History request .* failed: HTTP 404: <html>`));
    assert.equal(ready.settled, false);
    fake.notFound = false;
    await listener.ready;
    await waitFor(() => got.length === 2, "history delivered");
    assert.deepEqual(got, [1, 2]);
  });
});
