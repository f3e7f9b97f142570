/**
 * Liveness and readiness with the real server (issue 11): `/health/live`,
 * `/health/ready` in each state, and `/health` as before.
 *
 * - ready: storage open, broker connected, queue consumed;
 * - broker unreachable at start (a server pointed at a closed port), and a
 *   broker connection lost afterwards (through a TCP relay of our own that
 *   the test closes; the shared broker is never touched), then back;
 * - storage failed (an append that fails): 503 with the reason while the
 *   server shuts down;
 * - storage file read-only (a read-only bind mount of it: real, as root
 *   ignores mode bits): 503 saying so, 200 again once it is writable.
 *
 * @module
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { MemoryStorage } from "../lib/memory_storage.ts";
import type { PublishedMark } from "../lib/storage.ts";
import { startServer } from "../server.ts";
import { bindReadOnly, unmount } from "./_faulty_disk.ts";
import { freePort, setup, type TestContext, waitFor } from "./_helpers.ts";

interface Health {
  status: string;
  reasons?: string[];
}

async function probe(port: number, path: string): Promise<{ status: number; body: Health }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, body: await response.json() as Health };
}

/** A TCP relay to the shared broker that the test can cut and restore (the broker itself is never stopped). */
class Relay {
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  port = 0;

  async open(port = 0): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(5672, "127.0.0.1");
      this.#sockets.add(client).add(upstream);
      for (const socket of [client, upstream]) {
        socket.on("error", () => {});
        socket.once("close", () => {
          this.#sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    this.#server = server;
    this.port = (server.address() as { port: number }).port;
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const socket of this.#sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe("/health/live and /health/ready", () => {
  let ctx: TestContext;

  before(async () => {
    ctx = await setup("health");
  });

  after(async () => {
    await ctx?.cleanup();
  });

  it("is ready while storage, broker and consumer are up; /health answers as before", async () => {
    const server = await ctx.startServer();
    assert.deepEqual(await probe(server.port, "/health/live"), { status: 200, body: { status: "live" } });
    assert.deepEqual(await probe(server.port, "/health/ready"), { status: 200, body: { status: "ready" } });
    const legacy = await probe(server.port, "/health");
    assert.equal(legacy.status, 200);
    assert.equal(legacy.body.status, "ok");
    assert.equal((legacy.body as unknown as { broker: string }).broker, "up");
    await server.close();
  });

  it("is not ready while its storage file is read-only (a read-only bind mount), and ready again after", async (t) => {
    const server = await ctx.startServer();
    try {
      assert.equal((await probe(server.port, "/health/ready")).status, 200);
      const why = bindReadOnly(ctx.storageFile);
      if (why) return t.skip(`cannot bind-mount read-only here: ${why}`);
      let seen: { status: number; body: Health } | undefined;
      try {
        await waitFor(async () => {
          seen = await probe(server.port, "/health/ready");
          return seen.status === 503;
        }, "readiness to notice the read-only file");
        assert.match(seen!.body.reasons?.[0] ?? "", /^storage file .* is not writable: .*EROFS/);
      } finally {
        unmount(ctx.storageFile);
      }
      await waitFor(async () => (await probe(server.port, "/health/ready")).status === 200, "ready again");
    } finally {
      await server.close();
    }
  });

  it("is live but not ready while the broker cannot be reached at start (a closed port)", async () => {
    const port = await freePort();
    const closed = await freePort(); // nothing listens there
    const starting = startServer(ctx.serverOptions({
      amqpUrl: `amqp://guest:guest@127.0.0.1:${closed}`,
      storageFile: join(ctx.dir, "closed-port-store"),
      port,
      brokerStartTimeout: 4_000,
    }));
    starting.catch(() => {});
    let ready: { status: number; body: Health } | undefined;
    await waitFor(
      async () => {
        ready = await probe(port, "/health/ready").catch(() => undefined);
        return ready !== undefined;
      },
      "the HTTP side to answer while the broker is retried",
      4_000,
    );
    assert.equal(ready!.status, 503);
    assert.deepEqual(ready!.body, {
      status: "not ready",
      reasons: ["broker not connected", `not consuming queue "${ctx.queueName}"`],
    });
    assert.deepEqual(await probe(port, "/health/live"), { status: 200, body: { status: "live" } });
    await assert.rejects(starting, /Cannot connect to RabbitMQ/);
  });

  it("goes not ready when the broker connection is lost, and ready again when it is back", async () => {
    const relay = new Relay();
    await relay.open();
    const server = await ctx.startServer({
      amqpUrl: `amqp://guest:guest@127.0.0.1:${relay.port}`,
      storageFile: join(ctx.dir, "relay-store"),
    });
    try {
      assert.equal((await probe(server.port, "/health/ready")).status, 200);
      await relay.close();
      let seen: { status: number; body: Health } | undefined;
      await waitFor(async () => {
        seen = await probe(server.port, "/health/ready");
        return seen.status === 503;
      }, "readiness to notice the lost broker");
      assert.ok(seen!.body.reasons?.includes("broker not connected"), JSON.stringify(seen!.body));
      assert.deepEqual(await probe(server.port, "/health/live"), { status: 200, body: { status: "live" } });
      await relay.open(relay.port);
      await waitFor(
        async () => (await probe(server.port, "/health/ready")).status === 200,
        "readiness after the reconnect",
      );
    } finally {
      await server.close();
      await relay.close();
    }
  });

  it("says the storage failed while a server whose append failed shuts down", async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    /** Its watermark saves wait for the test, so the shutdown (which flushes it) keeps HTTP up meanwhile. */
    class HeldStorage extends MemoryStorage {
      override get publishedMark(): PublishedMark {
        const mark = super.publishedMark;
        return { load: () => mark.load(), save: async (position) => (await held, await mark.save(position)) };
      }
    }
    const storage = new HeldStorage({
      failAppend: (records) =>
        records.some((r) => r.line.includes('"fail"')) ? new Error("EIO: i/o error, fdatasync") : undefined,
    });
    const server = await ctx.startServer({ storage });
    server.closed.catch(() => {});
    try {
      await ctx.broker.publish("", ctx.queueName, '{"ok":1}', { messageId: "ok-1" });
      await waitFor(() => server.head === 1, "the first event stored");
      await waitFor(async () => {
        const health = await (await fetch(`http://127.0.0.1:${server.port}/health`)).json() as { published: number };
        return health.published === 1;
      }, "the first event published");
      await ctx.broker.publish("", ctx.queueName, '{"fail":1}', { messageId: "fail-1" });
      let seen: { status: number; body: Health } | undefined;
      await waitFor(async () => {
        seen = await probe(server.port, "/health/ready");
        return seen.status === 503;
      }, "readiness to notice the failed storage");
      assert.match(seen!.body.reasons?.[0] ?? "", /^storage failed: .*EIO: i\/o error, fdatasync/);
    } finally {
      release();
    }
    await assert.rejects(server.closed, /EIO/);
  });
});
