/**
 * PublishWatermark on real files: clamped to the head, saved with the store's
 * identity, and ignored when it belongs to another store (a replaced file).
 * The side file is the file store's `publishedMark` (FilePublishedMark).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FilePublishedMark } from "../lib/file_published_mark.ts";
import { PublishWatermark } from "../lib/publish_watermark.ts";

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
});
