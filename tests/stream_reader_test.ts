import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readStreamOver } from "../lib/stream_reader.ts";

const realFetch = globalThis.fetch;
const line = (position: number, streamVersion: number) =>
  JSON.stringify({ position, id: `e${position}`, time: "t", stream: "s-1", streamVersion, type: "A", data: position }) +
  "\n";

/** Answer fetches with `respond`, recording the URLs asked for. */
function serve(respond: (url: URL) => Response): URL[] {
  const urls: URL[] = [];
  globalThis.fetch = ((input: string | URL | Request) => {
    const url = new URL(input instanceof Request ? input.url : input);
    urls.push(url);
    return Promise.resolve(respond(url));
  }) as typeof fetch;
  return urls;
}

describe("readStreamOver", () => {
  afterEach(() => {
    globalThis.fetch = realFetch;
  });

  it("asks for the stream, from and limit (to inclusive), and returns the records and x-stream-version", async () => {
    const urls = serve(() =>
      new Response(line(4, 2) + line(9, 3), { headers: { "x-stream-version": "7", "x-last-position": "9" } })
    );
    const result = await readStreamOver("s-1", { historyUrl: "http://h:8080/base?k=v", from: 2, to: 3 });
    assert.deepEqual(result.events.map((e) => [e.position, e.streamVersion]), [[4, 2], [9, 3]]);
    assert.equal(result.streamVersion, 7);
    assert.equal(urls[0].pathname, "/base");
    assert.deepEqual(Object.fromEntries(urls[0].searchParams), { k: "v", stream: "s-1", from: "2", limit: "2" });
    await readStreamOver("s-1", { historyUrl: "http://h/", limit: 5, to: 100 });
    assert.equal(urls[1].searchParams.get("limit"), "5");
    await readStreamOver("s-1", { historyUrl: "http://h/" });
    assert.equal(urls[2].searchParams.get("limit"), null);
    assert.equal(urls[2].searchParams.get("from"), "1");
  });

  it("stops at the record at x-last-position, even when the body never reports its end", async () => {
    serve(() => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(line(1, 1) + line(2, 2).slice(0, 10)));
          controller.enqueue(new TextEncoder().encode(line(2, 2).slice(10))); // then silence, never close()
        },
      });
      return new Response(body, { headers: { "x-stream-version": "2", "x-last-position": "2" } });
    });
    const result = await readStreamOver("s-1", { historyUrl: "http://h/", timeout: 5_000 });
    assert.deepEqual(result.events.map((e) => e.position), [1, 2]);
  });

  it("fails after timeout when the body stalls before its last record", async () => {
    serve(() => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(line(1, 1))); // record 2 never comes
        },
      });
      return new Response(body, { headers: { "x-stream-version": "2", "x-last-position": "2" } });
    });
    await assert.rejects(
      readStreamOver("s-1", { historyUrl: "http://h/", timeout: 50 }),
      /no complete answer within 50 ms/,
    );
  });

  it("answers an empty stream, and fails on an error, a server without streams, a short body or a timeout", async () => {
    serve(() => new Response(null, { headers: { "x-stream-version": "0", "x-last-position": "0" } }));
    assert.deepEqual(await readStreamOver("s-1", { historyUrl: "http://h/" }), { events: [], streamVersion: 0 });
    serve(() => new Response("Cannot read query parameter stream: stream name is empty\n", { status: 400 }));
    await assert.rejects(readStreamOver("", { historyUrl: "http://h/" }), /HTTP 400: Cannot read query parameter/);
    serve(() => new Response(line(1, 1)));
    await assert.rejects(readStreamOver("s-1", { historyUrl: "http://h/" }), /no x-stream-version/);
    serve(() => new Response(line(1, 1), { headers: { "x-stream-version": "2", "x-last-position": "5" } }));
    await assert.rejects(readStreamOver("s-1", { historyUrl: "http://h/" }), /ended before the record at position 5/);
    globalThis.fetch =
      ((_: unknown, init?: RequestInit) =>
        new Promise((_resolve, reject) =>
          init?.signal?.addEventListener("abort", () => reject(init.signal!.reason))
        )) as typeof fetch;
    await assert.rejects(
      readStreamOver("s-1", { historyUrl: "http://h/", timeout: 50 }),
      /no complete answer within 50 ms/,
    );
  });

  it("refuses bad arguments", async () => {
    const read = readStreamOver as (stream: unknown, options: unknown) => Promise<unknown>;
    await assert.rejects(read(1, { historyUrl: "http://h/" }), TypeError);
    await assert.rejects(read("s", { historyUrl: "http://h/", from: 1.5 }), {
      name: "RangeError",
      message: "Cannot read stream s: from must be a non-negative integer, got 1.5",
    });
    await assert.rejects(read("s", { historyUrl: "http://h/", limit: "3" }), TypeError);
  });
});
