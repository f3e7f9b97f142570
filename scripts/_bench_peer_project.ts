/**
 * Peer: rabbit-eventstore itself, the figures the others are compared with.
 * Each round starts the real server (a child process) on a fresh store,
 * publishes `WARM_UP` events and waits until they are stored (the server is
 * a fresh process each round; the other systems run warm), then measures:
 *
 * - `write`, end to end: the command module publishes to QUEUENAME with
 *   `window` confirms in flight, the server stores them (fsync before it
 *   acks the input queue and publishes to the fanout), until every publish is
 *   confirmed and `/health` reports them all stored;
 * - `replay`: a listener from 0 over the store (warm-up included), over HTTP.
 *
 * CPU: the server process and RabbitMQ (`beam.smp`); the command module and
 * the listener run in the bench process (the client).
 *
 * @module
 */
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { createCommand } from "../command.ts";
import { listen } from "../listener.ts";
import { measurePhase, type Peer, type PhaseResult, SequenceCheck } from "./_bench_peer.ts";
import { type BenchServer, startServerChild } from "./_bench_server.ts";
import { AMQP_URL, benchEvent, deferred, settle, Window } from "./_bench_util.ts";

/** Events published and stored before each round's measured write (not counted in it; read in the replay). */
export const WARM_UP = 200;

/** What {@link projectPeer} needs. */
export interface ProjectPeerOptions {
  /** Where each round's store goes (in a folder of its own, removed after the round). */
  dir: string;
  /** The server's QUEUENAME and EXCHANGENAME (the caller deletes them, and `<queue>.dead`, at the end). */
  queueName: string;
  exchangeName: string;
  /** Publishes in flight at once. */
  window: number;
  /** The server's runtime. @default {"deno"} */
  runtime?: string;
}

/** Most time the head may stand still before a round is given up (a stalled server fails, it does not hang). */
const STALL_MS = 60_000;

/** Resolves once the server's `/health` reports `head` ≥ `position`; rejects if the head stops moving. */
async function storedUpTo(server: BenchServer, position: number): Promise<void> {
  let last = -1;
  let movedAt = performance.now();
  while (true) {
    const response = await fetch(`${server.historyUrl}health`);
    const { head } = await response.json() as { head: number };
    if (head >= position) return;
    if (head !== last) [last, movedAt] = [head, performance.now()];
    if (performance.now() - movedAt > STALL_MS) {
      throw new Error(`The server stored nothing for ${STALL_MS} ms: head ${head}, waiting for ${position}`);
    }
    await settle(2);
  }
}

/** Publish events `from` … `from + count - 1` with `window` confirms in flight. */
async function publish(queueName: string, from: number, count: number, window: number): Promise<void> {
  const command = createCommand({ amqpUrl: AMQP_URL, queueName });
  try {
    const limiter = new Window(window);
    for (let i = from; i < from + count; i++) {
      await limiter.run(() => command.publish(benchEvent(i), { type: "BenchEvent" }));
    }
    await limiter.drain();
  } finally {
    await command.close();
  }
}

/**
 * Our own figures for the peers bench.
 *
 * @example One round of 1000 events
 * ```ts
 * import { projectPeer } from "./_bench_peer_project.ts";
 * const peer = projectPeer({ dir: "/tmp", queueName: "example-in", exchangeName: "example-x", window: 500 });
 * await peer.open();
 * console.log(await peer.round(1000, 0));
 * await peer.close();
 * ```
 */
export function projectPeer(options: ProjectPeerOptions): Peer {
  const runtime = options.runtime ?? "deno";
  return {
    name: "rabbit-eventstore",
    durability: () => "fsync (fdatasync) of each batch before the input is acked and the fanout published",
    open: () => Promise.resolve(undefined),
    async round(events, round): Promise<PhaseResult[]> {
      const dir = join(options.dir, `peers-store-${round}`);
      await mkdir(dir, { recursive: true });
      const file = join(dir, "storage");
      const server = await startServerChild(runtime, file, options.queueName, options.exchangeName);
      try {
        const system = { server: { pids: [server.child.pid] }, rabbitmq: { comm: ["beam.smp"] } };
        await publish(options.queueName, -WARM_UP, WARM_UP, options.window);
        await storedUpTo(server, WARM_UP);
        const write = await measurePhase({ phase: "write", kind: "write", events, system }, async () => {
          await publish(options.queueName, 0, events, options.window);
          await storedUpTo(server, WARM_UP + events);
        });
        const stored = WARM_UP + events;
        const read = await measurePhase({ phase: "replay", kind: "read", events: stored, system }, async () => {
          const check = new SequenceCheck(`rabbit-eventstore replay, round ${round}`, stored, -WARM_UP);
          const done = deferred<unknown>();
          const listener = listen(0, (event) => {
            try {
              check.next(event.data);
              if (check.complete) done.resolve(undefined);
            } catch (error) {
              done.resolve(error);
            }
            return Promise.resolve();
          }, {
            amqpUrl: AMQP_URL,
            exchangeName: options.exchangeName,
            queueName: options.queueName,
            historyUrl: server.historyUrl,
            onError: done.resolve,
          });
          const failure = await done.promise;
          await listener.close();
          if (failure) throw failure;
          check.done();
        });
        return [write, read];
      } finally {
        await server.child.stop();
        await rm(dir, { recursive: true, force: true });
      }
    },
    close: () => Promise.resolve(),
  };
}
