/**
 * `HTTPTOKEN` with the real server, listener, command module and RabbitMQ:
 * history and `/metrics` need the bearer token (401 with
 * `WWW-Authenticate: Bearer` without it), the probes stay open, the
 * listener (`historyToken`) and the command's stream reads
 * (`historyToken`) send it, and the token never appears in anything the
 * server, listener or command print, answer or throw (debug logging on).
 *
 * @module
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type Command, createCommand } from "../command.ts";
import { type EventRecord, listen } from "../listener.ts";
import type { EventStoreServer } from "../server.ts";
import { AMQP_URL, setup, type TestContext, waitFor } from "./_helpers.ts";

const TOKEN = "Tk-9f2c4a61e0b7-http";

describe("HTTPTOKEN", () => {
  let ctx: TestContext;
  let server: EventStoreServer;
  let command: Command;
  let url: string;
  /** Everything printed through console while the tests run. */
  const printed: string[] = [];
  const originals = { log: console.log, warn: console.warn, error: console.error, debug: console.debug };
  /** Everything answered or thrown, to search for the token at the end. */
  const seen: string[] = [];

  before(async () => {
    for (const name of ["log", "warn", "error", "debug"] as const) {
      console[name] = (...args: unknown[]) => {
        printed.push(args.map(String).join(" "));
        originals[name](...args);
      };
    }
    ctx = await setup("token");
    server = await ctx.startServer({ httpToken: TOKEN, debug: true });
    url = `http://127.0.0.1:${server.port}/`;
    command = createCommand({ amqpUrl: AMQP_URL, queueName: ctx.queueName, historyUrl: url, historyToken: TOKEN });
    await command.appendToStream("cart-1", [{ type: "Added", data: { sku: "a" } }, {
      type: "Added",
      data: { sku: "b" },
    }]);
  });

  after(async () => {
    await command?.close();
    await ctx?.cleanup();
    Object.assign(console, originals);
    for (const text of [...printed, ...seen]) assert.ok(!text.includes(TOKEN), `the token leaked in: ${text}`);
    assert.ok(printed.length > 0 && seen.length > 0, "something was printed and answered to search");
  });

  it("answers 401 with WWW-Authenticate: Bearer without the token, and history with it", async () => {
    const refusals: Array<Record<string, string>> = [{}, { authorization: "Bearer wrong" }, {
      authorization: `Basic ${btoa(`u:${TOKEN}`)}`,
    }];
    for (const headers of refusals) {
      for (const path of ["", "?from=1", "?stream=cart-1", "metrics"]) {
        const response = await fetch(url + path, { headers });
        const body = await response.text();
        seen.push(body, JSON.stringify([...response.headers]));
        assert.equal(response.status, 401, `${path} ${JSON.stringify(headers)}`);
        assert.match(response.headers.get("www-authenticate") ?? "", /^Bearer realm="rabbit-eventstore"/);
        assert.ok(!body.includes('"position"'), "no record in a refusal");
      }
    }
    const response = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(response.status, 200);
    assert.equal((await response.text()).trim().split("\n").length, 2);
    const metrics = await fetch(url + "metrics", { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /^rabbit_eventstore_head_position 2$/m);
  });

  it("leaves the probes open", async () => {
    for (const path of ["health", "health/live", "health/ready"]) {
      const response = await fetch(url + path);
      const body = await response.text();
      seen.push(body);
      assert.equal(response.status, 200, path);
    }
  });

  it("the listener sends its historyToken; without one it delivers nothing and says why", async () => {
    const got: EventRecord[] = [];
    const listener = listen(1, (event) => {
      got.push(event);
    }, { amqpUrl: AMQP_URL, exchangeName: ctx.exchangeName, historyUrl: url, historyToken: TOKEN });
    await waitFor(() => got.length === 2, "2 events from history");
    await listener.close();
    assert.deepEqual(got.map((e) => e.position), [1, 2]);

    const before = printed.length;
    const refused: EventRecord[] = [];
    const without = listen(1, (event) => {
      refused.push(event);
    }, { amqpUrl: AMQP_URL, exchangeName: ctx.exchangeName, historyUrl: url, warnInterval: 0 });
    await waitFor(() => printed.slice(before).some((line) => /HTTP 401/.test(line)), "the listener's warning");
    await without.close();
    assert.equal(refused.length, 0);
    assert.match(printed.slice(before).find((line) => /HTTP 401/.test(line))!, /needs the server's bearer token/);
  });

  it("the command's readStream sends historyToken; without one it fails with the 401", async () => {
    const { events, streamVersion } = await command.readStream("cart-1");
    assert.equal(streamVersion, 2);
    assert.deepEqual(events.map((e) => (e.data as { sku: string }).sku), ["a", "b"]);
    const bare = createCommand({ amqpUrl: AMQP_URL, queueName: ctx.queueName, historyUrl: url });
    try {
      const error = await bare.readStream("cart-1").then(() => undefined, (e: Error) => e);
      assert.ok(error, "refused");
      seen.push(error.message, String(error.stack));
      assert.match(error.message, /HTTP 401: Cannot serve this request: it needs the server's bearer token/);
    } finally {
      await bare.close();
    }
  });
});
