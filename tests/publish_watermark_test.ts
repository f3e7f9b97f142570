/**
 * PublishWatermark on real files: clamped to the head, saved with the store's
 * identity, and ignored when it belongs to another store (a replaced file).
 * The side file is the `publishedMark` of a file store from before the
 * header slot (FilePublishedMark; the slot is tests/header_published_mark_test.ts).
 * Saves are coalesced: at most one per interval (1 s by default), and on flush.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FilePublishedMark } from "../lib/file_published_mark.ts";
import { PublishWatermark } from "../lib/publish_watermark.ts";
import type { PublishedMark } from "../lib/storage.ts";
import { delay, waitFor } from "./_helpers.ts";

/** A mark that counts its saves. */
function countingMark(): PublishedMark & { saves: number[] } {
  const saves: number[] = [];
  return { saves, load: () => Promise.resolve(0), save: (p) => (saves.push(p), Promise.resolve()) };
}

const A = "5b0c2f9e-3a41-4c7e-9d2b-0f6a1e8c7b35";
const B = "0d7e4b12-9c3a-4f55-8e21-6b9a0c3d2e14";

describe("PublishWatermark", () => {
  let dir: string;
  let n = 0;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "res-watermark-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const file = () => join(dir, `storage-${++n}.published`);
  /** The watermark of a file store with this head and identity, kept in `path`. */
  const open = (path: string, store: { head: number; storeId: string }) =>
    PublishWatermark.open({ head: store.head, publishedMark: new FilePublishedMark(path, store.storeId) });

  it("saves the position with the store's identity and reads it back, clamped to the head", async () => {
    const path = file();
    const mark = await open(path, { head: 10, storeId: A });
    assert.equal(mark.value, 0, "no file: nothing known to be confirmed");
    mark.advance(7);
    await mark.flush();
    assert.equal(await readFile(path, "utf8"), `7 ${A}\n`);
    assert.equal((await open(path, { head: 10, storeId: A })).value, 7);
    assert.equal((await open(path, { head: 5, storeId: A })).value, 5, "clamped to the head");
  });

  it("starts from 0 for another store's watermark (the store file was replaced beside it)", async () => {
    const path = file();
    await writeFile(path, `2000 ${A}\n`);
    assert.equal((await open(path, { head: 5, storeId: B })).value, 0);
  });

  it("takes a position alone (as older versions wrote it) as this store's, and refuses garbage", async () => {
    const path = file();
    await writeFile(path, "6\n");
    assert.equal((await open(path, { head: 10, storeId: A })).value, 6);
    await writeFile(path, "-3 x\n");
    assert.equal((await open(path, { head: 10, storeId: A })).value, 0);
  });

  it("coalesces saves: one per interval with the latest value, and one on flush only when it moved", async () => {
    const mark = countingMark();
    const watermark = await PublishWatermark.open({ head: 10_000, publishedMark: mark }, { interval: 30 });
    for (let p = 1; p <= 5_000; p++) watermark.advance(p);
    assert.deepEqual(mark.saves, [], "nothing written per advance");
    await waitFor(() => mark.saves.length === 1, "the interval's save");
    assert.deepEqual(mark.saves, [5_000]);
    await watermark.flush();
    assert.deepEqual(mark.saves, [5_000], "flush writes nothing when nothing moved");
    watermark.advance(5_001);
    await watermark.flush();
    assert.deepEqual(mark.saves, [5_000, 5_001], "flush writes at once what moved");
  });

  it("saves at most once a second by default (not every 50 ms)", async () => {
    const mark = countingMark();
    const watermark = await PublishWatermark.open({ head: 100, publishedMark: mark });
    watermark.advance(1);
    await delay(300);
    assert.deepEqual(mark.saves, [], "no save within 300 ms of the advance");
    await watermark.flush();
    assert.deepEqual(mark.saves, [1]);
  });
});
