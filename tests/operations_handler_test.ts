/**
 * Unit tests of the operations handler with a fake history handler: the
 * probes, `/metrics`, and which paths the token guards.
 *
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { operationsHandler } from "../lib/operations_handler.ts";

const TOKEN = "tok-0c41-probe";
const history = (request: Request) => Promise.resolve(new Response(`history ${new URL(request.url).pathname}\n`));
const metrics = { response: () => Promise.resolve(new Response("# metrics\n")) };

function get(path: string, token?: string): Request {
  return new Request(`http://x${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
}

describe("operationsHandler", () => {
  it("answers liveness always, and readiness with the reasons it is not ready", async () => {
    let reasons: string[] = ["broker not connected", 'not consuming queue "events"'];
    const handle = operationsHandler(history, { notReady: () => reasons });
    const live = await handle(get("/health/live"));
    assert.equal(live.status, 200);
    assert.deepEqual(await live.json(), { status: "live" });
    const notReady = await handle(get("/health/ready"));
    assert.equal(notReady.status, 503);
    assert.deepEqual(await notReady.json(), { status: "not ready", reasons });
    reasons = [];
    const ready = await handle(get("/health/ready"));
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: "ready" });
  });

  it("serves /metrics when given, and hands every other path to history", async () => {
    const handle = operationsHandler(history, { notReady: () => [], metrics });
    assert.equal(await (await handle(get("/metrics"))).text(), "# metrics\n");
    assert.equal(await (await handle(get("/health"))).text(), "history /health\n");
    assert.equal(await (await handle(get("/anything"))).text(), "history /anything\n");
    const without = operationsHandler(history, { notReady: () => [] });
    assert.equal(await (await without(get("/metrics"))).text(), "history /metrics\n");
  });

  it("with a token, guards history and /metrics and leaves the probes open", async () => {
    const handle = operationsHandler(history, { notReady: () => ["broker not connected"], metrics, token: TOKEN });
    for (const path of ["/", "/?from=3", "/metrics", "/health/x", "/healthz"]) {
      const denied = await handle(get(path));
      assert.equal(denied.status, 401, path);
      assert.match(denied.headers.get("www-authenticate") ?? "", /^Bearer /);
      assert.equal((await handle(get(path, "wrong"))).status, 401, path);
      assert.equal((await handle(get(path, TOKEN))).status, 200, path);
    }
    assert.equal((await handle(get("/health"))).status, 200);
    assert.equal((await handle(get("/health/live"))).status, 200);
    const ready = await handle(get("/health/ready"));
    assert.equal(ready.status, 503);
    assert.ok(!(await ready.text()).includes(TOKEN));
  });
});
