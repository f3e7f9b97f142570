/**
 * What a stream read costs the file store. The streams-vs-emmett bench found
 * one `?stream=` read of 2 records took 1.7 ms of server CPU, 15× an append:
 * `readPositions` then found each record by scanning from the nearest 1024th
 * record in 64 KiB chunks, twice per record (262,298 bytes read for one
 * 154-byte record). The rule checked here: reading one record reads about
 * that record (an offset every 32 records, one read sized from the average
 * line), not 64 KiB scans.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { open } from "node:fs/promises";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type FileLike, FileStorage, type FileStorageTestOptions } from "../lib/file_storage.ts";
import { encodeRecord } from "../lib/record.ts";

const TIME = "2026-12-02T00:00:00.000Z";

describe("FileStorage read cost", () => {
  let dir: string;
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("readPositions of one record reads about that record, not 64 KiB scans", async () => {
    dir = await mkdtemp(join(tmpdir(), "res-readcost-"));
    let bytesRead = 0;
    const options: FileStorageTestOptions = {
      open: async (path, flags) => {
        const file = await open(path, flags);
        return {
          read: async (buffer, offset, length, position) => {
            const result = await file.read(buffer, offset, length, position);
            bytesRead += result.bytesRead;
            return result;
          },
          write: (buffer, offset, length, position) => file.write(buffer, offset, length, position),
          datasync: () => file.datasync(),
          truncate: (length) => file.truncate(length),
          stat: () => file.stat(),
          close: () => file.close(),
        } satisfies FileLike;
      },
    };
    const storage = await FileStorage.open(join(dir, "storage"), options);
    try {
      for (let from = 1; from <= 3000; from += 1000) {
        const records = Array.from({ length: 1000 }, (_, i) => {
          const p = from + i;
          return {
            position: p,
            id: `id-${p}`,
            line: encodeRecord(p, `id-${p}`, TIME, `{"n":${p},"pad":"${"x".repeat(60)}"}`),
          };
        });
        await storage.append(records);
      }
      const line = encodeRecord(1500, "id-1500", TIME, `{"n":1500,"pad":"${"x".repeat(60)}"}`);
      bytesRead = 0;
      const text = await new Response(storage.readPositions([1500])).text();
      assert.equal(text, line + "\n");
      assert.ok(bytesRead <= 8 * 1024, `reading one ${line.length + 1}-byte record read ${bytesRead} bytes`);
    } finally {
      await storage.close();
    }
  });
});
