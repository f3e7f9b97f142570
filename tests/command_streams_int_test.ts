import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type Command, createCommand, InvalidEventError, WrongExpectedVersionError } from "../command.ts";
import type { EventStoreServer } from "../server.ts";
import { AMQP_URL, history, setup, type TestContext } from "./_helpers.ts";

describe("command streams against RabbitMQ and a real server", () => {
  let ctx: TestContext;
  let server: EventStoreServer;
  let cmd: Command;
  beforeEach(async () => {
    ctx = await setup("streams");
    server = await ctx.startServer();
    cmd = createCommand({
      amqpUrl: AMQP_URL,
      queueName: ctx.queueName,
    });
  });
  afterEach(async () => {
    await cmd.close();
    await ctx.cleanup();
  });

  /** The conflict an append rejects with. */
  async function conflict(promise: Promise<unknown>): Promise<WrongExpectedVersionError> {
    const error = await promise.then(() => assert.fail("expected a WrongExpectedVersionError"), (e) => e);
    assert.ok(error instanceof WrongExpectedVersionError, String(error));
    return error;
  }

  it("appends with each expected-version form, and refuses each one's conflict with its fields", async () => {
    const s = "cart-forms";
    // stream_exists on a stream that does not exist
    let error = await conflict(cmd.appendToStream(s, { type: "A", data: 0 }, { expectedVersion: "stream_exists" }));
    assert.deepEqual([error.stream, error.expected, error.actual], [s, "stream_exists", 0]);
    assert.equal(error.name, "WrongExpectedVersionError");
    // a number on a stream that does not exist
    error = await conflict(cmd.appendToStream(s, { type: "A", data: 0 }, { expectedVersion: 1 }));
    assert.deepEqual([error.expected, error.actual], [1, 0]);
    // no_stream, then its conflict
    assert.deepEqual(await cmd.appendToStream(s, { type: "A", data: 1 }, { expectedVersion: "no_stream" }), {
      position: 1,
      streamVersion: 1,
    });
    error = await conflict(cmd.appendToStream(s, { type: "A", data: 0 }, { expectedVersion: "no_stream" }));
    assert.deepEqual([error.stream, error.expected, error.actual], [s, "no_stream", 1]);
    // stream_exists
    assert.deepEqual(await cmd.appendToStream(s, { type: "A", data: 2 }, { expectedVersion: "stream_exists" }), {
      position: 2,
      streamVersion: 2,
    });
    // an exact version, then a stale one
    assert.deepEqual(await cmd.appendToStream(s, { type: "A", data: 3 }, { expectedVersion: 2 }), {
      position: 3,
      streamVersion: 3,
    });
    error = await conflict(cmd.appendToStream(s, { type: "A", data: 0 }, { expectedVersion: 2 }));
    assert.deepEqual([error.stream, error.expected, error.actual], [s, 2, 3]);
    assert.match(error.message, /expected version 2, but the stream is at 3/);
    // any (explicit and by default) never conflicts
    assert.deepEqual(await cmd.appendToStream(s, { type: "A", data: 4 }, { expectedVersion: "any" }), {
      position: 4,
      streamVersion: 4,
    });
    assert.deepEqual(await cmd.appendToStream(s, { type: "A", data: 5 }), { position: 5, streamVersion: 5 });
    // nothing the conflicts carried was stored
    const records = await history(server.port, `?stream=${s}`);
    assert.deepEqual(records.map((r) => r.data), [1, 2, 3, 4, 5]);
    assert.deepEqual(records.map((r) => r.streamVersion), [1, 2, 3, 4, 5]);
  });

  it("appends a batch of 1000 as one message at consecutive versions, with ids <id>:<i>", async () => {
    await cmd.appendToStream("other-1", { type: "X", data: null });
    const events = Array.from({ length: 1000 }, (_, i) => ({ type: "ItemAdded", data: { i }, metadata: { n: i } }));
    const result = await cmd.appendToStream("cart-big", events, { expectedVersion: "no_stream", id: "big" });
    assert.deepEqual(result, { position: 1001, streamVersion: 1000 });
    const records = await history(server.port, "?stream=cart-big");
    assert.equal(records.length, 1000);
    assert.deepEqual(records.map((r) => r.streamVersion), events.map((_, i) => i + 1));
    assert.deepEqual(records.map((r) => r.position), events.map((_, i) => i + 2));
    assert.equal(records[0].id, "big");
    assert.equal(records[1].id, "big:2");
    assert.equal(records[999].id, "big:1000");
    assert.equal(records[0].batchSize, 1000);
    assert.deepEqual(records[7].metadata, { n: 7 });
    assert.deepEqual(records[7].data, { i: 7 });
    assert.equal(records[7].type, "ItemAdded");
  });

  it("answers a repeated id with the original result, never a conflict, and stores one copy", async () => {
    const events = [{ type: "A", data: 1 }, { type: "B", data: 2 }];
    const first = await cmd.appendToStream("cart-idem", events, { expectedVersion: "no_stream", id: "once" });
    await cmd.appendToStream("cart-idem", { type: "C", data: 3 }, { expectedVersion: 2 });
    // The same id again, with an expected version that would conflict now: the original result.
    const again = await cmd.appendToStream("cart-idem", events, { expectedVersion: "no_stream", id: "once" });
    assert.deepEqual(again, first);
    assert.deepEqual(first, { position: 2, streamVersion: 2 });
    const records = await history(server.port);
    assert.deepEqual(records.map((r) => r.id).filter((id) => String(id).startsWith("once")), ["once", "once:2"]);
    assert.equal(records.length, 3);
  });

  it("rejects an invalid stream name with InvalidEventError from the server, and stores nothing", async () => {
    for (const name of ["", "bad\u0001name", "x".repeat(256)]) {
      const error = await cmd.appendToStream(name, { type: "A", data: 1 }).then(() => undefined, (e) => e);
      assert.ok(error instanceof InvalidEventError, String(error));
      assert.match(error.reason, /stream name/);
    }
    assert.equal(server.head, 0);
  });

  it("rejects bad arguments before sending anything", async () => {
    const bad = cmd as unknown as { appendToStream(...args: unknown[]): Promise<unknown> };
    await assert.rejects(bad.appendToStream(42, { type: "A", data: 1 }), TypeError);
    await assert.rejects(bad.appendToStream("s", []), RangeError);
    await assert.rejects(bad.appendToStream("s", Array.from({ length: 1001 }, () => ({ type: "A", data: 1 }))), {
      name: "RangeError",
      message: "Cannot append to stream s: expected 1 to 1000 events, got 1001",
    });
    await assert.rejects(bad.appendToStream("s", { data: 1 }), /needs a non-empty string type, got undefined/);
    await assert.rejects(bad.appendToStream("s", { type: "A" }), /event has no data/);
    await assert.rejects(bad.appendToStream("s", { type: "A", data: 1n }), /data JSON cannot hold: it is a bigint/);
    await assert.rejects(
      bad.appendToStream("s", { type: "A", data: 1, metadata: [1] }),
      /metadata that is not an object/,
    );
    await assert.rejects(bad.appendToStream("s", { type: "A", data: 1 }, { expectedVersion: -1 }), RangeError);
    await assert.rejects(bad.appendToStream("s", { type: "A", data: 1 }, { expectedVersion: "soon" }), TypeError);
    await assert.rejects(bad.appendToStream("s", { type: "A", data: 1 }, { id: "" }), TypeError);
    assert.equal(server.head, 0);
  });
});
