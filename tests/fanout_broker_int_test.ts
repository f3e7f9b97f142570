/**
 * The fanout on a broker of its own (`FANOUTURL`), reached over `amqps://` with a CA file
 * (`FANOUTCAFILE`), against two RabbitMQ nodes this file starts itself (tests/_rabbit_node.ts;
 * the shared broker on 5672 is not touched): node A holds the input queue, node B the fanout
 * and a TLS listener whose certificate a CA made here signed.
 *
 * - TLS: the command connects with the CA file; without one, or with another CA, the server
 *   and the command refuse at once with a line naming the setting to change.
 * - Two brokers: a stream of events while each broker is stopped in turn (`stop_app`): with
 *   the fanout broker down the server keeps storing; with the queue broker down it publishes
 *   what it stored to the fanout broker once that is back. At the end every confirmed event is
 *   stored once at 1..N, the fanout broker received every position, and a listener bound to
 *   the fanout broker delivered 1..N once, in order.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCommand } from "../command.ts";
import { BrokerLink } from "../lib/broker_link.ts";
import { listen } from "../listener.ts";
import { type EventStoreServer, type ServerOptions, startServer } from "../server.ts";
import { newPumpResult, pump } from "../scripts/_pump.ts";
import { faults, formatTable, NO_FAULTS, readStore, tallyListener, tallyStore } from "../scripts/_tally.ts";
import { uniqueName, waitFor } from "./_helpers.ts";
import { type RabbitNode, startRabbitNode } from "./_rabbit_node.ts";

describe("the fanout on its own broker", () => {
  let queueBroker: RabbitNode;
  let fanoutBroker: RabbitNode;
  let dir: string;
  before(async () => {
    [queueBroker, fanoutBroker, dir] = await Promise.all([
      startRabbitNode(),
      startRabbitNode({ tls: true }),
      mkdtemp(join(tmpdir(), "res-fanout-broker-")),
    ]);
  });
  after(async () => {
    await Promise.all([queueBroker?.stop(), fanoutBroker?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  /** Server options for two brokers: the queue on A (amqp://), the fanout on B (amqps://, CA file). */
  const serverOptions = (name: string, extra: ServerOptions = {}): ServerOptions => ({
    amqpUrl: queueBroker.url,
    fanoutUrl: fanoutBroker.tlsUrl,
    fanoutCaFile: fanoutBroker.certificates!.caFile,
    queueName: `${name}-q`,
    exchangeName: `${name}-x`,
    storageFile: join(dir, `${name}.storage`),
    port: 0,
    hostname: "127.0.0.1",
    brokerStartTimeout: 5_000,
    ...extra,
  });

  it("connects over amqps:// with the CA file; without it or with another CA refuses at once, naming the setting", async () => {
    const { caFile, otherCaFile } = fanoutBroker.certificates!;
    const queueName = uniqueName("tls-q");
    const command = createCommand({ amqpUrl: fanoutBroker.tlsUrl, amqpCaFile: caFile, queueName });
    await command.publish({ over: "tls" }, { id: "tls-1" });
    await command.close();
    const queues = await fanoutBroker.ctl("list_queues", "-q", "--no-table-headers", "name", "messages");
    assert.match(queues, new RegExp(`^${queueName}\\s+1$`, "m"), "the message published over TLS is in the queue");

    const untrusted =
      /^RabbitMQ at amqps:\/\/guest:\*\*\*@localhost:\d+ presented a TLS certificate that is not trusted/;
    const unsent = createCommand({ amqpUrl: fanoutBroker.tlsUrl, queueName });
    await assert.rejects(unsent.publish({ over: "tls" }), (error: Error) => {
      assert.equal(error.name, "BrokerRefusedError");
      assert.match(error.message, untrusted);
      assert.match(error.message, /; set AMQPCAFILE to the PEM file of the CA that signed it$/);
      return true;
    });
    await unsent.close();

    const name = uniqueName("tls");
    await assert.rejects(startServer(serverOptions(name, { fanoutCaFile: undefined })), (error: Error) => {
      assert.equal(error.name, "BrokerRefusedError");
      assert.match(error.message, untrusted);
      assert.match(error.message, /; set FANOUTCAFILE to the PEM file of the CA that signed it$/);
      return true;
    });
    await assert.rejects(startServer(serverOptions(name, { fanoutCaFile: otherCaFile })), (error: Error) => {
      assert.equal(error.name, "BrokerRefusedError");
      assert.match(error.message, untrusted);
      assert.ok(
        error.message.endsWith(`; point FANOUTCAFILE (now "${otherCaFile}") at the CA that signed it`),
        error.message,
      );
      return true;
    });
  });

  it("a stream of events while each broker is stopped in turn: 0 lost, 0 duplicated, dense 1..N at the fanout's listener", async () => {
    const name = uniqueName("two");
    const options = serverOptions(name);
    let server: EventStoreServer | undefined;
    const command = createCommand({ amqpUrl: queueBroker.url, queueName: options.queueName });
    // What reaches the fanout broker itself, counted by position (at least once: repeats allowed).
    const atFanout = new Set<number>();
    const raw = new BrokerLink(fanoutBroker.url, {
      name: "test fanout counter",
      minDelay: 50,
      maxDelay: 500,
      setup: async (session) => {
        await session.declareFanout(options.exchangeName!);
        const queue = await session.declareQueue(`${name}-counter`);
        await session.bind(queue, options.exchangeName!);
        await session.consume(queue, 1000, (delivery) => {
          atFanout.add(Number(delivery.headers?.position));
          void session.ack(delivery.tag).catch(() => {});
        });
      },
    });
    const delivered: Array<{ position: number; id: string }> = [];
    let listener: ReturnType<typeof listen> | undefined;
    const pumped = newPumpResult();
    try {
      await raw.start();
      server = await startServer(options);
      listener = listen(0, (event) => void delivered.push({ position: event.position, id: event.id }), {
        fanoutUrl: fanoutBroker.tlsUrl,
        fanoutCaFile: fanoutBroker.certificates!.caFile,
        exchangeName: options.exchangeName,
        historyUrl: `http://127.0.0.1:${server.port}/`,
      });
      listener.closed.catch(() => {});
      // A stream that runs until every fault is done: each broker is stopped while events flow.
      let done = false;
      const running = pump(command, 1_000_000, pumped, {
        prefix: name,
        window: 50,
        ratePerSecond: 200,
        stop: () => done,
      });
      const s = server;
      await waitFor(() => s.head >= 100, "100 events stored");

      await fanoutBroker.stopApp();
      const atFanoutStop = s.head;
      await waitFor(() => s.head >= atFanoutStop + 100, "100 more events stored while the fanout broker is down");
      await queueBroker.stopApp();
      const atQueueStop = s.head;
      await fanoutBroker.startApp();
      // Only the server's storage has these now: the queue's broker is down.
      await waitFor(
        () => Array.from({ length: atQueueStop }, (_, i) => i + 1).every((p) => atFanout.has(p)),
        `the fanout broker to receive 1..${atQueueStop} while the queue broker is down`,
        30_000,
      );
      await queueBroker.startApp();
      await waitFor(() => s.head >= atQueueStop + 100, "100 more events stored after the queue broker is back");
      done = true;
      console.log(
        `  fanout broker stopped at head ${atFanoutStop}, queue broker at ${atQueueStop}; ended at ${s.head}`,
      );
      await running;
      await waitFor(() => s.head >= pumped.confirmed.size, "every confirmed event stored", 30_000);
      await waitFor(() => atFanout.size >= s.head, "every stored position at the fanout broker", 30_000);
      await waitFor(() => delivered.length >= s.head, "the listener to deliver every stored event", 30_000);
    } finally {
      await listener?.close();
      await server?.close();
      await command.close();
      await raw.close();
    }
    const store = await readStore(options.storageFile!);
    const rows = [
      tallyStore(store, pumped),
      tallyListener(store, { listener: listener!, from: 0, delivered }, "listener on the fanout broker"),
    ];
    console.log(formatTable(rows));
    assert.equal(pumped.failed, 0, `publishes failed for good: ${[...pumped.errors.keys()].join("; ")}`);
    assert.equal(pumped.confirmed.size, pumped.published.size);
    assert.deepEqual(store.positions, Array.from({ length: pumped.confirmed.size }, (_, i) => i + 1));
    for (const row of rows) assert.deepEqual(faults(row), NO_FAULTS, formatTable(rows));
    assert.deepEqual(delivered.map((d) => d.position), store.positions, "the listener delivered 1..N once, in order");
    assert.deepEqual([...atFanout].sort((a, b) => a - b), store.positions, "the fanout broker received 1..N");
  });
});
