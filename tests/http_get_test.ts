/**
 * lib/runtime/http_get.ts on each runtime (fetch on Deno, node:http on Node): every byte of a large
 * body in order, the status and headers, an error body as text, and an abort or a cancel ending a
 * read that waits for bytes a stalled server never sends.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { httpGet } from "../lib/runtime/http_get.ts";

/** The large body: 2 MiB of a repeating pattern, sent in 1,000-byte writes. */
const BODY = new Uint8Array(2 * 1024 * 1024).map((_, i) => (i * 7 + (i >> 10)) & 0xff);

describe("httpGet", () => {
  let server: Server;
  let base: string;
  const stalled: ServerResponse[] = [];
  before(async () => {
    server = createServer((request, response) => {
      if (request.url === "/big") {
        response.writeHead(200, { "content-type": "application/x-ndjson", "x-head-position": "42" });
        let offset = 0;
        const more = () => {
          while (offset < BODY.length) {
            const ok = response.write(BODY.subarray(offset, offset + 1000));
            offset += 1000;
            if (!ok) return void response.once("drain", more);
          }
          response.end();
        };
        more();
      } else if (request.url === "/stall") {
        response.writeHead(200, { "content-type": "application/x-ndjson" });
        response.write("first\n");
        stalled.push(response);
      } else {
        response.writeHead(404, { "content-type": "text/plain" });
        response.end("no such thing");
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const response of stalled) response.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("reads every byte of a large body in order, with the status and the headers", async () => {
    const response = await httpGet(`${base}/big`, { headers: { accept: "application/x-ndjson" } });
    assert.equal(response.ok, true);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("X-Head-Position"), "42");
    assert.equal(response.headers.get("x-absent"), null);
    const reader = response.body!.getReader();
    const received = new Uint8Array(BODY.length);
    let length = 0;
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      received.set(r.value, length);
      length += r.value.length;
    }
    assert.equal(length, BODY.length);
    assert.deepEqual(received, BODY);
  });

  it("answers an HTTP error with its status and its body as text", async () => {
    const response = await httpGet(`${base}/missing`);
    assert.equal(response.ok, false);
    assert.equal(response.status, 404);
    assert.equal(await response.text(), "no such thing");
  });

  it("ends a read that waits for bytes when the signal aborts, with the signal's reason", async () => {
    const controller = new AbortController();
    const response = await httpGet(`${base}/stall`, { signal: controller.signal });
    const reader = response.body!.getReader();
    const first = await reader.read();
    assert.equal(first.done, false);
    const pending = reader.read();
    const reason = new Error("stop now");
    controller.abort(reason);
    // The reader reports the abort as an error, or (Deno's fetch) as the body's end; never a hang.
    const outcome = await pending.then((r) => r.done, (error) => error);
    assert.ok(outcome === true || outcome === reason || outcome instanceof Error, String(outcome));
  });

  it("ends a read that waits for bytes when the reader is cancelled", async () => {
    const response = await httpGet(`${base}/stall`);
    const reader = response.body!.getReader();
    await reader.read();
    const pending = reader.read();
    void reader.cancel(new Error("enough"));
    const outcome = await pending.then((r) => r.done, (error) => error);
    assert.ok(outcome === true || outcome instanceof Error, String(outcome));
  });

  it("rejects at once with the reason of a signal aborted before the request", async () => {
    const reason = new Error("never asked");
    await assert.rejects(httpGet(`${base}/big`, { signal: AbortSignal.abort(reason) }), (error) => error === reason);
  });
});
