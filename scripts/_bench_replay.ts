/**
 * The replay figures: a listener from 0 over the replay file (on Deno, and on
 * Node from the npm build), beside replaying the same lines from a RabbitMQ
 * stream queue.
 *
 * @module
 */
import { pathToFileURL } from "node:url";
import { AMQPClient, type AMQPMessage } from "@cloudamqp/amqp-client";
import { listen } from "../listener.ts";
import { record } from "./_bench_figures.ts";
import type { Sizes } from "./_bench_options.ts";
import { type BenchServer, names, npmBuild } from "./_bench_server.ts";
import { AMQP_URL, deferred, fmt, ROOT, startChild, storageLines, Window } from "./_bench_util.ts";

/** Product replay: a listener from 0 over `count` stored events, trivial async handler. */
export async function replayProduct(historyUrl: string, count: number): Promise<number> {
  let received = 0;
  const done = deferred();
  const started = performance.now();
  const listener = listen(0, () => {
    if (++received === count) done.resolve();
    return Promise.resolve();
  }, { amqpUrl: AMQP_URL, exchangeName: names.exchange, queueName: names.queue, historyUrl });
  await done.promise;
  const elapsed = performance.now() - started;
  await listener.close();
  return count / (elapsed / 1000);
}

/** Product replay with the listener on Node (the npm build), as a child process. */
export async function replayNodeListener(historyUrl: string, count: number): Promise<number> {
  const build = npmBuild()!;
  const script = `
    const { listen } = await import(${JSON.stringify(pathToFileURL(build.listener).href)});
    const count = ${count};
    let received = 0, finish;
    const done = new Promise((r) => (finish = r));
    const started = performance.now();
    const listener = listen(0, () => { if (++received === count) finish(); return Promise.resolve(); },
      { amqpUrl: ${JSON.stringify(AMQP_URL)}, exchangeName: ${JSON.stringify(names.exchange)},
        queueName: ${JSON.stringify(names.queue)}, historyUrl: ${JSON.stringify(historyUrl)} });
    await done;
    const elapsed = performance.now() - started;
    console.log("RESULT " + count / (elapsed / 1000));
    await listener.close();
    process.exit(0);`;
  const child = startChild("node", ["--input-type=module", "-e", script], {}, ROOT);
  const match = await child.waitFor(/^RESULT ([\d.]+)/, 600_000);
  await child.stop();
  return Number(match[1]);
}

/** Fill the stream-queue baseline with the storage file's lines (pipelined confirms). */
export async function fillStream(path: string, window: number): Promise<void> {
  const client = new AMQPClient(AMQP_URL);
  await client.connect();
  try {
    const channel = await client.channel();
    await channel.queueDeclare(names.stream, { durable: true }, { "x-queue-type": "stream" });
    await channel.confirmSelect();
    const limiter = new Window(window);
    for await (const lines of storageLines(path)) {
      for (const line of lines) {
        await limiter.run(() =>
          channel.basicPublish("", names.stream, line, { deliveryMode: 2, contentType: "application/json" })
        );
      }
    }
    await limiter.drain();
  } finally {
    await client.close().catch(() => {});
  }
}

/** Baseline replay: the same events from a RabbitMQ stream queue from the first offset, same client, trivial async handler. */
export async function replayStream(count: number): Promise<number> {
  const client = new AMQPClient(AMQP_URL);
  const started = performance.now();
  await client.connect();
  try {
    const channel = await client.channel();
    await channel.basicQos(1000);
    let handled = 0;
    const done = deferred();
    let chain = Promise.resolve();
    const handler = (_event: unknown) => Promise.resolve();
    await channel.basicConsume(
      names.stream,
      { noAck: false, args: { "x-stream-offset": "first" } },
      (msg: AMQPMessage) => {
        const event = JSON.parse(msg.bodyToString() ?? "null");
        const tag = msg.deliveryTag;
        chain = chain.then(async () => {
          await handler(event);
          handled++;
          if (handled % 500 === 0 || handled === count) await channel.basicAck(tag, true);
          if (handled === count) done.resolve();
        });
      },
    );
    await done.promise;
    return count / ((performance.now() - started) / 1000);
  } finally {
    await client.close().catch(() => {});
  }
}

/** What {@link measureReplay} runs and records. */
export interface ReplayOptions {
  /** Measure the stream baseline and record the figures (else only replay, for the memory figures). */
  figures: boolean;
  /** Also replay with the listener on Node (the npm build). */
  nodeListener: boolean;
}

/** Replay `big` from 0 with the listener (Deno, and Node if asked), beside the stream baseline. */
export async function measureReplay(
  big: BenchServer,
  runtime: string,
  sizes: Sizes,
  options: ReplayOptions,
): Promise<void> {
  const stream = options.figures ? await replayStream(sizes.replay) : NaN;
  const product = await replayProduct(big.historyUrl, sizes.replay);
  /** One replay row: the listener's rate beside the stream baseline. */
  const replayFigure = (listener: string, value: number, target: string, met: boolean | undefined) => {
    if (!options.figures) return;
    record({
      figure: `replay from 0 over ${fmt(sizes.replay)} events, listener on ${listener}`,
      runtime,
      value,
      unit: "events/s",
      baseline: { name: "stream queue, x-stream-offset first", value: stream, unit: "events/s" },
      target,
      met,
    });
  };
  replayFigure(
    "Deno",
    product,
    runtime === "deno" ? "≥ 500k/s (≥ 5× stream)" : "printed",
    runtime === "deno" ? product >= 500_000 && product / stream >= 5 : undefined,
  );
  if (options.nodeListener) {
    const nodeRate = await replayNodeListener(big.historyUrl, sizes.replay);
    replayFigure("Node", nodeRate, "≥ 200k/s", nodeRate >= 200_000);
  }
}
