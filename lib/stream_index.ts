/**
 * The per-stream index: each stream's version and the global positions of
 * its events, and each category's positions, rebuilt from the records'
 * metadata at start-up (so it is the same for every backend) and kept up to
 * date by the server after every append. It enforces the stream rule itself
 * ({@link StreamVersionError}).
 *
 * @module
 */
import { StreamVersionError } from "./errors.ts";
import { categoryOf } from "./stream_name.ts";

/**
 * Options for {@link StreamIndex.positions}.
 *
 * @example The first ten events of a stream from version 5
 * ```ts
 * import { StreamIndex, type StreamRange } from "./stream_index.ts";
 * const range: StreamRange = { from: 5, limit: 10 };
 * console.log(new StreamIndex().positions("order-1", range)); // []
 * ```
 */
export interface StreamRange {
  /** First version (for a stream) or global position (for a category), inclusive. @default {1} */
  from?: number;
  /** At most this many. @default {Infinity} */
  limit?: number;
}

/**
 * Streams, their versions and where their events are.
 *
 * @example Index two events and read a stream back
 * ```ts
 * import { StreamIndex } from "./stream_index.ts";
 * const index = new StreamIndex();
 * index.add(1, "order-1", 1);
 * index.add(2, "order-2", 1);
 * index.add(3, "order-1", 2);
 * console.log(index.version("order-1"), index.positions("order-1")); // 2 [1, 3]
 * console.log(index.categoryPositions("order")); // [1, 2, 3]
 * ```
 */
export class StreamIndex {
  readonly #streams = new Map<string, number[]>();
  readonly #categories = new Map<string, number[]>();
  #last = 0;

  /** How many streams exist. */
  get size(): number {
    return this.#streams.size;
  }

  /** The highest position indexed (0: none). */
  get lastPosition(): number {
    return this.#last;
  }

  /** The stream's version: how many events it holds (0: it does not exist). */
  version(stream: string): number {
    return this.#streams.get(stream)?.length ?? 0;
  }

  /**
   * Record that the event at `position` is version `streamVersion` of `stream`.
   *
   * @throws {StreamVersionError} When the version is not the stream's version + 1, or the position
   *   not above the last one indexed.
   */
  add(position: number, stream: string, streamVersion: number): void {
    let positions = this.#streams.get(stream);
    const expected = (positions?.length ?? 0) + 1;
    if (streamVersion !== expected || position <= this.#last) {
      throw new StreamVersionError(stream, expected, streamVersion, position);
    }
    if (!positions) this.#streams.set(stream, positions = []);
    positions.push(position);
    this.#last = position;
    const category = categoryOf(stream);
    let inCategory = this.#categories.get(category);
    if (!inCategory) this.#categories.set(category, inCategory = []);
    inCategory.push(position);
  }

  /** Global positions of the stream's events from version `from`, in version order. */
  positions(stream: string, range: StreamRange = {}): number[] {
    const positions = this.#streams.get(stream);
    if (!positions) return [];
    const start = Math.max(1, range.from ?? 1) - 1;
    return positions.slice(start, start + (range.limit ?? Infinity));
  }

  /** Global positions (from global position `from`) of the events of streams in `category`, in order. */
  categoryPositions(category: string, range: StreamRange = {}): number[] {
    const positions = this.#categories.get(category);
    if (!positions) return [];
    const from = range.from ?? 1;
    let lo = 0;
    let hi = positions.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (positions[mid] < from) lo = mid + 1;
      else hi = mid;
    }
    return positions.slice(lo, lo + (range.limit ?? Infinity));
  }
}
