/**
 * The peers bench (scripts/_bench_peers.ts) against the real systems, at a
 * tiny size so it cannot rot: each peer writes the events, reads back
 * exactly those events in order (a read that lost or reordered one fails the
 * round), reports a write and a read phase, and removes what it created:
 * our server's store, the RabbitMQ stream queue, the NATS stream, the
 * PostgreSQL table and Emmett's database.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import process from "node:process";
import { join } from "node:path";
import { connect, type NatsConnection } from "nats";
import pg from "pg";
import { queueDepth } from "../scripts/_broker_admin.ts";
import type { Peer, PhaseResult } from "../scripts/_bench_peer.ts";
import { emmettPeer } from "../scripts/_bench_peer_emmett.ts";
import { jetstreamPeer, NATS_URL } from "../scripts/_bench_peer_jetstream.ts";
import { PG_URL, postgresPeer } from "../scripts/_bench_peer_postgres.ts";
import { projectPeer } from "../scripts/_bench_peer_project.ts";
import { rabbitmqStreamPeer } from "../scripts/_bench_peer_rabbitmq_stream.ts";
import { npmBuild } from "../scripts/_bench_server.ts";
import { uniqueName } from "./_helpers.ts";

const EVENTS = 300;

/** Open `peer`, run round 0 of `events`, close it; the round's phases. */
async function oneRound(peer: Peer, events = EVENTS): Promise<PhaseResult[]> {
  assert.equal(await peer.open(), undefined, `${peer.name} could not be opened`);
  try {
    return await peer.round(events, 0);
  } finally {
    await peer.close();
  }
}

/** Every phase moved `events` (reads: checked in order by the peer) at a real rate, with its CPU measured. */
function assertPhases(phases: PhaseResult[], expected: Array<[string, "write" | "read", number]>): void {
  assert.deepEqual(phases.map((p) => [p.phase, p.kind, p.events]), expected);
  for (const p of phases) {
    assert.ok(Number.isFinite(p.rate) && p.rate > 0, `${p.phase}: rate ${p.rate}`);
    assert.ok(p.systemCpu >= 0 && p.clientCpu >= 0, `${p.phase}: CPU ${p.systemCpu} + ${p.clientCpu}`);
  }
}

let dir: string;
let nats: NatsConnection;
let admin: pg.Client;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "res-peers-"));
  nats = await connect({ servers: NATS_URL, timeout: 3000 });
  admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
  await nats?.close();
  await admin?.end();
});

describe("peers bench, one tiny round each", () => {
  it("rabbit-eventstore: write end to end, replay from 0 with the warm-up, store removed", async () => {
    const queueName = uniqueName("peers-q");
    const exchangeName = uniqueName("peers-x");
    // deno-lint-ignore no-explicit-any
    const runtime = (globalThis as any).Deno ? "deno" : "node";
    if (runtime === "node") assert.ok(npmBuild(), "the npm build (the server on Node)");
    try {
      const phases = await oneRound(projectPeer({ dir, queueName, exchangeName, window: 100, runtime }));
      assertPhases(phases, [["write", "write", EVENTS], ["replay", "read", EVENTS + 200]]);
      assert.ok(phases[0].systemCpu > 0, "the server's and the broker's CPU counted");
      assert.deepEqual(await readdir(dir), [], "the round's store removed");
    } finally {
      const { openSession } = await import("../lib/amqp_session.ts");
      const session = await openSession(process.env.TEST_AMQPURL ?? "amqp://guest:guest@127.0.0.1:5672");
      for (const q of [queueName, `${queueName}.dead`]) await session.deleteQueue(q).catch(() => {});
      await session.deleteExchange(exchangeName).catch(() => {});
      await session.close();
    }
  });

  it("RabbitMQ stream: confirmed publishes, replay from first, stream deleted", async () => {
    const prefix = uniqueName("peers-stream");
    const phases = await oneRound(rabbitmqStreamPeer({ prefix, window: 100 }));
    assertPhases(phases, [["write", "write", EVENTS], ["replay", "read", EVENTS]]);
    assert.equal(await queueDepth(`${prefix}-0`), undefined, "the stream queue deleted");
  });

  it("NATS JetStream: acked publishes, ordered consumer, stream deleted", async () => {
    const prefix = uniqueName("peers-js");
    const peer = jetstreamPeer({ prefix, window: 100 });
    const phases = await oneRound(peer);
    assertPhases(phases, [["write", "write", EVENTS], ["replay", "read", EVENTS]]);
    const jsm = await nats.jetstreamManager();
    const left = [];
    for await (const info of jsm.streams.list()) if (info.config.name.startsWith(prefix)) left.push(info.config.name);
    assert.deepEqual(left, [], "the NATS stream deleted");
    assert.match(peer.durability(), /sync_interval .*\(nats-server 2\./);
  });

  it("PostgreSQL table: batched inserts, cursor read, table dropped", async () => {
    const prefix = uniqueName("peers_table").replace(/-/g, "_");
    const peer = postgresPeer({ prefix });
    // More than one batch of 1000 and not a multiple of it: the last INSERT and the last FETCH are partial.
    const phases = await oneRound(peer, 2_345);
    assertPhases(phases, [["write", "write", 2_345], ["replay", "read", 2_345]]);
    const { rows } = await admin.query("SELECT to_regclass($1) AS t", [`${prefix}_0`.toLowerCase()]);
    assert.equal(rows[0].t, null, "the table dropped");
    assert.match(peer.durability(), /fsync=(on|off), synchronous_commit=\w+/);
  });

  it("Emmett on PostgreSQL: per event, per batch, read all, consumer, database dropped", async () => {
    const name = uniqueName("t").replace(/-/g, "_");
    const phases = await oneRound(emmettPeer({ name, events: 1_500, singles: 40, writers: 4 }));
    assertPhases(phases, [
      ["appendToStream, one event per call", "write", 40],
      ["appendToStream, batch of 1000", "write", 1_500],
      ["read all (readStream)", "read", 1_500],
      ["consumer", "read", 1_540],
    ]);
    const { rows } = await admin.query("SELECT datname FROM pg_database WHERE datname LIKE $1", [`%${name}%`]);
    assert.deepEqual(rows, [], "Emmett's database dropped");
  });
});

describe("peers bench, a system that cannot be reached", () => {
  it("is reported as skipped with the reason, not a failure", async () => {
    const peer = jetstreamPeer({ prefix: "unused", window: 1, servers: "127.0.0.1:1" });
    assert.match((await peer.open()) ?? "", /NATS JetStream at 127\.0\.0\.1:1 cannot be used/);
    await peer.close();
  });
});
