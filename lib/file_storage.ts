/**
 * The embedded default storage: an append-only NDJSON file, fsync'd before
 * every append resolves, with a sparse in-memory index so that reading from
 * any position costs the same.
 *
 * @module
 */
import { open as openFile, stat } from "node:fs/promises";
import { isUtf8 } from "node:buffer";
import { crashPoint } from "./crash_point.ts";
import { CorruptLogError, NotAStoreError, StorageFailedError } from "./errors.ts";
import { checkBatch, MAX_GROUP } from "./append_rules.ts";
import { type FileLock, lockFile } from "./runtime/file_lock.ts";
import { classifyStoreStart, newStoreHeader, storeHeaderBytes } from "./store_header.ts";
import { parseRecord } from "./record.ts";
import { idOffset, matchRecordId, type StreamSpan } from "./record_bytes.ts";
import { FilePublishedMark } from "./file_published_mark.ts";
import { HeaderPublishedMark } from "./header_published_mark.ts";
import { WritableCheck } from "./writable_check.ts";
import type {
  AppendRecord,
  EventStorage,
  IdVisitor,
  PublishedMark,
  ReadOptions,
  StorageOpenOptions,
  StoredRecord,
  StreamBatch,
} from "./storage.ts";

/**
 * The subset of `node:fs/promises` FileHandle the storage uses: the seam for
 * fault tests ({@link FileStorageTestOptions}); not part of the public API.
 */
export interface FileLike {
  /** Read up to `length` bytes at file offset `position` into `buffer` at `offset`. */
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  /** Write `length` bytes of `buffer` from `offset` at file offset `position`. */
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  /** fdatasync: make written data durable. */
  datasync(): Promise<void>;
  /** Cut the file to `length` bytes. */
  truncate(length: number): Promise<void>;
  /** The file's size. */
  stat(): Promise<{ size: number }>;
  /** Close the handle. */
  close(): Promise<void>;
}

/**
 * Options for {@link FileStorage.open}. `ids` (from {@link StorageOpenOptions})
 * is called during the start-up scan that checks every record, so it costs
 * no second read; ids that are printable ASCII (most are) go to `ids.ascii`
 * as bytes, without making a string, and so do stream names (as UTF-8) to
 * `ids.streamBatch`, a read chunk's worth at a time (names with escapes, and
 * all when it is not given, to `ids.stream`).
 *
 * @example Open read-only
 * ```ts
 * import { FileStorage, type FileStorageOptions } from "./file_storage.ts";
 * const options: FileStorageOptions = { readOnly: true, warn: () => {} };
 * const storage = await FileStorage.open("/tmp/example-storage-ro", options);
 * await storage.close();
 * ```
 */
export interface FileStorageOptions extends StorageOpenOptions {
  /**
   * Check every record at start-up with a full `JSON.parse` instead of the
   * byte-level check (which falls back to the full parse for any line it
   * cannot prove). Both refuse the same lines; the full parse is slower.
   * `verifyStorageFile` uses it. @default {false}
   */
  fullParse?: boolean;
  /**
   * Open for reading only: no lock, nothing created, truncated or written
   * (a torn tail is only reported through `warn`). `verifyStorageFile` uses
   * it. @default {false}
   */
  readOnly?: boolean;
  /**
   * Called as the open's scan reads the file, with the bytes read so far (for a progress bar:
   * `verifyStorageFile` shows one). @default {undefined}
   */
  onProgress?: (bytes: number) => void;
}

/**
 * {@link FileStorageOptions} plus the fault-injection seam, for tests only
 * (not exported from `mod.ts`): pass a value of this type to
 * {@link FileStorage.open}.
 */
export interface FileStorageTestOptions extends FileStorageOptions {
  /** Opens the file; replace only to inject faults in tests. @default {node:fs/promises open} */
  open?: (path: string, flags: string) => Promise<FileLike>;
}

/**
 * Keep the byte offset of every INDEX_EVERY-th record: 8 bytes per 32
 * records (2.5 MB for 10M), and a stream read skips at most 31 lines to
 * find a record (the bench's streams figures: every 1024th cost a 100-event
 * stream read 0.5–0.7 ms per event, skipping up to 1023 lines).
 */
const INDEX_EVERY = 32;
/** Stream events per `ids.streamBatch` call at most. */
const STREAM_BATCH = 4096;
/** Ranges of a `readPositions` read at once. */
const READ_RUNS = 16;
/**
 * Wanted positions at most this many apart are read as one range and the lines between dropped. As far
 * apart as the offset index's entries: a separate read would skip up to that many lines from its entry
 * anyway, so a merged range never reads more lines, and saves a read per record (a category of one
 * record in ten: 1.23 s -> 72 ms for 20,000 records). Wider gaps would make a read of close-together
 * records cheaper than the same read of far-apart ones, which is no help to a big store.
 */
const MERGE_GAP = INDEX_EVERY;
/** Longest range (in records) read as one piece by `readPositions`. */
const MAX_SPAN = 1024;
/** Bytes read per chunk while scanning. */
const CHUNK = 1 << 20;
/** Bytes per chunk of a read stream for a default reader (a BYOB reader, as lib/runtime/serve.ts uses, brings its own buffer). */
const READ_CHUNK = 1 << 18;
const NEWLINE = 0x0a;
const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/**
 * An {@link EventStorage} in one NDJSON file.
 *
 * @example Open, append, read
 * ```ts
 * import { FileStorage } from "./file_storage.ts";
 * import { encodeRecord } from "./record.ts";
 * const storage = await FileStorage.open("/tmp/example-storage");
 * const p = storage.head + 1;
 * await storage.append([{ position: p, id: `id-${p}`, line: encodeRecord(p, `id-${p}`, new Date().toISOString(), "{}") }]);
 * console.log(storage.head); // p
 * await storage.close();
 * ```
 */
export class FileStorage implements EventStorage {
  readonly #path: string;
  #writable: WritableCheck | undefined;
  readonly #file: FileLike;
  readonly #open: (path: string, flags: string) => Promise<FileLike>;
  /** offsets[k] is the byte offset of position k * INDEX_EVERY + 1. */
  readonly #offsets: number[];
  readonly #storeId: string;
  readonly #publishedMark: FilePublishedMark | HeaderPublishedMark;
  readonly #lock: FileLock | undefined;
  #head: number;
  #size: number;
  #failed: StorageFailedError | undefined;
  #appending = false;
  #closed = false;
  /** History reads (`read`, `readPositions`) open now; the catch-up's own scans are not counted. */
  #reading = 0;

  private constructor(
    path: string,
    file: FileLike,
    open: (path: string, flags: string) => Promise<FileLike>,
    opened: { offsets: number[]; head: number; size: number; storeId: string; slot?: number; lock?: FileLock },
  ) {
    this.#path = path;
    this.#file = file;
    this.#open = open;
    this.#offsets = opened.offsets;
    this.#head = opened.head;
    this.#size = opened.size;
    this.#storeId = opened.storeId;
    // In the header's slot where it has one; a store from before the slot keeps its side file.
    this.#publishedMark = opened.slot === undefined
      ? new FilePublishedMark(`${path}.published`, opened.storeId)
      : new HeaderPublishedMark(path, { offset: opened.slot, storeId: opened.storeId });
    this.#lock = opened.lock;
  }

  /**
   * Open (or create) a store: lock it for this process, check that it is a
   * store, check every record, truncate a torn last line, and refuse damage
   * before it. A new store gets a header line with a fresh identity.
   *
   * @throws {NotAStoreError} When the path is not a regular file, or the file does not begin as a store.
   * @throws {StoreLockedError} When another server holds the store.
   * @throws {CorruptLogError} When a line before the last is damaged.
   */
  static async open(path: string, options: FileStorageOptions = {}): Promise<FileStorage> {
    const open = (options as FileStorageTestOptions).open ??
      ((p: string, flags: string) => openFile(p, flags) as Promise<FileLike>);
    const warn = options.warn ?? ((message: string) => console.warn(message));
    const readOnly = options.readOnly ?? false;
    await refuseNonFile(path);
    if (!readOnly) await (await open(path, "a")).close();
    // Lock before reading a byte: a second server must not take the first's write in progress for a torn tail.
    const lock = readOnly ? undefined : await lockFile(path);
    let file: FileLike | undefined;
    try {
      file = await open(path, readOnly ? "r" : "r+");
      const { size: fileSize } = await file.stat();
      const start = new Uint8Array(Math.min(fileSize, 64 * 1024));
      if (start.length > 0) await file.read(start, 0, start.length, 0);
      const kind = classifyStoreStart(start, fileSize);
      if (kind.kind === "foreign") throw new NotAStoreError(path, kind.reason);
      let storeId = kind.kind === "header" ? kind.header.storeId : kind.kind === "legacy" ? kind.storeId : "";
      let slot = kind.kind === "header" ? kind.published?.offset : undefined;
      if (kind.kind === "header" && kind.published && kind.published.value === undefined) {
        warn(
          `Storage file ${path}: its publish watermark does not check (a write cut short); ` +
            `republishing its records to the fanout from position 1 (listeners drop what they already have)`,
        );
      }
      let scan: ScanResult;
      if (kind.kind === "torn") {
        warn(`Storage file ${path}: dropping ${fileSize} bytes of a store whose creation was cut short`);
        scan = { offsets: [], head: 0, validSize: 0, fileSize, tornReason: "" };
      } else {
        scan = await scanFile(
          path,
          file,
          options.ids,
          options.fullParse ?? false,
          kind.kind === "header" ? kind.length : 0,
          options.onProgress,
        );
        if (scan.validSize < scan.fileSize) {
          warn(
            `Storage file ${path}: truncating ${scan.fileSize - scan.validSize} bytes of a torn last record ` +
              `at byte offset ${scan.validSize} (${scan.tornReason}); it was never acknowledged, so the broker redelivers it`,
          );
        }
      }
      if (!readOnly && scan.validSize < scan.fileSize) {
        await file.truncate(scan.validSize);
        await file.datasync();
      }
      if (!readOnly && scan.validSize === 0) {
        // A new store (or one whose very first write was cut short): its header comes first.
        const header = newStoreHeader();
        const bytes = storeHeaderBytes(header);
        const made = classifyStoreStart(bytes, bytes.length);
        slot = made.kind === "header" ? made.published?.offset : undefined;
        await writeAll(file, bytes, 0);
        await crashPoint("before-header-fsync"); // test-only
        await file.datasync();
        scan.validSize = bytes.length;
        storeId = header.storeId;
      }
      const storage = new FileStorage(path, file, open, { ...scan, size: scan.validSize, storeId, slot, lock });
      await storage.#dropIncompleteGroup(warn, readOnly);
      return storage;
    } catch (error) {
      await file?.close();
      await lock?.release();
      throw error;
    }
  }

  /**
   * The store's identity: a UUID made when the store was created and kept in
   * its header (derived from the first record for a store from before
   * headers; "" for an empty store opened read-only).
   */
  get storeId(): string {
    return this.#storeId;
  }

  /** The last durable position; 0 when empty. */
  get head(): number {
    return this.#head;
  }

  /**
   * The publish watermark: in the header's slot, rewritten in place (a copy of the file carries it); for a
   * store whose header has no slot (made by an older version) or that has no header, in the side file
   * `<path>.published` as `<position> <storeId>`.
   */
  get publishedMark(): PublishedMark {
    return this.#publishedMark;
  }

  /** History reads open now ({@link EventStorage.reading}): `read` and `readPositions` streams not yet ended. */
  get reading(): number {
    return this.#reading;
  }

  /** The storage file's path. */
  get path(): string {
    return this.#path;
  }

  /** Append a batch, write it in one call and fsync it. */
  async append(records: readonly AppendRecord[]): Promise<void> {
    if (this.#failed) throw this.#failed;
    if (this.#closed) throw new StorageFailedError(`Cannot append to ${this.#path}: storage is closed`);
    if (this.#appending) throw new Error(`Cannot append to ${this.#path}: another append is in progress`);
    if (records.length === 0) return;
    checkBatch(this.#head, records);
    this.#appending = true;
    try {
      // Encode every line into one buffer, noting where indexed positions start.
      let capacity = 0;
      for (const record of records) capacity += record.line.length * 3 + 1;
      const buffer = new Uint8Array(capacity);
      const lineStarts: number[] = [];
      let length = 0;
      for (const record of records) {
        if ((record.position - 1) % INDEX_EVERY === 0) lineStarts.push(this.#size + length);
        length += encoder.encodeInto(record.line, buffer.subarray(length)).written;
        buffer[length++] = NEWLINE;
      }
      const bytes = buffer.subarray(0, length);
      try {
        await writeAll(this.#file, bytes, this.#size);
        await crashPoint("before-fsync"); // test-only; a no-op unless RABBIT_EVENTSTORE_CRASH_AT is set
        await this.#file.datasync();
      } catch (cause) {
        this.#failed = new StorageFailedError(
          `Cannot append to storage file ${this.#path}: ${(cause as Error)?.message ?? cause}; ` +
            `the storage accepts nothing more — fix the disk and restart`,
          { cause },
        );
        // Best effort: cut off what may have been written. A restart also drops a torn tail.
        await this.#file.truncate(this.#size).catch(() => {});
        throw this.#failed;
      }
      this.#offsets.push(...lineStarts);
      this.#size += bytes.length;
      this.#head = records[records.length - 1].position;
    } finally {
      this.#appending = false;
    }
  }

  /**
   * NDJSON bytes of durable records from `from` (inclusive) up to the current head, as a byte stream: a
   * BYOB reader's buffer is filled in place (nothing allocated per chunk), a default reader gets chunks of
   * up to READ_CHUNK bytes.
   */
  read(from: number, options: ReadOptions = {}): ReadableStream<Uint8Array> {
    return this.#read(from, options, true);
  }

  #read(from: number, options: ReadOptions, counted: boolean): ReadableStream<Uint8Array> {
    const head = this.#head;
    const size = this.#size;
    const limit = options.limit ?? Infinity;
    const first = Math.max(1, from);
    const last = Math.min(head, first + limit - 1);
    let handle: FileLike | undefined;
    let position = 0;
    let end = 0;
    let open = counted;
    if (counted) this.#reading++;
    const ended = () => {
      if (open) this.#reading--;
      open = false;
    };
    return new ReadableStream({
      type: "bytes",
      autoAllocateChunkSize: READ_CHUNK,
      start: async () => {
        if (first > last) return ended();
        position = await this.#locate(first);
        end = last === head ? size : await this.#locate(last + 1);
        handle = await this.#open(this.#path, "r");
      },
      pull: async (controller) => {
        // With autoAllocateChunkSize there is always a request: the reader's buffer or one allocated for it.
        const request = controller.byobRequest!;
        if (!handle || position >= end) {
          ended();
          await handle?.close();
          handle = undefined;
          controller.close();
          request.respond(0);
          return;
        }
        const view = request.view!;
        const buffer = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
        const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, end - position), position);
        if (bytesRead === 0) {
          ended();
          await handle.close();
          handle = undefined;
          controller.error(new StorageFailedError(`Storage file ${this.#path} ended early at byte ${position}`));
          return;
        }
        position += bytesRead;
        request.respond(bytesRead);
      },
      cancel: async () => {
        ended();
        await handle?.close();
        handle = undefined;
      },
    }, { highWaterMark: 0 });
  }

  /** Durable records from `from` to `to` (inclusive), with the metadata parsed from their lines. */
  async *scan(from: number, to: number = this.#head): AsyncGenerator<StoredRecord> {
    const first = Math.max(1, from);
    const last = Math.min(to, this.#head);
    if (first > last) return;
    const lines = this.#read(first, { limit: last - first + 1 }, false)
      .pipeThrough(new TextDecoderStream());
    let rest = "";
    for await (const chunk of lines) {
      const text = rest + chunk;
      let start = 0;
      let nl: number;
      while ((nl = text.indexOf("\n", start)) !== -1) {
        const line = text.slice(start, nl);
        const record = parseRecord(line);
        const stored: StoredRecord = { position: record.position, id: record.id, line };
        if (typeof record.type === "string") stored.type = record.type;
        if (record.stream !== undefined) {
          stored.stream = record.stream;
          stored.streamVersion = record.streamVersion;
        }
        if (record.batchSize !== undefined) stored.batchSize = record.batchSize;
        yield stored;
        start = nl + 1;
      }
      rest = text.slice(start);
    }
  }

  /**
   * The ids of durable records from `from` to the head, oldest first. This
   * reads them back; a server's start-up uses the `ids` option of
   * {@link FileStorage.open} instead, which costs no second read.
   */
  async scanIds(from: number, visitor: IdVisitor): Promise<void> {
    for await (const record of this.scan(from)) {
      visitor.id(record.position, record.id);
      if (record.stream !== undefined) visitor.stream?.(record.position, record.stream, record.streamVersion!);
    }
  }

  /**
   * NDJSON bytes of the records at `positions`, in the order given. A run
   * of consecutive positions is one range; each range is one read from the
   * sparse index's entry before it (at most INDEX_EVERY - 1 lines to skip,
   * sized from the average line, so one read almost always does), and up to
   * READ_RUNS ranges are read at once. So a read costs what its records cost,
   * whatever the store's size.
   */
  readPositions(positions: readonly number[]): ReadableStream<Uint8Array> {
    const head = this.#head;
    const wanted = [...positions];
    let next = 0;
    let open = true;
    this.#reading++;
    const ended = () => {
      if (open) this.#reading--;
      open = false;
    };
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        if (next >= wanted.length) {
          ended();
          controller.close();
          return;
        }
        // Spans of wanted positions: consecutive ones, and ones at most MERGE_GAP apart (reading the lines
        // between is cheaper than another read), each read in one piece; unwanted lines are dropped.
        const spans: number[][] = [];
        while (next < wanted.length && spans.length < READ_RUNS) {
          const p = wanted[next++];
          if (!Number.isSafeInteger(p) || p < 1 || p > head) {
            ended();
            controller.error(new RangeError(`Cannot read position ${p}: the store holds 1..${head}`));
            return;
          }
          const span = [p];
          while (next < wanted.length) {
            const q = wanted[next];
            const last = span[span.length - 1];
            if (!(q > last && q - last <= MERGE_GAP && q - p < MAX_SPAN && q <= head)) break;
            span.push(q);
            next++;
          }
          spans.push(span);
        }
        let chunks: Uint8Array[];
        try {
          chunks = await Promise.all(spans.map(async (span) => {
            const first = span[0];
            const last = span[span.length - 1];
            const bytes = await this.#readRun(first, last);
            return last - first + 1 === span.length ? bytes : keepLines(bytes, first, span);
          }));
        } catch (error) {
          ended();
          controller.error(error);
          return;
        }
        for (const chunk of chunks) controller.enqueue(chunk);
      },
      cancel: ended,
    }, { highWaterMark: 0 });
  }

  /** Why the file cannot take an append now (it opens for writing, its disk has space), cached for a second. */
  unwritable(): Promise<string | undefined> {
    this.#writable ??= new WritableCheck(this.#path);
    return this.#writable.reason();
  }

  /** Close the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      if (this.#publishedMark instanceof HeaderPublishedMark) await this.#publishedMark.close();
      await this.#file.close();
    } finally {
      await this.#lock?.release();
    }
  }

  /**
   * A group of records appended together (`batchSize` K on its first) is
   * kept whole or not at all: an append cut short by a crash can leave its
   * first records complete, which the torn-tail rule alone would keep. So a
   * group the file ends inside is cut off here, before anyone reads it; it
   * was never acknowledged, and the broker redelivers its message.
   */
  async #dropIncompleteGroup(warn: (message: string) => void, readOnly: boolean): Promise<void> {
    const head = this.#head;
    let cut: { position: number; size: number } | undefined;
    for await (const record of this.scan(Math.max(1, head - MAX_GROUP + 2))) {
      if (record.batchSize !== undefined) {
        cut = record.position + record.batchSize - 1 > head
          ? { position: record.position, size: record.batchSize }
          : undefined;
      }
    }
    if (!cut) return;
    const offset = await this.#locate(cut.position);
    warn(
      `Storage file ${this.#path}: ${readOnly ? "would drop" : "dropping"} positions ${cut.position}..${head}, ` +
        `the first ${head - cut.position + 1} of a group of ${cut.size} cut short by a crash; ` +
        `it was never acknowledged, so the broker redelivers it`,
    );
    if (readOnly) return;
    await this.#file.truncate(offset);
    await this.#file.datasync();
    this.#head = cut.position - 1;
    this.#size = offset;
    while (this.#offsets.length > 0 && this.#offsets[this.#offsets.length - 1] >= offset) this.#offsets.pop();
  }

  /**
   * The bytes of records `p..q` (1 ≤ p ≤ q ≤ head) with their newlines: read
   * from the sparse index's entry at or before `p`, as many bytes as the
   * lines to skip and to take need on average (and a margin); more only
   * when those lines are longer than the average.
   */
  async #readRun(p: number, q: number): Promise<Uint8Array> {
    const k = Math.floor((p - 1) / INDEX_EVERY);
    const from = this.#offsets[k];
    const skip = p - 1 - k * INDEX_EVERY;
    const lines = skip + q - p + 1;
    const average = this.#size / this.#head;
    let buffer = new Uint8Array(Math.min(this.#size - from, Math.ceil(lines * average * 1.25) + 1024));
    let filled = 0;
    let scanned = 0;
    let seen = 0;
    let start = skip === 0 ? 0 : -1;
    while (true) {
      if (filled === buffer.length) {
        const bigger = new Uint8Array(Math.min(this.#size - from, buffer.length * 2));
        if (bigger.length === buffer.length) {
          throw new StorageFailedError(`Storage file ${this.#path} ended early at byte ${from + filled}`);
        }
        bigger.set(buffer);
        buffer = bigger;
      }
      const { bytesRead } = await this.#file.read(buffer, filled, buffer.length - filled, from + filled);
      if (bytesRead === 0) {
        throw new StorageFailedError(`Storage file ${this.#path} ended early at byte ${from + filled}`);
      }
      filled += bytesRead;
      while (scanned < filled) {
        const nl = buffer.indexOf(NEWLINE, scanned);
        if (nl === -1 || nl >= filled) {
          scanned = filled;
          break;
        }
        scanned = nl + 1;
        seen++;
        if (seen === skip) start = scanned;
        if (seen === lines) return buffer.subarray(start, scanned);
      }
    }
  }

  /** Byte offset where the record at `position` (1..head+1) starts. */
  async #locate(position: number): Promise<number> {
    if (position > this.#head) return this.#size;
    const k = Math.floor((position - 1) / INDEX_EVERY);
    let offset = this.#offsets[k];
    let skip = position - 1 - k * INDEX_EVERY;
    if (skip === 0) return offset;
    const buffer = new Uint8Array(64 * 1024);
    while (true) {
      const { bytesRead } = await this.#file.read(buffer, 0, buffer.length, offset);
      if (bytesRead === 0) throw new StorageFailedError(`Storage file ${this.#path} ended early at byte ${offset}`);
      let i = 0;
      while (i < bytesRead) {
        const nl = buffer.indexOf(NEWLINE, i);
        if (nl === -1 || nl >= bytesRead) break;
        i = nl + 1;
        if (--skip === 0) return offset + i;
      }
      offset += bytesRead;
    }
  }
}

interface ScanResult {
  offsets: number[];
  head: number;
  validSize: number;
  fileSize: number;
  tornReason: string;
}

/** The lines of `bytes` (records `first`, `first + 1`, …) at the ascending positions `keep`, in one buffer. */
function keepLines(bytes: Uint8Array, first: number, keep: readonly number[]): Uint8Array {
  const out = new Uint8Array(bytes.length);
  let length = 0;
  let start = 0;
  let position = first;
  let k = 0;
  while (k < keep.length && start < bytes.length) {
    const nl = bytes.indexOf(NEWLINE, start);
    if (position === keep[k]) {
      out.set(bytes.subarray(start, nl + 1), length);
      length += nl + 1 - start;
      k++;
    }
    start = nl + 1;
    position++;
  }
  return out.subarray(0, length);
}

/** Write all of `bytes` at file offset `at`. */
async function writeAll(file: FileLike, bytes: Uint8Array, at: number): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const { bytesWritten } = await file.write(bytes, written, bytes.length - written, at + written);
    if (bytesWritten <= 0) throw new Error("write returned 0 bytes");
    written += bytesWritten;
  }
}

/** Refuse a path that exists but is not a regular file (a device, a FIFO, a socket, a directory). */
async function refuseNonFile(path: string): Promise<void> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    if ((error as { code?: string })?.code === "ENOENT") return; // created below
    throw error;
  }
  if (info.isFile()) return;
  const what = info.isDirectory()
    ? "a directory"
    : info.isFIFO()
    ? "a FIFO"
    : info.isCharacterDevice()
    ? "a character device"
    : info.isBlockDevice()
    ? "a block device"
    : info.isSocket()
    ? "a socket"
    : "not a regular file";
  throw new NotAStoreError(path, `it is ${what}, not a regular file`);
}

/** Read the whole file once from `dataStart` (after the header): index it, validate it, find the torn tail. */
async function scanFile(
  path: string,
  file: FileLike,
  ids: IdVisitor | undefined,
  fullParse: boolean,
  dataStart: number,
  onProgress?: (bytes: number) => void,
): Promise<ScanResult> {
  const visit = ids && ((position: number, id: string) => ids.id(position, id));
  const streams = ids?.stream ? ids.stream.bind(ids) : undefined;
  const streamBatch = ids?.streamBatch ? ids.streamBatch.bind(ids) : undefined;
  const batch: StreamBatch = {
    count: 0,
    positions: new Float64Array(STREAM_BATCH),
    versions: new Float64Array(STREAM_BATCH),
    starts: new Uint32Array(STREAM_BATCH),
    ends: new Uint32Array(STREAM_BATCH),
  };
  // Hands the batched stream events over while their bytes are still in the buffer, and before any other.
  const flush = () => {
    if (batch.count > 0) streamBatch!(buffer, batch);
    batch.count = 0;
  };
  const visitBytes = ids?.ascii ? ids.ascii.bind(ids) : (visit &&
    ((position: number, bytes: Uint8Array, start: number, end: number) =>
      visit(position, String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]))));
  const span: StreamSpan = { start: -1, end: -1, version: 0, ascii: true };
  const { size: fileSize } = await file.stat();
  const offsets: number[] = [];
  let head = 0;
  let validSize = dataStart;
  /** The first bad line, if any; only allowed if nothing valid follows. */
  let bad: { line: number; offset: number; reason: string; position: number } | undefined;
  // Read ahead: the next chunk is read into `raw` while this one is checked in `buffer`.
  const raw = new Uint8Array(CHUNK);
  let readOffset = dataStart;
  const readNext = async (): Promise<number> => {
    if (readOffset >= fileSize) return 0;
    const { bytesRead } = await file.read(raw, 0, Math.min(raw.length, fileSize - readOffset), readOffset);
    readOffset += bytesRead;
    onProgress?.(readOffset);
    return bytesRead;
  };
  let pending = readNext();
  let buffer = new Uint8Array(2 * CHUNK);
  let carry = 0; // bytes at the start of buffer carried over from the last chunk
  let chunkStart = dataStart; // file offset of buffer[0]
  let lineNo = dataStart > 0 ? 1 : 0; // the header is line 1
  try {
    while (true) {
      const bytesRead = await pending;
      if (bytesRead === 0) break;
      if (carry + bytesRead > buffer.length) {
        // A line longer than the buffer: grow it.
        const bigger = new Uint8Array(2 * (carry + bytesRead));
        bigger.set(buffer.subarray(0, carry));
        buffer = bigger;
      }
      buffer.set(raw.subarray(0, bytesRead), carry);
      pending = readNext();
      const filled = carry + bytesRead;
      const lastNewline = buffer.lastIndexOf(NEWLINE, filled - 1);
      if (lastNewline === -1) {
        carry = filled; // the rest is one partial line so far
        continue;
      }
      const wholeUtf8 = isUtf8(buffer.subarray(0, lastNewline + 1));
      let start = 0;
      while (start <= lastNewline) {
        const nl = buffer.indexOf(NEWLINE, start);
        const lineOffset = chunkStart + start;
        lineNo++;
        // The common case: a line proven well-formed at the next position from its bytes alone.
        const idEnd = wholeUtf8 && !fullParse ? matchRecordId(buffer, start, nl, head + 1, span) : -1;
        if (idEnd >= 0) visitBytes?.(head + 1, buffer, start + idOffset(head + 1), idEnd);
        if (idEnd < 0 && streamBatch) flush(); // a record the full parse judges comes after those batched
        const reason = idEnd >= 0
          ? undefined
          : checkLine(buffer.subarray(start, nl), head + 1, wholeUtf8, visit, streams);
        if (reason === undefined || reason.startsWith(WRONG_POSITION)) {
          // A complete record after damage, or out of sequence: not a torn tail.
          if (bad) throw new CorruptLogError(path, bad.line, bad.offset, bad.reason, bad.position);
          if (reason) throw new CorruptLogError(path, lineNo, lineOffset, reason, head + 1);
          if (head % INDEX_EVERY === 0) offsets.push(lineOffset);
          head++;
          if (idEnd >= 0 && span.start >= 0) {
            if (streamBatch) {
              const n = batch.count++;
              batch.positions[n] = head;
              batch.versions[n] = span.version;
              batch.starts[n] = span.start;
              batch.ends[n] = span.end;
              if (batch.count === STREAM_BATCH) flush();
            } else streams?.(head, streamName(buffer, span), span.version);
          }
          validSize = chunkStart + nl + 1;
        } else if (!bad) {
          bad = { line: lineNo, offset: lineOffset, reason, position: head + 1 };
        }
        start = nl + 1;
      }
      if (streamBatch) flush();
      // Move the partial line after the last newline to the front.
      const rest = buffer.subarray(lastNewline + 1, filled);
      buffer.copyWithin(0, lastNewline + 1, filled);
      chunkStart += lastNewline + 1;
      carry = rest.length;
    }
  } finally {
    // When the scan throws, a read may still be in flight: let it end before the caller closes the file.
    await pending.catch(() => {});
  }
  const tornReason = bad ? `line ${bad.line}: ${bad.reason}` : `line ${lineNo + 1} has no newline`;
  return { offsets, head, validSize, fileSize, tornReason };
}

const WRONG_POSITION = "record has position";
/** The stream name the byte check found, as a string (most are ASCII: one string, no decoder call). */
function streamName(bytes: Uint8Array, span: StreamSpan): string {
  const name = bytes.subarray(span.start, span.end);
  return span.ascii ? String.fromCharCode.apply(null, name as unknown as number[]) : looseDecoder.decode(name);
}

/** Check one line; return why it is bad, or undefined when it is the expected record. */
function checkLine(
  bytes: Uint8Array,
  expected: number,
  knownUtf8: boolean,
  visit: ((position: number, id: string) => void) | undefined,
  streams: ((position: number, stream: string, streamVersion: number) => void) | undefined,
): string | undefined {
  let text: string;
  try {
    text = knownUtf8 ? decodeTrusted(bytes) : strictDecoder.decode(bytes);
  } catch {
    return "not valid UTF-8";
  }
  let record;
  try {
    record = parseRecord(text);
  } catch (error) {
    return (error as Error).message;
  }
  if (record.position !== expected) return `${WRONG_POSITION} ${record.position} where ${expected} was expected`;
  visit?.(record.position, record.id);
  if (record.stream !== undefined) streams?.(record.position, record.stream, record.streamVersion!);
  return undefined;
}

const looseDecoder = new TextDecoder();
function decodeTrusted(bytes: Uint8Array): string {
  return looseDecoder.decode(bytes);
}
