/**
 * Peer: a NATS JetStream file stream (`nats` from npm, nats.js v2; NATS at
 * `BENCH_NATS_URL`, default `127.0.0.1:4222`). Write: `js.publish`, each
 * resolving with the server's ack, `window` in flight. Read: an ordered
 * consumer (`js.consumers.get(stream)`), `consume()` in batches of 1000.
 *
 * Durability at ack (NATS docs, JetStream "Syncing data to disk"): the ack
 * comes once the message is written to the file store, but by default the
 * server fsyncs only every `sync_interval`, 2 minutes; `sync: always`
 * would fsync every write.
 *
 * @module
 */
import process from "node:process";
import { connect, type JetStreamManager, type NatsConnection, StorageType } from "nats";
import { measurePhase, type Peer, peerBody, type PhaseResult, SequenceCheck } from "./_bench_peer.ts";
import { Window } from "./_bench_util.ts";

/** The NATS server the peers bench uses. */
export const NATS_URL = process.env.BENCH_NATS_URL ?? "127.0.0.1:4222";

/** What {@link jetstreamPeer} needs. */
export interface JetstreamPeerOptions {
  /** Prefix of the streams it creates (one per round, deleted after it); letters, digits, `-` and `_`. */
  prefix: string;
  /** Publishes in flight at once. */
  window: number;
  /** NATS server. @default {NATS_URL} */
  servers?: string;
}

/**
 * The JetStream peer.
 *
 * @example One round of 100 events
 * ```ts
 * import { jetstreamPeer } from "./_bench_peer_jetstream.ts";
 * const peer = jetstreamPeer({ prefix: "example-js", window: 100 });
 * if (!(await peer.open())) console.log(await peer.round(100, 0));
 * await peer.close();
 * ```
 */
export function jetstreamPeer(options: JetstreamPeerOptions): Peer {
  const servers = options.servers ?? NATS_URL;
  let nc: NatsConnection | undefined;
  let jsm: JetStreamManager | undefined;
  let version = "?";
  /** The stream of a round under way (deleted by close if the round was cut short). */
  let current: string | undefined;
  const system = { nats: { comm: ["nats-server"] } };
  const encoder = new TextEncoder();
  return {
    name: "NATS JetStream",
    durability: () =>
      `ack after the write to the file store; fsync every sync_interval (default 2 min), not per ack (nats-server ${version})`,
    async open() {
      try {
        nc = await connect({ servers, timeout: 3000, reconnect: false });
        jsm = await nc.jetstreamManager();
        version = nc.info?.version ?? "?";
        return undefined;
      } catch (error) {
        await nc?.close().catch(() => {});
        nc = undefined;
        return `NATS JetStream at ${servers} cannot be used (${(error as Error).message})`;
      }
    },
    async round(events, round): Promise<PhaseResult[]> {
      const stream = `${options.prefix}-${round}`.replace(/[^A-Za-z0-9_-]/g, "_");
      const subject = `${stream}.events`;
      current = stream;
      await jsm!.streams.add({ name: stream, subjects: [subject], storage: StorageType.File });
      try {
        const js = nc!.jetstream();
        const write = await measurePhase({ phase: "write", kind: "write", events, system }, async () => {
          const limiter = new Window(options.window);
          for (let i = 0; i < events; i++) {
            await limiter.run(() => js.publish(subject, encoder.encode(peerBody(i))));
          }
          await limiter.drain();
        });
        const read = await measurePhase({ phase: "replay", kind: "read", events, system }, async () => {
          const consumer = await js.consumers.get(stream); // no name: an ordered consumer
          const messages = await consumer.consume({ max_messages: 1000 });
          const check = new SequenceCheck(`JetStream ${stream}`, events);
          try {
            for await (const message of messages) {
              check.next(message.json());
              if (check.complete) break;
            }
          } finally {
            await messages.close();
          }
          check.done();
        });
        return [write, read];
      } finally {
        await jsm!.streams.delete(stream);
        current = undefined;
      }
    },
    async close() {
      if (current) await jsm?.streams.delete(current).catch(() => {});
      await nc?.close().catch(() => {});
      nc = undefined;
    },
  };
}
