/**
 * The per-stream index: each stream's version and the global positions of
 * its events, and each category's positions, rebuilt from the records'
 * metadata at start-up (so it is the same for every backend) and kept up to
 * date by the server after every append. It enforces the stream rule itself
 * ({@link StreamVersionError}).
 *
 * Memory (why it is laid out so): a store of 10M events in 1M streams must
 * be indexed in a few hundred MB. Streams are numbered ({@link StreamNames}:
 * the name's UTF-8 bytes and about 30 bytes per stream, and no string made
 * per event at start-up), and their events kept as {@link PositionChains}:
 * 4 bytes per event per chain (stream and category, so 8 per event) and 16
 * per chain, in chunked typed arrays rather than one JS array per stream
 * (which cost about 270 bytes per stream and 11 per event). Reading 100 events of a
 * stream walks at most 63 links more than it returns, whatever the store's
 * or the stream's size. Positions are limited to 2^32 - 1.
 *
 * @module
 */
import { StreamVersionError } from "./errors.ts";
import type { StreamBatch } from "./storage.ts";
import { PositionChains } from "./position_chains.ts";
import { categoryOf } from "./stream_name.ts";
import { StreamNames } from "./stream_names.ts";
import { MAX_U32 } from "./u32_column.ts";

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
 * index.truncate(2); // the storage dropped position 3
 * console.log(index.version("order-1"), index.lastPosition); // 1 2
 * ```
 */
export class StreamIndex {
  /** Stream name ↔ stream number; a stream emptied by {@link StreamIndex.truncate} keeps its number. */
  readonly #names = new StreamNames();
  readonly #categoryIds = new Map<string, number>();
  readonly #streams = new PositionChains();
  readonly #categories = new PositionChains();
  /** Scratch for addBatch's lookups. */
  #found = new Int32Array(0);
  /** Streams holding at least one event. */
  #size = 0;
  #last = 0;

  /** How many streams exist. */
  get size(): number {
    return this.#size;
  }

  /** The highest position indexed (0: none). */
  get lastPosition(): number {
    return this.#last;
  }

  /** The stream's version: how many events it holds (0: it does not exist). */
  version(stream: string): number {
    const id = this.#names.find(stream);
    return id < 0 ? 0 : this.#streams.length(id);
  }

  /**
   * Record that the event at `position` is version `streamVersion` of `stream`.
   *
   * @throws {StreamVersionError} When the version is not the stream's version + 1, or the position
   *   not above the last one indexed.
   * @throws {RangeError} When the position is above 2^32 - 1 (the index's limit).
   */
  add(position: number, stream: string, streamVersion: number): void {
    const id = this.#names.find(stream);
    if (!this.#fits(position, id, streamVersion)) this.#refuse(position, stream, id, streamVersion);
    this.#append(position, id < 0 ? this.#newStream(this.#names.intern(stream)) : id);
  }

  /**
   * {@link StreamIndex.add} for a stream whose name's UTF-8 bytes are
   * `bytes[start..end)` (as the start-up scan finds it): no string is made.
   *
   * @example Index from a record's bytes
   * ```ts
   * import { StreamIndex } from "./stream_index.ts";
   * const index = new StreamIndex();
   * const bytes = new TextEncoder().encode('"stream":"order-7"');
   * index.addBytes(1, bytes, 10, 17, 1);
   * console.log(index.positions("order-7")); // [1]
   * ```
   */
  addBytes(position: number, bytes: Uint8Array, start: number, end: number, streamVersion: number): void {
    const id = this.#names.findBytes(bytes, start, end);
    if (!this.#fits(position, id, streamVersion)) {
      this.#refuse(position, new TextDecoder().decode(bytes.subarray(start, end)), id, streamVersion);
    }
    this.#append(position, id < 0 ? this.#newStream(this.#names.internBytes(bytes, start, end)) : id);
  }

  /**
   * {@link StreamIndex.addBytes} for a batch of events in order (as the
   * start-up scan hands them over, {@link StreamBatch}): the streams are
   * looked up together first, so that their cache misses overlap. Throws
   * at the first event that breaks the rule; the events before it stay
   * indexed.
   *
   * @throws {StreamVersionError} As {@link StreamIndex.add}.
   * @example Two events of one batch
   * ```ts
   * import { StreamIndex } from "./stream_index.ts";
   * const bytes = new TextEncoder().encode("order-1order-2");
   * const index = new StreamIndex();
   * index.addBatch(bytes, {
   *   count: 2,
   *   positions: new Float64Array([1, 2]),
   *   versions: new Float64Array([1, 1]),
   *   starts: new Uint32Array([0, 7]),
   *   ends: new Uint32Array([7, 14]),
   * });
   * console.log(index.size); // 2
   * ```
   */
  addBatch(bytes: Uint8Array, batch: StreamBatch): void {
    if (this.#found.length < batch.count) this.#found = new Int32Array(batch.count);
    const found = this.#found;
    this.#names.findMany(bytes, batch.starts, batch.ends, batch.count, found);
    for (let i = 0; i < batch.count; i++) {
      const start = batch.starts[i];
      const end = batch.ends[i];
      // A stream new to this batch was numbered by an earlier event of it.
      const id = found[i] >= 0 ? found[i] : this.#names.findBytes(bytes, start, end);
      const position = batch.positions[i];
      const version = batch.versions[i];
      if (!this.#fits(position, id, version)) {
        this.#refuse(position, new TextDecoder().decode(bytes.subarray(start, end)), id, version);
      }
      this.#append(position, id < 0 ? this.#newStream(this.#names.internBytes(bytes, start, end)) : id);
    }
  }

  /** Whether version `streamVersion` at `position` continues stream `id` (-1: a new stream). */
  #fits(position: number, id: number, streamVersion: number): boolean {
    const expected = (id < 0 ? 0 : this.#streams.length(id)) + 1;
    return streamVersion === expected && position > this.#last && position <= MAX_U32 && Number.isInteger(position);
  }

  #refuse(position: number, stream: string, id: number, streamVersion: number): never {
    const expected = (id < 0 ? 0 : this.#streams.length(id)) + 1;
    if (streamVersion === expected && position > this.#last) {
      throw new RangeError(`Cannot index position ${position}: the stream index holds positions 1 to ${MAX_U32}`);
    }
    throw new StreamVersionError(stream, expected, streamVersion, position);
  }

  /** A stream just numbered: give it its category. */
  #newStream(id: number): number {
    const name = categoryOf(this.#names.name(id));
    let category = this.#categoryIds.get(name);
    if (category === undefined) this.#categoryIds.set(name, category = this.#categoryIds.size);
    this.#streams.setTag(id, category);
    return id;
  }

  #append(position: number, id: number): void {
    if (this.#streams.length(id) === 0) this.#size++;
    this.#streams.append(id, position);
    this.#categories.append(this.#streams.tag(id), position);
    this.#last = position;
  }

  /** Global positions of the stream's events from version `from`, in version order. */
  positions(stream: string, range: StreamRange = {}): number[] {
    const id = this.#names.find(stream);
    if (id < 0) return [];
    return this.#streams.slice(id, Math.max(1, range.from ?? 1) - 1, range.limit ?? Infinity);
  }

  /** Global positions (from global position `from`) of the events of streams in `category`, in order. */
  categoryPositions(category: string, range: StreamRange = {}): number[] {
    const id = this.#categoryIds.get(category);
    if (id === undefined) return [];
    const k = this.#categories.lowerBound(id, range.from ?? 1);
    return this.#categories.slice(id, k, range.limit ?? Infinity);
  }

  /**
   * Forget every event above position `head`, as when the storage dropped
   * its tail at open (a group cut short by a crash): versions, positions
   * and categories are then as if those events were never added. Costs one
   * look at every stream and category, not a rebuild.
   *
   * @example Drop what the storage dropped
   * ```ts
   * import { StreamIndex } from "./stream_index.ts";
   * const index = new StreamIndex();
   * index.add(1, "cart-1", 1);
   * index.add(2, "cart-2", 1);
   * index.truncate(1);
   * console.log(index.size, index.version("cart-2"), index.categoryPositions("cart")); // 1 0 [1]
   * ```
   */
  truncate(head: number): void {
    if (head >= this.#last) return;
    let last = 0;
    for (let id = 0; id < this.#names.size; id++) {
      const before = this.#streams.length(id);
      const end = this.#streams.truncate(id, head);
      if (before > 0 && end === 0) this.#size--;
      if (end > last) last = end;
    }
    for (const id of this.#categoryIds.values()) this.#categories.truncate(id, head);
    this.#last = last;
  }
}
