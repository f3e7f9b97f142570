/**
 * The storage's writability check on real files: a writable file passes, a
 * read-only bind mount of it (real for root, who ignores mode bits) and a
 * full tmpfs fail with their reason, and an answer is reused within its ttl.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WritableCheck } from "../lib/writable_check.ts";
import { bindReadOnly, mountTmpfs, unmount } from "./_faulty_disk.ts";

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), "res-writable-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("WritableCheck", () => {
  it("passes a writable file; a read-only bind mount of it fails with EROFS; an answer is reused within its ttl", async (t) => {
    const file = join(root, "storage");
    await writeFile(file, "");
    const fresh = new WritableCheck(file, 0);
    const cached = new WritableCheck(file, 3_600_000);
    assert.equal(await fresh.reason(), undefined);
    assert.equal(await cached.reason(), undefined);
    const why = bindReadOnly(file);
    if (why) return t.skip(`cannot bind-mount read-only here: ${why}`);
    try {
      assert.match(await fresh.reason() ?? "", /^storage file .*storage is not writable: .*EROFS/);
      assert.equal(await cached.reason(), undefined, "the answer of the last hour is reused");
    } finally {
      unmount(file);
    }
    assert.equal(await fresh.reason(), undefined);
  });

  it("fails on a full disk (a tmpfs filled to its last block)", async (t) => {
    const dir = join(root, "tmpfs");
    await mkdir(dir);
    const why = mountTmpfs(dir, "64k");
    if (why) return t.skip(`cannot mount a tmpfs here: ${why}`);
    try {
      const file = join(dir, "storage");
      await writeFile(file, "");
      const check = new WritableCheck(file, 0);
      assert.equal(await check.reason(), undefined);
      await writeFile(join(dir, "filler"), new Uint8Array(1 << 20)).catch(() => {}); // ENOSPC, the disk full
      assert.match(await check.reason() ?? "", /^no space left on the disk of storage file /);
    } finally {
      unmount(dir);
    }
  });
});
