/**
 * Remembers the highest position whose fanout publish the broker confirmed,
 * so a restarted server republishes only the unconfirmed tail.
 *
 * Kept in a small side file next to the storage (`<position> <storeId>`). It
 * is written without fsync: if it is stale after a crash, more records are
 * republished, which is harmless because listeners drop positions they
 * already delivered. It names the store it belongs to: a store file that was
 * replaced (deleted, restored from elsewhere) beside an old watermark starts
 * from 0, so none of its records is taken as published when it was not.
 *
 * @module
 */
import { readFile, rename, writeFile } from "node:fs/promises";

/**
 * @example
 * ```ts
 * import { PublishWatermark } from "./publish_watermark.ts";
 * const mark = await PublishWatermark.open("/tmp/storage.published", { head: 10, storeId: "5b0c2f9e-3a41-4c7e-9d2b-0f6a1e8c7b35" });
 * mark.advance(10);
 * await mark.flush();
 * ```
 */
export class PublishWatermark {
  readonly #path: string;
  readonly #storeId: string;
  #value: number;
  #saved: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing: Promise<void> = Promise.resolve();

  private constructor(path: string, storeId: string, value: number) {
    this.#path = path;
    this.#storeId = storeId;
    this.#value = value;
    this.#saved = value;
  }

  /**
   * Read the watermark, clamped to `store.head`. A missing or unreadable
   * file, or one written for another store, means nothing is known to be
   * confirmed: 0. (A file with a position alone, as older versions wrote it,
   * is taken as this store's.)
   */
  static async open(path: string, store: { head: number; storeId: string }): Promise<PublishWatermark> {
    let value = 0;
    try {
      const [position, storeId] = (await readFile(path, "utf8")).trim().split(/\s+/);
      const n = Number(position);
      const ours = storeId === undefined || storeId === store.storeId;
      if (ours && /^\d+$/.test(position) && Number.isSafeInteger(n)) value = Math.min(n, store.head);
    } catch {
      value = 0;
    }
    return new PublishWatermark(path, store.storeId, value);
  }

  /** Highest position confirmed by the broker. */
  get value(): number {
    return this.#value;
  }

  /** Record that everything up to `position` is confirmed; saved within 50 ms. */
  advance(position: number): void {
    if (position <= this.#value) return;
    this.#value = position;
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#write();
    }, 50);
  }

  /** Write the current value now. */
  async flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#write();
    await this.#writing;
  }

  #write(): void {
    const value = this.#value;
    if (value === this.#saved) return;
    this.#writing = this.#writing.then(async () => {
      const tmp = `${this.#path}.tmp`;
      await writeFile(tmp, `${value} ${this.#storeId}\n`);
      await rename(tmp, this.#path);
      this.#saved = value;
    }).catch(() => {});
  }
}
