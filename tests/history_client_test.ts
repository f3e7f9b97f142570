import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { HistoryTimeoutError } from "../lib/errors.ts";
import { type HistoryResponse, readHistory, readHistoryChunks } from "../lib/history_client.ts";
import { encodeRecord, type EventRecord } from "../lib/record.ts";
import { type HttpServer, serve } from "../lib/runtime/serve.ts";
import { delay } from "./_helpers.ts";

const encoder = new TextEncoder();
const line = (p: number) =>
  encodeRecord(p, `id-${p}`, "2026-01-01T00:00:00.000Z", JSON.stringify({ p, s: "é€😀" })) + "\n";

/** What the test server answers: body pieces sent one by one, then (unless `hang`) the end of the body. */
interface Script {
  pieces: Uint8Array[];
  /** The x-head-position header; none when undefined. */
  head?: number;
  /** Keep the body open after the pieces, as a stalled server or a lost end-of-body would. */
  hang?: boolean;
  /** Never answer at all. */
  silent?: boolean;
  /** HTTP status. @default {200} */
  status?: number;
  /** Content type. @default {"application/x-ndjson"} */
  contentType?: string;
  /** The x-store-id header; none when undefined. */
  storeId?: string;
  /** Answer with no body at all (as the server does for limit=0). */
  noBody?: boolean;
  /** The x-last-position header (a stream or category read); none when undefined. */
  last?: number;
}

describe("readHistory / readHistoryChunks", () => {
  let server: HttpServer;
  let url: string;
  let script: Script;
  let lastQuery: URLSearchParams | undefined;
  /** Ends whatever a test left hanging, so the server can close. */
  let releases: Array<() => void> = [];

  before(async () => {
    server = await serve((request) => {
      lastQuery = new URL(request.url).searchParams;
      const { pieces, head, hang, silent, status, contentType, storeId, noBody, last } = script;
      if (silent) {
        return new Promise<Response>((resolve) => releases.push(() => resolve(new Response(""))));
      }
      let i = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (i < pieces.length) {
            if (i > 0) await delay(2); // separate network chunks, to split lines between reads
            controller.enqueue(pieces[i++]);
            return;
          }
          if (!hang) return controller.close();
          await new Promise<void>((resolve) =>
            releases.push(() => {
              resolve();
              try {
                controller.close();
              } catch { /* already cancelled */ }
            })
          );
        },
      }, { highWaterMark: 0 });
      const headers: Record<string, string> = { "content-type": contentType ?? "application/x-ndjson" };
      if (head !== undefined) headers["x-head-position"] = String(head);
      if (storeId !== undefined) headers["x-store-id"] = storeId;
      if (last !== undefined) headers["x-last-position"] = String(last);
      return Promise.resolve(new Response(noBody ? null : body, { headers, status: status ?? 200 }));
    }, { port: 0, hostname: "127.0.0.1" });
    url = `http://127.0.0.1:${server.port}/`;
  });
  afterEach(() => {
    for (const release of releases) release();
    releases = [];
  });
  after(async () => {
    await server.close();
  });

  /** The bytes of records `from..to`, cut into pieces at the given byte offsets. */
  function cut(from: number, to: number, offsets: number[]): Uint8Array[] {
    let text = "";
    for (let p = from; p <= to; p++) text += line(p);
    const bytes = encoder.encode(text);
    const pieces: Uint8Array[] = [];
    let start = 0;
    for (const offset of [...offsets, bytes.length]) {
      if (offset > start) pieces.push(bytes.subarray(start, offset));
      start = offset;
    }
    return pieces;
  }

  async function collect(from: number, options = {}): Promise<{ records: EventRecord[]; error?: Error }> {
    const records: EventRecord[] = [];
    try {
      for await (const chunk of readHistoryChunks(url, from, options)) {
        assert.ok(chunk.length > 0, "chunks are never empty");
        records.push(...chunk);
      }
      return { records };
    } catch (error) {
      return { records, error: error as Error };
    }
  }

  it("keeps order and content across chunk boundaries inside lines and inside UTF-8 characters", async () => {
    const whole = encoder.encode(line(1));
    const inEuro = whole.indexOf(0xe2) + 1; // inside the 3-byte "€"
    script = { pieces: cut(1, 50, [1, inEuro, whole.length - 1, whole.length + 7, 4000, 4001]), head: 50 };
    const { records, error } = await collect(1);
    assert.equal(error, undefined);
    assert.deepEqual(records.map((r) => r.position), Array.from({ length: 50 }, (_, i) => i + 1));
    assert.deepEqual(records[0].data, { p: 1, s: "é€😀" });
    const one: number[] = [];
    for await (const record of readHistory(url, 1)) one.push(record.position);
    assert.equal(one.length, 50);
  });

  it("stops after the record x-head-position names, even if the end of the body never comes", async () => {
    script = { pieces: cut(1, 3, []), head: 3, hang: true };
    const { records, error } = await collect(1);
    assert.equal(error, undefined);
    assert.deepEqual(records.map((r) => r.position), [1, 2, 3]);
  });

  it("stops after from + limit - 1 when the head is further", async () => {
    script = { pieces: cut(5, 6, []), head: 100, hang: true };
    const { records, error } = await collect(5, { limit: 2 });
    assert.equal(error, undefined);
    assert.equal(lastQuery?.get("limit"), "2");
    assert.deepEqual(records.map((r) => r.position), [5, 6]);
  });

  it("reads nothing when the head is below from", async () => {
    script = { pieces: [], head: 4, hang: true };
    const { records, error } = await collect(5);
    assert.equal(error, undefined);
    assert.deepEqual(records, []);
  });

  it("rejects a body that ends without a final newline, after the complete records", async () => {
    script = { pieces: [encoder.encode(line(1) + line(2).slice(0, 30))] };
    const { records, error } = await collect(1);
    assert.ok(error instanceof SyntaxError, String(error));
    assert.match(error.message, /last line has no newline/);
    assert.deepEqual(records.map((r) => r.position), [1]);
  });

  it("yields the records before a bad line in the same chunk, then rejects", async () => {
    script = { pieces: [encoder.encode(line(1) + line(2) + "not json\n" + line(4))], head: 4 };
    const { records, error } = await collect(1);
    assert.ok(error instanceof SyntaxError, String(error));
    assert.deepEqual(records.map((r) => r.position), [1, 2]);
  });

  it("fails with HistoryTimeoutError when the server goes silent mid-body", async () => {
    script = { pieces: cut(1, 2, []), head: 10, hang: true };
    const { records, error } = await collect(1, { idleTimeout: 200 });
    assert.ok(error instanceof HistoryTimeoutError, String(error));
    assert.match(error.message, /sent nothing for 200 ms/);
    assert.deepEqual(records.map((r) => r.position), [1, 2]);
  });

  it("fails with HistoryTimeoutError when the server never answers", async () => {
    script = { pieces: [], silent: true };
    const { error } = await collect(1, { idleTimeout: 200 });
    assert.ok(error instanceof HistoryTimeoutError, String(error));
  });

  it("does not count the consumer's time as idle", async () => {
    script = { pieces: cut(1, 3, [1, 300]), head: 3 };
    const got: number[] = [];
    for await (const chunk of readHistoryChunks(url, 1, { idleTimeout: 100 })) {
      await delay(250); // a slow handler
      got.push(...chunk.map((r) => r.position));
    }
    assert.deepEqual(got, [1, 2, 3]);
  });

  it("an abort ends a read that waits for bytes, with the abort's reason", async () => {
    script = { pieces: cut(1, 1, []), head: 10, hang: true };
    const controller = new AbortController();
    const got: number[] = [];
    await assert.rejects(
      (async () => {
        for await (const chunk of readHistoryChunks(url, 1, { signal: controller.signal, idleTimeout: Infinity })) {
          got.push(...chunk.map((r) => r.position));
          setTimeout(() => controller.abort(new Error("stop now")), 50);
        }
      })(),
      /stop now/,
    );
    assert.deepEqual(got, [1]);
  });

  it("an already aborted signal rejects before any request", async () => {
    script = { pieces: cut(1, 1, []), head: 1 };
    lastQuery = undefined;
    const { error } = await collect(1, { signal: AbortSignal.abort(new Error("gone")) });
    assert.match(String(error), /gone/);
    assert.equal(lastQuery, undefined);
  });

  it("breaking out early returns at once, without waiting for the rest of the body", async () => {
    script = { pieces: cut(1, 5, []), head: 10, hang: true };
    const got: number[] = [];
    for await (const record of readHistory(url, 1, { idleTimeout: Infinity })) {
      got.push(record.position);
      if (record.position === 2) break;
    }
    assert.deepEqual(got, [1, 2]);
  });

  it("reports x-store-id and x-head-position to onResponse before the first record", async () => {
    script = { pieces: cut(1, 3, []), head: 3, storeId: "0b7e-store-a" };
    const seen: string[] = [];
    const records: number[] = [];
    for await (
      const chunk of readHistoryChunks(url, 1, {
        onResponse: (r) => seen.push(`${r.storeId} ${r.head} before ${records.length}`),
      })
    ) records.push(...chunk.map((r) => r.position));
    assert.deepEqual(seen, ["0b7e-store-a 3 before 0"]);
    assert.deepEqual(records, [1, 2, 3]);
  });

  it("asks for a stream from a global position, and a category from a global position", async () => {
    script = { pieces: [], head: 9, last: 0 };
    assert.equal((await collect(5, { stream: "order-1" })).error, undefined);
    assert.deepEqual([...lastQuery!], [["stream", "order-1"], ["position", "5"]]);
    assert.equal((await collect(5, { category: "order", limit: 3 })).error, undefined);
    assert.deepEqual([...lastQuery!], [["category", "order"], ["from", "5"], ["limit", "3"]]);
    await assert.rejects(collect(1, { stream: "a-1", category: "a" }).then((r) => Promise.reject(r.error)), TypeError);
  });

  it("stops after the record x-last-position names in a filtered body, even if its end never comes", async () => {
    // Records 2, 5 and 6 of a store whose head is 40: the last record is not at the head.
    const text = [2, 5, 6].map(line).join("");
    script = { pieces: [encoder.encode(text)], head: 40, last: 6, hang: true };
    const seen: HistoryResponse[] = [];
    const { records, error } = await collect(1, {
      category: "order",
      onResponse: (r: HistoryResponse) => seen.push(r),
    });
    assert.equal(error, undefined);
    assert.deepEqual(records.map((r) => r.position), [2, 5, 6]);
    assert.deepEqual(seen, [{ storeId: undefined, head: 40, last: 6 }]);
  });

  it("reads nothing when x-last-position is 0, even from a body that never ends", async () => {
    script = { pieces: [], head: 40, last: 0, hang: true };
    const { records, error } = await collect(1, { stream: "order-1", idleTimeout: 200 });
    assert.equal(error, undefined);
    assert.deepEqual(records, []);
  });

  it("reports an absent x-store-id (an older server) as undefined", async () => {
    script = { pieces: cut(1, 1, []) };
    const seen: HistoryResponse[] = [];
    const { error } = await collect(1, { onResponse: (r: HistoryResponse) => seen.push(r) });
    assert.equal(error, undefined);
    assert.deepEqual(seen, [{ storeId: undefined, head: undefined }]);
  });

  it("what onResponse throws ends the read before any record", async () => {
    script = { pieces: cut(1, 3, []), head: 3, storeId: "b" };
    const { records, error } = await collect(1, {
      onResponse: () => {
        throw new RangeError("wrong store");
      },
    });
    assert.ok(error instanceof RangeError);
    assert.deepEqual(records, []);
  });

  it("limit 0 answered without a body reads nothing and still reports the response", async () => {
    script = { pieces: [], head: 7, storeId: "s", noBody: true };
    const seen: HistoryResponse[] = [];
    const { records, error } = await collect(1, { limit: 0, onResponse: (r: HistoryResponse) => seen.push(r) });
    assert.equal(error, undefined);
    assert.equal(lastQuery?.get("limit"), "0");
    assert.deepEqual(records, []);
    assert.deepEqual(seen, [{ storeId: "s", head: 7 }]);
  });

  it("an HTTP error fails with the URL, the status and the start of the body on one line", async () => {
    const html = "<html>\n<head><title>404 Not Found</title></head>\n<body>" + "x".repeat(500) + "</body></html>\n";
    script = { pieces: [encoder.encode(html)], status: 404, contentType: "text/html" };
    const { error } = await collect(1);
    assert.ok(error instanceof Error);
    assert.ok(error.message.startsWith(`History request ${url}?from=1 failed: HTTP 404: <html> <head><title>`));
    assert.ok(!error.message.includes("\n"));
    assert.ok(error.message.length < 250, error.message);
  });

  it("an HTML page with status 200 is not history", async () => {
    script = { pieces: [encoder.encode("<!doctype html><p>It works!</p>")], contentType: "text/html; charset=utf-8" };
    const seen: HistoryResponse[] = [];
    const { records, error } = await collect(1, { onResponse: (r: HistoryResponse) => seen.push(r) });
    assert.match(String(error), /failed: not history \(content-type text\/html; charset=utf-8\): <!doctype html>/);
    assert.deepEqual(records, []);
    assert.deepEqual(seen, []);
  });
});
