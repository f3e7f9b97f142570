/**
 * Remembers which message ids were stored recently, in bounded memory.
 *
 * Ids are kept as 30-bit hashes in two generations of `capacity` entries
 * each: the window always covers at least the last `capacity` records and at
 * most twice that. A hash can collide, so a hit is only a candidate: the
 * caller confirms it against the stored record.
 *
 * Each generation is an open-addressing hash table in two typed arrays
 * (load at most 3/4), allocated once and cleared for reuse: 12 bytes a slot,
 * about 24 MiB a generation for the default 1,000,000, no per-id objects for
 * the garbage collector, and adding 1,000,000 ids at start-up takes a few
 * tens of milliseconds instead of the ~0.5 s a `Map` took.
 *
 * @module
 */

/**
 * @example Remember and look up ids
 * ```ts
 * import { DedupWindow } from "./dedup_window.ts";
 * const window = new DedupWindow(1000);
 * window.add("order-1", 1);
 * console.log(window.candidates("order-1")); // [1]
 * console.log(window.candidates("order-2")); // [] (almost always)
 * ```
 */
export class DedupWindow {
  readonly #capacity: number;
  #current: Generation;
  #previous: Generation | undefined;

  /**
   * @param capacity How many of the most recent ids are always remembered.
   * @default {1_000_000}
   */
  constructor(capacity = 1_000_000) {
    if (!Number.isSafeInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY) {
      throw new RangeError(
        `Cannot create dedup window: capacity must be an integer from 1 to ${MAX_CAPACITY}, got ${capacity}`,
      );
    }
    this.#capacity = capacity;
    this.#current = new Generation(capacity);
  }

  /** How many ids the window is guaranteed to remember. */
  get capacity(): number {
    return this.#capacity;
  }

  /** Remember that `id` was stored at `position`. */
  add(id: string, position: number): void {
    this.#rotate();
    this.#current.add(hash(id), position);
  }

  /**
   * {@link add} for an id given as its bytes, `bytes[start..end)`, which must
   * be ASCII (then they are the id's UTF-16 code units and hash the same).
   * Saves making a string of every id when rebuilding the window at start-up.
   */
  addAscii(bytes: Uint8Array, start: number, end: number, position: number): void {
    let h = FNV_OFFSET;
    for (let i = start; i < end; i++) {
      h ^= bytes[i];
      h = Math.imul(h, FNV_PRIME);
    }
    this.#rotate();
    this.#current.add(fold(h), position);
  }

  #rotate(): void {
    if (this.#current.size >= this.#capacity) {
      const reused = this.#previous ?? new Generation(this.#capacity);
      reused.clear();
      this.#previous = this.#current;
      this.#current = reused;
    }
  }

  /** Positions whose id may equal `id` (same hash), newest first. */
  candidates(id: string): number[] {
    const key = hash(id);
    const out: number[] = [];
    this.#current.collect(key, out);
    this.#previous?.collect(key, out);
    return out;
  }
}

/** Largest capacity: a generation's table must fit a typed array comfortably. */
const MAX_CAPACITY = 1 << 28;

/** One generation: linear probing over `keys` (hash + 1; 0 is empty) and `positions`. */
class Generation {
  readonly keys: Int32Array;
  readonly positions: Float64Array;
  readonly #shift: number;
  readonly #mask: number;
  size = 0;

  constructor(capacity: number) {
    let bits = 4;
    while ((1 << bits) * 3 < capacity * 4) bits++;
    this.keys = new Int32Array(1 << bits);
    this.positions = new Float64Array(1 << bits);
    this.#shift = 32 - bits;
    this.#mask = (1 << bits) - 1;
  }

  clear(): void {
    this.keys.fill(0);
    this.size = 0;
  }

  #home(key: number): number {
    return Math.imul(key, 0x9e3779b1) >>> this.#shift;
  }

  add(key: number, position: number): void {
    const keys = this.keys;
    let i = this.#home(key);
    while (keys[i] !== 0) i = (i + 1) & this.#mask;
    keys[i] = key + 1;
    this.positions[i] = position;
    this.size++;
  }

  /** Push the positions stored under `key`, newest first (probe order is insertion order). */
  collect(key: number, out: number[]): void {
    const keys = this.keys;
    const start = out.length;
    for (let i = this.#home(key); keys[i] !== 0; i = (i + 1) & this.#mask) {
      if (keys[i] === key + 1) out.push(this.positions[i]);
    }
    for (let a = start, b = out.length - 1; a < b; a++, b--) [out[a], out[b]] = [out[b], out[a]];
  }
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a over UTF-16 code units, folded to 30 bits. */
function hash(text: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, FNV_PRIME);
  }
  return fold(h);
}

function fold(h: number): number {
  return (h ^ (h >>> 30)) & 0x3fffffff;
}
