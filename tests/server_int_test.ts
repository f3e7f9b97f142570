import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { history, setup, waitFor, type TestContext } from "./_helpers.ts";

describe("server against RabbitMQ", () => {
  let ctx: TestContext;
  before(async () => {
    ctx = await setup("server");
  });
  after(async () => {
    await ctx.cleanup();
  });

  it("stores published events at dense positions and serves them as NDJSON", async () => {
    const server = await ctx.startServer();
    for (let i = 0; i < 10; i++) await ctx.broker.publish("", ctx.queueName, JSON.stringify({ i }), { messageId: `m${i}` });
    await waitFor(() => server.head === 10, "10 stored events");
    const records = await history(server.port);
    assert.deepEqual(records.map((r) => r.position), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual(records.map((r) => r.id), Array.from({ length: 10 }, (_, i) => `m${i}`));
    assert.deepEqual(records[3].data, { i: 3 });
    const file = await readFile(ctx.storageFile, "utf8");
    assert.equal(file.split("\n").length, 11);
    await server.close();
  });
});
