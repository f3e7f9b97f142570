/**
 * Issue 3, item 2: the server dies at each step of storing a batch, through
 * the test-only hook `RABBIT_EVENTSTORE_CRASH_AT` (lib/crash_point.ts):
 *
 * - before-fsync: the batch is written but not fsync'd. SIGKILL keeps the
 *   page cache, so the bytes survive; a power cut would lose them, which the
 *   fourth case simulates by cutting the file back to the last fsync'd batch.
 * - before-publish: the batch is durable but never reached the fanout.
 * - before-ack: the batch is durable and confirmed on the fanout, but the
 *   input messages were not acked, so the broker redelivers them.
 *
 * After a restart without the hook, every confirmed event is stored exactly
 * once at positions 1..N, every position reaches the fanout, and a listener
 * from 0 delivers 1..N once each, in order.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile, truncate } from "node:fs/promises";
import { createCommand } from "../command.ts";
import { AMQP_URL, delay, setup, tapFanout, waitFor } from "./_helpers.ts";
import { newPumpResult, pump } from "../scripts/_pump.ts";
import { recordingListener } from "../scripts/_recording_listener.ts";
import { drain } from "../scripts/_scenario.ts";
import { freePort, ServerChild, serverHead } from "../scripts/_server_child.ts";
import { faults, formatTable, NO_FAULTS, readStore, tallyListener, tallyStore } from "../scripts/_tally.ts";

const EVENTS = 1000;

interface Case {
  point: "before-fsync" | "before-publish" | "before-ack";
  /** Whether the crashed batch was on the fanout before the restart. */
  publishedBeforeRestart: boolean;
  /** Cut the file back to the last fsync'd batch before restarting, as a power cut would. */
  powerCut?: boolean;
}

const CASES: Case[] = [
  { point: "before-fsync", publishedBeforeRestart: false },
  { point: "before-fsync", publishedBeforeRestart: false, powerCut: true },
  { point: "before-publish", publishedBeforeRestart: false },
  { point: "before-ack", publishedBeforeRestart: true },
];

/** Wait until `values` stops growing for a few polls. */
async function settled(values: unknown[]): Promise<void> {
  let last = -1;
  let same = 0;
  while (same < 3) {
    same = values.length === last ? same + 1 : 0;
    last = values.length;
    await delay(100);
  }
}

describe("crash at each step of storing a batch", () => {
  for (const c of CASES) {
    const name = `${c.point}${c.powerCut ? " with the unsynced write lost (power cut)" : ""}`;
    it(`${name}: after restart nothing is lost or duplicated and every position reaches the fanout`, async () => {
      const ctx = await setup(`crash-${c.point}`);
      const port = await freePort();
      const command = createCommand({ amqpUrl: AMQP_URL, queueName: ctx.queueName });
      const servers: ServerChild[] = [];
      let listener: ReturnType<typeof recordingListener> | undefined;
      try {
        const tap = await tapFanout(ctx.broker, ctx.exchangeName);
        // Die the third time the step is reached: two batches are stored normally first.
        const first = new ServerChild({ ...ctx, port, crashAt: `${c.point}:3`, env: { DEBUG: "1" } });
        servers.push(first);
        await first.ready;
        listener = recordingListener(port, ctx.exchangeName, 0);
        await listener.listener.ready;

        // Publish in chunks, each stored (or the server dead) before the next: at least one batch
        // per chunk, so the third batch comes by the fourth chunk. The rest waits in the queue.
        const pumped = newPumpResult();
        const chunk = EVENTS / 4;
        for (let start = 0; start < EVENTS; start += chunk) {
          await pump(command, chunk, pumped, { prefix: `${ctx.queueName}-e`, window: 50, start });
          await waitFor(async () => !first.running || (await serverHead(port)) === start + chunk, "the chunk stored");
        }
        const exit = await Promise.race([first.exited, delay(20_000).then(() => undefined)]);
        assert.equal(exit?.signal, "SIGKILL", `the crash point did not fire: ${first.output}`);

        // What the crash left: the last batch the server logged as stored is durable;
        // the crashed batch after it is in the file (written) but never logged.
        const durable = Math.max(
          0,
          ...[...first.output.matchAll(/Stored positions \d+\.\.(\d+)/g)].map((m) => Number(m[1])),
        );
        const inFile = (await readStore(ctx.storageFile)).ids.length;
        assert.ok(inFile > durable, `the crashed batch is not in the file (file ${inFile}, logged ${durable})`);
        await settled(tap);
        const crashed = Array.from({ length: inFile - durable }, (_, i) => durable + 1 + i);
        const onFanout = crashed.filter((p) => tap.includes(p));
        if (c.publishedBeforeRestart) {
          assert.equal(
            onFanout.length,
            crashed.length,
            `crashed batch ${durable + 1}..${inFile} was not on the fanout before the crash`,
          );
        } else {
          assert.deepEqual(onFanout, [], `crashed batch ${durable + 1}..${inFile} reached the fanout before the crash`);
        }
        if (c.powerCut) {
          const text = await readFile(ctx.storageFile, "utf8");
          let bytes = 0;
          // The header line, then the durable records.
          for (let line = 0; line < durable + 1; line++) bytes = text.indexOf("\n", bytes) + 1;
          await truncate(ctx.storageFile, Buffer.byteLength(text.slice(0, bytes)));
        }

        const second = new ServerChild({ ...ctx, port });
        servers.push(second);
        await second.ready;
        const drained = await drain(ctx.queueName, port, [listener], 30_000);
        await second.stop();
        await settled(tap);

        const store = await readStore(ctx.storageFile);
        const rows = [tallyStore(store, pumped), tallyListener(store, listener, "listener from 0")];
        const table = formatTable(rows);
        console.log(`${name}: crashed batch ${durable + 1}..${inFile}, fanout messages ${tap.length}\n${table}`);
        assert.ok(drained, `not drained\n${table}`);
        assert.equal(rows[0].stored, EVENTS, table);
        assert.deepEqual(faults(rows[0]), NO_FAULTS, table);
        assert.equal(rows[1].stored, EVENTS, table);
        assert.deepEqual(faults(rows[1]), NO_FAULTS, table);
        const missing = store.positions.filter((p) => !tap.includes(p));
        assert.deepEqual(missing, [], "positions that never reached the fanout");
        if (!c.powerCut) {
          // The crashed batch's ids are where the crash left them: redelivery stored nothing twice.
          assert.ok(crashed.every((p) => tap.includes(p)), "the crashed batch never reached the fanout");
        }
      } finally {
        for (const s of servers) await s.kill();
        await listener?.listener.close();
        await command.close();
        await ctx.cleanup();
      }
    });
  }
});
