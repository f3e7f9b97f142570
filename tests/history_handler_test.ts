import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStorage } from "../lib/file_storage.ts";
import { historyHandler } from "../lib/history_handler.ts";
import { encodeRecord, encodeRecordLine } from "../lib/record.ts";
import { StreamIndex } from "../lib/stream_index.ts";

describe("historyHandler", () => {
  let dir: string;
  let storage: FileStorage;
  let handle: (request: Request) => Promise<Response>;
  const N = 2500; // crosses the sparse index boundary twice

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "res-history-"));
    storage = await FileStorage.open(join(dir, "storage"));
    const records = [];
    for (let p = 1; p <= N; p++) {
      records.push({
        position: p,
        id: `id-${p}`,
        line: encodeRecord(p, `id-${p}`, "2026-01-01T00:00:00.000Z", JSON.stringify({ p, s: "é" })),
      });
    }
    await storage.append(records);
    handle = historyHandler(storage);
  });
  after(async () => {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });

  const positions = async (url: string) => {
    const response = await handle(new Request(url));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "application/x-ndjson");
    const text = await response.text();
    assert.ok(text === "" || text.endsWith("\n"), "only whole lines");
    return text.split("\n").filter(Boolean).map((l) => JSON.parse(l).position as number);
  };

  it("answers any method and path with the whole history", async () => {
    const all = await positions("http://x/any/path");
    assert.equal(all.length, N);
    assert.ok(all.every((p, i) => p === i + 1));
    const post = await handle(new Request("http://x/", { method: "POST", body: "ignored" }));
    assert.equal((await post.text()).split("\n").filter(Boolean).length, N);
  });

  it("serves from (inclusive) and limit at any position, across index boundaries", async () => {
    for (const from of [1, 2, 1023, 1024, 1025, 1026, 2048, 2049, N]) {
      assert.deepEqual(
        await positions(`http://x/?from=${from}&limit=3`),
        [from, from + 1, from + 2].filter((p) => p <= N),
        `from=${from}`,
      );
    }
    assert.deepEqual(await positions("http://x/?from=0&limit=2"), [1, 2]);
    assert.equal((await positions(`http://x/?from=${N - 9}`)).length, 10);
  });

  it("returns an empty 200 beyond the head and for limit=0", async () => {
    assert.deepEqual(await positions(`http://x/?from=${N + 1}`), []);
    assert.deepEqual(await positions("http://x/?limit=0"), []);
  });

  it("answers bad parameters with 400 and a one-line reason", async () => {
    for (const q of ["from=abc", "from=-1", "limit=x", "from=1.5"]) {
      const response = await handle(new Request(`http://x/?${q}`));
      assert.equal(response.status, 400, q);
      const text = await response.text();
      assert.match(text, /^Cannot read query parameter (from|limit): expected a non-negative integer, got ".*"\n$/);
    }
  });

  it("reserves /health", async () => {
    const response = await handle(new Request("http://x/health"));
    assert.deepEqual(await response.json(), { status: "ok", head: N, storeId: storage.storeId });
  });

  it("names the store in every history response (x-store-id), the same across requests", async () => {
    const a = await handle(new Request("http://x/?from=1&limit=1"));
    const b = await handle(new Request("http://x/?limit=0"));
    await a.body?.cancel();
    assert.match(a.headers.get("x-store-id") ?? "", /^[0-9a-f-]{36}$/);
    assert.equal(a.headers.get("x-store-id"), storage.storeId);
    assert.equal(b.headers.get("x-store-id"), storage.storeId);
  });

  it("serves a snapshot: records appended after the request began are not included", async () => {
    const response = await handle(new Request("http://x/?from=2490"));
    await storage.append([{ position: N + 1, id: "late", line: encodeRecord(N + 1, "late", "t", "1") }]);
    const text = await response.text();
    assert.equal(text.split("\n").filter(Boolean).length, 11);
  });

  it("stops reading when the client cancels", async () => {
    const response = await handle(new Request("http://x/"));
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel();
  });
});

describe("historyHandler stream and category reads", () => {
  let dir: string;
  let storage: FileStorage;
  let handle: (request: Request) => Promise<Response>;
  const N = 60;
  /** Streams by position: every fifth event is in no stream. */
  const streamAt = (p: number) => [undefined, "order-1", "order-2", "user-1", "order-1"][p % 5];
  const expected = new Map<string, number[]>();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "res-history-streams-"));
    storage = await FileStorage.open(join(dir, "storage"));
    const index = new StreamIndex();
    const records = [];
    for (let p = 1; p <= N; p++) {
      const stream = streamAt(p);
      let streamVersion: number | undefined;
      if (stream !== undefined) {
        const list = expected.get(stream) ?? [];
        list.push(p);
        expected.set(stream, list);
        streamVersion = list.length;
        index.add(p, stream, streamVersion);
      }
      const line = encodeRecordLine({
        position: p,
        id: `id-${p}`,
        time: "t",
        stream,
        streamVersion,
        data: `{"p":${p}}`,
      });
      records.push({ position: p, id: `id-${p}`, line });
    }
    await storage.append(records);
    handle = historyHandler(storage, () => ({}), { streams: index });
  });
  after(async () => {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** The response's status, headers of interest and record positions. */
  const read = async (query: string) => {
    const response = await handle(new Request(`http://x/?${query}`));
    const text = await response.text();
    const headers = (name: string) => response.headers.get(name);
    if (response.status !== 200) return { status: response.status, text, headers, positions: [], records: [] };
    const records = text.split("\n").filter(Boolean).map((l) => JSON.parse(l));
    return { status: 200, text, headers, positions: records.map((r) => r.position as number), records };
  };
  const order = () => [...expected.get("order-1")!, ...expected.get("order-2")!].sort((a, b) => a - b);

  it("reads a stream in version order, from a version, with a limit, and says where it ends", async () => {
    const all = expected.get("order-1")!;
    const whole = await read("stream=order-1");
    assert.deepEqual(whole.positions, all);
    assert.deepEqual(whole.records.map((r) => r.streamVersion), all.map((_, i) => i + 1));
    assert.equal(whole.headers("x-stream-version"), String(all.length));
    assert.equal(whole.headers("x-head-position"), String(N));
    assert.equal(whole.headers("x-last-position"), String(all.at(-1)));
    const part = await read("stream=order-1&from=3&limit=4");
    assert.deepEqual(part.positions, all.slice(2, 6));
    assert.equal(part.headers("x-last-position"), String(all[5]));
    assert.equal(part.headers("x-stream-version"), String(all.length), "the stream's version, not the last read");
  });

  it("starts a stream read at a global position with position=P (inclusive), also with from and limit", async () => {
    const all = expected.get("order-1")!;
    for (const position of [0, 1, all[3], all[3] + 1, all[3] - 1, N, N + 5]) {
      const got = await read(`stream=order-1&position=${position}`);
      assert.deepEqual(got.positions, all.filter((p) => p >= position), `position=${position}`);
      assert.equal(got.headers("x-last-position"), String(got.positions.at(-1) ?? 0), `position=${position}`);
      assert.equal(got.headers("x-head-position"), String(N));
    }
    const limited = await read(`stream=order-1&position=${all[3]}&limit=2`);
    assert.deepEqual(limited.positions, all.slice(3, 5));
    // from (a version) and position both apply: the later start wins.
    assert.deepEqual((await read(`stream=order-1&from=6&position=${all[1]}`)).positions, all.slice(5));
    assert.deepEqual((await read(`stream=order-1&from=2&position=${all[4]}`)).positions, all.slice(4));
  });

  it("reads a category in global order from a global position, with a limit", async () => {
    const all = order();
    assert.deepEqual((await read("category=order")).positions, all);
    assert.deepEqual((await read("category=user")).positions, expected.get("user-1"));
    const from = await read(`category=order&from=${all[5] + 1}&limit=3`);
    assert.deepEqual(from.positions, all.slice(6, 9));
    assert.equal(from.headers("x-last-position"), String(all[8]));
    assert.equal(from.headers("x-head-position"), String(N), "the server's head, not the last record");
    assert.equal(from.headers("x-stream-version"), null);
  });

  it("answers an unknown stream or category, or limit=0, with an empty 200", async () => {
    const unknown = await read("stream=order-99");
    assert.equal(unknown.status, 200);
    assert.equal(unknown.text, "");
    assert.equal(unknown.headers("x-stream-version"), "0");
    assert.equal(unknown.headers("x-last-position"), "0");
    assert.equal(unknown.headers("x-head-position"), String(N));
    const none = await read("category=invoice");
    assert.deepEqual([none.status, none.text, none.headers("x-last-position")], [200, "", "0"]);
    const zero = await read("stream=order-1&limit=0");
    assert.deepEqual([zero.status, zero.text, zero.headers("x-last-position")], [200, "", "0"]);
    assert.equal(zero.headers("x-stream-version"), String(expected.get("order-1")!.length));
  });

  it("answers 400 with a reason for both parameters, a bad name, a category with a dash, a bad position", async () => {
    const cases: Array<[string, RegExp]> = [
      ["stream=order-1&category=order", /^Cannot read history: give stream or category, not both\n$/],
      ["stream=", /^Cannot read query parameter stream: stream name is empty\n$/],
      ["stream=a%01b", /^Cannot read query parameter stream: stream name contains a control character\n$/],
      [`stream=${"x".repeat(256)}`, /^Cannot read query parameter stream: stream name is 256 bytes/],
      ["category=", /^Cannot read query parameter category: stream name is empty\n$/],
      ["category=order-1", /^Cannot read query parameter category: "order-1" has a "-"/],
      ["stream=order-1&position=x", /^Cannot read query parameter position: expected a non-negative integer/],
      ["category=order&position=3", /^Cannot read query parameter position: it applies to stream reads/],
      ["stream=order-1&from=-1", /^Cannot read query parameter from: expected a non-negative integer/],
    ];
    for (const [query, reason] of cases) {
      const got = await read(query);
      assert.equal(got.status, 400, query);
      assert.match(got.text, reason, query);
    }
  });

  it("answers 400 for stream and category reads without a stream index", async () => {
    const plain = historyHandler(storage);
    const response = await plain(new Request("http://x/?category=order"));
    assert.equal(response.status, 400);
    assert.match(await response.text(), /this server has no stream index/);
  });
});
