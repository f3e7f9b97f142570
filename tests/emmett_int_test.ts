/**
 * rabbit-eventstore/emmett on the real broker and a real server: the Emmett
 * contract (tests/_emmett_contract.ts), with Emmett's own CommandHandler,
 * through the command client's appends (direct reply-to) and the server's
 * stream reads over HTTP. One server for the file (each test uses streams of
 * its own), so the contract's global positions are real ones, shared.
 */
import { after, before } from "node:test";
import { getRabbitEventStore, type RabbitEventStore } from "../emmett.ts";
import type { EventStoreServer } from "../server.ts";
import { AMQP_URL, setup, type TestContext, uniqueName } from "./_helpers.ts";
import { emmettContract } from "./_emmett_contract.ts";

let ctx: TestContext;
let server: EventStoreServer;
let store: RabbitEventStore;
before(async () => {
  ctx = await setup("emmett");
  server = await ctx.startServer();
  store = getRabbitEventStore({
    amqpUrl: AMQP_URL,
    queueName: ctx.queueName,
    historyUrl: `http://127.0.0.1:${server.port}/`,
  });
});
after(async () => {
  await store.close();
  await ctx.cleanup();
});

emmettContract("real server", () => Promise.resolve({ store, unique: (prefix) => uniqueName(prefix) }));
