/**
 * The ingest figure: events/s through command → server (fsync) → fanout →
 * listener, beside a minimal relay with no disk (`_bench_relay.ts`), in
 * alternating rounds.
 *
 * @module
 */
import process from "node:process";
import { join } from "node:path";
import { AMQPClient, type AMQPMessage } from "@cloudamqp/amqp-client";
import { createCommand } from "../command.ts";
import { listen } from "../listener.ts";
import { record } from "./_bench_figures.ts";
import type { Sizes } from "./_bench_options.ts";
import { type BenchServer, names } from "./_bench_server.ts";
import { AMQP_URL, benchEvent, deferred, fmt, ROOT, startChild, Window } from "./_bench_util.ts";

/** Publish `count` bench events through the command module with `window` confirms in flight. */
export async function publishBurst(
  queueName: string,
  from: number,
  count: number,
  window: number,
  extra?: () => Record<string, unknown>,
) {
  const command = createCommand({ amqpUrl: AMQP_URL, queueName });
  const limiter = new Window(window);
  for (let i = from; i < from + count; i++) {
    await limiter.run(() => command.publish(benchEvent(i, extra?.()), { type: "BenchEvent" }));
  }
  await limiter.drain();
  return command;
}

/** Events published (and not counted) before each measured round. */
export const WARM_UP = 200;

/** Product ingest: command → server (fsync) → fanout → listener; events/s from first publish to last receipt. */
export async function ingestProduct(server: BenchServer, sizes: Sizes): Promise<number> {
  let received = 0;
  const warm = deferred();
  const done = deferred();
  const listener = listen(() => {
    received++;
    if (received === WARM_UP) warm.resolve();
    if (received === WARM_UP + sizes.ingest) done.resolve();
    return Promise.resolve();
  }, { amqpUrl: AMQP_URL, exchangeName: names.exchange, queueName: names.queue, historyUrl: server.historyUrl });
  await listener.ready;
  const warmCommand = await publishBurst(names.queue, -WARM_UP, WARM_UP, sizes.window);
  await warm.promise;
  const started = performance.now();
  const command = await publishBurst(names.queue, 0, sizes.ingest, sizes.window);
  await done.promise;
  const elapsed = performance.now() - started;
  await Promise.all([listener.close(), command.close(), warmCommand.close()]);
  return sizes.ingest / (elapsed / 1000);
}

/** Baseline ingest: the same command module → minimal relay (no disk) → fanout → a raw consumer acking each. */
export async function ingestRelay(sizes: Sizes): Promise<number> {
  const dbg = (m: string) => process.env.BENCH_DEBUG && console.log(`debug: ${m}`);
  const relay = startChild(
    // deno-lint-ignore no-explicit-any
    (globalThis as any).Deno.execPath(),
    ["run", "-A", join(ROOT, "scripts", "_bench_relay.ts"), AMQP_URL, names.relayQueue, names.relayExchange, "1000"],
    {},
    ROOT,
  );
  try {
    await relay.waitFor(/relay: ready/);
    dbg("relay ready");
    const client = new AMQPClient(AMQP_URL);
    await client.connect();
    const channel = await client.channel();
    const { name: queue } = await channel.queueDeclare("", { exclusive: true, autoDelete: true, durable: false });
    await channel.queueBind(queue, names.relayExchange, "");
    await channel.basicQos(256);
    let received = 0;
    const warm = deferred();
    const done = deferred();
    let chain = Promise.resolve();
    const handler = (_event: unknown) => Promise.resolve();
    await channel.basicConsume(queue, { noAck: false }, (msg: AMQPMessage) => {
      // Like the listener: parse, await the handler, then ack, one at a time in order.
      chain = chain.then(async () => {
        await handler(JSON.parse(msg.bodyToString() ?? "null"));
        await msg.ack();
        received++;
        if (received === WARM_UP) warm.resolve();
        if (received === WARM_UP + sizes.ingest) done.resolve();
      });
    });
    dbg("consuming");
    const warmCommand = await publishBurst(names.relayQueue, -WARM_UP, WARM_UP, sizes.window);
    dbg("warm published");
    await warm.promise;
    dbg("warm received");
    const started = performance.now();
    const command = await publishBurst(names.relayQueue, 0, sizes.ingest, sizes.window);
    await done.promise;
    const elapsed = performance.now() - started;
    await Promise.all([command.close(), warmCommand.close(), client.close()]);
    return sizes.ingest / (elapsed / 1000);
  } finally {
    await relay.stop();
  }
}

/** The rates of each ingest round. */
export interface IngestRounds {
  /** Relay (baseline) rates, events/s; empty without the baseline. */
  relay: number[];
  /** Server rates, events/s. */
  server: number[];
}

/** Run `sizes.rounds` ingest rounds on `server`; with `baseline`, each after a relay round. */
export async function ingestRounds(server: BenchServer, sizes: Sizes, baseline: boolean): Promise<IngestRounds> {
  const relayRates: number[] = [];
  const productRates: number[] = [];
  for (let round = 0; round < sizes.rounds; round++) {
    if (baseline) relayRates.push(await ingestRelay(sizes));
    productRates.push(await ingestProduct(server, sizes));
    console.log(
      `  round ${round + 1}: relay ${fmt(relayRates.at(-1))}/s, server ${fmt(productRates.at(-1))}/s`,
    );
  }
  return { relay: relayRates, server: productRates };
}

/** Record the ingest figure: the best server round beside the best relay round. */
export function recordIngest(runtime: string, sizes: Sizes, rounds: IngestRounds): void {
  const relayRates = rounds.relay;
  const productRates = rounds.server;
  const relay = Math.max(...relayRates);
  const product = Math.max(...productRates);
  record({
    figure: `ingest, ${fmt(sizes.ingest)} events, durable`,
    runtime,
    value: product,
    unit: "events/s",
    baseline: { name: "minimal relay, no disk", value: relay, unit: "events/s" },
    target: "≥ 0.9× relay (aim > 1.0×)",
    met: product / relay >= 0.9,
    detail: { relayRounds: relayRates, serverRounds: productRates, window: sizes.window },
  });
}
