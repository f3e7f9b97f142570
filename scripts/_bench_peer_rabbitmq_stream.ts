/**
 * Peer: a RabbitMQ stream queue on the same broker, over AMQP 0-9-1 with the
 * same client our product uses. Write: publish with confirms, `window` in
 * flight. Read: a consumer from `x-stream-offset: first`, acking every 500.
 *
 * This script imports `@cloudamqp/amqp-client` itself (as `_bench_replay.ts`
 * and `_bench_ingest.ts` do): the baseline is what any AMQP client gets from
 * a stream, without our session layer (`lib/amqp_session.ts`) in between.
 *
 * Durability at ack (RabbitMQ's streams guide, "Data Safety"): a confirm is
 * sent once the data is written to a quorum of replicas (here the one node),
 * but streams do not fsync; they leave it to the OS page cache.
 *
 * @module
 */
import { AMQPClient, type AMQPMessage } from "@cloudamqp/amqp-client";
import { measurePhase, type Peer, peerBody, type PhaseResult, SequenceCheck } from "./_bench_peer.ts";
import { AMQP_URL, deferred, Window } from "./_bench_util.ts";

/** What {@link rabbitmqStreamPeer} needs. */
export interface RabbitmqStreamPeerOptions {
  /** Prefix of the stream queues it declares (one per round, deleted after it). */
  prefix: string;
  /** Publishes in flight at once. */
  window: number;
  /** Broker URL. @default {AMQP_URL} */
  amqpUrl?: string;
}

/**
 * The RabbitMQ stream peer.
 *
 * @example One round of 100 events
 * ```ts
 * import { rabbitmqStreamPeer } from "./_bench_peer_rabbitmq_stream.ts";
 * const peer = rabbitmqStreamPeer({ prefix: "example-stream", window: 100 });
 * if (!(await peer.open())) console.log(await peer.round(100, 0));
 * await peer.close();
 * ```
 */
export function rabbitmqStreamPeer(options: RabbitmqStreamPeerOptions): Peer {
  const url = options.amqpUrl ?? AMQP_URL;
  let client: AMQPClient | undefined;
  /** The stream of a round under way (deleted by close if the round was cut short). */
  let current: string | undefined;
  const system = { rabbitmq: { comm: ["beam.smp"] } };
  return {
    name: "RabbitMQ stream",
    durability: () => "confirm after the write to the stream's replicas (one node here); no fsync (OS page cache)",
    async open() {
      client = new AMQPClient(url);
      try {
        await client.connect();
        return undefined;
      } catch (error) {
        client = undefined;
        return `RabbitMQ at ${url} cannot be reached (${(error as Error).message})`;
      }
    },
    async round(events, round): Promise<PhaseResult[]> {
      const stream = `${options.prefix}-${round}`;
      current = stream;
      const channel = await client!.channel();
      try {
        await channel.queueDeclare(stream, { durable: true }, { "x-queue-type": "stream" });
        await channel.confirmSelect();
        const write = await measurePhase({ phase: "write", kind: "write", events, system }, async () => {
          const limiter = new Window(options.window);
          for (let i = 0; i < events; i++) {
            await limiter.run(() =>
              channel.basicPublish("", stream, peerBody(i), { deliveryMode: 2, contentType: "application/json" })
            );
          }
          await limiter.drain();
        });
        const read = await measurePhase({ phase: "replay", kind: "read", events, system }, async () => {
          const reader = await client!.channel();
          try {
            await reader.basicQos(1000);
            const check = new SequenceCheck(`RabbitMQ stream ${stream}`, events);
            const done = deferred<unknown>();
            await reader.basicConsume(
              stream,
              { noAck: false, args: { "x-stream-offset": "first" } },
              (msg: AMQPMessage) => {
                try {
                  if (check.complete) return; // the stream holds nothing else; stop counting once all came
                  check.next(JSON.parse(msg.bodyToString() ?? "null"));
                  if (check.seen % 500 === 0 || check.complete) {
                    reader.basicAck(msg.deliveryTag, true).catch(done.resolve);
                  }
                  if (check.complete) done.resolve(undefined);
                } catch (error) {
                  done.resolve(error);
                }
              },
            );
            const failure = await done.promise;
            if (failure) throw failure;
            check.done();
          } finally {
            await reader.close().catch(() => {});
          }
        });
        return [write, read];
      } finally {
        await channel.queueDelete(stream).catch(async () => {
          const again = await client!.channel();
          await again.queueDelete(stream);
          await again.close();
        });
        await channel.close().catch(() => {});
        current = undefined;
      }
    },
    async close() {
      if (current && client) {
        const channel = await client.channel().catch(() => undefined);
        await channel?.queueDelete(current).catch(() => {});
      }
      await client?.close().catch(() => {});
      client = undefined;
    },
  };
}
