/**
 * The latency figures: publish at a steady rate; p50 and p99 from the publish
 * call to the listener's handler.
 *
 * @module
 */
import { createCommand } from "../command.ts";
import { listen } from "../listener.ts";
import { record } from "./_bench_figures.ts";
import type { Sizes } from "./_bench_options.ts";
import { type BenchServer, names } from "./_bench_server.ts";
import { AMQP_URL, benchEvent, deferred, fmt, quantile, settle } from "./_bench_util.ts";

/** Publish at a steady rate; latency from the publish call to the listener's handler. */
export async function latency(
  server: BenchServer,
  sizes: Sizes,
): Promise<{ p50: number; p99: number; max: number; count: number }> {
  const samples: number[] = [];
  const total = Math.round(sizes.latencySeconds * sizes.latencyRate);
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

/** Measure and record latency p50 and p99 on `server`. */
export async function recordLatency(server: BenchServer, runtime: string, sizes: Sizes): Promise<void> {
  const lat = await latency(server, sizes);
  record({
    figure: `latency p50, ${fmt(sizes.latencyRate)} events/s for ${sizes.latencySeconds} s`,
    runtime,
    value: lat.p50,
    unit: "ms",
    target: "printed",
    detail: { samples: lat.count },
  });
  record({
    figure: `latency p99, ${fmt(sizes.latencyRate)} events/s for ${sizes.latencySeconds} s`,
    runtime,
    value: lat.p99,
    unit: "ms",
    target: "< 10 ms",
    met: lat.p99 < 10,
    detail: { max: lat.max, samples: lat.count },
  });
}
