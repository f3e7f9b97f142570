import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStorage } from "../lib/file_storage.ts";
import { encodeRecord } from "../lib/record.ts";
import { type RangeSource, readSelected } from "../lib/selected_records.ts";
import { prng } from "./_helpers.ts";

const line = (p: number) => encodeRecord(p, `id-${p}`, "2026-01-01T00:00:00.000Z", JSON.stringify({ p, s: "é€" }));

/** Records 1..head served in pieces of `piece` bytes (lines split anywhere); logs each range read. */
function pieces(head: number, piece: number, reads: string[]): RangeSource {
  return {
    read(from, options = {}) {
      const to = Math.min(head, from + (options.limit ?? Infinity) - 1);
      reads.push(`${from}..${to}`);
      let text = "";
      for (let p = from; p <= to; p++) text += line(p) + "\n";
      const bytes = new TextEncoder().encode(text);
      let at = 0;
      return new ReadableStream<Uint8Array>({
        pull(controller) {
          if (at >= bytes.length) return controller.close();
          controller.enqueue(bytes.slice(at, at += piece));
        },
      });
    },
  };
}

async function positionsOf(stream: ReadableStream<Uint8Array>): Promise<number[]> {
  const text = await new Response(stream).text();
  assert.ok(text === "" || text.endsWith("\n"), "whole lines only");
  return text.split("\n").filter(Boolean).map((l) => JSON.parse(l).position);
}

describe("readSelected", () => {
  it("keeps exactly the wanted lines, whatever the chunks split, reading near positions as one range", async () => {
    for (const piece of [1, 7, 64, 100_000]) {
      const reads: string[] = [];
      const wanted = [1, 2, 5, 9, 30, 31, 60];
      const got = await positionsOf(readSelected(pieces(60, piece, reads), wanted, { maxGap: 10 }));
      assert.deepEqual(got, wanted, `pieces of ${piece}`);
      assert.deepEqual(reads, ["1..9", "30..31", "60..60"], `pieces of ${piece}`);
    }
  });

  it("gives the bytes unchanged and nothing for no positions", async () => {
    const text = await new Response(readSelected(pieces(5, 3, []), [2, 4])).text();
    assert.equal(text, line(2) + "\n" + line(4) + "\n");
    assert.equal(await new Response(readSelected(pieces(5, 3, []), [])).text(), "");
  });

  it("fails with a RangeError when the storage ends before a wanted position", async () => {
    await assert.rejects(positionsOf(readSelected(pieces(5, 9, []), [3, 8])), RangeError);
  });

  it("cancels the range it is reading", async () => {
    let cancelled = false;
    const source: RangeSource = {
      read: () =>
        new ReadableStream({
          pull: (controller) => controller.enqueue(new TextEncoder().encode(line(1) + "\n")),
          cancel: () => void (cancelled = true),
        }),
    };
    const reader = readSelected(source, [1, 2, 3]).getReader();
    await reader.read();
    await reader.cancel();
    assert.ok(cancelled);
  });

  describe("over a file store, across its sparse index", () => {
    let dir: string;
    let storage: FileStorage;
    const N = 5000;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), "res-selected-"));
      storage = await FileStorage.open(join(dir, "storage"));
      const records = [];
      for (let p = 1; p <= N; p++) records.push({ position: p, id: `id-${p}`, line: line(p) });
      await storage.append(records);
    });
    after(async () => {
      await storage.close();
      await rm(dir, { recursive: true, force: true });
    });

    it("reads random selections, dense and sparse, exactly", async () => {
      const random = prng(7);
      for (const density of [0.9, 0.1, 0.01, 0.001]) {
        const wanted: number[] = [];
        for (let p = 1; p <= N; p++) if (random() < density) wanted.push(p);
        for (const maxGap of [0, 100, 1024]) {
          assert.deepEqual(
            await positionsOf(readSelected(storage, wanted, { maxGap })),
            wanted,
            `${density} ${maxGap}`,
          );
        }
      }
      assert.deepEqual(await positionsOf(readSelected(storage, [1, 1024, 1025, 2049, N])), [1, 1024, 1025, 2049, N]);
    });
  });
});
