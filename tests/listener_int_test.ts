import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { type Command, createCommand } from "../command.ts";
import { type EventRecord, HandlerError, listen, type ListenOptions, subscribe } from "../listener.ts";
import { encodeRecord } from "../lib/record.ts";
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
    const lines = [4, 5, 6].map((p) => encodeRecord(p, `gap${p}`, "2026-01-01T00:00:00.000Z", `{"gap":${p}}`));
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
