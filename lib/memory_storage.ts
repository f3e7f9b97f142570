/**
 * An {@link EventStorage} in memory: the second backend, and the one to use in
 * unit tests of code that takes an `EventStorage` (a server, a handler, your
 * own projections). It passes the same contract suite as the file store
 * (`tests/_storage_contract.ts`) but keeps nothing across processes:
 * "durable" means "kept by this object", and {@link MemoryStorage.reopen}
 * stands for a restart over the same data.
 *
 * @module
 */
import { StorageFailedError } from "./errors.ts";
import { checkBatch } from "./append_rules.ts";
import type { AppendRecord, EventStorage, IdVisitor, PublishedMark, ReadOptions, StoredRecord } from "./storage.ts";

/**
 * Options for {@link MemoryStorage}.
 *
 * @example A store whose third append fails, as a full disk would
 * ```ts
 * import { MemoryStorage, type MemoryStorageOptions } from "rabbit-eventstore";
 * let appends = 0;
 * const options: MemoryStorageOptions = {
 *   storeId: "5b0c2f7e-0000-4000-8000-000000000000",
 *   failAppend: () => ++appends === 3 ? new Error("ENOSPC: no space left on device") : undefined,
 * };
 * const storage = new MemoryStorage(options);
 * console.log(storage.storeId, storage.head); // 5b0c2f7e-0000-4000-8000-000000000000 0
 * ```
 */
export interface MemoryStorageOptions {
  /** The store's identity. @default {a random UUID} */
  storeId?: string;
  /**
   * Simulate a storage failure: called before each append; when it returns
   * an error, that append fails and the storage refuses every later one with
   * `StorageFailedError`, as a file store does after a disk error.
   * @default {never fails}
   */
  failAppend?: (records: readonly AppendRecord[]) => Error | undefined;
}

/** What survives a {@link MemoryStorage.reopen}: the records, the identity, the watermark. */
interface Kept {
  storeId: string;
  records: StoredRecord[];
  published: number;
}

/** Records per chunk of a read stream. */
const READ_CHUNK_RECORDS = 512;
const encoder = new TextEncoder();

/**
 * An {@link EventStorage} kept in memory.
 *
 * @example Use it in a unit test
 * ```ts
 * import { MemoryStorage } from "./memory_storage.ts";
 * import { encodeRecord } from "./record.ts";
 * const storage = new MemoryStorage();
 * await storage.append([{ position: 1, id: "a", type: "Hello", line: encodeRecord(1, "a", "2026-01-01T00:00:00.000Z", "{}", "Hello") }]);
 * for await (const record of storage.scan(1)) console.log(record.position, record.type); // 1 Hello
 * await storage.close();
 * ```
 */
export class MemoryStorage implements EventStorage {
  #kept: Kept;
  readonly #failAppend: MemoryStorageOptions["failAppend"];
  readonly #publishedMark: PublishedMark;
  #failed: StorageFailedError | undefined;
  #appending = false;
  #closed = false;

  /**
   * Create an empty store.
   *
   * @param options The identity and a simulated failure.
   */
  constructor(options: MemoryStorageOptions = {}) {
    this.#kept = { storeId: options.storeId ?? crypto.randomUUID(), records: [], published: 0 };
    this.#failAppend = options.failAppend;
    this.#publishedMark = {
      load: async () => await Promise.resolve(this.#kept.published),
      save: async (position: number) => {
        this.#kept.published = position;
        await Promise.resolve();
      },
    };
  }

  /** The store's identity. */
  get storeId(): string {
    return this.#kept.storeId;
  }

  /** The last stored position; 0 when empty. */
  get head(): number {
    return this.#kept.records.length;
  }

  /** The publish watermark, kept with the records. */
  get publishedMark(): PublishedMark {
    return this.#publishedMark;
  }

  /**
   * A new open storage over the same records, identity and watermark, as a
   * restarted server would see them (close this one first). A failure
   * simulated on this one does not carry over.
   *
   * @param options A simulated failure for the new one (the identity is kept).
   */
  reopen(options: Pick<MemoryStorageOptions, "failAppend"> = {}): MemoryStorage {
    const next = new MemoryStorage(options);
    next.#kept = this.#kept; // what a restart keeps; its own state (failed, closed) starts fresh
    return next;
  }

  /** Append a batch: checked like the file store's (dense positions, one line each), then kept. */
  async append(records: readonly AppendRecord[]): Promise<void> {
    if (this.#failed) throw this.#failed;
    if (this.#closed) throw new StorageFailedError("Cannot append to memory storage: storage is closed");
    if (this.#appending) throw new Error("Cannot append to memory storage: another append is in progress");
    if (records.length === 0) return;
    checkBatch(this.head, records);
    this.#appending = true;
    try {
      await Promise.resolve(); // settle like real storage: after the caller's synchronous code
      const cause = this.#failAppend?.(records);
      if (cause) {
        this.#failed = new StorageFailedError(
          `Cannot append to memory storage: ${cause.message}; the storage accepts nothing more`,
          { cause },
        );
        throw this.#failed;
      }
      for (const record of records) this.#kept.records.push(copy(record));
    } finally {
      this.#appending = false;
    }
  }

  /** NDJSON bytes of records from `from` (inclusive) up to the head at the time of the call. */
  read(from: number, options: ReadOptions = {}): ReadableStream<Uint8Array> {
    const records = this.#kept.records;
    let next = Math.max(1, from);
    const last = Math.min(records.length, next + (options.limit ?? Infinity) - 1);
    return new ReadableStream<Uint8Array>({
      pull: (controller) => {
        if (next > last) {
          controller.close();
          return;
        }
        const end = Math.min(last, next + READ_CHUNK_RECORDS - 1);
        let text = "";
        for (let p = next; p <= end; p++) text += records[p - 1].line + "\n";
        next = end + 1;
        controller.enqueue(encoder.encode(text));
      },
    }, { highWaterMark: 0 });
  }

  /** Records from `from` to `to` (inclusive, clamped to the head), in order. */
  async *scan(from: number, to: number = this.head): AsyncGenerator<StoredRecord> {
    const last = Math.min(to, this.head);
    for (let p = Math.max(1, from); p <= last; p++) yield copy(this.#kept.records[p - 1]);
  }

  /** The ids of records from `from` to the head, oldest first, and their streams. */
  async scanIds(from: number, visitor: IdVisitor): Promise<void> {
    const records = this.#kept.records;
    for (let p = Math.max(1, from); p <= records.length; p++) {
      const record = records[p - 1];
      visitor.id(p, record.id);
      if (record.stream !== undefined) visitor.stream?.(p, record.stream, record.streamVersion!);
    }
    await Promise.resolve();
  }

  /** NDJSON bytes of the records at `positions`, in the order given. */
  readPositions(positions: readonly number[]): ReadableStream<Uint8Array> {
    const records = this.#kept.records;
    const head = records.length;
    const wanted = [...positions];
    let next = 0;
    return new ReadableStream<Uint8Array>({
      pull: (controller) => {
        if (next >= wanted.length) {
          controller.close();
          return;
        }
        const end = Math.min(wanted.length, next + READ_CHUNK_RECORDS);
        let text = "";
        for (; next < end; next++) {
          const p = wanted[next];
          if (!Number.isSafeInteger(p) || p < 1 || p > head) {
            controller.error(new RangeError(`Cannot read position ${p}: the store holds 1..${head}`));
            return;
          }
          text += records[p - 1].line + "\n";
        }
        controller.enqueue(encoder.encode(text));
      },
    }, { highWaterMark: 0 });
  }

  /** Close: appends fail from now on; reads still work (the data stays in memory). */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.resolve();
  }
}

function copy(record: StoredRecord): StoredRecord {
  const out: StoredRecord = { position: record.position, id: record.id, line: record.line };
  if (record.type !== undefined) out.type = record.type;
  if (record.stream !== undefined) out.stream = record.stream;
  if (record.streamVersion !== undefined) out.streamVersion = record.streamVersion;
  if (record.batchSize !== undefined) out.batchSize = record.batchSize;
  return out;
}
