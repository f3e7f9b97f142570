/**
 * Remembers the highest position whose fanout publish the broker confirmed,
 * so a restarted server republishes only the unconfirmed tail.
 *
 * Kept in a small side file next to the storage. It is written without fsync:
 * if it is stale after a crash, more records are republished, which is
 * harmless because listeners drop positions they already delivered.
 *
 * @module
 */
import { readFile, rename, writeFile } from "node:fs/promises";

/**
 * @example
 * ```ts
 * import { PublishWatermark } from "./publish_watermark.ts";
 * const mark = await PublishWatermark.open("/tmp/storage.published", 10);
 * mark.advance(10);
 * await mark.flush();
 * ```
 */
export class PublishWatermark {
  readonly #path: string;
  #value: number;
  #saved: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing: Promise<void> = Promise.resolve();

  private constructor(path: string, value: number) {
    this.#path = path;
    this.#value = value;
    this.#saved = value;
  }

  /**
   * Read the watermark, clamped to `head`. A missing or unreadable file means
   * nothing is known to be confirmed: 0.
   */
  static async open(path: string, head: number): Promise<PublishWatermark> {
    let value = 0;
    try {
      const n = Number((await readFile(path, "utf8")).trim());
      if (Number.isSafeInteger(n) && n >= 0) value = Math.min(n, head);
    } catch {
      value = 0;
    }
    return new PublishWatermark(path, value);
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
      await writeFile(tmp, `${value}\n`);
      await rename(tmp, this.#path);
      this.#saved = value;
    }).catch(() => {});
  }
}
