/**
 * The file store's publish watermark: a small side file beside the storage
 * file, `<STORAGEFILE>.published`, holding `<position> <storeId>`.
 *
 * It is written without fsync (write a temporary file, rename it): if it is
 * stale after a crash, more records are republished, which is harmless
 * because listeners drop positions they already delivered. It names the store
 * it belongs to: a store file that was replaced (deleted, restored from
 * elsewhere) beside an old watermark loads as 0, so none of its records is
 * taken as published when it was not. A file with a position alone, as older
 * versions wrote it, is taken as this store's.
 *
 * @module
 */
import { open, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { syncDirectory } from "./sync_directory.ts";
import type { PublishedMark } from "./storage.ts";

/**
 * A {@link PublishedMark} in a side file.
 *
 * @example Save and load a watermark
 * ```ts
 * import { FilePublishedMark } from "./file_published_mark.ts";
 * const mark = new FilePublishedMark("/tmp/example-storage.published", "5b0c2f9e-3a41-4c7e-9d2b-0f6a1e8c7b35");
 * await mark.save(10);
 * console.log(await mark.load()); // 10
 * ```
 */
export class FilePublishedMark implements PublishedMark {
  readonly #path: string;
  readonly #storeId: string;

  /**
   * The watermark of store `storeId`, kept in the side file `path`.
   *
   * @param path The side file, `<STORAGEFILE>.published`.
   * @param storeId The identity of the store it belongs to.
   */
  constructor(path: string, storeId: string) {
    this.#path = path;
    this.#storeId = storeId;
  }

  /** The side file's path. */
  get path(): string {
    return this.#path;
  }

  /** The saved position; 0 when the file is missing, unreadable, or another store's. */
  async load(): Promise<number> {
    try {
      const [position, storeId] = (await readFile(this.#path, "utf8")).trim().split(/\s+/);
      const n = Number(position);
      const ours = storeId === undefined || storeId === this.#storeId;
      return ours && /^\d+$/.test(position) && Number.isSafeInteger(n) ? n : 0;
    } catch {
      return 0;
    }
  }

  /** Write `<position> <storeId>` through a temporary file and a rename. */
  async save(position: number): Promise<void> {
    const tmp = `${this.#path}.tmp`;
    await writeFile(tmp, `${position} ${this.#storeId}\n`);
    await rename(tmp, this.#path);
  }

  /** Fsync the side file and its directory (import calls it; the server does not). */
  async sync(): Promise<void> {
    const file = await open(this.#path, "r");
    try {
      await file.datasync();
    } finally {
      await file.close();
    }
    await syncDirectory(dirname(this.#path));
  }
}
