/**
 * The one interface between the server and where events are kept. The
 * fsync'd NDJSON file ({@link FileStorage}) is the embedded default; a
 * replicated backend (RabbitMQ streams) can implement the same interface.
 * Nothing outside a backend may depend on how it lays out its bytes.
 *
 * @module
 */

/** A record ready to be appended: its position, id and encoded NDJSON line. */
export interface AppendRecord {
  /** Must be the storage's head + 1 for the first record, then +1 each. */
  position: number;
  /** The record's id, kept for idempotency checks. */
  id: string;
  /** The record as one JSON line ending in `\n` (see `encodeRecord`). */
  line: string;
}

/** A stored record as the storage returns it when scanning. */
export interface StoredLine {
  /** The record's position. */
  position: number;
  /** The record's id. */
  id: string;
  /** The record's line, without its trailing newline. */
  line: string;
}

/** Options for {@link EventStorage.read}. */
export interface ReadOptions {
  /** Stop after this many records. @default {Infinity} */
  limit?: number;
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
  /**
   * Append a batch and make it durable before resolving. Positions must
   * continue the head densely (else `OutOfOrderError`). After a failed append
   * the storage refuses all further appends (`StorageFailedError`).
   */
  append(records: readonly AppendRecord[]): Promise<void>;
  /**
   * Durable records from `from` (inclusive) as NDJSON bytes, up to the head
   * at the time of the call. Never includes a partial record.
   */
  read(from: number, options?: ReadOptions): ReadableStream<Uint8Array>;
  /** Durable records from `from` to `to` (inclusive, default head), in order. */
  scan(from: number, to?: number): AsyncIterable<StoredLine>;
  /** Release the storage. Appends after close fail. */
  close(): Promise<void>;
}
