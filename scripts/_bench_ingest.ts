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
import { cpuSnapshot, cpuSpent } from "./_bench_cpu.ts";
import { record } from "./_bench_figures.ts";
import type { Sizes } from "./_bench_options.ts";
import { type BenchServer, names } from "./_bench_server.ts";
import { AMQP_URL, benchEvent, deferred, fmt, memoryOf, ROOT, startChild, Window } from "./_bench_util.ts";

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

/** One measured ingest round: its rate, and the CPU µs per event of the relaying process and of RabbitMQ. */
export interface IngestRound {
  /** Events per second, first publish to last receipt. */
  rate: number;
  /** CPU µs per event of the server (or the relay). */
  processCpu: number;
  /** CPU µs per event of RabbitMQ (`beam.smp`). */
  brokerCpu: number;
  /** RSS of the server (or the relay) right after the round, in bytes. */
  rss: number;
}

/** CPU groups of one round: the process that relays, and the broker. */
function groupsOf(pid: number) {
  return { process: { pids: [pid] }, broker: { comm: ["beam.smp"] } };
}

/** Product ingest: command → server (fsync) → fanout → listener; events/s from first publish to last receipt. */
export async function ingestProduct(server: BenchServer, sizes: Sizes): Promise<IngestRound> {
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
  const groups = groupsOf(server.child.pid);
  const before = await cpuSnapshot(groups);
  const started = performance.now();
  const command = await publishBurst(names.queue, 0, sizes.ingest, sizes.window);
  await done.promise;
  const elapsed = performance.now() - started;
  const spent = cpuSpent(before, await cpuSnapshot(groups));
  const { rss } = await memoryOf(server.child.pid);
  await Promise.all([listener.close(), command.close(), warmCommand.close()]);
  return {
    rate: sizes.ingest / (elapsed / 1000),
    processCpu: spent.process / sizes.ingest,
    brokerCpu: spent.broker / sizes.ingest,
    rss,
  };
}

/** Baseline ingest: the same command module → minimal relay (no disk) → fanout → a raw consumer acking each. */
export async function ingestRelay(sizes: Sizes): Promise<IngestRound> {
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
    const groups = groupsOf(relay.pid);
    const before = await cpuSnapshot(groups);
    const started = performance.now();
    const command = await publishBurst(names.relayQueue, 0, sizes.ingest, sizes.window);
    await done.promise;
    const elapsed = performance.now() - started;
    const spent = cpuSpent(before, await cpuSnapshot(groups));
    const { rss } = await memoryOf(relay.pid);
    await Promise.all([command.close(), warmCommand.close(), client.close()]);
    return {
      rate: sizes.ingest / (elapsed / 1000),
      processCpu: spent.process / sizes.ingest,
      brokerCpu: spent.broker / sizes.ingest,
      rss,
    };
  } finally {
    await relay.stop();
  }
}

/** The rounds of an ingest run, relay (baseline) and server alternating. */
export interface IngestRounds {
  /** Relay (baseline) rounds; empty without the baseline. */
  relay: IngestRound[];
  /** Server rounds. */
  server: IngestRound[];
}

/** Run `sizes.rounds` ingest rounds on `server`; with `baseline`, each after a relay round. */
export async function ingestRounds(server: BenchServer, sizes: Sizes, baseline: boolean): Promise<IngestRounds> {
  const relay: IngestRound[] = [];
  const product: IngestRound[] = [];
  for (let round = 0; round < sizes.rounds; round++) {
    if (baseline) relay.push(await ingestRelay(sizes));
    product.push(await ingestProduct(server, sizes));
    const r = relay.at(-1);
    const p = product.at(-1)!;
    console.log(
      `  round ${round + 1}: relay ${fmt(r?.rate)}/s (CPU µs/event: relay ${fmt(r?.processCpu)}, RabbitMQ ${
        fmt(r?.brokerCpu)
      }), server ${fmt(p.rate)}/s (server ${fmt(p.processCpu)}, RabbitMQ ${fmt(p.brokerCpu)}; server RSS ${
        fmt(p.rss / 2 ** 20)
      } MiB)`,
    );
  }
  return { relay, server: product };
}

/** The median of `values` with their range, e.g. `1.02 (0.91–1.17)`. */
function spread(values: number[], digits: number): string {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted[Math.floor(sorted.length / 2)];
  const median = sorted.length % 2 ? mid : (sorted[sorted.length / 2 - 1] + mid) / 2;
  return `${median.toFixed(digits)} (${sorted[0].toFixed(digits)}–${sorted.at(-1)!.toFixed(digits)})`;
}

function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Record the ingest figures: the median server round beside the median relay
 * round, with the ratio as the **median of paired rounds** (server round i /
 * the relay round run just before it) and its range, never the best round;
 * and CPU µs per event of the server and of RabbitMQ beside the relay's.
 */
export function recordIngest(runtime: string, sizes: Sizes, rounds: IngestRounds): void {
  const pairs = rounds.server.map((p, i) => p.rate / rounds.relay[i].rate);
  const ratio = medianOf(pairs);
  const pairsText = `median of ${pairs.length} paired rounds ${spread(pairs, 2)}`;
  console.log(`  ingest [${runtime}]: server / relay, ${pairsText}`);
  record({
    figure: `ingest, ${fmt(sizes.ingest)} events, durable`,
    runtime,
    value: medianOf(rounds.server.map((r) => r.rate)),
    unit: "events/s",
    baseline: { name: "minimal relay, no disk", value: medianOf(rounds.relay.map((r) => r.rate)), unit: "events/s" },
    ratio,
    target: `≥ 0.9× relay (aim > 1.0×); ${pairsText}`,
    met: ratio >= 0.9,
    detail: { pairs, relayRounds: rounds.relay, serverRounds: rounds.server, window: sizes.window },
  });
  for (const [what, of] of [["server", "processCpu"], ["RabbitMQ", "brokerCpu"]] as const) {
    const ours = rounds.server.map((r) => r[of]);
    const theirs = rounds.relay.map((r) => r[of]);
    record({
      figure: `ingest, CPU per stored event, ${what}`,
      runtime,
      value: medianOf(ours),
      unit: "µs",
      baseline: {
        name: what === "server" ? "the relay process" : "RabbitMQ with the relay",
        value: medianOf(theirs),
        unit: "µs",
      },
      ratio: medianOf(ours.map((v, i) => v / theirs[i])),
      target: `printed (2 cores: CPU per event decides); ours ${spread(ours, 0)}, relay ${spread(theirs, 0)}`,
    });
  }
}
