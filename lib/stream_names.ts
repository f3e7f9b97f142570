/**
 * Stream names interned as dense numbers 0, 1, 2 …, looked up by string or
 * straight from a name's UTF-8 bytes in a buffer: the start-up scan finds
 * the stream of each of millions of records without making a string for it.
 *
 * Layout (why): the names' UTF-8 bytes live in 1 MiB byte chunks, each as
 * `[length: u32][number: u32][bytes]`; an open-addressing table holds, per
 * slot, the FNV-1a hash of the bytes and where the name is. A lookup from
 * bytes touches two places in memory (the slot, the name), which is what
 * start-up pays per event for 10M events over 1M streams. A
 * `Map<string, number>` needs a fresh string per lookup (a string made and
 * hashed per event, then compared with the key's string: three places) and
 * costs about 70 bytes per name with its strings; this costs the name's
 * bytes + 12 and 8 per table slot (at most 3/4 full: 11–21 per name).
 *
 * @module
 */
import { U32Column } from "./u32_column.ts";

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
/** Bytes per chunk of names (a name longer than this gets a chunk of its own). */
const CHUNK_BITS = 20;
const CHUNK = 1 << CHUNK_BITS;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** FNV-1a of `bytes[start..end)`. */
function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let h = FNV_OFFSET;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i], FNV_PRIME);
  return h >>> 0;
}

/**
 * Names ↔ numbers, numbered in the order they were first added.
 *
 * @example Intern names, from strings and from bytes
 * ```ts
 * import { StreamNames } from "./stream_names.ts";
 * const names = new StreamNames();
 * console.log(names.intern("order-1"), names.intern("order-2"), names.intern("order-1")); // 0 1 0
 * const bytes = new TextEncoder().encode('"order-2"');
 * console.log(names.findBytes(bytes, 1, 8), names.find("order-3"), names.name(1)); // 1 -1 order-2
 * ```
 */
export class StreamNames {
  readonly #chunks: Uint8Array[] = [];
  /** Free bytes from here in the last chunk. */
  #used = CHUNK;
  /** Name number → where it is (chunk << CHUNK_BITS | offset); for `name()` only. */
  readonly #where = new U32Column();
  #size = 0;
  /** Slot k: `#table[2k]` the hash, `#table[2k + 1]` where the name is + 1 (0: empty); slots: a power of two. */
  #table = new Uint32Array(2 * 1024);
  /** Scratch for {@link StreamNames.findMany}: hashes, first slots' entries. */
  #hashes = new Uint32Array(0);
  #entries = new Uint32Array(0);
  /** Where findMany leaves what it touched, so the loads are not optimised away. */
  #touched = 0;
  /** Scratch for a string's UTF-8 bytes. */
  #scratch = new Uint8Array(1024);

  /** How many names. */
  get size(): number {
    return this.#size;
  }

  /** The name numbered `id` (0 ≤ id < size). */
  name(id: number): string {
    const where = this.#where.get(id);
    const chunk = this.#chunks[where >>> CHUNK_BITS];
    const at = where & (CHUNK - 1);
    return decoder.decode(chunk.subarray(at + 8, at + 8 + readU32(chunk, at)));
  }

  /** The name's number, or -1. */
  find(name: string): number {
    const length = this.#encode(name);
    return this.findBytes(this.#scratch, 0, length);
  }

  /** The number of the name whose UTF-8 bytes are `bytes[start..end)`, or -1; makes no string. */
  findBytes(bytes: Uint8Array, start: number, end: number): number {
    const slot = this.#slot(bytes, start, end, hashBytes(bytes, start, end));
    const entry = this.#table[2 * slot + 1];
    if (entry === 0) return -1;
    const where = entry - 1;
    return readU32(this.#chunks[where >>> CHUNK_BITS], (where & (CHUNK - 1)) + 4);
  }

  /**
   * {@link StreamNames.findBytes} for `count` names at once, into `out`:
   * their hashes first, then a touch of each one's slot and of the name its
   * slot points to, in tight loops (so that the cache misses of independent
   * lookups overlap instead of queueing), then the lookups, which now mostly
   * hit the cache.
   */
  findMany(bytes: Uint8Array, starts: Uint32Array, ends: Uint32Array, count: number, out: Int32Array): void {
    if (this.#hashes.length < count) {
      this.#hashes = new Uint32Array(count);
      this.#entries = new Uint32Array(count);
    }
    const hashes = this.#hashes;
    const entries = this.#entries;
    for (let i = 0; i < count; i++) hashes[i] = hashBytes(bytes, starts[i], ends[i]);
    const table = this.#table;
    const mask = (table.length >> 1) - 1;
    for (let i = 0; i < count; i++) entries[i] = table[2 * (hashes[i] & mask) + 1];
    let touched = 0;
    const chunks = this.#chunks;
    for (let i = 0; i < count; i++) {
      const entry = entries[i];
      if (entry !== 0) touched |= chunks[(entry - 1) >>> CHUNK_BITS][(entry - 1) & (CHUNK - 1)];
    }
    this.#touched = touched;
    for (let i = 0; i < count; i++) {
      const entry = table[2 * this.#slot(bytes, starts[i], ends[i], hashes[i]) + 1];
      out[i] = entry === 0 ? -1 : readU32(chunks[(entry - 1) >>> CHUNK_BITS], ((entry - 1) & (CHUNK - 1)) + 4);
    }
  }

  /** The name's number, numbering it next if it is new. */
  intern(name: string): number {
    const length = this.#encode(name);
    return this.internBytes(this.#scratch, 0, length);
  }

  /** {@link StreamNames.intern} for the name whose UTF-8 bytes are `bytes[start..end)`. */
  internBytes(bytes: Uint8Array, start: number, end: number): number {
    const hash = hashBytes(bytes, start, end);
    let slot = this.#slot(bytes, start, end, hash);
    const entry = this.#table[2 * slot + 1];
    if (entry !== 0) {
      const where = entry - 1;
      return readU32(this.#chunks[where >>> CHUNK_BITS], (where & (CHUNK - 1)) + 4);
    }
    const id = this.#size++;
    const where = this.#store(bytes, start, end, id);
    this.#where.set(id, where);
    if (this.#size * 4 > (this.#table.length >> 1) * 3) {
      this.#grow();
      slot = this.#slot(bytes, start, end, hash);
    }
    this.#table[2 * slot] = hash;
    this.#table[2 * slot + 1] = where + 1;
    return id;
  }

  /** The slot holding the name `bytes[start..end)`, or the empty slot where it would go. */
  #slot(bytes: Uint8Array, start: number, end: number, hash: number): number {
    const table = this.#table;
    const mask = (table.length >> 1) - 1;
    const length = end - start;
    for (let slot = hash & mask;; slot = (slot + 1) & mask) {
      const entry = table[2 * slot + 1];
      if (entry === 0) return slot;
      if (table[2 * slot] !== hash) continue;
      const where = entry - 1;
      const chunk = this.#chunks[where >>> CHUNK_BITS];
      const at = where & (CHUNK - 1);
      if (readU32(chunk, at) !== length) continue;
      let same = true;
      for (let i = 0; i < length; i++) {
        if (chunk[at + 8 + i] !== bytes[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return slot;
    }
  }

  /** Keep the name's bytes with its length and number; returns where. */
  #store(bytes: Uint8Array, start: number, end: number, id: number): number {
    const need = 8 + end - start;
    if (this.#used + need > CHUNK || this.#chunks.length === 0) {
      this.#chunks.push(new Uint8Array(Math.max(CHUNK, need)));
      this.#used = 0;
    }
    const k = this.#chunks.length - 1;
    const chunk = this.#chunks[k];
    const at = this.#used;
    writeU32(chunk, at, end - start);
    writeU32(chunk, at + 4, id);
    chunk.set(bytes.subarray(start, end), at + 8);
    this.#used += need;
    if (need > CHUNK) this.#used = CHUNK; // a chunk of its own: nothing more goes in it
    return k * CHUNK + at;
  }

  /** The name's UTF-8 bytes into the scratch buffer; returns their length. */
  #encode(name: string): number {
    if (name.length * 3 > this.#scratch.length) this.#scratch = new Uint8Array(name.length * 3);
    return encoder.encodeInto(name, this.#scratch).written;
  }

  /** Double the table and place every name again (from the hashes it holds). */
  #grow(): void {
    const old = this.#table;
    const table = new Uint32Array(old.length * 2);
    const mask = (table.length >> 1) - 1;
    for (let k = 0; k < old.length; k += 2) {
      if (old[k + 1] === 0) continue;
      let slot = old[k] & mask;
      while (table[2 * slot + 1] !== 0) slot = (slot + 1) & mask;
      table[2 * slot] = old[k];
      table[2 * slot + 1] = old[k + 1];
    }
    this.#table = table;
  }
}

function readU32(bytes: Uint8Array, at: number): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
}

function writeU32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value & 0xff;
  bytes[at + 1] = (value >>> 8) & 0xff;
  bytes[at + 2] = (value >>> 16) & 0xff;
  bytes[at + 3] = (value >>> 24) & 0xff;
}
