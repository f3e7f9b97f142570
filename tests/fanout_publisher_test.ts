/**
 * FanoutPublisher with a small fake broker session (the project's own
 * BrokerSession interface) and a real storage file: the watermark moves only
 * over confirmed positions, and what the broker nacks or never confirms is
 * published again on the same session. The nack path is also proven against
 * the real RabbitMQ in tests/server_int_test.ts; a confirm that never comes
 * cannot be produced on demand there, so it is proven here.
 */
import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { OutgoingMessage, PublishingSessionLike, PublishProperties } from "../lib/broker_session.ts";
import { PublishNackedError } from "../lib/errors.ts";
import { FanoutPublisher, type Publishable } from "../lib/fanout_publisher.ts";
import { FileStorage } from "../lib/file_storage.ts";
import { PublishWatermark } from "../lib/publish_watermark.ts";
import { encodeRecord } from "../lib/record.ts";
import { delay, waitFor } from "./_helpers.ts";

type Answer = "confirm" | "nack" | "never";

/** A session whose publishes are answered by `answer(position, attempt)`. */
class FakeSession implements PublishingSessionLike {
  readonly published: number[] = [];
  readonly attempts = new Map<number, number>();
  closed = false;
  constructor(readonly answer: (position: number, attempt: number) => Answer) {}
  publish(
    _exchange: string,
    _key: string,
    _body: string | Uint8Array,
    properties: PublishProperties = {},
  ): Promise<void> {
    const position = Number(properties.headers?.position);
    const attempt = (this.attempts.get(position) ?? 0) + 1;
    this.attempts.set(position, attempt);
    this.published.push(position);
    switch (this.answer(position, attempt)) {
      case "confirm":
        return Promise.resolve();
      case "nack":
        return Promise.reject(new PublishNackedError(String(position)));
      case "never":
        return new Promise<void>(() => {});
    }
  }
}

/** A FakeSession that can publish a batch: one call, answered as a whole (nacked if any of it is). */
class FakeBatchSession extends FakeSession {
  readonly batches: number[][] = [];
  publishBatch(exchange: string, key: string, messages: readonly OutgoingMessage[]): Promise<void> {
    this.batches.push(messages.map((m) => Number(m.properties?.headers?.position)));
    return Promise.all(messages.map((m) => this.publish(exchange, key, m.body, m.properties))).then(() => {});
  }
}

describe("FanoutPublisher", () => {
  let dir: string;
  let storage: FileStorage;
  let watermark: PublishWatermark;
  const records: Publishable[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "res-fanout-"));
    storage = await FileStorage.open(join(dir, "storage"));
    records.length = 0;
    for (let p = 1; p <= 5; p++) {
      const line = encodeRecord(p, `id${p}`, "2026-11-27T00:00:00.000Z", `{"p":${p}}`);
      records.push({ position: p, id: `id${p}`, line });
      await storage.append([{ position: p, id: `id${p}`, line }]);
    }
    // No watermark file yet: nothing is confirmed, so an attach publishes positions 1..5.
    watermark = await PublishWatermark.open(storage);
  });
  afterEach(async () => {
    await watermark.flush();
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("advances the watermark over confirmed positions only", async () => {
    const publisher = new FanoutPublisher(storage, watermark, "x", () => {}, 1000);
    const session = new FakeSession(() => "confirm");
    await publisher.attach(session);
    await publisher.idle();
    assert.deepEqual(session.published, [1, 2, 3, 4, 5]);
    assert.equal(watermark.value, 5);
    publisher.detach();
  });

  it("publishes again from the watermark what the broker nacked, on the same session", async () => {
    const publisher = new FanoutPublisher(storage, watermark, "x", () => {}, 1000);
    const session = new FakeSession((p, attempt) => (p === 3 && attempt <= 2 ? "nack" : "confirm"));
    await publisher.attach(session);
    await waitFor(() => watermark.value === 5, "the watermark at 5 after the resends");
    assert.equal(session.attempts.get(3), 3, "position 3 was sent three times");
    assert.ok(session.published.slice(-3).every((p, i) => p === 3 + i), "the resend goes on in position order");
    publisher.detach();
  });

  it("publishes each batch of records as one publishBatch, and a nacked batch again from the watermark", async () => {
    const publisher = new FanoutPublisher(storage, watermark, "x", () => {}, 1000);
    const session = new FakeBatchSession((p, attempt) => (p === 7 && attempt === 1 ? "nack" : "confirm"));
    await publisher.attach(session);
    await publisher.idle();
    assert.equal(watermark.value, 5);
    const live: Publishable[] = [];
    for (let p = 6; p <= 8; p++) {
      const line = encodeRecord(p, `id${p}`, "2026-11-27T00:00:00.000Z", `{"p":${p}}`);
      live.push({ position: p, id: `id${p}`, line, type: "T", stream: "s-1", streamVersion: p - 5 });
    }
    await storage.append(live);
    publisher.publish(live);
    await waitFor(() => watermark.value === 8, "the watermark at 8 after the resend");
    // The catch-up's batch, the live batch (nacked at 7: the watermark stays at 5), then 6..8 again.
    assert.deepEqual(session.batches, [[1, 2, 3, 4, 5], [6, 7, 8], [6, 7, 8]]);
    assert.equal(session.published.length, 11, "every publish went through publishBatch");
    publisher.detach();
  });

  it("publishes again what the broker never confirmed, after the confirm timeout", async () => {
    const publisher = new FanoutPublisher(storage, watermark, "x", () => {}, 100);
    const session = new FakeSession((p, attempt) => (p === 2 && attempt === 1 ? "never" : "confirm"));
    await publisher.attach(session);
    await waitFor(() => watermark.value === 5, "the watermark at 5 after the timeout");
    assert.equal(session.attempts.get(2), 2);
    assert.equal(publisher.inFlight, 0, "the unanswered publish no longer counts as in flight");
    publisher.detach();
  });

  it("publishes live records at once during a paced catch-up; the watermark waits for the catch-up below them", async () => {
    const more: Publishable[] = [];
    for (let p = 6; p <= 200; p++) {
      const line = encodeRecord(p, `id${p}`, "2026-11-27T00:00:00.000Z", `{"p":${p}}`);
      more.push({ position: p, id: `id${p}`, line });
    }
    await storage.append(more);
    // 100 records a second: the catch-up of 1..200 waits at least 1.9 s by construction, in batches of 5.
    const publisher = new FanoutPublisher(storage, watermark, "x", () => {}, 1000, { republishRate: 100 });
    const session = new FakeSession(() => "confirm");
    const catchUp = publisher.attach(session);
    const live = { position: 201, id: "id201", line: encodeRecord(201, "id201", "2026-11-27T00:00:00.000Z", "{}") };
    await storage.append([live]);
    publisher.publish([live]);
    assert.ok(session.published.includes(201), "the live record went out at once");
    assert.ok(Math.max(...session.published.filter((p) => p <= 200)) < 200, "while the catch-up was still going");
    await waitFor(() => watermark.value >= 5, "the first catch-up batch confirmed");
    assert.ok(watermark.value < 200, `the watermark (${watermark.value}) stays with the catch-up, not the live 201`);
    // Shutdown stops the catch-up where it is; the watermark keeps what was confirmed.
    await publisher.close();
    await catchUp;
    const reached = watermark.value;
    assert.ok(reached >= 5 && reached < 200, `stopped at ${reached}`);
    // The next start republishes from there (not from 1), unpaced here, and the watermark reaches the head.
    const next = new FanoutPublisher(storage, watermark, "x", () => {}, 1000, { republishRate: 0 });
    const again = new FakeSession(() => "confirm");
    await next.attach(again);
    await next.idle();
    assert.equal(again.published[0], reached + 1);
    assert.deepEqual(again.published, Array.from({ length: 201 - reached }, (_, i) => reached + 1 + i));
    assert.equal(watermark.value, 201);
  });

  it("slows a paced catch-up to republishRateWhileReading while history reads are open", async () => {
    const more: Publishable[] = [];
    for (let p = 6; p <= 1000; p++) {
      more.push({ position: p, id: `id${p}`, line: encodeRecord(p, `id${p}`, "2026-11-27T00:00:00.000Z", "{}") });
    }
    await storage.append(more);
    const reader = storage.read(1); // a listener's history download, open
    // 2,000/s alone would republish about 600 in 300 ms; while reading, 100/s: one batch of 100, then a pause of 1 s.
    const publisher = new FanoutPublisher(storage, watermark, "x", () => {}, 1000, { republishRate: 2000 });
    const session = new FakeSession(() => "confirm");
    const catchUp = publisher.attach(session);
    await delay(300);
    assert.ok(session.published.length <= 100, `${session.published.length} republished while the read was open`);
    await reader.cancel();
    await publisher.close();
    await catchUp;
  });

  it("refuses a negative or non-finite republish rate with a RangeError", () => {
    for (const republishRate of [-1, Infinity, NaN]) {
      assert.throws(() => new FanoutPublisher(storage, watermark, "x", () => {}, 1000, { republishRate }), RangeError);
    }
  });

  it("does not resend on a session that closed: the next attach does", async () => {
    const publisher = new FanoutPublisher(storage, watermark, "x", () => {}, 1000);
    const session = new FakeSession(() => "nack");
    session.closed = true;
    await publisher.attach(session);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(watermark.value, 0);
    const next = new FakeSession(() => "confirm");
    await publisher.attach(next);
    await publisher.idle();
    assert.equal(watermark.value, 5);
    publisher.detach();
  });
});
