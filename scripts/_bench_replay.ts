/**
 * The replay figures, each the median of paired rounds with its range (the
 * order inside a round alternates): a listener from 0 over the replay file
 * beside replaying the same lines from a RabbitMQ stream queue
 * (`x-stream-offset: first`); an async handler beside a sync one; the listener
 * on Node (the npm build) beside it on Deno; and the time from `listen()` to the
 * first event beside the listener of an earlier commit (`--listener-baseline`,
 * by default the commit before issue 10), taken from git into `.bench/` and
 * run in this process, rounds alternating.
 *
 * CPU µs per event is printed for each side: the consuming process (this one
 * for the Deno listener and the stream client) and the server or the broker.
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { AMQPClient, type AMQPMessage } from "@cloudamqp/amqp-client";
import { listen } from "../listener.ts";
import { cpuOf } from "./_bench_cpu.ts";
import { recordPaired } from "./_bench_figures.ts";
import type { Sizes } from "./_bench_options.ts";
import { type BenchServer, names, npmBuild } from "./_bench_server.ts";
import { AMQP_URL, deferred, fmt, ROOT, startChild, storageLines, Window } from "./_bench_util.ts";

/** One replay round: events per second, and CPU µs per event of the consumer and of the server or broker. */
export interface ReplayRound {
  rate: number;
  consumerCpu: number;
  sourceCpu: number;
}

/** The handler a product replay uses: a trivial async one (a resolved promise per event) or a sync one. */
export type HandlerKind = "async" | "sync";

/** CPU µs this process has used so far. */
function ownCpu(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/** Total CPU µs of `pids` (or of the processes named `comm`) so far. */
async function cpuNow(select: { comm?: string[]; pids?: number[] }): Promise<number> {
  let sum = 0;
  for (const us of (await cpuOf(select)).values()) sum += us;
  return sum;
}

/** Product replay: a listener from 0 over `count` stored events, in this process (Deno). */
export async function replayProduct(
  server: BenchServer,
  count: number,
  kind: HandlerKind = "async",
): Promise<ReplayRound> {
  let received = 0;
  const done = deferred();
  const handler = kind === "async"
    ? () => {
      if (++received === count) done.resolve();
      return Promise.resolve();
    }
    : () => {
      if (++received === count) done.resolve();
    };
  const source = await cpuNow({ pids: [server.child.pid] });
  const own = ownCpu();
  const started = performance.now();
  const listener = listen(0, handler, {
    amqpUrl: AMQP_URL,
    exchangeName: names.exchange,
    queueName: names.queue,
    historyUrl: server.historyUrl,
  });
  await done.promise;
  const elapsed = performance.now() - started;
  const consumerCpu = (ownCpu() - own) / count;
  const sourceCpu = ((await cpuNow({ pids: [server.child.pid] })) - source) / count;
  await listener.close();
  return { rate: count / (elapsed / 1000), consumerCpu, sourceCpu };
}

/** Product replay with the listener on Node (the npm build), as a child process. */
export async function replayNodeListener(server: BenchServer, count: number): Promise<ReplayRound> {
  const build = npmBuild()!;
  const script = `
    const { listen } = await import(${JSON.stringify(pathToFileURL(build.listener).href)});
    const count = ${count};
    let received = 0, finish;
    const done = new Promise((r) => (finish = r));
    const cpu = () => { const u = process.cpuUsage(); return u.user + u.system; };
    const own = cpu();
    const started = performance.now();
    const listener = listen(0, () => { if (++received === count) finish(); return Promise.resolve(); },
      { amqpUrl: ${JSON.stringify(AMQP_URL)}, exchangeName: ${JSON.stringify(names.exchange)},
        queueName: ${JSON.stringify(names.queue)}, historyUrl: ${JSON.stringify(server.historyUrl)} });
    await done;
    const elapsed = performance.now() - started;
    console.log("RESULT " + count / (elapsed / 1000) + " " + (cpu() - own) / count);
    await listener.close();
    process.exit(0);`;
  const source = await cpuNow({ pids: [server.child.pid] });
  const child = startChild("node", ["--input-type=module", "-e", script], {}, ROOT);
  const match = await child.waitFor(/^RESULT ([\d.]+) ([\d.]+)/, 600_000);
  const sourceCpu = ((await cpuNow({ pids: [server.child.pid] })) - source) / count;
  await child.stop();
  return { rate: Number(match[1]), consumerCpu: Number(match[2]), sourceCpu };
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
export async function replayStream(count: number): Promise<ReplayRound> {
  const client = new AMQPClient(AMQP_URL);
  const broker = await cpuNow({ comm: ["beam.smp"] });
  const own = ownCpu();
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
    const rate = count / ((performance.now() - started) / 1000);
    const consumerCpu = (ownCpu() - own) / count;
    const sourceCpu = ((await cpuNow({ comm: ["beam.smp"] })) - broker) / count;
    return { rate, consumerCpu, sourceCpu };
  } finally {
    await client.close().catch(() => {});
  }
}

/** The `listen` of the listener at git `ref`, taken from git into `.bench/` (undefined when git cannot). */
export async function listenAt(ref: string): Promise<typeof listen | undefined> {
  const dir = join(ROOT, ".bench", `listener-${ref.replace(/[^\w.-]/g, "_")}`);
  try {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const archive = execFileSync("git", ["-C", ROOT, "archive", ref, "listener.ts", "lib"], {
      maxBuffer: 64 << 20,
    });
    execFileSync("tar", ["-x", "-C", dir], { input: archive });
  } catch (error) {
    console.log(`  (no listener at ${ref}: ${(error as Error).message.split("\n")[0]})`);
    return undefined;
  }
  const module = await import(pathToFileURL(join(dir, "listener.ts")).href);
  return module.listen as typeof listen;
}

/** Milliseconds from `listen(from)` to its first event, with the given `listen`. */
export async function startToFirstEvent(useListen: typeof listen, server: BenchServer, from: number): Promise<number> {
  const first = deferred();
  const started = performance.now();
  let at = 0;
  const listener = useListen(from, () => {
    if (at === 0) {
      at = performance.now() - started;
      first.resolve();
    }
  }, { amqpUrl: AMQP_URL, exchangeName: names.exchange, queueName: names.queue, historyUrl: server.historyUrl });
  await first.promise;
  await listener.close();
  return at;
}

/** What {@link measureReplay} runs and records. */
export interface ReplayOptions {
  /** Measure the baselines and record the figures (else only replay once, for the memory figures). */
  figures: boolean;
  /** Also replay with the listener on Node (the npm build). */
  nodeListener: boolean;
  /** The git ref whose listener is the start-to-first-event baseline. */
  baselineRef: string;
}

/** Print one round's figures. */
function roundLine(name: string, round: ReplayRound): string {
  return `${name} ${fmt(round.rate)}/s (CPU µs/event ${fmt(round.consumerCpu, 1)} + ${fmt(round.sourceCpu, 1)})`;
}

/** Replay `big` from 0: the listener (Deno, and Node if asked) beside the stream baseline, in paired rounds. */
export async function measureReplay(
  big: BenchServer,
  runtime: string,
  sizes: Sizes,
  options: ReplayOptions,
  notes: string[],
): Promise<void> {
  if (!options.figures) {
    await replayProduct(big, sizes.replay);
    return;
  }
  const rounds = { stream: [] as ReplayRound[], async: [] as ReplayRound[], sync: [] as ReplayRound[] };
  const node: ReplayRound[] = [];
  for (let round = 0; round < sizes.pairs; round++) {
    // The order flips every round, so neither side always runs first (warm caches, a quieter broker).
    const steps: Array<() => Promise<void>> = [
      async () => void rounds.stream.push(await replayStream(sizes.replay)),
      async () => void rounds.async.push(await replayProduct(big, sizes.replay, "async")),
      async () => void rounds.sync.push(await replayProduct(big, sizes.replay, "sync")),
    ];
    if (options.nodeListener) steps.push(async () => void node.push(await replayNodeListener(big, sizes.replay)));
    for (const step of round % 2 === 0 ? steps : steps.reverse()) await step();
    console.log(
      `  replay round ${round + 1}: ${roundLine("stream", rounds.stream[round])}, ${
        roundLine("listener async", rounds.async[round])
      }, ${roundLine("sync", rounds.sync[round])}${options.nodeListener ? `, ${roundLine("Node", node[round])}` : ""}`,
    );
  }
  const rate = (list: ReplayRound[]) => list.map((r) => r.rate);
  const cpu = (list: ReplayRound[]) => ({
    consumerCpuPerEvent: list.map((r) => r.consumerCpu),
    sourceCpuPerEvent: list.map((r) => r.sourceCpu),
  });
  const deno = runtime === "deno";
  recordPaired({
    figure: `replay from 0 over ${fmt(sizes.replay)} events, listener on Deno (async handler)`,
    runtime,
    rounds: rate(rounds.async),
    unit: "events/s",
    baseline: { name: "stream queue, x-stream-offset first", unit: "events/s", rounds: rate(rounds.stream) },
    target: deno ? "≥ 8× stream" : "printed",
    meets: deno ? (_value, ratio) => ratio >= 8 : undefined,
    detail: { listener: cpu(rounds.async), stream: cpu(rounds.stream) },
  });
  recordPaired({
    figure: `replay from 0 over ${fmt(sizes.replay)} events, async handler vs sync handler (Deno)`,
    runtime,
    rounds: rate(rounds.async),
    unit: "events/s",
    baseline: { name: "sync handler", unit: "events/s", rounds: rate(rounds.sync) },
    target: "≥ 0.9×",
    meets: (_value, ratio) => ratio >= 0.9,
    detail: { sync: cpu(rounds.sync) },
  });
  if (options.nodeListener) {
    recordPaired({
      figure: `replay from 0 over ${fmt(sizes.replay)} events, listener on Node vs on Deno`,
      runtime,
      rounds: rate(node),
      unit: "events/s",
      baseline: { name: "listener on Deno", unit: "events/s", rounds: rate(rounds.async) },
      target: "≥ 0.7×",
      meets: (_value, ratio) => ratio >= 0.7,
      detail: { node: cpu(node) },
    });
  }
  // On a loaded box the rates follow the CPU share each process gets; CPU per event does not.
  const consumer = (list: ReplayRound[]) => list.map((r) => r.consumerCpu);
  recordPaired({
    figure: "listener CPU per replayed event, async handler vs sync handler (Deno; lower is better)",
    runtime,
    rounds: consumer(rounds.async),
    unit: "µs/event",
    baseline: { name: "sync handler", unit: "µs/event", rounds: consumer(rounds.sync) },
    target: "≤ 1.1×",
    meets: (_value, ratio) => ratio <= 1.1,
  });
  if (options.nodeListener) {
    recordPaired({
      figure: "listener CPU per replayed event, Node vs Deno (lower is better)",
      runtime,
      rounds: consumer(node),
      unit: "µs/event",
      baseline: { name: "listener on Deno", unit: "µs/event", rounds: consumer(rounds.async) },
      target: "≤ 1.43× (the inverse of 0.7×)",
      meets: (_value, ratio) => ratio <= 1 / 0.7,
    });
  }
  await measureStartToFirstEvent(big, runtime, sizes, options.baselineRef, notes);
}

/** Start to first event (from 1 on `big`): this listener beside the one at `ref`, rounds alternating. */
async function measureStartToFirstEvent(
  big: BenchServer,
  runtime: string,
  sizes: Sizes,
  ref: string,
  notes: string[],
): Promise<void> {
  const before = await listenAt(ref);
  if (!before) {
    notes.push(`Start to first event not measured: git could not give the listener at ${ref}`);
    return;
  }
  const ours: number[] = [];
  const theirs: number[] = [];
  const pairs = Math.max(5, sizes.pairs);
  for (let round = 0; round < pairs; round++) {
    if (round % 2 === 0) {
      theirs.push(await startToFirstEvent(before, big, 1));
      ours.push(await startToFirstEvent(listen, big, 1));
    } else {
      ours.push(await startToFirstEvent(listen, big, 1));
      theirs.push(await startToFirstEvent(before, big, 1));
    }
  }
  console.log(
    `  start to first event: ${ours.map((v) => fmt(v, 1)).join(", ")} ms; at ${ref}: ${
      theirs.map((v) => fmt(v, 1)).join(", ")
    } ms`,
  );
  recordPaired({
    figure: `start to first event, listen(1) on ${fmt(sizes.replay)} records (Deno listener)`,
    runtime,
    rounds: ours,
    unit: "ms",
    baseline: { name: `listener at ${ref.slice(0, 7)} (before issue 10), same run`, unit: "ms", rounds: theirs },
    target: "≤ 0.5×",
    meets: (_value, ratio) => ratio <= 0.5,
  });
}
