/**
 * The memory figures: the server's RSS after ingesting and after a replay,
 * right after the work and once idle, beside its RSS right after start.
 *
 * @module
 */
import { stat } from "node:fs/promises";
import { record } from "./_bench_figures.ts";
import { WARM_UP } from "./_bench_ingest.ts";
import type { Sizes } from "./_bench_options.ts";
import { type BenchServer, healthMemory } from "./_bench_server.ts";
import { fmt, memoryOf, settle } from "./_bench_util.ts";

/**
 * RSS once the server has been idle: V8 gives the garbage of a busy period
 * back only when its memory reducer runs, some seconds into idleness. Polls
 * every second for up to IDLE_WAIT_MS and records the first reading within
 * the target (or the last one), beside the reading taken right after the work.
 */
export async function recordIdleRss(
  server: BenchServer,
  runtime: string,
  figure: string,
  busy: { rss: number },
): Promise<void> {
  const began = performance.now();
  let rss = busy.rss;
  while (rss > 150e6 && performance.now() - began < IDLE_WAIT_MS) {
    await settle(1000);
    rss = (await memoryOf(server.child.pid)).rss;
  }
  record({
    figure,
    runtime,
    value: rss / 2 ** 20,
    unit: "MiB",
    baseline: { name: "RSS right after the work", value: busy.rss / 2 ** 20, unit: "MiB" },
    target: "≤ 150 MB",
    met: rss <= 150e6,
    detail: { idleSeconds: Math.round((performance.now() - began) / 1000), health: await healthMemory(server) },
  });
}
export const IDLE_WAIT_MS = 40_000;

/**
 * Record the RSS after the ingest rounds (and once idle), beside `rssStart`;
 * the RSS right after each round (`afterRounds`, bytes) goes with it, with
 * their median and range, so one lucky or unlucky reading does not stand alone.
 */
export async function recordRssAfterIngest(
  server: BenchServer,
  runtime: string,
  sizes: Sizes,
  rssStart: { rss: number },
  ingestFile: string,
  afterRounds: number[] = [],
): Promise<void> {
  await settle(500);
  const rssAfter = await memoryOf(server.child.pid);
  const stored = sizes.rounds * (sizes.ingest + WARM_UP);
  const mib = afterRounds.map((rss) => Math.round(rss / 2 ** 20));
  const sorted = [...mib].sort((a, b) => a - b);
  if (mib.length > 0) {
    console.log(
      `  server RSS right after each ingest round: ${mib.join(", ")} MiB (median ${
        sorted[Math.floor(sorted.length / 2)]
      }, ${sorted[0]}–${sorted.at(-1)}); after all ${fmt(stored)} events: ${fmt(rssAfter.rss / 2 ** 20)} MiB`,
    );
  }
  record({
    figure: `server RSS after ingesting ${fmt(stored)} events`,
    runtime,
    value: rssAfter.rss / 2 ** 20,
    unit: "MiB",
    baseline: { name: "RSS right after start", value: rssStart.rss / 2 ** 20, unit: "MiB" },
    target: "≤ 150 MB",
    met: rssAfter.rss <= 150e6,
    detail: {
      peakMiB: rssAfter.peak / 2 ** 20,
      afterEachRoundMiB: mib,
      fileBytes: (await stat(ingestFile)).size,
      health: await healthMemory(server),
    },
  });
  await recordIdleRss(
    server,
    runtime,
    `server RSS after ingesting ${fmt(stored)} events, once idle`,
    rssAfter,
  );
}

/** Record the RSS on the replay file after the replays (and once idle), beside `rssStart`. */
export async function recordRssAfterReplay(
  big: BenchServer,
  runtime: string,
  sizes: Sizes,
  rssStart: { rss: number },
): Promise<void> {
  const rssAfter = await memoryOf(big.child.pid);
  record({
    figure: `server RSS on a ${fmt(sizes.replay)}-record file after replay`,
    runtime,
    value: rssAfter.rss / 2 ** 20,
    unit: "MiB",
    baseline: { name: "RSS right after start", value: rssStart.rss / 2 ** 20, unit: "MiB" },
    target: "≤ 150 MB",
    met: rssAfter.rss <= 150e6,
    detail: { peakMiB: rssAfter.peak / 2 ** 20, health: await healthMemory(big) },
  });
  await recordIdleRss(
    big,
    runtime,
    `server RSS on a ${fmt(sizes.replay)}-record file after replay, once idle`,
    rssAfter,
  );
}
