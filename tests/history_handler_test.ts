import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStorage } from "../lib/file_storage.ts";
import { historyHandler } from "../lib/history_handler.ts";
import { encodeRecord } from "../lib/record.ts";

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
