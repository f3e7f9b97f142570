/**
 * Start-up on a store whose records are mostly in no stream (every store
 * written before streams, and the bench's replay file): the server opens the
 * file with a stream visitor. The first version looked for `,"stream":"` from
 * the line's start to the end of the 2 MiB scan buffer, past the line's end:
 * a 2 MiB search per record (1,023 records took 8 s to open, and `deno task
 * bench --ci` timed out). Stream members are now read from the bytes of the
 * line only (lib/record_bytes.ts). The speed is guarded by the bench (its
 * start-up group opens a store in no stream; a search per record would blow
 * its time-out), not by a timed test; this test checks the rule behind it:
 * each line's stream comes from that line, never from a later one.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStorage } from "../lib/file_storage.ts";
import { encodeRecordLine } from "../lib/record.ts";

describe("FileStorage start-up scan with a stream visitor", () => {
  let dir: string | undefined;
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("reports exactly the records in a stream, each with its own line's stream and version", async () => {
    dir = await mkdtemp(join(tmpdir(), "res-streamscan-"));
    const path = join(dir, "storage");
    const time = "2026-12-02T00:00:00.000Z";
    const expected: Array<[number, string, number]> = [];
    const versions = new Map<string, number>();
    let text = "";
    for (let p = 1; p <= 1500; p++) {
      // Every 7th record in one of three streams; the rest in none, with data that mentions a stream.
      const stream = p % 7 === 0 ? `s-${p % 3}` : undefined;
      const streamVersion = stream === undefined ? undefined : (versions.get(stream) ?? 0) + 1;
      if (stream !== undefined) {
        versions.set(stream, streamVersion!);
        expected.push([p, stream, streamVersion!]);
      }
      const data = JSON.stringify({ note: ',"stream":"not-me","streamVersion":9', p });
      text += encodeRecordLine({ position: p, id: `e-${p}`, time, stream, streamVersion, data }) + "\n";
    }
    await writeFile(path, text);
    const seen: Array<[number, string, number]> = [];
    const storage = await FileStorage.open(path, {
      ids: { id: () => {}, stream: (position, stream, version) => seen.push([position, stream, version]) },
    });
    await storage.close();
    assert.equal(storage.head, 1500);
    assert.deepEqual(seen, expected);
  });
});
