/**
 * Every backend passes the storage contract (tests/_storage_contract.ts):
 * the file store, through the FileLike seam for its disk failure, and the
 * in-memory one.
 */
import { after, before } from "node:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStorage, type FileStorageTestOptions } from "../lib/file_storage.ts";
import { MemoryStorage } from "../lib/memory_storage.ts";
import type { EventStorage } from "../lib/storage.ts";
import { storageContract } from "./_storage_contract.ts";
import { FaultyDisk, ioError } from "./_faulty_disk.ts";

let root: string;
let n = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), "res-contract-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

storageContract("FileStorage", async () => {
  const path = join(root, `storage-${++n}`);
  const disk = new FaultyDisk();
  let failAt = 0;
  disk.onDatasync = (call) => (call === failAt ? ioError("EIO", "fdatasync") : undefined);
  const options: FileStorageTestOptions = { open: disk.open, warn: () => {} };
  let current: EventStorage = await FileStorage.open(path, options);
  return {
    storage: current,
    failNextAppend: () => void (failAt = disk.datasyncs + 1),
    reopen: async () => {
      await current.close();
      current = await FileStorage.open(path, { warn: () => {} });
      return current;
    },
  };
});

storageContract("MemoryStorage", () => {
  let fail = false;
  // One failure only: staying failed is the storage's job, not the simulation's.
  const failAppend = () => fail ? (fail = false, new Error("simulated failure")) : undefined;
  let current = new MemoryStorage({ failAppend });
  return {
    storage: current,
    failNextAppend: () => void (fail = true),
    reopen: async () => {
      await current.close();
      current = current.reopen();
      return current;
    },
  };
});
