/**
 * The streams figures (issue 9): a store of many events in many streams,
 * written straight into a file, against the same number of events in no
 * stream (the same bytes per record, so only the streams differ):
 *
 * - server start-up (until its ready line) and its RSS, paired rounds that
 *   alternate baseline and streams; median of the pairs with the range;
 * - the stream index's own memory per stream and per event (heap after GC,
 *   in this process, on the real {@link StreamIndex});
 * - a stream read of 100 events scattered across the store
 *   (`FileStorage.readPositions`), at the small size and the large one, and
 *   their ratio: the read must not cost more in a bigger store.
 *
 * Sizes: CI 200k events in 20k streams (`--ci`, well under 30 s), the
 * default 1M in 100k, and the 10M in 1M with `--streams-full`
 * (about 1.5 GB of disk twice over, deleted afterwards).
 *
 * @module
 */
import { open, rm } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { record } from "./_bench_figures.ts";
import { startServerChild } from "./_bench_server.ts";
import { fmt, median, memoryOf, output, quantile, settle } from "./_bench_util.ts";
import { FileStorage } from "../lib/file_storage.ts";
import { encodeRecordLine } from "../lib/record.ts";
import { newStoreHeader, storeHeaderBytes } from "../lib/store_header.ts";
import { StreamIndex } from "../lib/stream_index.ts";

/** How big the streams store is. */
export interface StreamSizes {
  /** Events in the large store. */
  events: number;
  /** Streams they are spread over. */
  streams: number;
  /** Events in the small store of the read comparison. */
  smallEvents: number;
  /** Paired start-up rounds (baseline, streams). */
  rounds: number;
}

/** The streams sizes: CI, default, and the (`--streams-full`). */
export const STREAM_SIZES: Record<"ci" | "default" | "full", StreamSizes> = {
  ci: { events: 200_000, streams: 20_000, smallEvents: 10_000, rounds: 3 },
  default: { events: 1_000_000, streams: 100_000, smallEvents: 10_000, rounds: 3 },
  full: { events: 10_000_000, streams: 1_000_000, smallEvents: 10_000, rounds: 3 },
};

const CATEGORIES = ["order", "cart", "payment", "shipment", "customer", "invoice", "stock", "review"];
const TYPES = ["Created", "Updated", "Confirmed", "Cancelled"];
/** The stream of the read comparison: 100 events, evenly spread over the whole store. */
const PROBE = "probe-1";
const PROBE_EVENTS = 100;

/** The probe stream's positions in a store of `events`. */
function probePositions(events: number): number[] {
  const step = Math.floor(events / PROBE_EVENTS);
  return Array.from({ length: PROBE_EVENTS }, (_, i) => 1 + Math.floor(step / 2) + i * step);
}

/**
 * Write a store of `events` records to `path` (header with its watermark slot
 * at the head, records): event p goes to stream `p % streams` (so every stream's
 * events are spread over the whole file), except the probe stream's
 * positions. Without `inStreams`, the same records with no stream members,
 * their bytes made up in the data so both files are the same size.
 *
 * @returns The file's size in bytes.
 */
export async function writeStreamStore(
  path: string,
  sizes: { events: number; streams: number },
  inStreams: boolean,
): Promise<number> {
  const file = await open(path, "w");
  const header = newStoreHeader();
  const time = new Date().toISOString();
  const encoder = new TextEncoder();
  const versions = new Uint32Array(sizes.streams);
  const probe = new Set(probePositions(sizes.events));
  let probeVersion = 0;
  let bytes = 0;
  try {
    const head = storeHeaderBytes(header, sizes.events); // every record counts as published: nothing republished
    await file.write(head);
    bytes += head.length;
    const perChunk = 20_000;
    for (let start = 1; start <= sizes.events; start += perChunk) {
      let text = "";
      const end = Math.min(sizes.events, start + perChunk - 1);
      for (let p = start; p <= end; p++) {
        const s = p % sizes.streams;
        const stream = probe.has(p) ? PROBE : `${CATEGORIES[s % CATEGORIES.length]}-${s}`;
        const streamVersion = stream === PROBE ? ++probeVersion : ++versions[s];
        const members = `,"stream":${JSON.stringify(stream)},"streamVersion":${streamVersion}`;
        const pad = inStreams ? "" : "x".repeat(members.length);
        const data = `{"amount":${(p % 10_000) / 100},"note":"${pad}"}`;
        text += encodeRecordLine({
          position: p,
          id: crypto.randomUUID(),
          time,
          stream: inStreams ? stream : undefined,
          streamVersion: inStreams ? streamVersion : undefined,
          type: TYPES[p % TYPES.length],
          data,
        }) + "\n";
      }
      const chunk = encoder.encode(text);
      await file.write(chunk);
      bytes += chunk.length;
    }
    await file.sync();
  } finally {
    await file.close();
  }
  return bytes;
}

/** One server start on `path`: time to ready, and RSS once it settled. */
async function startOnce(runtime: string, path: string): Promise<{ ms: number; rssMiB: number; peakMiB: number }> {
  const server = await startServerChild(runtime, path);
  try {
    await settle(500);
    const { rss, peak } = await memoryOf(server.child.pid);
    return { ms: server.startupMs, rssMiB: rss / 2 ** 20, peakMiB: peak / 2 ** 20 };
  } finally {
    await server.child.stop();
  }
}

/**
 * Time per `readPositions` of the probe stream in the small store and in the
 * large one (both opened read-only), alternating, after a warm-up: medians,
 * and the median and range of the paired ratios.
 */
export async function streamReadMs(
  small: { path: string; events: number },
  large: { path: string; events: number },
  repeats = 200,
): Promise<{ small: number; large: number; ratio: number; min: number; max: number }> {
  const open = (path: string) => FileStorage.open(path, { readOnly: true, warn: () => {} });
  const stores = [await open(small.path), await open(large.path)];
  try {
    const positions = [probePositions(small.events), probePositions(large.events)];
    const once = async (n: number) => {
      const t = performance.now();
      const body = await new Response(stores[n].readPositions(positions[n])).arrayBuffer();
      if (body.byteLength === 0) throw new Error("the probe stream read nothing");
      return performance.now() - t;
    };
    for (let i = 0; i < 20; i++) await once(i % 2); // the first reads warm the page cache and the JIT
    const times: [number[], number[]] = [[], []];
    const ratios: number[] = [];
    for (let i = 0; i < repeats; i++) {
      const first = i % 2;
      const a = await once(first);
      const b = await once(1 - first);
      times[first].push(a);
      times[1 - first].push(b);
      ratios.push(first === 1 ? a / b : b / a);
    }
    return {
      small: median(times[0]),
      large: median(times[1]),
      ratio: median(ratios),
      min: quantile(ratios, 0.1),
      max: quantile(ratios, 0.9),
    };
  } finally {
    for (const store of stores) await store.close();
  }
}

/**
 * Heap bytes (after GC) a {@link StreamIndex} of `streams` streams with
 * `perStream` events each holds: measured in a child run with
 * `--expose-gc`, so nothing else of the bench is on its heap.
 */
async function indexHeapBytes(streams: number, perStream: number): Promise<number> {
  const out = await output(process.execPath, [
    "run",
    "-A",
    "--v8-flags=--expose-gc",
    fileURLToPath(import.meta.url),
    "index-heap",
    String(streams),
    String(perStream),
  ]);
  return out === undefined ? NaN : Number(out);
}

function measureIndexHeap(streams: number, perStream: number): number {
  // deno-lint-ignore no-explicit-any
  const gc = (globalThis as any).gc as () => void;
  gc();
  const before = process.memoryUsage();
  const index = new StreamIndex();
  let position = 0;
  for (let v = 1; v <= perStream; v++) {
    for (let s = 0; s < streams; s++) index.add(++position, `${CATEGORIES[s % CATEGORIES.length]}-${s}`, v);
  }
  gc();
  const after = process.memoryUsage();
  const held = after.heapUsed + after.external - before.heapUsed - before.external;
  if (index.size !== streams) throw new Error("index lost streams");
  return held;
}

/** Run the streams group: write the stores, start servers, read streams, record the figures. */
export async function recordStreams(dir: string, runtime: string, sizes: StreamSizes): Promise<void> {
  const streamsFile = join(dir, "streams-storage");
  const plainFile = join(dir, "plain-storage");
  const smallFile = join(dir, "streams-small-storage");
  const label = `${fmt(sizes.events)} events in ${fmt(sizes.streams)} streams`;
  try {
    let t = performance.now();
    const bytes = await writeStreamStore(streamsFile, sizes, true);
    await writeStreamStore(plainFile, sizes, false);
    await writeStreamStore(smallFile, { events: sizes.smallEvents, streams: sizes.smallEvents / 10 }, true);
    console.log(
      `wrote ${label} (${fmt(bytes / 2 ** 20)} MiB, ${fmt(bytes / sizes.events)} B/record) and the baseline ` +
        `in ${fmt(performance.now() - t)} ms`,
    );
    // Paired rounds, alternating which goes first; a first start on each file warms its page cache.
    await startOnce(runtime, plainFile);
    await startOnce(runtime, streamsFile);
    const pairs: Array<
      { plain: Awaited<ReturnType<typeof startOnce>>; streams: Awaited<ReturnType<typeof startOnce>> }
    > = [];
    for (let round = 0; round < sizes.rounds; round++) {
      t = performance.now();
      const first = round % 2 === 0 ? plainFile : streamsFile;
      const a = await startOnce(runtime, first);
      const b = await startOnce(runtime, first === plainFile ? streamsFile : plainFile);
      const pair = first === plainFile ? { plain: a, streams: b } : { plain: b, streams: a };
      pairs.push(pair);
      console.log(
        `round ${round + 1}: start-up ${fmt(pair.plain.ms)} ms → ${fmt(pair.streams.ms)} ms with streams; ` +
          `RSS ${fmt(pair.plain.rssMiB)} → ${fmt(pair.streams.rssMiB)} MiB, peak ${fmt(pair.plain.peakMiB)} → ` +
          `${fmt(pair.streams.peakMiB)} MiB (${fmt(performance.now() - t)} ms)`,
      );
    }
    const ratios = pairs.map((p) => p.streams.ms / p.plain.ms);
    const spread = (values: number[], digits = 2) =>
      `range ${fmt(Math.min(...values), digits)}–${fmt(Math.max(...values), digits)}, ${values.length} pairs`;
    record({
      figure: `start-up, ${label}`,
      runtime,
      value: median(pairs.map((p) => p.streams.ms)),
      unit: "ms",
      baseline: { name: "same events in no stream", value: median(pairs.map((p) => p.plain.ms)), unit: "ms" },
      target: `≤ 15 s (10M/1M); ratio ${fmt(median(ratios), 2)} (${spread(ratios)})`,
      met: median(pairs.map((p) => p.streams.ms)) <= 15_000,
    });
    const rssExtra = pairs.map((p) => p.streams.rssMiB - p.plain.rssMiB);
    record({
      figure: `server RSS after start-up, ${label}`,
      runtime,
      value: median(pairs.map((p) => p.streams.rssMiB)),
      unit: "MiB",
      baseline: { name: "same events in no stream", value: median(pairs.map((p) => p.plain.rssMiB)), unit: "MiB" },
      target: `≤ 400 MB (10M/1M); streams add ${fmt(median(rssExtra))} MiB (${spread(rssExtra, 0)}); peak ${
        fmt(median(pairs.map((p) => p.streams.peakMiB)))
      } MiB`,
      met: median(pairs.map((p) => p.streams.rssMiB)) * 2 ** 20 <= 400e6,
    });
    // The index's own memory: one event per stream, then ten.
    const one = await indexHeapBytes(sizes.streams, 1);
    const ten = await indexHeapBytes(sizes.streams, 10);
    const perEvent = (ten - one) / (9 * sizes.streams);
    const perStream = one / sizes.streams - perEvent;
    console.log(
      `stream index heap: ${fmt(one / 2 ** 20, 1)} MiB for ${fmt(sizes.streams)} streams × 1 event, ` +
        `${fmt(ten / 2 ** 20, 1)} MiB × 10: ${fmt(perStream)} B per stream, ${fmt(perEvent, 1)} B per event`,
    );
    record({
      figure: `stream index memory per stream (${fmt(sizes.streams)} streams)`,
      runtime,
      value: perStream,
      unit: "B",
      target: `heap after GC; ${fmt(perEvent, 1)} B per event more (${fmt(ten / 2 ** 20)} MiB at 10 events/stream)`,
    });
    // The stream read: the same 100-event stream, scattered over 10k events and over the large store.
    const read = await streamReadMs(
      { path: smallFile, events: sizes.smallEvents },
      { path: streamsFile, events: sizes.events },
    );
    record({
      figure: `read of a 100-event stream scattered over ${fmt(sizes.events)} events`,
      runtime,
      value: read.large,
      unit: "ms",
      baseline: { name: `the same over ${fmt(sizes.smallEvents)} events`, value: read.small, unit: "ms" },
      target: `the same cost: paired ratio ${fmt(read.ratio, 2)} (p10–p90 ${fmt(read.min, 2)}–${
        fmt(read.max, 2)
      }, 200 pairs of readPositions)`,
      met: read.ratio <= 1.25,
    });
  } finally {
    for (const path of [streamsFile, plainFile, smallFile]) {
      await rm(path, { force: true });
      await rm(`${path}.published`, { force: true });
      await rm(`${path}.lock`, { force: true });
    }
  }
}

if (import.meta.main && process.argv[2] === "index-heap") {
  console.log(measureIndexHeap(Number(process.argv[3]), Number(process.argv[4])));
}
