/**
 * The one interface between the server and where events are kept. The
 * fsync'd NDJSON file ({@link FileStorage}) is the embedded default and
 * {@link MemoryStorage} a small in-memory one for unit tests; a replicated
 * backend (RabbitMQ streams) can implement the same interface. Nothing
 * outside a backend may depend on how it lays out its bytes: every backend
 * passes the contract suite in `tests/_storage_contract.ts`.
 *
 * One line convention: a record's `line` is its JSON text on one line,
 * without a trailing newline, everywhere (append, scan, fanout). Framing is
 * the backend's business; only {@link EventStorage.read} returns NDJSON, with
 * a newline after every record.
 *
 * @module
 */

/**
 * A record as it is appended and as it is read back: its line and the
 * metadata the server needs, so nobody parses the line again.
 *
 * @example Scan records without parsing their lines
 * ```ts
 * import { MemoryStorage, type StoredRecord } from "rabbit-eventstore";
 * const storage = new MemoryStorage();
 * const typed: StoredRecord[] = [];
 * for await (const record of storage.scan(1)) if (record.type === "OrderPlaced") typed.push(record);
 * console.log(typed.map((record) => record.position));
 * ```
 */
export interface StoredRecord {
  /** Dense position; on append, the storage's head + 1 for the first record, then +1 each. */
  position: number;
  /** The record's id (the AMQP messageId), kept for idempotency checks. */
  id: string;
  /** The AMQP `type`, when the publisher set one. */
  type?: string;
  /** The stream the record belongs to, when it was appended to one. */
  stream?: string;
  /** The record's version within its stream (with `stream`). */
  streamVersion?: number;
  /**
   * On the first record of K > 1 that must be kept whole or not at all: K. A
   * backend whose append can be cut short by a crash (the file) drops an
   * incomplete group when it opens.
   */
  batchSize?: number;
  /** The record as one line of JSON without a newline (see `encodeRecord`). */
  line: string;
}

/**
 * A record ready to be appended (see {@link StoredRecord}).
 *
 * @example Append the next record
 * ```ts
 * import { type AppendRecord, MemoryStorage } from "rabbit-eventstore";
 * import { encodeRecord } from "./record.ts";
 * const storage = new MemoryStorage();
 * const position = storage.head + 1;
 * const record: AppendRecord = {
 *   position,
 *   id: "order-42",
 *   type: "OrderPlaced",
 *   line: encodeRecord(position, "order-42", new Date().toISOString(), '{"orderId":42}', "OrderPlaced"),
 * };
 * await storage.append([record]);
 * ```
 */
export type AppendRecord = StoredRecord;

/**
 * A stored record as {@link EventStorage.scan} returns it.
 *
 * @deprecated Use {@link StoredRecord}, which it is.
 * @example Move to StoredRecord
 * ```ts
 * import type { StoredLine, StoredRecord } from "rabbit-eventstore";
 * const before: StoredLine = { position: 1, id: "a", line: "{}" };
 * const after: StoredRecord = before; // the same type
 * console.log(after.position);
 * ```
 */
export type StoredLine = StoredRecord;

/**
 * Options for {@link EventStorage.read}.
 *
 * @example Read at most 100 records from position 1
 * ```ts
 * import { MemoryStorage, type ReadOptions } from "rabbit-eventstore";
 * const storage = new MemoryStorage();
 * const options: ReadOptions = { limit: 100 };
 * const ndjson = await new Response(storage.read(1, options)).text();
 * console.log(ndjson.split("\n").filter(Boolean).length); // 0 in an empty store
 * ```
 */
export interface ReadOptions {
  /** Stop after this many records. @default {Infinity} */
  limit?: number;
}

/**
 * Receives the ids of stored records, oldest first, e.g. to rebuild a dedup
 * window at start-up. A backend calls `ascii` (when given) instead of `id`
 * where it can hand over an id's bytes without making a string.
 *
 * @example Collect ids
 * ```ts
 * import type { IdVisitor } from "./storage.ts";
 * const ids: string[] = [];
 * const visitor: IdVisitor = { id: (_position, id) => ids.push(id) };
 * visitor.id(1, "order-1");
 * ```
 */
export interface IdVisitor {
  /** Called with a record's position and id. */
  id(position: number, id: string): void;
  /**
   * Optional fast path: the id is the printable ASCII `bytes[start..end)`,
   * valid only during the call.
   */
  ascii?(position: number, bytes: Uint8Array, start: number, end: number): void;
  /**
   * Optional: called (after `id` or `ascii`) for every record in a stream,
   * with its stream and version, e.g. to rebuild the stream index at start-up.
   */
  stream?(position: number, stream: string, streamVersion: number): void;
  /**
   * Optional fast path, called instead of `stream` where a backend can:
   * the stream events of a stretch of records, in order, whose names are
   * UTF-8 in `bytes` (valid only during the call). A stream index finds
   * them without making a string per record, and looks up many at once so
   * that their cache misses overlap.
   */
  streamBatch?(bytes: Uint8Array, batch: StreamBatch): void;
}

/**
 * Stream events handed over together ({@link IdVisitor.streamBatch}): event
 * `i < count` is version `versions[i]` of the stream named by
 * `bytes[starts[i]..ends[i])`, at `positions[i]`.
 *
 * @example One event of order-1
 * ```ts
 * import type { StreamBatch } from "./storage.ts";
 * const batch: StreamBatch = {
 *   count: 1,
 *   positions: new Float64Array([1]),
 *   versions: new Float64Array([1]),
 *   starts: new Uint32Array([0]),
 *   ends: new Uint32Array([7]),
 * };
 * console.log(batch.count);
 * ```
 */
export interface StreamBatch {
  /** How many events (the arrays may be longer). */
  count: number;
  /** Each event's global position. */
  positions: Float64Array;
  /** Each event's stream version. */
  versions: Float64Array;
  /** Where each event's stream name starts in the bytes. */
  starts: Uint32Array;
  /** Where it ends (exclusive). */
  ends: Uint32Array;
}

/**
 * What opening a backend may be asked to do. A backend whose open reads its
 * records anyway (as the file does) honours `ids` in that same pass, so a
 * server's start-up reads the store once.
 *
 * @example Open the file store and collect its ids
 * ```ts
 * import { FileStorage } from "./file_storage.ts";
 * const ids: string[] = [];
 * const storage = await FileStorage.open("/tmp/example-open-ids", { ids: { id: (_p, id) => ids.push(id) } });
 * await storage.close();
 * ```
 */
export interface StorageOpenOptions {
  /** Called for every stored record's id while opening, oldest first. */
  ids?: IdVisitor;
  /** Called with warnings, such as a truncated torn tail. @default {console.warn} */
  warn?: (message: string) => void;
}

/**
 * Where a backend keeps the publish watermark: the highest position whose
 * fanout publish the broker confirmed. It may lag after a crash (then more
 * is republished, which listeners drop), so saving need not be durable.
 *
 * @example Save and load
 * ```ts
 * import { MemoryStorage } from "./memory_storage.ts";
 * const storage = new MemoryStorage();
 * await storage.publishedMark.save(0);
 * console.log(await storage.publishedMark.load()); // 0
 * ```
 */
export interface PublishedMark {
  /** The saved position; 0 when nothing was saved for this store. */
  load(): Promise<number>;
  /** Save `position` (calls do not overlap). */
  save(position: number): Promise<void>;
  /**
   * Make the last save durable (fsync), for a tool that promises it (import); the server does not call
   * it (a stale watermark only republishes). Absent where there is nothing to sync (in memory).
   */
  sync?(): Promise<void>;
}

/**
 * Durable, append-only storage of records at dense positions.
 *
 * @example Append and read back
 * ```ts
 * import { FileStorage } from "./file_storage.ts";
 * import { encodeRecord } from "./record.ts";
 * const storage = await FileStorage.open("./storage");
 * const position = storage.head + 1;
 * await storage.append([{ position, id: "a", line: encodeRecord(position, "a", new Date().toISOString(), "1") }]);
 * const body = storage.read(1); // NDJSON bytes of every durable record
 * await body.cancel();
 * await storage.close();
 * ```
 */
export interface EventStorage {
  /** The last durable position; 0 when empty. */
  readonly head: number;
  /**
   * The store's identity: made when the store was created, kept with it,
   * the same across restarts. Sent with every fanout message (header
   * `store-id`) and history response (header `x-store-id`) so that a
   * listener notices when it is being fed from a different store.
   */
  readonly storeId: string;
  /** Where this store's publish watermark is kept. */
  readonly publishedMark: PublishedMark;
  /**
   * Optional: how many history reads ({@link EventStorage.read}, {@link EventStorage.readPositions}
   * streams) are open now. A fanout catch-up republishes slower while there are any, so that a restored
   * store's republish does not starve them; a backend without it (undefined) gets no such yielding.
   */
  readonly reading?: number;
  /**
   * Append a batch and make it durable before resolving. Positions must
   * continue the head densely (else `OutOfOrderError`); a line must not
   * contain a newline (else `TypeError`). After a failed append the storage
   * refuses all further appends (`StorageFailedError`).
   */
  append(records: readonly AppendRecord[]): Promise<void>;
  /**
   * Durable records from `from` (inclusive) as NDJSON bytes (each line
   * followed by `\n`), up to the head at the time of the call. Never
   * includes a partial record.
   */
  read(from: number, options?: ReadOptions): ReadableStream<Uint8Array>;
  /** Durable records from `from` to `to` (inclusive, default head), in order, with their metadata. */
  scan(from: number, to?: number): AsyncIterable<StoredRecord>;
  /** The ids of durable records from `from` to the head, oldest first (and their streams, to `visitor.stream`). */
  scanIds(from: number, visitor: IdVisitor): Promise<void>;
  /**
   * The durable records at `positions` (each 1..head, in the order given) as
   * NDJSON bytes, like {@link EventStorage.read}: what a stream read sends.
   * Its cost is that of the records asked for, not of the store's size.
   * @throws {RangeError} When a position is not a durable one (from the stream).
   */
  readPositions(positions: readonly number[]): ReadableStream<Uint8Array>;
  /**
   * Optional: why the storage cannot take an append now (read-only, disk full), or undefined when it can;
   * cheap and cached, as readiness asks it on every probe. A backend without it (in memory) is always
   * writable.
   */
  unwritable?(): Promise<string | undefined>;
  /** Release the storage. Appends after close fail (`StorageFailedError`). */
  close(): Promise<void>;
}
