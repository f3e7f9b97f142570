/**
 * The publish watermark in the store file's header, on real files: it
 * survives a restart, a copy of the store file alone carries it, a slot
 * whose write was cut (at every byte, or any garbage) reads as 0 and leaves
 * the store opening as before, and stores from before the slot keep their
 * side file (`<file>.published`), or 0.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStorage } from "../lib/file_storage.ts";
import { PublishWatermark } from "../lib/publish_watermark.ts";
import { encodeRecord } from "../lib/record.ts";
import { newStoreHeader, PUBLISHED_SLOT_BYTES, publishedSlotBytes, storeHeaderBytes } from "../lib/store_header.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const rec = (p: number) => ({
  position: p,
  id: `id-${p}`,
  line: encodeRecord(p, `id-${p}`, "2026-12-02T00:00:00.000Z", `{"p":${p}}`),
});
const SLOT_KEY = ',"published":"';

let root: string;
let counter = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), "res-header-mark-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});
const tempFile = () => join(root, `storage-${++counter}`);

/** Open quietly, collecting warnings. */
async function open(file: string): Promise<{ storage: FileStorage; warnings: string[] }> {
  const warnings: string[] = [];
  const storage = await FileStorage.open(file, { warn: (m) => warnings.push(m) });
  return { storage, warnings };
}

/** A new store at `file` with records 1..n and its watermark saved at `mark`. */
async function storeWith(file: string, n: number, mark: number): Promise<string> {
  const { storage } = await open(file);
  for (let p = 1; p <= n; p++) await storage.append([rec(p)]);
  await storage.publishedMark.save(mark);
  const id = storage.storeId;
  await storage.close();
  return id;
}

/** The byte offset of the slot in a store file, found from its text (the test's own reading). */
async function slotOffset(file: string): Promise<number> {
  const text = decoder.decode(await readFile(file));
  const at = text.indexOf(SLOT_KEY);
  assert.ok(at > 0 && at < text.indexOf("\n"), `the header holds a slot: ${text.slice(0, 160)}`);
  return at + SLOT_KEY.length;
}

async function exists(path: string): Promise<boolean> {
  return await stat(path).then(() => true, () => false);
}

describe("the publish watermark in the store's header", () => {
  it("survives a restart, rewritten in place: the file does not grow, no side file is written", async () => {
    const file = tempFile();
    await storeWith(file, 5, 3);
    const size = (await stat(file)).size;
    const { storage, warnings } = await open(file);
    assert.deepEqual(warnings, []);
    assert.equal(await storage.publishedMark.load(), 3);
    const mark = await PublishWatermark.open(storage, { interval: 10 });
    assert.equal(mark.value, 3);
    mark.advance(5);
    await mark.flush();
    await storage.close();
    assert.equal((await stat(file)).size, size, "rewritten in place");
    assert.equal(await exists(`${file}.published`), false, "no side file");
    const again = await open(file);
    assert.equal(await again.storage.publishedMark.load(), 5);
    assert.equal(again.storage.head, 5);
    await again.storage.close();
  });

  it("a copy of the store file alone carries it (and its identity); a side file beside the copy is ignored", async () => {
    const file = tempFile();
    const id = await storeWith(file, 4, 4);
    const copy = tempFile();
    await copyFile(file, copy);
    await writeFile(`${copy}.published`, `1 ${id}\n`); // stale, from some older server: not read
    const { storage } = await open(copy);
    assert.equal(storage.storeId, id);
    assert.equal((await PublishWatermark.open(storage)).value, 4, "restored with its watermark: nothing republished");
    await storage.close();
  });

  it("a slot cut at any byte of a rewrite reads as the old value, the new one, or 0, never anything else", async () => {
    const file = tempFile();
    const id = await storeWith(file, 3, 999);
    const at = await slotOffset(file);
    const original = new Uint8Array(await readFile(file));
    const next = publishedSlotBytes(id, 1000);
    let unknown = 0;
    for (let cut = 0; cut <= PUBLISHED_SLOT_BYTES; cut++) {
      // Either end of the new bytes may have reached the disk first.
      for (const newFirst of [true, false]) {
        const bytes = original.slice();
        if (newFirst) bytes.set(next.subarray(0, cut), at);
        else bytes.set(next.subarray(cut), at + cut);
        await writeFile(file, bytes);
        const { storage, warnings } = await open(file);
        const value = await storage.publishedMark.load();
        assert.equal(storage.storeId, id, `cut ${cut}: the identity is kept`);
        assert.equal(storage.head, 3, `cut ${cut}: every record is kept`);
        const slot = bytes.subarray(at, at + PUBLISHED_SLOT_BYTES);
        const same = (other: Uint8Array) => slot.every((byte, i) => byte === other[i]);
        const expected = same(next) ? 1000 : same(original.subarray(at, at + PUBLISHED_SLOT_BYTES)) ? 999 : 0;
        assert.equal(value, expected, `cut ${cut}: read ${value}`);
        if (value === 0) {
          unknown++;
          assert.equal(warnings.length, 1, `cut ${cut}: ${warnings}`);
          assert.match(warnings[0], /publish watermark does not check .*from position 1/);
        }
        await storage.close();
      }
    }
    assert.ok(unknown >= 20, `a mix of the two reads as unknown (${unknown} cuts)`);
  });

  it("a slot of garbage (zeros, a newline, quotes) reads as 0; the store opens, appends, and the next save repairs it", async () => {
    const file = tempFile();
    const id = await storeWith(file, 2, 2);
    const at = await slotOffset(file);
    const original = new Uint8Array(await readFile(file));
    const garbage = [
      new Uint8Array(PUBLISHED_SLOT_BYTES),
      encoder.encode("\n".repeat(PUBLISHED_SLOT_BYTES)),
      encoder.encode('"}\n{"x":1}'.padEnd(PUBLISHED_SLOT_BYTES, "\\")),
      new Uint8Array(PUBLISHED_SLOT_BYTES).fill(0xff),
    ];
    for (const bytes of garbage) {
      const damaged = original.slice();
      damaged.set(bytes, at);
      await writeFile(file, damaged);
      const { storage } = await open(file);
      assert.equal(storage.storeId, id);
      assert.equal(storage.head, 2);
      assert.equal((await PublishWatermark.open(storage)).value, 0, "unknown: republish from 1");
      await storage.append([rec(3)]);
      await storage.publishedMark.save(3);
      await storage.close();
      const again = await open(file);
      assert.equal(await again.storage.publishedMark.load(), 3);
      assert.equal(again.storage.head, 3);
      assert.deepEqual(again.warnings, []);
      await again.storage.close();
      await writeFile(file, original);
    }
  });

  it("a store written whole by a tool starts with the watermark its header was given", async () => {
    const file = tempFile();
    const header = newStoreHeader();
    await writeFile(
      file,
      new Uint8Array([...storeHeaderBytes(header, 2), ...encoder.encode(rec(1).line + "\n" + rec(2).line + "\n")]),
    );
    const { storage, warnings } = await open(file);
    assert.deepEqual(warnings, []);
    assert.equal(storage.storeId, header.storeId);
    assert.equal((await PublishWatermark.open(storage)).value, 2);
    await storage.close();
    assert.throws(() => storeHeaderBytes(header, -1), RangeError);
  });

  it("a new store whose creation was cut at any byte of its slotted header starts again, with a slot", async () => {
    const bytes = storeHeaderBytes(newStoreHeader());
    for (let cut = 1; cut < bytes.length; cut++) {
      // Every byte but inside the padding's run of spaces, sampled there every 256 bytes.
      if (bytes[cut - 1] === 0x20 && bytes[cut] === 0x20 && cut % 256 !== 0) continue;
      const file = tempFile();
      await writeFile(file, bytes.subarray(0, cut));
      const { storage, warnings } = await open(file);
      assert.equal(storage.head, 0, `cut ${cut}`);
      assert.equal(warnings.length, 1, `cut ${cut}: ${warnings}`);
      await storage.publishedMark.save(0);
      assert.equal(await storage.publishedMark.load(), 0);
      await storage.close();
      assert.equal(await exists(`${file}.published`), false, `cut ${cut}: the new header has its slot`);
    }
  });

  it("a new store's header fills one 4 KiB page: its first record starts at byte 4096, no record shares the slot's sector", async () => {
    const file = tempFile();
    const { storage } = await open(file);
    await storage.append([rec(1)]);
    await storage.publishedMark.save(1);
    await storage.close();
    const bytes = new Uint8Array(await readFile(file));
    assert.equal(bytes.indexOf(0x0a), 4095, "the header line, newline included, is 4096 bytes");
    assert.equal(decoder.decode(bytes.subarray(4096)), rec(1).line + "\n", "the first record starts at byte 4096");
    const slot = await slotOffset(file);
    assert.equal(
      Math.floor(slot / 512),
      Math.floor((slot + PUBLISHED_SLOT_BYTES - 1) / 512),
      "the slot is in one sector",
    );
    assert.ok(slot + PUBLISHED_SLOT_BYTES <= 4096, "and in the header's page");
    const again = await open(file);
    assert.deepEqual(again.warnings, []);
    assert.equal(again.storage.head, 1);
    assert.equal(await again.storage.publishedMark.load(), 1);
    await again.storage.close();
  });

  it("a store written by the previous format (slotted header, not padded) still opens, its slot read and written", async () => {
    const file = tempFile();
    const id = "5b0c2f9e-3a41-4c7e-9d2b-0f6a1e8c7b35";
    const slot = decoder.decode(publishedSlotBytes(id, 2));
    const header = `{"rabbitEventstore":1,"storeId":"${id}","created":"2026-12-01T00:00:00.000Z"${SLOT_KEY}${slot}"}\n`;
    const records = [1, 2, 3].map((p) => rec(p).line + "\n").join("");
    await writeFile(file, header + records);
    const { storage, warnings } = await open(file);
    assert.deepEqual(warnings, []);
    assert.equal(storage.storeId, id);
    assert.equal(storage.head, 3);
    assert.equal(await storage.publishedMark.load(), 2);
    await storage.publishedMark.save(3);
    await storage.close();
    const after = await readFile(file, "utf8");
    assert.equal(after, header.replace(slot, decoder.decode(publishedSlotBytes(id, 3))) + records, "not rewritten");
    assert.equal(await exists(`${file}.published`), false);
  });

  it("sync() makes the last save durable (import calls it): it syncs after a save and refuses after close", async () => {
    const file = tempFile();
    const { storage } = await open(file);
    await storage.publishedMark.sync?.(); // nothing saved yet: nothing to sync
    await storage.publishedMark.save(0);
    assert.ok(storage.publishedMark.sync, "a header mark can sync");
    await storage.publishedMark.sync();
    await storage.close();
    await assert.rejects(storage.publishedMark.sync(), /the store is closed/);
  });

  it("never takes another store's slot: the check covers the store id", async () => {
    const a = tempFile();
    await storeWith(a, 2, 2);
    const b = tempFile();
    const idB = await storeWith(b, 2, 0);
    const slotA = (await readFile(a)).subarray(await slotOffset(a), (await slotOffset(a)) + PUBLISHED_SLOT_BYTES);
    const bytesB = new Uint8Array(await readFile(b));
    bytesB.set(slotA, await slotOffset(b));
    await writeFile(b, bytesB);
    const { storage } = await open(b);
    assert.equal(storage.storeId, idB);
    assert.equal(await storage.publishedMark.load(), 0);
    await storage.close();
  });

  it("a header from before the slot keeps its side file, as before", async () => {
    const file = tempFile();
    const id = "5b0c2f9e-3a41-4c7e-9d2b-0f6a1e8c7b35";
    const header = `{"rabbitEventstore":1,"storeId":"${id}","created":"2026-12-01T00:00:00.000Z"}\n`;
    const before = header + [1, 2, 3].map((p) => rec(p).line + "\n").join("");
    await writeFile(file, before);
    await writeFile(`${file}.published`, `2 ${id}\n`);
    const { storage, warnings } = await open(file);
    assert.deepEqual(warnings, []);
    assert.equal(storage.storeId, id);
    assert.equal((await PublishWatermark.open(storage)).value, 2, "read from the side file");
    await storage.publishedMark.save(3);
    await storage.close();
    assert.equal(await readFile(`${file}.published`, "utf8"), `3 ${id}\n`);
    assert.equal(await readFile(file, "utf8"), before, "the store file is not touched");
    await rm(`${file}.published`);
    const copied = await open(file);
    assert.equal((await PublishWatermark.open(copied.storage)).value, 0, "copied without it: unknown");
    await copied.storage.close();
  });

  it("a store from before headers keeps its side file, as before", async () => {
    const file = tempFile();
    const before = [1, 2].map((p) => rec(p).line + "\n").join("");
    await writeFile(file, before);
    const { storage } = await open(file);
    assert.equal(await storage.publishedMark.load(), 0);
    await storage.publishedMark.save(2);
    const id = storage.storeId;
    await storage.close();
    assert.equal(await readFile(`${file}.published`, "utf8"), `2 ${id}\n`);
    assert.equal(await readFile(file, "utf8"), before);
  });
});
