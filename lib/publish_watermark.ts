/**
 * Remembers the highest position whose fanout publish the broker confirmed,
 * so a restarted server republishes only the unconfirmed tail.
 *
 * Where it is kept is the storage's business ({@link EventStorage.publishedMark};
 * the file store keeps it in its header line, see `header_published_mark.ts`).
 * This class clamps it to the head and saves it at most once a second
 * (`DEFAULTS.fanout.watermarkInterval`) and on {@link PublishWatermark.flush}:
 * a crash costs republishing that much more, which listeners drop.
 *
 * @module
 */
import { DEFAULTS } from "./defaults.ts";
import type { EventStorage } from "./storage.ts";

/**
 * Options of {@link PublishWatermark.open}.
 *
 * @example Save within 100 ms (a test)
 * ```ts
 * import { MemoryStorage } from "./memory_storage.ts";
 * import { PublishWatermark, type PublishWatermarkOptions } from "./publish_watermark.ts";
 * const options: PublishWatermarkOptions = { interval: 100 };
 * const mark = await PublishWatermark.open(new MemoryStorage(), options);
 * console.log(mark.value); // 0
 * ```
 */
export interface PublishWatermarkOptions {
  /** Save an advanced watermark after at most this many ms. @default {1000} */
  interval?: number;
}

/**
 * The confirmed fanout position of one storage, loaded from and saved to its
 * {@link EventStorage.publishedMark}.
 *
 * @example Advance and save a storage's watermark
 * ```ts
 * import { MemoryStorage } from "./memory_storage.ts";
 * import { PublishWatermark } from "./publish_watermark.ts";
 * const mark = await PublishWatermark.open(new MemoryStorage());
 * mark.advance(0);
 * await mark.flush();
 * ```
 */
export class PublishWatermark {
  readonly #store: Pick<EventStorage, "publishedMark">;
  #value: number;
  #saved: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing: Promise<void> = Promise.resolve();
  readonly #interval: number;

  private constructor(store: Pick<EventStorage, "publishedMark">, value: number, interval: number) {
    this.#store = store;
    this.#value = value;
    this.#saved = value;
    this.#interval = interval;
  }

  /**
   * Load the storage's watermark, clamped to its head. Nothing saved (or
   * saved for another store) means nothing is known to be confirmed: 0.
   */
  static async open(
    store: Pick<EventStorage, "head" | "publishedMark">,
    options: PublishWatermarkOptions = {},
  ): Promise<PublishWatermark> {
    let value = 0;
    try {
      value = Math.min(await store.publishedMark.load(), store.head);
    } catch {
      value = 0;
    }
    return new PublishWatermark(store, value, options.interval ?? DEFAULTS.fanout.watermarkInterval);
  }

  /** Highest position confirmed by the broker. */
  get value(): number {
    return this.#value;
  }

  /** Record that everything up to `position` is confirmed; saved within the interval (1 s). */
  advance(position: number): void {
    if (position <= this.#value) return;
    this.#value = position;
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#write();
    }, this.#interval);
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
      await this.#store.publishedMark.save(value);
      this.#saved = value;
    }).catch(() => {});
  }
}
