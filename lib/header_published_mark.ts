/**
 * The file store's publish watermark kept in its own header line: a slot of
 * fixed width (see `store_header.ts`) rewritten in place with one positional
 * write (`pwrite`) on a descriptor of its own (not `O_APPEND`, and not the
 * append handle, whose writes stay the appends'), so the watermark is part of
 * the store file and a copy of the file (`cp`, a backup, a move to a new
 * disk) carries it.
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
import { type FileHandle, open } from "node:fs/promises";
import { decodePublishedSlot, PUBLISHED_SLOT_BYTES, publishedSlotBytes } from "./store_header.ts";
import type { PublishedMark } from "./storage.ts";

/**
 * A {@link PublishedMark} in the header's slot at byte `offset` of the store file.
 *
 * @example Save and load the slot of a new store
 * ```ts
 * import { FileStorage } from "./file_storage.ts";
 * const storage = await FileStorage.open("/tmp/example-header-mark");
 * await storage.publishedMark.save(storage.head); // a HeaderPublishedMark
 * console.log(await storage.publishedMark.load() === storage.head); // true
 * await storage.close();
 * ```
 */
export class HeaderPublishedMark implements PublishedMark {
  readonly #path: string;
  readonly #offset: number;
  readonly #storeId: string;
  #handle: Promise<FileHandle> | undefined;
  #closed = false;

  /**
   * The watermark in the slot at `where.offset` of the store file `path`, a header of store `where.storeId`.
   *
   * @param path The store file.
   * @param where The slot's byte offset in the file and the store's identity.
   */
  constructor(path: string, where: { offset: number; storeId: string }) {
    this.#path = path;
    this.#offset = where.offset;
    this.#storeId = where.storeId;
  }

  /** The slot's position, read from the file; 0 when its bytes do not check (unknown) or cannot be read. */
  async load(): Promise<number> {
    const bytes = new Uint8Array(PUBLISHED_SLOT_BYTES);
    try {
      const file = await open(this.#path, "r");
      try {
        const { bytesRead } = await file.read(bytes, 0, bytes.length, this.#offset);
        if (bytesRead !== bytes.length) return 0;
      } finally {
        await file.close();
      }
    } catch {
      return 0;
    }
    return decodePublishedSlot(this.#storeId, bytes) ?? 0;
  }

  /** Rewrite the slot in place with one positional write (not fsync'd). */
  async save(position: number): Promise<void> {
    if (this.#closed) throw new Error(`Cannot save the publish watermark of ${this.#path}: the store is closed`);
    const bytes = publishedSlotBytes(this.#storeId, position);
    this.#handle ??= open(this.#path, "r+");
    const file = await this.#handle;
    // Until a short write is completed the slot does not check: unknown, never wrong.
    for (let done = 0; done < bytes.length;) {
      const { bytesWritten } = await file.write(bytes, done, bytes.length - done, this.#offset + done);
      if (bytesWritten <= 0) throw new Error("write returned 0 bytes");
      done += bytesWritten;
    }
  }

  /** Datasync the slot's last save (import calls it; the server does not). */
  async sync(): Promise<void> {
    if (this.#closed) throw new Error(`Cannot sync the publish watermark of ${this.#path}: the store is closed`);
    await (await this.#handle)?.datasync();
  }

  /** Close its descriptor (with the store); saves after it fail. */
  async close(): Promise<void> {
    this.#closed = true;
    const handle = this.#handle;
    this.#handle = undefined;
    await (await handle?.catch(() => undefined))?.close();
  }
}
