/**
 * The benchmark: the real server (a child process), listener and command
 * module against the real RabbitMQ, each figure beside a baseline measured in
 * the same run, so that the ratio holds on a noisy machine (issue 4).
 *
 * ```sh
 * deno task bench                 # the sizes: 100k ingest, 1M replay / TTFB / start-up
 * deno task bench --ci            # CI size (or BENCH_SIZE=ci): 5,000 events, small files, < 60 s
 * deno task bench --ingest=20000 --replay=200000 --latency-seconds=5 --rounds=2
 * deno task bench --runtimes=deno # skip the Node server even when npm/ is built
 * deno task bench --only=startup,memory --runtimes=deno   # only some figure groups
 * deno task bench --only=streams --streams-full --runtimes=deno   # the 10M events in 1M streams
 * deno task bench --only=streams-vs-emmett                 # appendToStream beside Emmett on PostgreSQL
 * deno task bench --only=replay --pairs=5 --listener-baseline=main  # replay, start to first event vs main's listener
 * deno task bench --peers                                  # beside a RabbitMQ stream, JetStream, PostgreSQL, Emmett
 * deno task bench --peers --ci                             # the same at CI size (3,000 events a round, seconds)
 * ```
 *
 * Replay, start-up, TTFB and latency run `--pairs` paired rounds (default 3)
 * and report each ratio as the median of the pairs with its range.
 *
 * `--only` takes a comma-separated subset of the figure groups `ingest`,
 * `latency`, `memory`, `startup`, `ttfb`, `replay`, `streams`,
 * `streams-vs-emmett`, `peers` (default: all but `peers`; `--peers` is `--only=peers`).
 * `streams` (`_bench_streams_startup.ts`) writes its own stores: 1M events in
 * 100k streams, 200k in 20k with `--ci`, 10M in 1M with `--streams-full`.
 * `streams-vs-emmett` (`_bench_streams_vs_emmett.ts`) runs
 * on a Deno server of its own, beside Emmett on PostgreSQL when it can be
 * reached (else that side is skipped with a note);
 * `--streams-writers/-appends/-contended/-rounds/-rate-seconds` size it.
 * `peers` (`_bench_peers.ts`) writes and reads back the same events through
 * our server (end to end) and listener, a RabbitMQ stream, NATS JetStream
 * (`BENCH_NATS_URL`, default 127.0.0.1:4222), a PostgreSQL table and Emmett on
 * PostgreSQL (`BENCH_PG_URL`), rounds alternating, each with its durability
 * at ack; a system that cannot be reached is skipped with a note;
 * `--peers-events/-emmett-events/-emmett-singles/-rounds` size it. `memory`
 * runs the server-side ingest rounds and replays it needs (without their
 * baselines) so that the RSS figures are taken at the same points as in a
 * full run.
 *
 * Each figure group has its own file (`_bench_ingest.ts`, `_bench_latency.ts`,
 * `_bench_memory.ts`, `_bench_startup.ts`, `_bench_ttfb.ts`, `_bench_replay.ts`);
 * this file chooses the groups, runs them on two servers per runtime (one on a
 * fresh store, one on the replay file) and prints.
 *
 * Prints a table and writes `.bench/results.json` (or `--out=path`). It never
 * asserts a time: figures are reported with their targets, not checked.
 * Environment: `AMQPURL` (default amqp://guest:guest@127.0.0.1:5672).
 *
 * @module
 */
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { figures, table } from "./_bench_figures.ts";
import { ingestRounds, recordIngest } from "./_bench_ingest.ts";
import { recordLatency } from "./_bench_latency.ts";
import { recordSseLatency } from "./_bench_sse_latency.ts";
import { recordRssAfterIngest, recordRssAfterReplay } from "./_bench_memory.ts";
import { type Group, parseOptions, type Sizes } from "./_bench_options.ts";
import { fillStream, measureReplay } from "./_bench_replay.ts";
import { cleanup, names, npmBuild, startServerChild } from "./_bench_server.ts";
import { closePeers, recordPeers } from "./_bench_peers.ts";
import { measureStartup } from "./_bench_startup.ts";
import { recordStreams } from "./_bench_streams_startup.ts";
import { recordStreamsVsEmmett } from "./_bench_streams_vs_emmett.ts";
import { recordTtfb } from "./_bench_ttfb.ts";
import { fmt, killChildren, machine, memoryOf, output, settle, writeStorageFile } from "./_bench_util.ts";

/** What one run measures, and where. */
interface Run {
  sizes: Sizes;
  only: Set<Group>;
  /** The run's temporary directory. */
  dir: string;
  /** The replay / TTFB / start-up file in `dir`. */
  replayFile: string;
  /** The runtimes measured, in order. */
  runtimes: string[];
  /** Whether the listener on Node (npm build) is measured too. */
  nodeListener: boolean;
  /** Notes printed under the table. */
  notes: string[];
  /** The git ref of the listener that start-to-first-event is compared with. */
  listenerBaseline: string;
}

/** Ingest, latency and memory on a server on a fresh store. */
async function onFreshStore(run: Run, runtime: string): Promise<void> {
  const { sizes, only } = run;
  console.log(`\n[${runtime}] ingest, latency, memory`);
  const ingestFile = join(run.dir, `ingest-storage-${runtime}`);
  const server = await startServerChild(runtime, ingestFile);
  try {
    await settle(300);
    const rssStart = await memoryOf(server.child.pid);
    let afterRounds: number[] = [];
    if (only.has("ingest") || only.has("memory")) {
      // Ingest: baseline and product alternate; the ratio is the median of the pairs. Memory needs the rounds, not the baseline.
      const rounds = await ingestRounds(server, sizes, only.has("ingest"));
      if (only.has("ingest")) recordIngest(runtime, sizes, rounds);
      afterRounds = rounds.server.map((r) => r.rss);
    }
    if (only.has("memory")) await recordRssAfterIngest(server, runtime, sizes, rssStart, ingestFile, afterRounds);
    if (only.has("latency")) await recordLatency(server, runtime, sizes);
    if (only.has("latency")) await recordSseLatency(server, runtime, sizes);
  } finally {
    await server.child.stop();
  }
}

/** Start-up, TTFB, replay and memory on a server on the replay file. */
async function onReplayFile(run: Run, runtime: string): Promise<void> {
  const { sizes, only } = run;
  console.log(`\n[${runtime}] start-up, TTFB, replay on ${fmt(sizes.replay)} records`);
  // Start-up: paired starts on the replay file and on empty files, before the figures below.
  if (only.has("startup")) {
    await measureStartup(runtime, sizes, run.replayFile, join(run.dir, `empty-storage-${runtime}`));
  }
  const big = await startServerChild(runtime, run.replayFile);
  try {
    await settle(300);
    const rssStart = await memoryOf(big.child.pid);
    if (only.has("ttfb")) await recordTtfb(big, runtime, sizes);
    if (only.has("replay") || only.has("memory")) {
      await measureReplay(big, runtime, sizes, {
        figures: only.has("replay"),
        nodeListener: run.nodeListener,
        baselineRef: run.listenerBaseline,
      }, run.notes);
      if (!run.nodeListener && runtime === run.runtimes[0]) {
        run.notes.push("Replay with the listener on Node not measured yet: npm/ is not built (deno task build)");
      }
    }
    if (only.has("memory")) await recordRssAfterReplay(big, runtime, sizes, rssStart);
  } finally {
    await big.child.stop();
  }
}

/** appendToStream beside Emmett on PostgreSQL, on a Deno server of its own on a fresh store. */
async function streamsVsEmmett(run: Run): Promise<void> {
  console.log("\n[deno] streams vs Emmett on PostgreSQL");
  const file = join(run.dir, "streams-storage");
  const server = await startServerChild("deno", file, names.streamsQueue, names.streamsExchange);
  try {
    await settle(300);
    await recordStreamsVsEmmett(server, run.sizes, run.notes);
  } finally {
    await server.child.stop();
  }
}

async function main(): Promise<void> {
  const { size, sizes, runtimes: wanted, out, only, streamSizes, listenerBaseline } = parseOptions(
    process.argv.slice(2),
  );
  const bigFile = only.has("startup") || only.has("ttfb") || only.has("replay") || only.has("memory");
  const freshStore = only.has("ingest") || only.has("latency") || only.has("memory");
  const nodeVersion = await output("node", ["--version"]);
  const build = npmBuild();
  const runtimes = wanted.filter((r) => r === "deno" || (r === "node" && build && nodeVersion));
  const notes: string[] = [];
  if (wanted.includes("node") && !runtimes.includes("node")) {
    notes.push(
      build
        ? "Node figures not measured: node not found"
        : "Node figures not measured yet: npm/ is not built (deno task build)",
    );
  }
  const facts = await machine(nodeVersion);
  console.log(`bench (${size}): ${JSON.stringify(sizes)}, only ${[...only].join(",")}`);
  console.log(`machine: ${JSON.stringify(facts)}`);
  const began = performance.now();
  const dir = await mkdtemp(join(tmpdir(), "rabbit-eventstore-bench-"));
  const onSignal = async () => {
    killChildren();
    await closePeers();
    await cleanup(dir);
    process.exit(130);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const run: Run = {
    sizes,
    only,
    dir,
    replayFile: join(dir, "replay-storage"),
    runtimes,
    nodeListener: Boolean(build && nodeVersion),
    notes,
    listenerBaseline,
  };
  try {
    // Replay file, written directly in the storage format.
    let t = performance.now();
    if (bigFile) {
      const bytes = await writeStorageFile(run.replayFile, sizes.replay);
      console.log(
        `wrote ${fmt(sizes.replay)} records (${fmt(bytes / 2 ** 20, 1)} MiB) in ${fmt(performance.now() - t)} ms`,
      );
    }
    // Stream-queue baseline: filled once, replayed once per runtime below.
    if (only.has("replay")) {
      t = performance.now();
      await fillStream(run.replayFile, sizes.window);
      console.log(`filled stream queue in ${fmt(performance.now() - t)} ms`);
    }
    for (const runtime of runtimes) {
      if (freshStore) await onFreshStore(run, runtime);
      if (bigFile) await onReplayFile(run, runtime);
      if (only.has("streams")) {
        console.log(`\n[${runtime}] streams: ${fmt(streamSizes.events)} events in ${fmt(streamSizes.streams)} streams`);
        await recordStreams(dir, runtime, streamSizes);
      }
    }
    if (only.has("streams-vs-emmett")) await streamsVsEmmett(run);
    if (only.has("peers")) {
      console.log(`\n[deno] peers: ${fmt(sizes.peersEvents)} events a round, ${sizes.peersRounds} rounds`);
      await recordPeers(dir, sizes, notes);
    }
  } finally {
    await cleanup(dir);
  }
  const seconds = (performance.now() - began) / 1000;
  console.log(
    `\nrabbit-eventstore bench (${size} size, ${
      fmt(seconds, 1)
    } s) on ${facts.cpu}, ${facts.cores} cores, ${facts.memoryGiB} GiB, RabbitMQ ${facts.rabbitmq}, Deno ${facts.deno}, Node ${facts.node}\n`,
  );
  console.log(table(figures));
  for (const note of notes) console.log(`note: ${note}`);
  if (size === "ci") {
    console.log("note: CI size — targets are stated for the full size (deno task bench); nothing here is asserted");
  }
  await mkdir(dirname(out), { recursive: true });
  await writeFile(
    out,
    JSON.stringify({ when: new Date().toISOString(), size, sizes, machine: facts, seconds, figures, notes }, null, 2) +
      "\n",
  );
  console.log(`\nwrote ${out}`);
}

main().then(() => process.exit(0), (error) => {
  console.error(`bench failed: ${(error as Error)?.stack ?? error}`);
  killChildren();
  process.exit(1);
});
