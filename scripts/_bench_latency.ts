/**
 * The latency figures: publish at a steady rate; p50 and p99 from the publish
 * call to the listener's handler, each the median of several rounds with its
 * range (there is no baseline to pair them with).
 *
 * @module
 */
import { createCommand } from "../command.ts";
import { listen } from "../listener.ts";
import { medianOf, record } from "./_bench_figures.ts";
import type { Sizes } from "./_bench_options.ts";
import { type BenchServer, names } from "./_bench_server.ts";
import { AMQP_URL, benchEvent, deferred, fmt, quantile, settle } from "./_bench_util.ts";

/** Publish at a steady rate for `seconds`; latency from the publish call to the listener's handler. */
export async function latency(
  server: BenchServer,
  sizes: Sizes,
  seconds = sizes.latencySeconds,
): Promise<{ p50: number; p99: number; max: number; count: number }> {
  const samples: number[] = [];
  const total = Math.round(seconds * sizes.latencyRate);
  const skip = Math.min(200, Math.floor(total / 10)); // the first events pay for connection set-up
  let received = 0;
  const done = deferred();
  const listener = listen<{ sentAt?: number }>((event) => {
    if (event.data.sentAt === undefined) return Promise.resolve(); // the warm-up event
    if (received >= skip) samples.push(performance.now() - event.data.sentAt);
    received++;
    if (received === total) done.resolve();
    return Promise.resolve();
  }, { amqpUrl: AMQP_URL, exchangeName: names.exchange, queueName: names.queue, historyUrl: server.historyUrl });
  await listener.ready;
  const command = createCommand({ amqpUrl: AMQP_URL, queueName: names.queue });
  await command.publish({ warm: true }); // open the connection before the clock starts
  const started = performance.now();
  const pending: Promise<unknown>[] = [];
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * sizes.latencyRate) + 1);
    while (sent < due) pending.push(command.publish(benchEvent(sent++, { sentAt: performance.now() })));
    await settle(1);
  }
  await Promise.all(pending);
  await Promise.race([done.promise, settle(30_000)]);
  await Promise.all([listener.close(), command.close()]);
  return {
    p50: quantile(samples, 0.5),
    p99: quantile(samples, 0.99),
    max: quantile(samples, 1),
    count: samples.length,
  };
}

/**
 * Measure latency in `sizes.pairs` rounds of `latencySeconds / pairs` each (a fresh listener per
 * round) and record p50 and p99 as the median of the rounds, with their range; never the best round.
 */
export async function recordLatency(server: BenchServer, runtime: string, sizes: Sizes): Promise<void> {
  const seconds = sizes.latencySeconds / sizes.pairs;
  const rounds: Array<Awaited<ReturnType<typeof latency>>> = [];
  for (let round = 0; round < sizes.pairs; round++) {
    const lat = await latency(server, sizes, seconds);
    rounds.push(lat);
    console.log(
      `  latency round ${round + 1}: p50 ${fmt(lat.p50, 2)} ms, p99 ${fmt(lat.p99, 2)} ms (${lat.count} samples)`,
    );
  }
  const of = (key: "p50" | "p99" | "max") => rounds.map((r) => r[key]);
  const span = (values: number[]) => `${fmt(Math.min(...values), 2)}–${fmt(Math.max(...values), 2)} ms`;
  const what = `${fmt(sizes.latencyRate)} events/s, median of ${sizes.pairs} rounds of ${fmt(seconds, 1)} s`;
  const samples = rounds.reduce((sum, r) => sum + r.count, 0);
  const p50 = medianOf(of("p50"));
  record({
    figure: `latency p50, ${what} (range ${span(of("p50"))})`,
    runtime,
    value: p50,
    unit: "ms",
    target: "printed",
    detail: { rounds: of("p50"), samples },
  });
  const p99 = medianOf(of("p99"));
  record({
    figure: `latency p99, ${what} (range ${span(of("p99"))})`,
    runtime,
    value: p99,
    unit: "ms",
    target: "< 10 ms",
    met: p99 < 10,
    detail: { rounds: of("p99"), max: of("max"), samples },
  });
}
