/**
 * Issue 3, item 7: slow and late listeners.
 *
 * - A listener whose handler is slow while events keep coming holds a
 *   bounded number of them in memory (the broker's prefetch), measured in
 *   its own process after GC, and later delivers every event in order.
 * - Twenty listeners starting at random moments (from 0, from the current
 *   head, or new events only) each deliver from their start to the end once,
 *   in order.
 * - A listener whose live feed misses events (the server died between fsync
 *   and publish, and those fanout messages are never sent) repairs the gap
 *   from the HTTP history.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createCommand } from "../command.ts";
import { FileStorage } from "../lib/file_storage.ts";
import { AMQP_URL, delay, setup, tapFanout, waitFor } from "./_helpers.ts";
import { newPumpResult, pump } from "../scripts/_pump.ts";
import { type RecordingListener, recordingListener } from "../scripts/_recording_listener.ts";
import { drain } from "../scripts/_scenario.ts";
import { freePort, ServerChild, serverHead } from "../scripts/_server_child.ts";
import { faults, formatTable, NO_FAULTS, readStore, tallyListener, tallyStore } from "../scripts/_tally.ts";

const CHILD = fileURLToPath(new URL("./_slow_listener_child.ts", import.meta.url));
const PAD = 16 * 1024;
const MiB = 1024 * 1024;
const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

interface Sample {
  heap: number;
  external: number;
  rss: number;
  delivered: number;
  last?: number;
}

interface Done {
  t: "done";
  delivered: number;
  duplicated: number;
  outOfOrder: number;
  first: number;
  last: number;
}

/**
 * `SLOW_LISTENER=full` runs the first test at the full size: a 100 ms handler while 1,000
 * events/s are published for 30 s (1 KiB each, so 30,000 events wait). CI runs the small size.
 */
const FULL = process.env.SLOW_LISTENER === "full";
const SLOW = FULL
  ? { events: 30_000, rate: 1000, pad: 1024, handlerMs: 100 }
  : { events: 2000, rate: 500, pad: PAD, handlerMs: 20 };

/** The listener from 0 in its own process, with a slow handler until told `fast`. */
function slowListenerChild(exchangeName: string, port: number, handlerMs = 20) {
  const child = spawn(process.execPath, ["run", "-A", "--v8-flags=--expose-gc", CHILD], {
    env: {
      ...process.env,
      AMQPURL: AMQP_URL,
      EXCHANGENAME: exchangeName,
      HISTORYURL: `http://127.0.0.1:${port}/`,
      HANDLER_MS: String(handlerMs),
    },
    stdio: ["pipe", "pipe", "inherit"],
  });
  const samples: Sample[] = [];
  let done: Done | undefined;
  const reading = (async () => {
    for await (const line of createInterface({ input: child.stdout! })) {
      const message = JSON.parse(line);
      if (message.t === "mem") samples.push(message);
      else if (message.t === "done") done = message;
      else throw new Error(`listener child: ${line}`);
    }
  })();
  const used = (s: Sample) => s.heap + s.external;
  return {
    samples,
    /** The most heap+external and RSS grew since sample `from` (0: the one taken before listening). */
    growth: (from = 0) => ({
      used: Math.max(...samples.slice(from).map(used)) - used(samples[from]),
      rss: Math.max(...samples.slice(from).map((s) => s.rss)) - samples[from].rss,
    }),
    /** Drop the handler delay, wait until `events` are delivered, stop; the child's own count. */
    async finish(events: number): Promise<Done | undefined> {
      child.stdin!.write("fast\n");
      await waitFor(
        () => samples[samples.length - 1]?.last === events,
        "the listener to deliver every event",
        60_000,
      );
      child.stdin!.write("stop\n");
      await reading;
      return done;
    },
    kill: () => {
      if (child.exitCode === null) child.kill("SIGKILL");
    },
  };
}

describe("slow and late listeners", () => {
  it("a slow listener buffers a bounded number of events while thousands wait, then delivers all in order", async () => {
    const EVENTS = SLOW.events; // CI: 500/s for 4 s, 16 KiB each: 31 MiB in total
    const ctx = await setup("slowlistener");
    const port = await freePort();
    const server = new ServerChild({ ...ctx, port });
    const command = createCommand({ amqpUrl: AMQP_URL, queueName: ctx.queueName });
    const child = slowListenerChild(ctx.exchangeName, port, SLOW.handlerMs);
    try {
      await server.ready;
      await waitFor(() => child.samples.length >= 3, "the listener child to start");
      const idle = child.samples.length - 1; // listening, nothing published yet: the baseline
      const pumped = newPumpResult();
      const prefix = `${ctx.queueName}-e`;
      const started = Date.now();
      await pump(command, EVENTS, pumped, { prefix, window: 50, ratePerSecond: SLOW.rate, payloadBytes: SLOW.pad });
      const seconds = (Date.now() - started) / 1000;
      await waitFor(async () => (await serverHead(port)) === EVENTS, "all events stored");
      const growth = child.growth(idle);
      const waiting = EVENTS - child.samples[child.samples.length - 1].delivered;
      const done = await child.finish(EVENTS);
      console.log(
        `slow listener (${SLOW.handlerMs} ms handler, ${EVENTS} events published in ${seconds.toFixed(1)} s): ` +
          `${waiting} of ${EVENTS} events (${mib(waiting * SLOW.pad)}) not yet handled when publishing ended; ` +
          `heap+external grew by at most ${mib(growth.used)}, RSS by ${mib(growth.rss)}; ` +
          `then delivered ${done?.delivered}, duplicated ${done?.duplicated}, out of order ${done?.outOfOrder}`,
      );
      // The test means something only if far more was waiting than the bound allows in memory.
      assert.ok(waiting * SLOW.pad > 20 * MiB, `only ${waiting} events were waiting: the handler was not slow enough`);
      // Prefetch 256 x 16 KiB = 4 MiB may sit in the listener; everything else must wait in the broker.
      assert.ok(
        growth.used < 10 * MiB,
        `the listener's memory grew by ${mib(growth.used)} while ${waiting} events waited`,
      );
      assert.deepEqual(done, { t: "done", delivered: EVENTS, duplicated: 0, outOfOrder: 0, first: 1, last: EVENTS });
    } finally {
      child.kill();
      await server.kill();
      await command.close();
      await ctx.cleanup();
    }
  });

  it("a slow listener that starts late reads a long history with bounded memory, then delivers all in order", async () => {
    const EVENTS = 3000; // 16 KiB each: 47 MiB of history
    const ctx = await setup("slowhistory");
    const port = await freePort();
    const server = new ServerChild({ ...ctx, port });
    const command = createCommand({ amqpUrl: AMQP_URL, queueName: ctx.queueName });
    let child: ReturnType<typeof slowListenerChild> | undefined;
    try {
      await server.ready;
      const pumped = newPumpResult();
      await pump(command, EVENTS, pumped, { prefix: `${ctx.queueName}-e`, window: 200, payloadBytes: PAD });
      await waitFor(async () => (await serverHead(port)) === EVENTS, "all events stored");
      child = slowListenerChild(ctx.exchangeName, port);
      // 20 ms per event: about 50 events/s, so most of the history is still unread after 150 events.
      await waitFor(() => (child!.samples[child!.samples.length - 1]?.delivered ?? 0) >= 150, "150 events delivered");
      const growth = child.growth();
      const unread = EVENTS - child.samples[child.samples.length - 1].delivered;
      const done = await child.finish(EVENTS);
      console.log(
        `slow history reader: ${unread} of ${EVENTS} events (${mib(unread * PAD)}) unread; heap+external grew by at ` +
          `most ${mib(growth.used)}, RSS by ${mib(growth.rss)}; then delivered ${done?.delivered}, ` +
          `duplicated ${done?.duplicated}, out of order ${done?.outOfOrder}`,
      );
      assert.ok(unread * PAD > 20 * MiB, `only ${unread} events were unread: the handler was not slow enough`);
      assert.ok(
        growth.used < 10 * MiB,
        `the listener's memory grew by ${mib(growth.used)} with ${unread} events unread`,
      );
      assert.deepEqual(done, { t: "done", delivered: EVENTS, duplicated: 0, outOfOrder: 0, first: 1, last: EVENTS });
    } finally {
      child?.kill();
      await server.kill();
      await command.close();
      await ctx.cleanup();
    }
  });

  it("twenty listeners starting at random moments each deliver from their start to the end once, in order", async () => {
    const EVENTS = 4000;
    const ctx = await setup("latelisteners");
    const port = await freePort();
    const server = new ServerChild({ ...ctx, port });
    const command = createCommand({ amqpUrl: AMQP_URL, queueName: ctx.queueName });
    const listeners: RecordingListener[] = [];
    try {
      await server.ready;
      const pumped = newPumpResult();
      const TAIL = 200; // published after every listener is bound, so new-only listeners get events too
      const prefix = `${ctx.queueName}-e`;
      const publishing = pump(command, EVENTS - TAIL, pumped, { prefix, window: 200, ratePerSecond: 1000 });
      // Start times spread over the 3.8 s of publishing; the start position varies too.
      const starting = Array.from({ length: 20 }, async (_, i) => {
        await delay(Math.random() * 3500);
        const head = (await serverHead(port)) ?? 0;
        const from = i % 3 === 0 ? 0 : i % 3 === 1 ? Math.floor(Math.random() * (head + 1)) : undefined;
        const recording = recordingListener(port, ctx.exchangeName, from);
        listeners.push(recording);
        await recording.listener.ready;
      });
      await Promise.all(starting);
      await publishing;
      await pump(command, TAIL, pumped, { prefix, window: 200, start: EVENTS - TAIL });
      const drained = await drain(ctx.queueName, port, listeners, 60_000);
      const store = await readStore(ctx.storageFile);
      const rows = [
        tallyStore(store, pumped),
        ...listeners.map((r, i) => tallyListener(store, r, `listener ${i + 1} from ${r.from ?? "new"}`)),
      ];
      const table = formatTable(rows);
      console.log(table);
      assert.ok(drained, `not every listener reached the end\n${table}`);
      assert.equal(rows[0].stored, EVENTS, table);
      for (const row of rows) assert.deepEqual(faults(row), NO_FAULTS, `${row.name}\n${table}`);
      for (const r of listeners) {
        const expectedFirst = r.from === undefined ? r.delivered[0].position : Math.max(1, r.from);
        assert.equal(r.delivered.length, EVENTS - expectedFirst + 1, table);
      }
    } finally {
      for (const r of listeners) await r.listener.close();
      await server.kill();
      await command.close();
      await ctx.cleanup();
    }
  });

  it("a listener whose live feed misses events (server died between fsync and publish) repairs the gap from history", async () => {
    const EVENTS = 800;
    const ctx = await setup("gaprepair");
    const port = await freePort();
    const command = createCommand({ amqpUrl: AMQP_URL, queueName: ctx.queueName });
    const servers: ServerChild[] = [];
    let listener: RecordingListener | undefined;
    try {
      const tap = await tapFanout(ctx.broker, ctx.exchangeName);
      const first = new ServerChild({ ...ctx, port, crashAt: "before-publish:3", env: { DEBUG: "1" } });
      servers.push(first);
      await first.ready;
      listener = recordingListener(port, ctx.exchangeName, 0);
      await listener.listener.ready;

      // Chunks, each stored before the next, until the third batch kills the server.
      const pumped = newPumpResult();
      const chunk = EVENTS / 8;
      let start = 0;
      while (first.running && start < EVENTS / 2) {
        await pump(command, chunk, pumped, { prefix: `${ctx.queueName}-e`, window: 20, start });
        start += chunk;
        await waitFor(async () => !first.running || (await serverHead(port)) === start, "the chunk stored");
      }
      const exit = await Promise.race([first.exited, delay(20_000).then(() => undefined)]);
      assert.equal(exit?.signal, "SIGKILL", `the crash point did not fire: ${first.output}`);
      const durable = Math.max(
        0,
        ...[...first.output.matchAll(/Stored positions \d+\.\.(\d+)/g)].map((m) => Number(m[1])),
      );
      const inFile = (await readStore(ctx.storageFile)).ids.length;
      const missed = Array.from({ length: inFile - durable }, (_, i) => durable + 1 + i);
      assert.ok(missed.length > 0, "no batch was stored without being published");
      // Take away the server's own repair (republishing the unconfirmed tail at start-up): those
      // fanout messages are lost for good, so only the listener's history repair can fill the gap.
      // Saved through the storage, wherever the backend keeps it (the store's header for new stores).
      const stopped = await FileStorage.open(ctx.storageFile);
      await stopped.publishedMark.save(inFile);
      await stopped.close();

      const second = new ServerChild({ ...ctx, port });
      servers.push(second);
      await second.ready;
      await pump(command, EVENTS - start, pumped, { prefix: `${ctx.queueName}-e`, window: 20, start });
      const drained = await drain(ctx.queueName, port, [listener], 20_000);
      const store = await readStore(ctx.storageFile);
      const rows = [tallyStore(store, pumped), tallyListener(store, listener, "listener from 0")];
      const table = formatTable(rows);
      console.log(`gap repair: positions ${durable + 1}..${inFile} never reached the fanout\n${table}`);
      assert.deepEqual(missed.filter((p) => tap.includes(p)), [], "the missed positions reached the fanout after all");
      assert.ok(drained, `the listener did not reach the end\n${table}`);
      assert.equal(rows[0].stored, EVENTS, table);
      assert.deepEqual(faults(rows[0]), NO_FAULTS, table);
      assert.equal(rows[1].stored, EVENTS, table);
      assert.deepEqual(faults(rows[1]), NO_FAULTS, table);
    } finally {
      for (const s of servers) await s.kill();
      await listener?.listener.close();
      await command.close();
      await ctx.cleanup();
    }
  });
});
