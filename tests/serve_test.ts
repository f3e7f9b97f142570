/**
 * The HTTP history is streamed, never buffered whole: against the real
 * storage file and the real HTTP server of the runtime (`Deno.serve` or
 * `node:http`), a client that reads a little and then stops must hold the
 * server to a bounded read-ahead. Bytes read from storage are counted through
 * the FileLike seam; nothing here measures time.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, open as openFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type FileLike, FileStorage } from "../lib/file_storage.ts";
import { historyHandler } from "../lib/history_handler.ts";
import { encodeRecord } from "../lib/record.ts";
import { type HttpServer, serve } from "../lib/runtime/serve.ts";
import process from "node:process";
import { delay } from "./_helpers.ts";

const MiB = 1 << 20;
/** Records in the file: about 64 MiB, far more than socket buffers and the storage's read chunks hold. */
const RECORDS = 250_000;
/** How far the server may read ahead of a stalled client: read chunks, the runtime's body channel and
 * both kernel socket buffers on loopback (autotuned up to a few MiB each). A server that buffers the
 * response reads all 64 MiB. */
const MAX_READ_AHEAD = 16 * MiB;

describe("HTTP history streaming", () => {
  let dir: string;
  let storage: FileStorage;
  let fileBytes = 0;
  /** Bytes read from storage by the read streams (handles opened with "r"). */
  let streamed = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "res-serve-"));
    const path = join(dir, "storage");
    const parts: string[] = [];
    const data = JSON.stringify({ note: "x".repeat(180) });
    for (let p = 1; p <= RECORDS; p++) parts.push(encodeRecord(p, `id-${p}`, "2026-01-01T00:00:00.000Z", data));
    const bytes = new TextEncoder().encode(parts.join(""));
    fileBytes = bytes.length;
    await writeFile(path, bytes);
    storage = await FileStorage.open(path, {
      open: async (p, flags) => {
        const handle = await openFile(p, flags);
        if (flags !== "r") return handle as unknown as FileLike;
        const counting: FileLike = {
          read: async (buffer, offset, length, position) => {
            const result = await handle.read(buffer, offset, length, position);
            streamed += result.bytesRead;
            return result;
          },
          write: (buffer, offset, length, position) => handle.write(buffer, offset, length, position),
          datasync: () => handle.datasync(),
          truncate: (length) => handle.truncate(length),
          stat: () => handle.stat(),
          close: () => handle.close(),
        };
        return counting;
      },
    });
    assert.ok(fileBytes > 3 * MAX_READ_AHEAD, `the file (${fileBytes} bytes) must dwarf the allowed read-ahead`);
  });
  after(async () => {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Wait until the storage stops reading (no new bytes for a while), then return the count. */
  async function settledStreamed(): Promise<number> {
    let last = -1;
    while (streamed !== last) {
      last = streamed;
      await delay(300);
    }
    return streamed;
  }

  it("the handler's body reads storage only on demand", async () => {
    streamed = 0;
    const response = await historyHandler(storage)(new Request("http://x/?from=1"));
    const reader = response.body!.getReader();
    const first = await reader.read();
    assert.ok(first.value && first.value.length > 0);
    const read = await settledStreamed();
    assert.ok(read <= 2 * MiB, `a body read once pulled ${read} bytes from storage`);
    await reader.cancel();
  });

  it("a client that reads 1 MiB and stalls holds the server to a bounded read-ahead, then gets every byte", async () => {
    streamed = 0;
    const server: HttpServer = await serve(historyHandler(storage), { port: 0, hostname: "127.0.0.1" });
    try {
      const response = await fetch(`http://127.0.0.1:${server.port}/?from=1`);
      const reader = response.body!.getReader();
      let received = 0;
      while (received < MiB) {
        const { value, done } = await reader.read();
        if (done) break;
        received += value.length;
      }
      const read = await settledStreamed();
      if (process.env.SERVE_TEST_DEBUG) console.log(`read-ahead: ${read - received} bytes`);
      assert.ok(
        read - received <= MAX_READ_AHEAD,
        `server read ${read} bytes from storage while the client had taken ${received} (file ${fileBytes})`,
      );
      // Streaming resumes when the client reads again, to the end.
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        received += value.length;
      }
      assert.equal(received, fileBytes);
    } finally {
      await server.close();
    }
  });
});
