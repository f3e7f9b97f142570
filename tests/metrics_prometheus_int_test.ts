/**
 * `GET /metrics` scraped by a real Prometheus (Debian's `prometheus`), with
 * the real server, RabbitMQ and the file store: the test starts Prometheus
 * with a temporary config and storage on a free port, lets it scrape the
 * server (with the bearer token, and once without), and reads the values
 * back through Prometheus's HTTP query API. Skips, saying so, only when
 * `/usr/bin/prometheus` (or `PROMETHEUS`) is absent.
 *
 * Spawns a process: runs under Deno only (see scripts/test_node.mjs).
 *
 * @module
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import type { EventStoreServer } from "../server.ts";
import { freePort, recordLines, setup, type TestContext, waitFor } from "./_helpers.ts";

const PROMETHEUS = process.env.PROMETHEUS ?? "/usr/bin/prometheus";
const present = existsSync(PROMETHEUS);
const TOKEN = "metrics-token-7d1e0b";
const EVENTS = 25;

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

describe("GET /metrics scraped by Prometheus", { skip: present ? false : `${PROMETHEUS} is absent` }, () => {
  let ctx: TestContext;
  let server: EventStoreServer;
  let dir: string;
  let prometheus: ChildProcess | undefined;
  let api: string;
  let output = "";

  async function query(expression: string): Promise<Sample[]> {
    const response = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(expression)}`);
    const body = await response.json() as { status: string; data: { result: Sample[] } };
    assert.equal(body.status, "success", `query ${expression}`);
    return body.data.result;
  }

  /** The single value of `expression` once Prometheus has it and `accept` holds, else throws. */
  async function settled(expression: string, accept: (value: number) => boolean): Promise<number> {
    let last: number | undefined;
    await waitFor(
      async () => {
        const result = await query(expression);
        last = result.length === 1 ? Number(result[0].value[1]) : undefined;
        return last !== undefined && accept(last);
      },
      `Prometheus to report ${expression} (last seen: ${last})`,
      15_000,
    );
    return last!;
  }

  before(async () => {
    ctx = await setup("metrics");
    server = await ctx.startServer({ httpToken: TOKEN });
    for (let i = 1; i <= EVENTS; i++) {
      await ctx.broker.publish("", ctx.queueName, JSON.stringify({ i, note: "né" }), { messageId: `m-${i}` });
    }
    await ctx.broker.publish("", ctx.queueName, "{not json", { messageId: "bad-1" });
    await ctx.broker.publish("", ctx.queueName, "", { messageId: "bad-2" });
    await waitFor(() => server.head === EVENTS, `${EVENTS} events stored`);

    dir = await mkdtemp(join(tmpdir(), "res-prometheus-"));
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    const target = `127.0.0.1:${server.port}`;
    await writeFile(
      join(dir, "prometheus.yml"),
      [
        "global:",
        "  scrape_interval: 1s",
        "  scrape_timeout: 1s",
        "scrape_configs:",
        "  - job_name: eventstore",
        "    authorization:",
        `      credentials: ${TOKEN}`,
        "    static_configs:",
        `      - targets: ["${target}"]`,
        "  - job_name: eventstore-without-token",
        "    static_configs:",
        `      - targets: ["${target}"]`,
        "",
      ].join("\n"),
    );
    prometheus = spawn(PROMETHEUS, [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ], { stdio: ["ignore", "pipe", "pipe"] });
    prometheus.stdout!.on("data", (chunk) => (output += chunk));
    prometheus.stderr!.on("data", (chunk) => (output += chunk));
    await waitFor(
      () => fetch(`${api}/-/ready`).then((r) => r.ok, () => false),
      "Prometheus to be ready",
      15_000,
    ).catch((error) => {
      throw new Error(`${error.message}; its output: ${output.slice(-2000)}`);
    });
  });

  after(async () => {
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((resolve) => prometheus!.once("exit", resolve));
      prometheus.kill("SIGTERM");
      await exited;
    }
    if (dir) await rm(dir, { recursive: true, force: true });
    await ctx?.cleanup();
  });

  it("reads head, appends, batches, fsyncs, dead letters, broker and memory from a real scrape", async () => {
    assert.equal(await settled('up{job="eventstore"}', (v) => v === 1), 1);
    assert.equal(await settled('rabbit_eventstore_head_position{job="eventstore"}', (v) => v === EVENTS), EVENTS);
    assert.equal(await settled("rabbit_eventstore_appended_events_total", (v) => v === EVENTS), EVENTS);
    // Exactly the bytes of the file's record lines (with their newlines), its header line left out.
    const lines = await recordLines(ctx.storageFile);
    const fileBytes = lines.reduce((sum, line) => sum + new TextEncoder().encode(line).length + 1, 0);
    assert.equal(await settled("rabbit_eventstore_appended_bytes_total", (v) => v > 0), fileBytes);
    assert.equal(await settled("rabbit_eventstore_batch_events_sum", (v) => v === EVENTS), EVENTS);
    const batches = await settled("rabbit_eventstore_batch_events_count", (v) => v >= 1);
    assert.equal(await settled("rabbit_eventstore_fsync_duration_seconds_count", (v) => v === batches), batches);
    assert.equal(await settled('rabbit_eventstore_dead_lettered_total{reason="not_json"}', (v) => v === 2), 2);
    assert.equal(await settled("rabbit_eventstore_published_position", (v) => v === EVENTS), EVENTS);
    assert.equal(await settled("rabbit_eventstore_fanout_unconfirmed", (v) => v === 0), 0);
    assert.equal(await settled("rabbit_eventstore_fanout_republished_events_total", () => true), 0);
    assert.equal(await settled("rabbit_eventstore_broker_connected", (v) => v === 1), 1);
    assert.equal(await settled("rabbit_eventstore_consuming", (v) => v === 1), 1);
    assert.ok(await settled("rabbit_eventstore_http_connections", (v) => v >= 1) >= 1, "the scrape's own connection");
    assert.equal(await settled('rabbit_eventstore_live_clients{kind="sse"}', () => true), 0);
    assert.equal(await settled('rabbit_eventstore_live_clients{kind="follow"}', () => true), 0);
    assert.ok(await settled('rabbit_eventstore_process_memory_bytes{kind="rss"}', (v) => v > 0) > 10 * 2 ** 20);
    const info = await query("rabbit_eventstore_info");
    assert.equal(info.length, 1);
    assert.equal(
      info[0].metric.store_id,
      ((await (await fetch(`http://127.0.0.1:${server.port}/health`)).json()) as { storeId: string }).storeId,
    );
  });

  it("cannot scrape without the token: the target is down and got a 401", async () => {
    assert.equal(await settled('up{job="eventstore-without-token"}', (v) => v === 0), 0);
    const response = await fetch(`${api}/api/v1/targets?state=active`);
    const body = await response.json() as {
      data: { activeTargets: Array<{ labels: { job: string }; lastError: string }> };
    };
    const targets = body.data.activeTargets;
    const refused = targets.find((t) => t.labels.job === "eventstore-without-token");
    assert.match(refused?.lastError ?? "", /401/);
  });
});
