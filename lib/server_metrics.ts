/**
 * The server's Prometheus metrics, served at `GET /metrics` in the text
 * exposition format by `prom-client` (the field's standard client for
 * JavaScript; it runs unchanged on Deno 2.9 and Node 20).
 *
 * Off the hot path: the ingest path calls {@link ServerMetrics.stored} once
 * per batch (two counters and two histograms, no allocation per event) and
 * {@link ServerMetrics.deadLettered} once per dead-lettered message;
 * everything else (head, watermark, fanout in flight, connections, broker,
 * memory) is read from the server by callbacks only when Prometheus
 * scrapes.
 *
 * Metric names (all prefixed `rabbit_eventstore_`): `head_position`,
 * `published_position`, `appended_events_total`, `appended_bytes_total`,
 * `batch_events` (histogram), `fsync_duration_seconds` (histogram),
 * `fanout_unconfirmed`, `fanout_republished_events_total`,
 * `dead_lettered_total{reason}`, `http_connections`,
 * `live_clients{kind="sse"|"follow"}`, `broker_connected`, `consuming`,
 * `process_memory_bytes{kind}` and `info{version,store_id}`.
 *
 * @module
 */
import process from "node:process";
import { Counter, Gauge, Histogram, Registry } from "prom-client";

/**
 * What the metrics read from the server when scraped: each a cheap getter.
 *
 * @example The readings of a server that holds 10 events, all published
 * ```ts
 * import type { MetricsSources } from "./server_metrics.ts";
 * const sources: MetricsSources = {
 *   head: () => 10,
 *   published: () => 10,
 *   unconfirmed: () => 0,
 *   republished: () => 0,
 *   httpConnections: () => 1,
 *   brokerConnected: () => true,
 *   consuming: () => true,
 * };
 * ```
 */
export interface MetricsSources {
  /** The last durable position. */
  head: () => number;
  /** The last position the fanout's broker confirmed (the published watermark). */
  published: () => number;
  /** Fanout publishes sent and not yet confirmed. */
  unconfirmed: () => number;
  /** Records published to the fanout again (after a reconnect, a nack or a missing confirm) since start. */
  republished: () => number;
  /** HTTP connections open now. */
  httpConnections: () => number;
  /** Whether the server holds a broker connection. */
  brokerConnected: () => boolean;
  /** Whether the server consumes its queue. */
  consuming: () => boolean;
  /**
   * Live HTTP clients by kind: Server-Sent Events and NDJSON `?follow=1` readers. Until a live feed is
   * wired in, both are 0.
   * @default {() => ({ sse: 0, follow: 0 })}
   */
  liveClients?: () => LiveClients;
}

/**
 * Live HTTP clients, by kind, as `rabbit_eventstore_live_clients{kind}` reports them.
 *
 * @example No live clients
 * ```ts
 * import type { LiveClients } from "./server_metrics.ts";
 * const none: LiveClients = { sse: 0, follow: 0 };
 * ```
 */
export interface LiveClients {
  /** Clients reading `text/event-stream`. */
  sse: number;
  /** Clients reading NDJSON with `?follow=1`. */
  follow: number;
}

/**
 * One durable append, as the sequencer reports it.
 *
 * @example A batch of 200 events
 * ```ts
 * import type { StoredBatch } from "./server_metrics.ts";
 * const batch: StoredBatch = { events: 200, bytes: 38_000, seconds: 0.004 };
 * ```
 */
export interface StoredBatch {
  /** Records appended. */
  events: number;
  /** Their bytes in the store: the UTF-8 lines with their newlines. */
  bytes: number;
  /** Seconds the append took: one write and its fsync (group commit). */
  seconds: number;
}

/**
 * Why a message was dead-lettered, as the `reason` label of
 * `rabbit_eventstore_dead_lettered_total`: a small fixed set, so that the
 * label never grows with what publishers send (the full text is the
 * message's `x-rejected-reason` header).
 *
 * @example
 * ```ts
 * import type { DeadLetterKind } from "./server_metrics.ts";
 * const kind: DeadLetterKind = "too_large";
 * ```
 */
export type DeadLetterKind =
  | "too_large"
  | "not_json"
  | "bad_stream"
  | "bad_expected_version"
  | "bad_batch"
  | "wrong_expected_version"
  | "other";

/**
 * The kind of a dead-letter reason (the text the sequencer gives the `x-rejected-reason` header).
 *
 * @param reason The reason, as `refusalReason` and `readAppendRequest` word it.
 * @returns Its kind; `other` for a reason it does not know.
 * @example
 * ```ts
 * import { deadLetterKind } from "./server_metrics.ts";
 * console.log(deadLetterKind("event is not valid JSON: Unexpected token")); // not_json
 * ```
 */
export function deadLetterKind(reason: string): DeadLetterKind {
  if (reason.startsWith("WrongExpectedVersion")) return "wrong_expected_version";
  if (reason.includes("MAXEVENTBYTES)")) return "too_large";
  if (reason.startsWith("stream")) return "bad_stream";
  if (reason.startsWith("expected-version")) return "bad_expected_version";
  if (reason.startsWith("batch")) return "bad_batch";
  if (reason.startsWith("event is")) return "not_json";
  return "other";
}

/** Batch sizes in events: 1 up to ten times the default prefetch. */
const BATCH_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];
/** fsync times in seconds: 100 µs up to 10 s (a sick disk). */
const FSYNC_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];
const PREFIX = "rabbit_eventstore_";
const MEMORY_KINDS = ["rss", "heap_used", "heap_total", "external"] as const;

/**
 * Options for {@link ServerMetrics}.
 *
 * @example
 * ```ts
 * import type { ServerMetricsOptions } from "./server_metrics.ts";
 * const options: ServerMetricsOptions = { version: "0.1.0", storeId: "5b0c2f9e-3a41-4c7e-9d2b-0f6a1e8c7b35" };
 * ```
 */
export interface ServerMetricsOptions {
  /** The package version, as the `version` label of `rabbit_eventstore_info`. */
  version: string;
  /** The store's identity, as the `store_id` label of `rabbit_eventstore_info`. */
  storeId: string;
}

/**
 * A server's metrics, in a registry of its own (two servers in one process
 * do not share counters).
 *
 * @example Count a batch and render the exposition
 * ```ts
 * import { ServerMetrics } from "./server_metrics.ts";
 * const metrics = new ServerMetrics({
 *   head: () => 3,
 *   published: () => 3,
 *   unconfirmed: () => 0,
 *   republished: () => 0,
 *   httpConnections: () => 0,
 *   brokerConnected: () => true,
 *   consuming: () => true,
 * }, { version: "0.1.0", storeId: "5b0c2f9e-3a41-4c7e-9d2b-0f6a1e8c7b35" });
 * metrics.stored({ events: 3, bytes: 300, seconds: 0.002 });
 * const response = await metrics.response();
 * console.log(await response.text()); // # HELP rabbit_eventstore_head_position …
 * ```
 */
export class ServerMetrics {
  /** The registry holding every metric of this server. */
  readonly #registry: Registry = new Registry();
  readonly #events: Counter;
  readonly #bytes: Counter;
  readonly #batch: Histogram;
  readonly #fsync: Histogram;
  readonly #deadLettered: Counter<"reason">;

  /**
   * Register the metrics.
   *
   * @param sources The server's readings, taken when scraped.
   * @param options The `info` labels.
   */
  constructor(sources: MetricsSources, options: ServerMetricsOptions) {
    const registers = [this.#registry];
    const liveClients = sources.liveClients ?? (() => ({ sse: 0, follow: 0 }));
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name: PREFIX + name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    gauge("head_position", "The last durable position (0: empty store)", sources.head);
    gauge("published_position", "The last position the fanout's broker confirmed", sources.published);
    gauge("fanout_unconfirmed", "Fanout publishes sent and not yet confirmed by the broker", sources.unconfirmed);
    gauge("http_connections", "HTTP connections open now", sources.httpConnections);
    gauge("broker_connected", "1 while the server holds a broker connection, else 0", () => +sources.brokerConnected());
    gauge("consuming", "1 while the server consumes its queue, else 0", () => +sources.consuming());
    new Counter({
      name: PREFIX + "fanout_republished_events_total",
      help: "Records published to the fanout again (after a reconnect, a nack or a missing confirm)",
      registers,
      collect() {
        this.reset();
        this.inc(sources.republished());
      },
    });
    new Gauge({
      name: PREFIX + "live_clients",
      help: "Live HTTP clients: Server-Sent Events (sse) and NDJSON ?follow=1 (follow) readers",
      labelNames: ["kind"],
      registers,
      collect() {
        const clients = liveClients();
        this.set({ kind: "sse" }, clients.sse);
        this.set({ kind: "follow" }, clients.follow);
      },
    });
    new Gauge({
      name: PREFIX + "process_memory_bytes",
      help: "Process memory from process.memoryUsage(): rss, heap_used, heap_total, external",
      labelNames: ["kind"],
      registers,
      collect() {
        const usage = process.memoryUsage();
        const values = [usage.rss, usage.heapUsed, usage.heapTotal, usage.external];
        for (let i = 0; i < MEMORY_KINDS.length; i++) this.set({ kind: MEMORY_KINDS[i] }, values[i]);
      },
    });
    new Gauge({
      name: PREFIX + "info",
      help: "Always 1; the labels say which version serves which store",
      labelNames: ["version", "store_id"],
      registers,
    }).set({ version: options.version, store_id: options.storeId }, 1);
    this.#events = new Counter({ name: PREFIX + "appended_events_total", help: "Records appended", registers });
    this.#bytes = new Counter({
      name: PREFIX + "appended_bytes_total",
      help: "Bytes appended to the store (UTF-8 record lines with their newlines)",
      registers,
    });
    this.#batch = new Histogram({
      name: PREFIX + "batch_events",
      help: "Records per durable append (group-commit batch)",
      buckets: BATCH_BUCKETS,
      registers,
    });
    this.#fsync = new Histogram({
      name: PREFIX + "fsync_duration_seconds",
      help: "Seconds per durable append: one write of the batch and its fsync",
      buckets: FSYNC_BUCKETS,
      registers,
    });
    this.#deadLettered = new Counter({
      name: PREFIX + "dead_lettered_total",
      help: "Messages dead-lettered to <QUEUENAME>.dead, by kind of reason",
      labelNames: ["reason"],
      registers,
    });
  }

  /** Count one durable append (called once per batch). */
  stored(batch: StoredBatch): void {
    this.#events.inc(batch.events);
    this.#bytes.inc(batch.bytes);
    this.#batch.observe(batch.events);
    this.#fsync.observe(batch.seconds);
  }

  /** Count one dead-lettered message, by the kind of its reason (see {@link deadLetterKind}). */
  deadLettered(reason: string): void {
    this.#deadLettered.inc({ reason: deadLetterKind(reason) });
  }

  /** The exposition as an HTTP response (`text/plain; version=0.0.4`). */
  async response(): Promise<Response> {
    const text = await this.#registry.metrics();
    return new Response(text, {
      status: 200,
      headers: { "content-type": this.#registry.contentType, "cache-control": "no-store" },
    });
  }
}
