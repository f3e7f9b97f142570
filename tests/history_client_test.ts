import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readHistory } from "../lib/history_client.ts";
import { encodeRecord } from "../lib/record.ts";
import { type HttpServer, serve } from "../lib/runtime/serve.ts";

/** A real HTTP server whose history response sends `lines` and then stalls without ending. */
async function stallingServer(lines: number): Promise<HttpServer & { url: string; stop(): void }> {
  const stops: Array<() => void> = [];
  const server = await serve(() => {
    let stop!: () => void;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let p = 1; p <= lines; p++) {
          controller.enqueue(new TextEncoder().encode(encodeRecord(p, `id${p}`, "2026-01-01T00:00:00.000Z", "{}")));
        }
        stop = () => {
          try {
            controller.close();
          } catch { /* already cancelled */ }
        };
        stops.push(stop);
      },
    });
    return Promise.resolve(new Response(body, { headers: { "content-type": "application/x-ndjson" } }));
  }, { port: 0, hostname: "127.0.0.1" });
  return {
    ...server,
    port: server.port,
    url: `http://127.0.0.1:${server.port}/`,
    stop: () => stops.forEach((s) => s()),
    close: server.close,
  };
}

describe("readHistory", () => {
  it("gives up on a response that stalls instead of waiting forever", async () => {
    const server = await stallingServer(2);
    try {
      const got: number[] = [];
      await assert.rejects(
        (async () => {
          for await (const record of readHistory(server.url, 1, { idleTimeout: 300 })) got.push(record.position);
        })(),
        /stalled: no data for 300 ms/,
      );
      assert.deepEqual(got, [1, 2]);
    } finally {
      server.stop();
      await server.close();
    }
  });

  it("stops at once when its signal aborts while a read is pending", async () => {
    const server = await stallingServer(1);
    const abort = new AbortController();
    try {
      const got: number[] = [];
      const reading = (async () => {
        for await (const record of readHistory(server.url, 1, { signal: abort.signal, idleTimeout: 60_000 })) {
          got.push(record.position);
          setTimeout(() => abort.abort(new Error("closed by the test")), 50);
        }
      })();
      await assert.rejects(reading, /closed by the test|abort/i);
      assert.deepEqual(got, [1]);
    } finally {
      server.stop();
      await server.close();
    }
  });
});
