/**
 * Unit tests of the server's metrics: the exposition is read back with a
 * real Prometheus text-format parser (`parse-prometheus-text-format`), never
 * with a regex on our own output; the dead-letter kinds are checked against
 * the reasons the server really gives.
 *
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import parsePrometheus from "parse-prometheus-text-format";
import { readAppendRequest } from "../lib/append_request.ts";
import { refusalReason } from "../lib/append_result.ts";
import type { Delivery } from "../lib/broker_session.ts";
import { deadLetterKind, type MetricsSources, ServerMetrics } from "../lib/server_metrics.ts";

const STORE_ID = "5b0c2f9e-3a41-4c7e-9d2b-0f6a1e8c7b35";

interface Family {
  name: string;
  type: string;
  metrics: Array<{
    value?: string;
    labels?: Record<string, string>;
    buckets?: Record<string, string>;
    count?: string;
    sum?: string;
  }>;
}

async function scrape(metrics: ServerMetrics): Promise<Map<string, Family>> {
  const response = await metrics.response();
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const families = parsePrometheus(await response.text()) as Family[];
  return new Map(families.map((family) => [family.name, family]));
}

function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const family = families.get(name);
  assert.ok(family, `metric ${name} is exposed`);
  const sample = family.metrics.find((m) =>
    Object.entries(labels).every(([key, wanted]) => m.labels?.[key] === wanted)
  );
  assert.ok(sample, `metric ${name} has a sample with ${JSON.stringify(labels)}`);
  return Number(sample.value);
}

function sources(state: Partial<Record<keyof MetricsSources, unknown>> = {}): MetricsSources {
  return {
    head: () => 0,
    published: () => 0,
    unconfirmed: () => 0,
    republished: () => 0,
    httpConnections: () => 0,
    brokerConnected: () => false,
    consuming: () => false,
    ...state,
  } as MetricsSources;
}

describe("ServerMetrics", () => {
  it("counts batches: events, bytes, the batch-size and fsync histograms", async () => {
    const metrics = new ServerMetrics(sources(), { version: "9.9.9", storeId: STORE_ID });
    metrics.stored({ events: 3, bytes: 300, seconds: 0.002 });
    metrics.stored({ events: 700, bytes: 70_000, seconds: 0.03 });
    const families = await scrape(metrics);
    assert.equal(families.get("rabbit_eventstore_appended_events_total")?.type, "COUNTER");
    assert.equal(value(families, "rabbit_eventstore_appended_events_total"), 703);
    assert.equal(value(families, "rabbit_eventstore_appended_bytes_total"), 70_300);
    const batch = families.get("rabbit_eventstore_batch_events")!;
    assert.equal(batch.type, "HISTOGRAM");
    assert.equal(Number(batch.metrics[0].count), 2);
    assert.equal(Number(batch.metrics[0].sum), 703);
    assert.equal(Number(batch.metrics[0].buckets!["5"]), 1, "the batch of 3 is at most 5");
    assert.equal(Number(batch.metrics[0].buckets!["500"]), 1, "the batch of 700 is above 500");
    assert.equal(Number(batch.metrics[0].buckets!["1000"]), 2);
    const fsync = families.get("rabbit_eventstore_fsync_duration_seconds")!;
    assert.equal(fsync.type, "HISTOGRAM");
    assert.equal(Number(fsync.metrics[0].count), 2);
    assert.equal(Number(fsync.metrics[0].buckets!["0.0025"]), 1);
    assert.equal(Number(fsync.metrics[0].buckets!["0.05"]), 2);
  });

  it("reads the server's state only when scraped", async () => {
    const state = { head: 5, published: 4, unconfirmed: 1, republished: 2, connections: 3, up: true, live: 0 };
    const metrics = new ServerMetrics(
      sources({
        head: () => state.head,
        published: () => state.published,
        unconfirmed: () => state.unconfirmed,
        republished: () => state.republished,
        httpConnections: () => state.connections,
        brokerConnected: () => state.up,
        consuming: () => state.up,
        liveClients: () => ({ sse: state.live, follow: state.live * 2 }),
      }),
      { version: "9.9.9", storeId: STORE_ID },
    );
    let families = await scrape(metrics);
    assert.equal(value(families, "rabbit_eventstore_head_position"), 5);
    assert.equal(value(families, "rabbit_eventstore_published_position"), 4);
    assert.equal(value(families, "rabbit_eventstore_fanout_unconfirmed"), 1);
    assert.equal(value(families, "rabbit_eventstore_fanout_republished_events_total"), 2);
    assert.equal(families.get("rabbit_eventstore_fanout_republished_events_total")?.type, "COUNTER");
    assert.equal(value(families, "rabbit_eventstore_http_connections"), 3);
    assert.equal(value(families, "rabbit_eventstore_broker_connected"), 1);
    assert.equal(value(families, "rabbit_eventstore_consuming"), 1);
    assert.equal(value(families, "rabbit_eventstore_live_clients", { kind: "sse" }), 0);
    assert.equal(value(families, "rabbit_eventstore_info", { version: "9.9.9", store_id: STORE_ID }), 1);
    assert.ok(value(families, "rabbit_eventstore_process_memory_bytes", { kind: "rss" }) > 1_000_000);
    assert.ok(value(families, "rabbit_eventstore_process_memory_bytes", { kind: "heap_used" }) > 0);
    Object.assign(state, { head: 9, published: 9, unconfirmed: 0, republished: 7, connections: 1, up: false, live: 2 });
    families = await scrape(metrics);
    assert.equal(value(families, "rabbit_eventstore_head_position"), 9);
    assert.equal(value(families, "rabbit_eventstore_fanout_republished_events_total"), 7);
    assert.equal(value(families, "rabbit_eventstore_broker_connected"), 0);
    assert.equal(value(families, "rabbit_eventstore_consuming"), 0);
    assert.equal(value(families, "rabbit_eventstore_live_clients", { kind: "sse" }), 2);
    assert.equal(value(families, "rabbit_eventstore_live_clients", { kind: "follow" }), 4);
  });

  it("counts dead letters by a fixed set of reason kinds", async () => {
    const metrics = new ServerMetrics(sources(), { version: "9.9.9", storeId: STORE_ID });
    metrics.deadLettered("event is not valid JSON: Unexpected token");
    metrics.deadLettered("event is empty");
    metrics.deadLettered("WrongExpectedVersion: stream a-1 expected version 2, but it is at 3");
    const families = await scrape(metrics);
    assert.equal(value(families, "rabbit_eventstore_dead_lettered_total", { reason: "not_json" }), 2);
    assert.equal(value(families, "rabbit_eventstore_dead_lettered_total", { reason: "wrong_expected_version" }), 1);
    assert.equal(families.get("rabbit_eventstore_dead_lettered_total")!.metrics.length, 2);
  });

  it("gives every reason the server words its kind", () => {
    const delivery = (body: string | Uint8Array, headers: Record<string, unknown> = {}): Delivery => ({
      body: typeof body === "string" ? new TextEncoder().encode(body) : body,
      headers,
      tag: 1,
      redelivered: false,
    });
    const reasonOf = (d: Delivery) => {
      const request = readAppendRequest(d, 16);
      assert.ok("reason" in request, `refused: ${new TextDecoder().decode(d.body)}`);
      return request.reason;
    };
    const cases: Array<[string, string]> = [
      [reasonOf(delivery('"' + "x".repeat(40) + '"')), "too_large"],
      [reasonOf(delivery('[{"data":"' + "x".repeat(40) + '"}]', { batch: true })), "too_large"],
      [reasonOf(delivery("{")), "not_json"],
      [reasonOf(delivery("")), "not_json"],
      [reasonOf(delivery(new Uint8Array([0x22, 0xff, 0x22]))), "not_json"],
      [reasonOf(delivery("1", { stream: "" })), "bad_stream"],
      [reasonOf(delivery("1", { stream: 7 })), "bad_stream"],
      [reasonOf(delivery("1", { "expected-version": "soon", stream: "a-1" })), "bad_expected_version"],
      [reasonOf(delivery("1", { "expected-version": 3 })), "bad_expected_version"],
      [reasonOf(delivery("1", { batch: true })), "bad_batch"],
      [reasonOf(delivery("[1]", { batch: true })), "bad_batch"],
      [
        refusalReason({ ok: false, error: "WrongExpectedVersion", stream: "a-1", expected: 2, actual: 3 }),
        "wrong_expected_version",
      ],
      ["something new", "other"],
    ];
    for (const [reason, kind] of cases) assert.equal(deadLetterKind(reason), kind, reason);
  });
});
