/**
 * The file store's publish watermark kept in its own header line: a slot of
 * fixed width (see `store_header.ts`) rewritten in place with one positional
 * write, so the watermark is part of the store file and a copy of the file
 * (`cp`, a backup, a move to a new disk) carries it.
 *
 * Not fsync'd: a lost or stale slot after a crash only means more records
 * are republished (listeners drop positions they already delivered), and the
 * next append's fsync makes it durable anyway. A write cut short leaves a
 * slot that does not check: it reads as 0 (unknown), so everything is
 * republished, never less than was confirmed. The slot's check covers the
 * store id, so a slot is never taken for another store's.
 *
 * @module
 */
import { decodePublishedSlot, PUBLISHED_SLOT_BYTES, publishedSlotBytes } from "./store_header.ts";
import type { PublishedMark } from "./storage.ts";

/**
 * What the mark needs of the store's open file: positional reads and writes
 * (`pread`/`pwrite`; the file store's descriptor is not `O_APPEND`).
 *
 * @example The subset of a `node:fs/promises` FileHandle it uses
 * ```ts
 * import { open } from "node:fs/promises";
 * import type { SlotFile } from "./header_published_mark.ts";
 * const file: SlotFile = await open("/tmp/example-slot-file", "w+");
 * await file.write(new Uint8Array(25), 0, 25, 0);
 * ```
 */
export interface SlotFile {
  /** Read up to `length` bytes at file offset `position` into `buffer` at `offset`. */
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  /** Write `length` bytes of `buffer` from `offset` at file offset `position`. */
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
}

/**
 * A {@link PublishedMark} in the header's slot at byte `offset` of the store file.
 *
 * @example Save and load through a store's open file
 * ```ts
 * import { open } from "node:fs/promises";
 * import { HeaderPublishedMark } from "./header_published_mark.ts";
 * const file = await open("/tmp/example-header-mark", "w+");
 * const mark = new HeaderPublishedMark(file, { offset: 0, storeId: "5b0c2f7e-0000-4000-8000-000000000000" });
 * await mark.save(10);
 * console.log(await mark.load()); // 10
 * await file.close();
 * ```
 */
export class HeaderPublishedMark implements PublishedMark {
  readonly #file: SlotFile;
  readonly #offset: number;
  readonly #storeId: string;

  /**
   * The watermark in the slot at `where.offset` of `file`, a header of store `where.storeId`.
   *
   * @param file The store's open file.
   * @param where The slot's byte offset in the file and the store's identity.
   */
  constructor(file: SlotFile, where: { offset: number; storeId: string }) {
    this.#file = file;
    this.#offset = where.offset;
    this.#storeId = where.storeId;
  }

  /** The slot's position, read from the file; 0 when its bytes do not check (unknown) or cannot be read. */
  async load(): Promise<number> {
    const bytes = new Uint8Array(PUBLISHED_SLOT_BYTES);
    try {
      const { bytesRead } = await this.#file.read(bytes, 0, bytes.length, this.#offset);
      if (bytesRead !== bytes.length) return 0;
    } catch {
      return 0;
    }
    return decodePublishedSlot(this.#storeId, bytes) ?? 0;
  }

  /** Rewrite the slot in place with one positional write (not fsync'd). */
  async save(position: number): Promise<void> {
    const bytes = publishedSlotBytes(this.#storeId, position);
    // Until a short write is completed the slot does not check: unknown, never wrong.
    for (let done = 0; done < bytes.length;) {
      const { bytesWritten } = await this.#file.write(bytes, done, bytes.length - done, this.#offset + done);
      if (bytesWritten <= 0) throw new Error("write returned 0 bytes");
      done += bytesWritten;
    }
  }
}
