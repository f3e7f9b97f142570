/**
 * The ingest baseline of `scripts/bench.ts`: a minimal relay with the same
 * AMQP client as the server, run as its own process like the server. It
 * consumes the input queue (manual ack, same prefetch as the server) and
 * republishes each message to a fanout exchange with a publisher confirm,
 * acknowledging each delivery once its publish is confirmed — no disk, no
 * positions, no batching.
 *
 * ```sh
 * deno run -A scripts/_bench_relay.ts <amqpUrl> <queue> <exchange> [prefetch]
 * ```
 *
 * @module
 */
import process from "node:process";
import { AMQPClient, type AMQPMessage } from "@cloudamqp/amqp-client";

const [url, queue, exchange, prefetchArg] = process.argv.slice(2);
if (!url || !queue || !exchange) {
  console.error("Usage: _bench_relay.ts <amqpUrl> <queue> <exchange> [prefetch]");
  process.exit(2);
}
const client = new AMQPClient(url);
await client.connect();
const consume = await client.channel();
const publish = await client.channel();
await publish.confirmSelect();
await consume.queueDeclare(queue, { durable: true });
await consume.exchangeDeclare(exchange, "fanout", { durable: true });
await consume.basicQos(Number(prefetchArg ?? 1000));
await consume.basicConsume(queue, { noAck: false }, (msg: AMQPMessage) => {
  publish.basicPublish(exchange, "", msg.body, {
    contentType: "application/json",
    deliveryMode: 2,
    messageId: msg.properties.messageId,
    type: msg.properties.type,
  }).then(() => msg.ack(), (error) => console.error(`relay: publish failed: ${error}`));
});
console.log("relay: ready");
const stop = async () => {
  await client.close().catch(() => {});
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
