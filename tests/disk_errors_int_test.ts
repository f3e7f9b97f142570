/**
 * Disk errors and damaged storage against the real server and RabbitMQ
 * (issue 3, items 4 and 6).
 *
 * On a failed write or fsync (EIO) or a full disk (ENOSPC) the server must
 * acknowledge nothing it did not store, leave no half record that a restart
 * would keep, never retry the failed fsync, stop consuming, and reject its
 * `stopped` promise with a StorageFailedError (the CLI exits 1 with the
 * message). Restarted on a healthy disk it redelivers and stores the rest
 * with no gap and no duplicate.
 */
import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { AMQPClient } from "@cloudamqp/amqp-client";
import type { Delivery } from "../lib/broker_session.ts";
import { CorruptLogError, StorageFailedError } from "../lib/errors.ts";
import { FileStorage, type FileStorageTestOptions } from "../lib/file_storage.ts";
import { encodeRecord } from "../lib/record.ts";
import { verifyStorageFile } from "../lib/verify.ts";
import type { EventStoreServer } from "../server.ts";
import { AMQP_URL, delay, history, setup, type TestContext, waitFor } from "./_helpers.ts";
import { FaultyDisk, ioError, mountTmpfs, resizeTmpfs, unmount } from "./_faulty_disk.ts";

const SERVER = new URL("../server.ts", import.meta.url).pathname;

/** Ready messages and consumers of a queue, by passive declare (changes nothing). */
async function queueStats(name: string): Promise<{ messages: number; consumers: number }> {
  const client = new AMQPClient(AMQP_URL);
  await client.connect();
  try {
    const ch = await client.channel();
    const ok = await ch.queueDeclare(name, { passive: true });
    return { messages: ok.messageCount, consumers: ok.consumerCount };
  } finally {
    await client.close().catch(() => {});
  }
}

/**
 * Wait until the queue holds `expected` ready messages and no consumer (the
 * stopped server's unacknowledged messages are back), then return what it
 * holds. Returns the last reading on timeout, so the assertion names it.
 */
async function settledQueue(name: string, expected: number): Promise<{ messages: number; consumers: number }> {
  let last = await queueStats(name);
  const deadline = Date.now() + 10_000;
  while ((last.messages !== expected || last.consumers !== 0) && Date.now() < deadline) {
    await delay(100);
    last = await queueStats(name);
  }
  return last;
}

/** Publish `total` events with messageIds ev-0… into the input queue (declared first), all confirmed. */
async function publishEvents(ctx: TestContext, total: number, pad = 60): Promise<string[]> {
  await ctx.broker.declareQueue(ctx.queueName);
  const ids = Array.from({ length: total }, (_, i) => `ev-${i}`);
  for (let i = 0; i < total; i += 500) {
    await Promise.all(
      ids.slice(i, i + 500).map((id, j) =>
        ctx.broker.publish("", ctx.queueName, JSON.stringify({ i: i + j, pad: "x".repeat(pad) }), { messageId: id })
      ),
    );
  }
  return ids;
}

/** The stopped promise's rejection (fails the test if it resolves, or if the server keeps running for 30 s). */
async function stoppedError(server: EventStoreServer): Promise<Error> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("the server did not stop within 30 s of the disk error")), 30_000);
  });
  try {
    return await Promise.race([
      server.closed.then(() => assert.fail("stopped resolved; it must reject after a disk error")),
      timeout,
    ]).catch((error) => {
      if (/did not stop within/.test(String(error?.message))) throw error;
      return error as Error;
    });
  } finally {
    clearTimeout(timer);
  }
}

/** Restart on a healthy disk and check every id is stored exactly once at positions 1..N. */
async function restartAndCheck(ctx: TestContext, ids: string[], extra = {}) {
  const server = await ctx.startServer(extra);
  const headAtStart = server.head;
  // On timeout, fall through: the counts below say what is missing.
  await waitFor(() => server.head >= ids.length, `${ids.length} stored after the restart`, 20_000).catch(() => {});
  await delay(200);
  const records = await history(server.port);
  const stored = records.map((r) => String(r.id));
  const seen = new Set<string>();
  const duplicated = stored.filter((id) => seen.has(id) || !seen.add(id)).length;
  const lost = ids.filter((id) => !seen.has(id)).length;
  const gaps = records.filter((r, i) => r.position !== i + 1).length;
  await server.close();
  return { headAtStart, stored: records.length, lost, duplicated, gaps };
}

describe("disk errors against RabbitMQ", () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await setup("disk");
  });
  afterEach(async () => {
    await ctx?.cleanup();
  });

  interface FaultCase {
    name: string;
    /** Arrange the fault on the disk. */
    arrange(disk: FaultyDisk): void;
    /** The cause's code and text in the StorageFailedError. */
    code: string;
    message: RegExp;
    /** Appends that succeed before the failing one. */
    goodAppends: number;
    /** Whether the failing append got as far as fsync. */
    fsyncFails: boolean;
    /** Whether the dead disk leaves the torn batch in the file (truncate fails too). */
    leavesTornBatch: boolean;
  }
  const faults: FaultCase[] = [
    {
      name: "an fsync error (EIO)",
      arrange: (disk) => (disk.onDatasync = (n) => (n === 3 ? ioError("EIO", "fdatasync") : undefined)),
      code: "EIO",
      message: /EIO: i\/o error, fdatasync/,
      goodAppends: 2,
      fsyncFails: true,
      leavesTornBatch: false,
    },
    {
      name: "a write error (EIO) that tore the batch, on a dead disk that cannot truncate either",
      arrange: (disk) => {
        disk.onWrite = (
          n,
        ) => (n === 3 ? { error: ioError("EIO", "write"), writeFirst: (length) => length - 5 } : undefined);
        disk.truncateFails = true;
      },
      code: "EIO",
      message: /EIO: i\/o error, write/,
      goodAppends: 2,
      fsyncFails: false,
      leavesTornBatch: true,
    },
    {
      name: "a full disk (ENOSPC) on write, injected",
      arrange: (
        disk,
      ) => (disk.onWrite = (
        n,
      ) => (n === 4 ? { error: ioError("ENOSPC", "write"), writeFirst: (length) => length >> 1 } : undefined)),
      code: "ENOSPC",
      message: /ENOSPC: no space left on device, write/,
      goodAppends: 3,
      fsyncFails: false,
      leavesTornBatch: false,
    },
  ];

  for (const f of faults) {
    it(`${f.name}: acks only what it stored, never retries, stops; a restart stores the rest`, async () => {
      const total = 1000;
      const ids = await publishEvents(ctx, total);
      const disk = new FaultyDisk();
      f.arrange(disk);
      const options: FileStorageTestOptions = { open: disk.open };
      const server = await ctx.startServer({
        storage: await FileStorage.open(ctx.storageFile, options),
        prefetch: 100,
      });
      const error = await stoppedError(server);
      assert.ok(error instanceof StorageFailedError, `expected StorageFailedError, got ${error}`);
      assert.equal((error.cause as { code?: string }).code, f.code);
      assert.match(error.message, new RegExp(`^Cannot append to storage file ${ctx.storageFile}: `));
      assert.match(error.message, f.message);
      assert.match(error.message, /the storage accepts nothing more — fix the disk and restart$/);

      const head = server.head;
      const queue = await settledQueue(ctx.queueName, total - head);
      await delay(300); // a retry, a late write or a late ack would show now
      const after = await queueStats(ctx.queueName);
      const calls = { writes: disk.writes, datasyncs: disk.datasyncs };
      const report = await verifyStorageFile(ctx.storageFile);
      const fileText = await readFile(ctx.storageFile, "utf8");
      const completeLines = fileText.split("\n").length - 2; // less the header line

      console.log(
        `${f.name}: published ${total}, confirmed ${total}, stored before the fault ${head}, left in the queue ${queue.messages} ` +
          `(consumers ${queue.consumers}), writes ${calls.writes}, fsyncs ${calls.datasyncs}, file: ${report.records} whole records` +
          `${report.ok ? "" : " + a torn tail"}`,
      );
      assert.ok(head > 0, "some batches were stored before the fault");
      assert.deepEqual(
        queue,
        { messages: total - head, consumers: 0 },
        "everything not stored is still in the queue, unconsumed",
      );
      assert.deepEqual(after, queue, "and stays there");
      assert.deepEqual(calls, {
        writes: f.goodAppends + 1,
        datasyncs: f.goodAppends + (f.fsyncFails ? 1 : 0),
      }, "one write per append, no fsync retried or attempted after the fault");
      if (f.leavesTornBatch) {
        assert.equal(report.ok, false, "the dead disk kept the torn batch");
        assert.match(report.problem ?? "", /torn last record/);
        assert.ok(report.records >= head && report.records === completeLines);
        assert.ok(!fileText.endsWith("\n"));
      } else {
        assert.deepEqual(report, { ok: true, records: head }, "the failed batch was cut off");
      }

      const restart = await restartAndCheck(ctx, ids);
      console.log(
        `${f.name}, after a restart on a healthy disk: head at start ${restart.headAtStart}, stored ${restart.stored}, ` +
          `lost ${restart.lost}, duplicated ${restart.duplicated}, gaps ${restart.gaps}`,
      );
      // Whole records of a torn batch were never acknowledged: redelivered, they are recognised by messageId.
      assert.equal(restart.headAtStart, report.records);
      assert.deepEqual({
        stored: restart.stored,
        lost: restart.lost,
        duplicated: restart.duplicated,
        gaps: restart.gaps,
      }, {
        stored: total,
        lost: 0,
        duplicated: 0,
        gaps: 0,
      });
    });
  }

  it("a real full disk (ENOSPC on a 256 KiB tmpfs): same guarantees, and it continues once the disk grows", async (t) => {
    const mount = join(ctx.dir, "disk");
    await mkdir(mount);
    const why = mountTmpfs(mount, "256k");
    if (why) {
      console.log(
        `skipped the real full-disk test: cannot mount a tmpfs here (${why}); the injected ENOSPC case still ran`,
      );
      t.skip(`cannot mount a tmpfs: ${why}`);
      return;
    }
    let server: EventStoreServer | undefined;
    try {
      const storageFile = join(mount, "storage");
      const total = 2000; // ~330 bytes a record: about 750 fit
      const ids = await publishEvents(ctx, total, 250);
      server = await ctx.startServer({ storageFile, prefetch: 100 });
      const error = await stoppedError(server);
      assert.ok(error instanceof StorageFailedError, `expected StorageFailedError, got ${error}`);
      assert.equal((error.cause as { code?: string }).code, "ENOSPC");
      assert.match(error.message, /No space left on device|ENOSPC/i);
      const head = server.head;
      const queue = await settledQueue(ctx.queueName, total - head);
      const report = await verifyStorageFile(storageFile);
      resizeTmpfs(mount, "8m");
      const restart = await restartAndCheck(ctx, ids, { storageFile });
      server = undefined;
      console.log(
        `real ENOSPC: published ${total}, stored before the disk was full ${head}, left in the queue ${queue.messages}, ` +
          `file ${
            report.ok ? "sound" : "torn"
          } with ${report.records} records; after growing the disk: stored ${restart.stored}, ` +
          `lost ${restart.lost}, duplicated ${restart.duplicated}, gaps ${restart.gaps}; the error said: ${error.message}`,
      );
      assert.ok(head > 0 && head < total);
      assert.deepEqual(queue, { messages: total - head, consumers: 0 });
      assert.deepEqual(report, { ok: true, records: head });
      assert.equal(restart.headAtStart, head);
      assert.deepEqual([restart.stored, restart.lost, restart.duplicated, restart.gaps], [total, 0, 0, 0]);
    } finally {
      await server?.close().catch(() => {}); // it holds the file open: unmount after it is gone
      unmount(mount);
    }
  });

  it("the CLI refuses STORAGEFILE=/dev/full (a device, not a store) at start with one line, and acks nothing", async (t) => {
    if (!existsSync("/dev/full")) {
      t.skip("this machine has no /dev/full");
      return;
    }
    const total = 50;
    await publishEvents(ctx, total);
    await symlink("/dev/full", ctx.storageFile);
    const run = await runCli(ctx);
    console.log(`CLI on /dev/full: exit code ${run.code}; stderr: ${run.stderr.trim()}`);
    assert.equal(run.code, 1);
    assert.equal(
      run.stderr,
      `rabbit-eventstore: STORAGEFILE "${ctx.storageFile}" is not a rabbit-eventstore store (it is a character device, ` +
        `not a regular file); it was left untouched — point STORAGEFILE at a store or at a new file\n`,
    );
    assert.deepEqual(await settledQueue(ctx.queueName, total), { messages: total, consumers: 0 });
  });

  it("the CLI exits 1 with a clear message on a full disk (a 4 KiB tmpfs) and acks nothing", async (t) => {
    const mount = join(ctx.dir, "full");
    await mkdir(mount);
    const why = mountTmpfs(mount, "4k");
    if (why) {
      t.skip(`cannot mount a tmpfs: ${why}`);
      return;
    }
    const storageFile = join(mount, "storage");
    try {
      const total = 200;
      const ids = await publishEvents(ctx, total, 5000); // the store's header fits, not one record
      const run = await runCli({ ...ctx, storageFile });
      console.log(`CLI on a full disk: exit code ${run.code}; stderr: ${run.stderr.trim().split("\n").at(-1)}`);
      assert.match(run.stdout, /rabbit-eventstore: storing /);
      assert.equal(run.code, 1);
      assert.match(
        run.stderr,
        new RegExp(
          `rabbit-eventstore: stopped: Cannot append to storage file ${storageFile}: .*(No space left on device|ENOSPC).*; the storage accepts nothing more — fix the disk and restart\\n`,
        ),
      );
      assert.deepEqual(await settledQueue(ctx.queueName, total), { messages: total, consumers: 0 });
      resizeTmpfs(mount, "8m");
      const restart = await restartAndCheck(ctx, ids, { storageFile });
      assert.deepEqual([restart.headAtStart, restart.stored, restart.lost, restart.duplicated, restart.gaps], [
        0,
        total,
        0,
        0,
        0,
      ]);
    } finally {
      unmount(mount);
    }
  });
});

/** Run `deno run -A server.ts` against the context's queue and storage file until it exits (at most 60 s). */
function runCli(ctx: TestContext): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["run", "-A", SERVER], {
      env: {
        ...process.env,
        AMQPURL: AMQP_URL,
        QUEUENAME: ctx.queueName,
        EXCHANGENAME: ctx.exchangeName,
        STORAGEFILE: ctx.storageFile,
        PORT: "0",
        HTTPHOST: "127.0.0.1",
        DEBUG: "",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`server.ts did not exit within 60 s; stderr: ${stderr}`));
    }, 60_000);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      // Let the pipes drain.
      setTimeout(() => resolve({ code, stdout, stderr }), 50);
    });
  });
}

describe("start-up on torn and damaged storage files, against RabbitMQ", () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await setup("torn");
  });
  afterEach(async () => {
    await ctx?.cleanup();
  });

  const lines = [1, 2, 3, 4, 5].map((p) =>
    encodeRecord(p, `pre-${p}`, "2026-11-27T00:00:00.000Z", `{"p":${p},"s":"größe"}`) + "\n"
  );
  const random = Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24);

  for (
    const [name, tail] of [
      ["4 KiB of random bytes", random],
      ["4 KiB of zeros", new Uint8Array(4096)],
      ["the next record cut short", new TextEncoder().encode(encodeRecord(6, "torn", "t", "{}").slice(0, 30))],
    ] as const
  ) {
    it(`keeps the valid prefix of a file ending in ${name}; the next event gets last+1 and reaches the fanout`, async () => {
      const good = new TextEncoder().encode(lines.join(""));
      const file = new Uint8Array(good.length + tail.length);
      file.set(good);
      file.set(tail, good.length);
      await writeFile(ctx.storageFile, file);
      const fanout: Delivery[] = [];
      await ctx.broker.declareFanout(ctx.exchangeName);
      const tap = await ctx.broker.declareQueue("", { durable: false, exclusive: true, autoDelete: true });
      await ctx.broker.bind(tap, ctx.exchangeName);
      await ctx.broker.consume(tap, 100, (d) => {
        fanout.push(d);
        void ctx.broker.ack(d.tag);
      });
      const server = await ctx.startServer();
      assert.equal(server.head, 5);
      await ctx.broker.publish("", ctx.queueName, '{"after":"repair"}', { messageId: "next" });
      await waitFor(
        () => server.head === 6 && fanout.some((d) => d.messageId === "next"),
        "event 6 stored and on the fanout",
      );
      const records = await history(server.port);
      assert.deepEqual(records.map((r) => r.position), [1, 2, 3, 4, 5, 6]);
      assert.deepEqual(records[5].data, { after: "repair" });
      assert.equal(Number(fanout.find((d) => d.messageId === "next")!.headers?.position), 6);
      await server.close();
      assert.deepEqual(await verifyStorageFile(ctx.storageFile), { ok: true, records: 6 });
    });
  }

  it("refuses a file damaged in the middle: startServer rejects, the CLI exits 1 naming line and offset, the file is untouched", async () => {
    const damaged = lines[0] + lines[1].replace('"id"', '"i\u0000') + lines.slice(2).join("");
    await writeFile(ctx.storageFile, damaged);
    const offset = new TextEncoder().encode(lines[0]).length;
    await assert.rejects(ctx.startServer(), (e: unknown) => {
      assert.ok(e instanceof CorruptLogError, `expected CorruptLogError, got ${e}`);
      assert.equal(e.line, 2);
      assert.equal(e.offset, offset);
      return true;
    });
    const run = await runCli(ctx);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      new RegExp(
        `rabbit-eventstore: Storage file ${ctx.storageFile} is damaged at line 2 \\(byte offset ${offset}\\): `,
      ),
    );
    assert.equal(await readFile(ctx.storageFile, "utf8"), damaged);
  });
});
