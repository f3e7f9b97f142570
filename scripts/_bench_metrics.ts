/**
 * What the metrics cost the ingest path: the real `Sequencer` over
 * `MemoryStorage` (no disk, no broker: only our CPU, the worst case for the
 * ratio), fed batches of deliveries, with `ServerMetrics` as its observer
 * against the same run without one (the baseline), in paired, alternating
 * rounds. Prints the median ratio of CPU per event (with metrics / without)
 * over the pairs with its range, the CPU µs per event of each side, and the
 * cost of one `/metrics` scrape. Never the best round.
 *
 * ```sh
 * npx deno run -A scripts/_bench_metrics.ts                 # 200,000 events a round, 7 pairs
 * npx deno run -A scripts/_bench_metrics.ts --events=500000 --pairs=9
 * ```
 *
 * (Deno runs it from source; for Node, transpile it against `npm/esm/lib/` after `npm run build`.)
 *
 * @module
 */
import process from "node:process";
import { setImmediate } from "node:timers";
import type { BrokerSession, Delivery } from "../lib/broker_session.ts";
import { DedupWindow } from "../lib/dedup_window.ts";
import type { FanoutPublisher } from "../lib/fanout_publisher.ts";
import { MemoryStorage } from "../lib/memory_storage.ts";
import { Sequencer, type SequencerObserver } from "../lib/sequencer.ts";
import { ServerMetrics } from "../lib/server_metrics.ts";
import { fmt, median } from "./_bench_util.ts";

const flags = new Map(
  process.argv.slice(2).map((arg) => /^--([^=]+)=(.*)$/.exec(arg)).filter((m) => m !== null).map((m) => [m[1], m[2]]),
);
const EVENTS = Number(flags.get("events") ?? 200_000);
const PAIRS = Number(flags.get("pairs") ?? 7);
const BATCH = Number(flags.get("batch") ?? 1_000);

const encoder = new TextEncoder();
const bodies = Array.from(
  { length: 64 },
  (_, i) =>
    encoder.encode(JSON.stringify({ type: "OrderPlaced", orderId: i, customer: `c-${i}`, total: i * 1.5, note: "né" })),
);

/** CPU µs per event of one round: `EVENTS` deliveries in batches of `BATCH`, the sequencer draining each batch. */
async function round(observer: SequencerObserver | undefined): Promise<number> {
  const storage = new MemoryStorage();
  const session = {
    closed: false,
    ack: () => Promise.resolve(),
    reject: () => Promise.resolve(),
    publish: () => Promise.resolve(),
  } as unknown as BrokerSession;
  const publisher = {
    below: () => Promise.resolve(),
    publish: () => {},
    idle: () => Promise.resolve(),
  } as unknown as FanoutPublisher;
  const sequencer = new Sequencer({
    storage,
    window: new DedupWindow(EVENTS),
    publisher,
    maxEventBytes: 1 << 20,
    deadLetter: () => Promise.resolve(),
    onFatal: (error) => {
      throw error;
    },
    observer,
  });
  let tag = 0;
  const start = process.cpuUsage();
  while (tag < EVENTS) {
    for (let i = 0; i < BATCH && tag < EVENTS; i++) {
      tag++;
      const delivery: Delivery = { body: bodies[tag & 63], tag, redelivered: false, messageId: `m-${tag}` };
      sequencer.accept(session, delivery);
    }
    // One batch at a time, as the prefetch hands them over: wait until this one is stored.
    while (storage.head < tag) await new Promise((resolve) => setImmediate(resolve));
  }
  await sequencer.drain();
  const spent = process.cpuUsage(start);
  if (storage.head !== EVENTS) throw new Error(`stored ${storage.head} of ${EVENTS}`);
  return (spent.user + spent.system) / EVENTS;
}

const sources = {
  head: () => 0,
  published: () => 0,
  unconfirmed: () => 0,
  republished: () => 0,
  httpConnections: () => 0,
  brokerConnected: () => true,
  consuming: () => true,
};

console.log(
  `metrics on the ingest path: ${EVENTS} events a round in batches of ${BATCH}, ${PAIRS} pairs, ` +
    `${"Deno" in globalThis ? "Deno" : `Node ${process.version}`}`,
);
await round(undefined); // warm-up, both sides
await round(new ServerMetrics(sources, { version: "bench", storeId: "bench" }));
const ratios: number[] = [];
const without: number[] = [];
const withMetrics: number[] = [];
for (let pair = 0; pair < PAIRS; pair++) {
  // Alternate which side goes first, so drift in the machine's load favours neither.
  const metrics = new ServerMetrics(sources, { version: "bench", storeId: "bench" });
  let base: number;
  let product: number;
  if (pair % 2 === 0) {
    base = await round(undefined);
    product = await round(metrics);
  } else {
    product = await round(metrics);
    base = await round(undefined);
  }
  without.push(base);
  withMetrics.push(product);
  ratios.push(product / base);
  console.log(`  pair ${pair + 1}: without ${fmt(base, 2)} µs/event, with metrics ${fmt(product, 2)} µs/event`);
}
const metrics = new ServerMetrics(sources, { version: "bench", storeId: "bench" });
metrics.stored({ events: 1000, bytes: 100_000, seconds: 0.003 });
const scrapes = 200;
const scrapeStart = process.cpuUsage();
for (let i = 0; i < scrapes; i++) await (await metrics.response()).text();
const scrape = process.cpuUsage(scrapeStart);
console.log(
  `CPU per event with metrics / without: ${fmt(median(ratios), 3)}× ` +
    `(range ${fmt(Math.min(...ratios), 3)}–${fmt(Math.max(...ratios), 3)}, median of ${PAIRS} paired rounds); ` +
    `without ${fmt(median(without), 2)} µs/event (${fmt(Math.min(...without), 2)}–${fmt(Math.max(...without), 2)}), ` +
    `with ${fmt(median(withMetrics), 2)} µs/event (${fmt(Math.min(...withMetrics), 2)}–${
      fmt(Math.max(...withMetrics), 2)
    }); one /metrics scrape ${fmt((scrape.user + scrape.system) / scrapes, 0)} µs CPU`,
);
