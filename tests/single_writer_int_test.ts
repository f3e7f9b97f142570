/**
 * Issue 7, items 1, 3, 4 and 5: deployment mistakes around the store, with
 * the server as a child process (as in production) on the real broker and
 * real files.
 *
 * - Two servers on one STORAGEFILE: the second exits 1 with one line naming
 *   the holder's pid and writes nothing; once the first is SIGKILLed the OS
 *   frees the lock and a new server takes over. Every confirmed event is
 *   stored once, and the fanout carries every position once.
 * - A store's identity is on every fanout message and history response, kept
 *   across restarts, new when the file is replaced.
 * - A file that is not a store, a device, a FIFO or a read-only mount is
 *   refused at start with one line naming STORAGEFILE, byte for byte
 *   untouched.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createCommand } from "../command.ts";
import { listen } from "../listener.ts";
import { StoreChangedError } from "../lib/errors.ts";
import { openSession } from "../lib/amqp_session.ts";
import type { BrokerSession } from "../lib/broker_session.ts";
import { AMQP_URL, delay, freePort, history, recordLines, setup, type TestContext, waitFor } from "./_helpers.ts";
import { type Exit, NODE_BIN_FROM_SOURCE, ServerChild, serverHead } from "../scripts/_server_child.ts";

// deno-lint-ignore no-explicit-any
const onDeno = Boolean((globalThis as any).Deno);

describe("one store, one writer", () => {
  let ctx: TestContext;
  const taps: BrokerSession[] = [];
  before(async () => {
    ctx = await setup("writer");
  });
  after(async () => {
    for (const session of taps) await session.close();
    await ctx.cleanup();
  });

  function child(port: number, runtime?: "deno" | "node", storageFile = ctx.storageFile): ServerChild {
    return new ServerChild({
      storageFile,
      queueName: ctx.queueName,
      exchangeName: ctx.exchangeName,
      port,
      runtime,
    });
  }

  it("a second server on the same STORAGEFILE exits 1 with one line and never writes; the OS frees the lock on SIGKILL", async () => {
    const tap = await tapFanoutRecords(ctx, taps);
    const first = child(await freePort());
    await first.ready;
    const total = 2000;
    const command = createCommand({ amqpUrl: AMQP_URL, queueName: ctx.queueName });
    const confirmed: string[] = [];
    const publishing = (async () => {
      for (let i = 0; i < total; i += 100) {
        await Promise.all(
          Array.from({ length: 100 }, (_, j) => `w-${i + j}`).map((id) =>
            command.publish({ n: id }, { id }).then(() => confirmed.push(id))
          ),
        );
      }
    })();
    // While events arrive, second servers try the same file (and queue): on this runtime and, from the Deno pass,
    // on the other one too (a Deno and a Node server take the same kind of lock).
    const runtimes: Array<"deno" | "node" | undefined> = [undefined];
    if (onDeno && existsSync(NODE_BIN_FROM_SOURCE)) runtimes.push("node");
    const refusals: string[] = [];
    for (const runtime of runtimes) {
      const second = child(await freePort(), runtime);
      const exit = await exitWithin(second, 30_000);
      assert.deepEqual(exit, { code: 1, signal: null }, second.output);
      const lines = second.output.trim().split("\n");
      assert.deepEqual(lines, [
        `rabbit-eventstore: STORAGEFILE "${ctx.storageFile}" is in use by another server (pid ${first.pid}); ` +
        `stop it first, or give this server its own STORAGEFILE and QUEUENAME`,
      ], `one line (${runtime ?? "same runtime"})`);
      refusals.push(runtime ?? "same runtime");
    }
    await publishing;
    await waitFor(async () => (await serverHead(first.port)) === total, `${total} stored`, 30_000);
    const before = await readFile(ctx.storageFile);

    // The first dies without any shutdown code: its lock goes with it, and a new server takes over at once.
    await first.kill();
    const takeover = child(await freePort());
    await takeover.ready;
    assert.deepEqual(await readFile(ctx.storageFile), before, "the take-over found the file as the first left it");
    for (let i = 0; i < 10; i++) {
      const id = `after-${i}`;
      await command.publish({ n: id }, { id });
      confirmed.push(id);
    }
    await waitFor(async () => (await serverHead(takeover.port)) === total + 10, `${total + 10} stored`, 30_000);
    await waitFor(() => tap.positions.length >= total + 10, "every position on the fanout", 30_000);
    await delay(300); // a second publisher's positions would show now
    await command.close();
    const records = await history(takeover.port);
    await takeover.stop();

    const ids = records.map((r) => r.id as string);
    const stored = new Set(ids);
    const lost = confirmed.filter((id) => !stored.has(id)).length;
    const duplicated = ids.length - stored.size;
    // At-least-once fanout: the take-over republishes what the killed server had not marked published. But
    // every message on the fanout must be the stored record at its position: no other server's numbering.
    const republished = tap.positions.length - new Set(tap.positions).size;
    const foreign = tap.positions.filter((p, i) => tap.ids[i] !== ids[p - 1]).length;
    console.log(
      `two servers on one STORAGEFILE (${refusals.join(", ")} refused): published ${total + 10}, ` +
        `confirmed ${confirmed.length}, stored ${records.length}, lost ${lost}, duplicated ${duplicated}, ` +
        `fanout ${tap.positions.length} messages (${republished} republished by the take-over), ` +
        `${foreign} not the stored record at their position`,
    );
    assert.equal(confirmed.length, total + 10);
    assert.deepEqual(records.map((r) => r.position), Array.from({ length: total + 10 }, (_, i) => i + 1));
    assert.equal(lost, 0);
    assert.equal(duplicated, 0);
    assert.equal((await recordLines(ctx.storageFile)).length, total + 10);
    assert.equal(foreign, 0, "only one server ever numbered events");
    assert.deepEqual([...new Set(tap.positions)].sort((a, b) => a - b), records.map((r) => r.position));
  });

  it("names the store on every fanout message and history response; the same after a restart, new for a new file", async () => {
    const tap = await tapFanoutRecords(ctx, taps);
    const storageFile = join(ctx.dir, "identity");
    const port = await freePort(); // every server of this test on one port: the listener's HISTORYURL
    const server = child(port, undefined, storageFile);
    await server.ready;
    const delivered: number[] = [];
    const listener = listen(0, (event) => {
      delivered.push(event.position);
    }, {
      amqpUrl: AMQP_URL,
      exchangeName: ctx.exchangeName,
      historyUrl: `http://127.0.0.1:${port}/`,
    });
    const stopped = listener.closed.then(() => undefined, (error: unknown) => error);
    await listener.ready;
    await ctx.broker.publish("", ctx.queueName, '{"a":1}');
    await waitFor(() => tap.storeIds.length === 1, "one fanout message");
    const response = await fetch(`http://127.0.0.1:${server.port}/`);
    const id = response.headers.get("x-store-id");
    await response.body?.cancel();
    assert.match(id ?? "", /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(tap.storeIds[0], id, "fanout header store-id = history header x-store-id");
    await server.stop();

    const again = child(port, undefined, storageFile);
    await again.ready;
    await ctx.broker.publish("", ctx.queueName, '{"a":2}');
    await waitFor(() => tap.storeIds.length === 2, "a second fanout message");
    assert.equal(tap.storeIds[1], id, "kept across a restart");
    await waitFor(() => delivered.length === 2, "the listener delivered both events of the first store");
    await again.stop();

    await rm(storageFile);
    await rm(`${storageFile}.published`, { force: true });
    const replaced = child(port, undefined, storageFile);
    await replaced.ready;
    await ctx.broker.publish("", ctx.queueName, '{"a":3}');
    await waitFor(() => tap.storeIds.length === 3, "a third fanout message");
    assert.notEqual(tap.storeIds[2], id, "a replaced file is another store");
    assert.equal(tap.positions[2], 1, "which starts again at position 1: only the identity tells a listener");
    // The listener that followed the first store stops instead of dropping position 1 as a duplicate.
    const error = await Promise.race([stopped, delay(20_000).then(() => "still running")]);
    await listener.close();
    await replaced.stop();
    assert.ok(error instanceof StoreChangedError, `expected StoreChangedError, got ${error}`);
    assert.equal(error.expected, id);
    assert.equal(error.actual, tap.storeIds[2]);
    assert.deepEqual(delivered, [1, 2], "nothing of the new store was delivered");
    console.log(`replaced store: the listener stopped with ${error.message}`);
  });
});

describe("STORAGEFILE that is not a store", () => {
  let ctx: TestContext;
  before(async () => {
    ctx = await setup("notstore");
  });
  after(async () => {
    await ctx.cleanup();
  });

  /** Start the server on `storageFile`; it must exit 1 with exactly `line` and leave the queue's messages alone. */
  async function refused(storageFile: string, line: RegExp): Promise<string> {
    const server = new ServerChild({
      storageFile,
      queueName: ctx.queueName,
      exchangeName: ctx.exchangeName,
      port: await freePort(),
    });
    const exit = await exitWithin(server, 30_000);
    assert.deepEqual(exit, { code: 1, signal: null }, server.output);
    const lines = server.output.trim().split("\n");
    assert.equal(lines.length, 1, server.output);
    assert.match(lines[0], line);
    return lines[0];
  }

  const notAStore = (path: string, why: string) =>
    new RegExp(
      `^rabbit-eventstore: STORAGEFILE "${escape(path)}" is not a rabbit-eventstore store \\(${why}\\); ` +
        `it was left untouched — point STORAGEFILE at a store or at a new file$`,
    );

  it("refuses package.json, 500 random bytes and two lines of text, byte for byte untouched", async () => {
    await ctx.broker.declareQueue(ctx.queueName);
    await ctx.broker.publish("", ctx.queueName, '{"waiting":true}');
    const random = new Uint8Array(500).map((_, i) => (i * 7919 + 13) % 256);
    const cases: Array<[string, Uint8Array | string, string]> = [
      [
        "package.json",
        JSON.stringify({ name: "my-app", private: true, type: "module" }, null, 2) + "\n",
        'it begins with "\\{"',
      ],
      ["random", random, "it begins with .*"],
      ["notes.txt", "first line\nsecond line\n", 'it begins with "first line"'],
    ];
    for (const [name, content, why] of cases) {
      const path = join(ctx.dir, name);
      await writeFile(path, content);
      const before = await readFile(path);
      const line = await refused(path, notAStore(path, why));
      console.log(`STORAGEFILE=${name}: ${line}`);
      assert.deepEqual(await readFile(path), before, `${name} is untouched`);
    }
    const depth = await ctx.broker.declareQueue(ctx.queueName).then(() => queueMessages(ctx));
    assert.equal(depth, 1, "the waiting event was not consumed");
  });

  it("refuses /dev/null, a FIFO and a read-only mount with one line naming STORAGEFILE", async (t) => {
    await refused("/dev/null", notAStore("/dev/null", "it is a character device, not a regular file"));
    const fifo = join(ctx.dir, "fifo");
    assert.equal(spawnSync("mkfifo", [fifo]).status, 0, "mkfifo");
    await refused(fifo, notAStore(fifo, "it is a FIFO, not a regular file"));

    const mount = join(ctx.dir, "ro");
    await mkdir(mount);
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", mount], { stdio: "pipe" });
    } catch (error) {
      t.diagnostic(`skipped the read-only mount: ${(error as Error).message}`);
      return;
    }
    try {
      const path = join(mount, "storage");
      await refused(
        path,
        new RegExp(
          `^rabbit-eventstore: Cannot open STORAGEFILE "${escape(path)}": the file system is read-only; ` +
            `point STORAGEFILE at a writable file system$`,
        ),
      );
    } finally {
      execFileSync("umount", [mount], { stdio: "pipe" });
    }
  });
});

/** The child's exit; a child still running after `ms` is killed and the test fails. */
async function exitWithin(child: ServerChild, ms: number): Promise<Exit> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      void child.kill();
      reject(new Error(`the server was expected to refuse and exit, but still ran after ${ms} ms: ${child.output}`));
    }, ms);
  });
  try {
    return await Promise.race([child.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Bind a fresh queue to the context's fanout and collect each message's position and store-id headers. */
async function tapFanoutRecords(
  ctx: TestContext,
  sessions: BrokerSession[],
): Promise<{ positions: number[]; ids: string[]; storeIds: string[] }> {
  const tap = { positions: [] as number[], ids: [] as string[], storeIds: [] as string[] };
  const session = await openSession(AMQP_URL); // one consumer per session
  sessions.push(session);
  await session.declareFanout(ctx.exchangeName);
  const queue = await session.declareQueue("", { durable: false, exclusive: true, autoDelete: true });
  await session.bind(queue, ctx.exchangeName);
  await session.consume(queue, 1000, (d) => {
    tap.positions.push(Number(d.headers?.position));
    tap.ids.push(String(d.messageId));
    tap.storeIds.push(String(d.headers?.["store-id"]));
    void session.ack(d.tag).catch(() => {});
  });
  return tap;
}

/** Messages ready in the context's queue, as rabbitmqctl counts them. */
function queueMessages(ctx: TestContext): number {
  const out = execFileSync("rabbitmqctl", ["list_queues", "name", "messages", "--quiet"], { encoding: "utf8" });
  for (const line of out.split("\n")) {
    const [name, messages] = line.trim().split(/\s+/);
    if (name === ctx.queueName) return Number(messages);
  }
  throw new Error(`queue ${ctx.queueName} not found`);
}
