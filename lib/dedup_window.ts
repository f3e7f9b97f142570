/**
 * Remembers which message ids were stored recently, in bounded memory.
 *
 * Ids are kept as 30-bit hashes in two generations of `capacity` entries
 * each: the window always covers at least the last `capacity` records and at
 * most twice that. A hash can collide, so a hit is only a candidate: the
 * caller confirms it against the stored record.
 *
 * Each generation is an open-addressing hash table in one typed array (load
 * at most 4/5), 8 bytes a slot: it starts at 4,096 slots and doubles as ids
 * come, up to 10 MiB a generation for the default 1,000,000 (20 MiB for the
 * whole window once it has seen 1,000,000 ids; a server that stored 1,000
 * since start-up holds 64 KiB), and is cleared for reuse after that, with no
 * per-id objects for the garbage collector, and adding 1,000,000 ids at
 * start-up takes tens of milliseconds instead of the ~0.5 s a `Map` took.
 * Ids added as bytes ({@link DedupWindow.addAscii}, the start-up scan) are
 * put 2,048 at a time after their slots were touched in a tight loop, so
 * their cache misses overlap (10M ids: 1.65–1.94 s instead of 2.37–2.49 s).
 *
 * @module
 */

/**
 * The recently stored message ids (see the module doc): {@link DedupWindow.add}
 * each stored id, ask {@link DedupWindow.candidates} before storing one.
 *
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
   * Ids from {@link DedupWindow.addAscii} not yet put (every other method
   * puts them first): put PENDING at a time after touching their slots in a
   * tight loop, so the cache misses of a start-up's millions of ids overlap.
   */
  readonly #pendingKeys = new Uint32Array(PENDING);
  readonly #pendingPositions = new Float64Array(PENDING);
  #pending = 0;

  /**
   * Create an empty window.
   *
   * @param capacity How many of the most recent ids are always remembered. @default {1_000_000}
   * @throws {RangeError} When `capacity` is not an integer from 1 to 2^28.
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

  /**
   * How many ids the window is guaranteed to remember.
   *
   * @example The default
   * ```ts
   * import { DedupWindow } from "./dedup_window.ts";
   * console.log(new DedupWindow().capacity); // 1000000
   * ```
   */
  get capacity(): number {
    return this.#capacity;
  }

  /**
   * Remember that `id` was stored at `position`. Positions come in increasing
   * order, as records are stored; one that goes back, or jumps 2^32 ahead,
   * starts a new generation (the window then forgets its oldest generation).
   *
   * @example Remember a stored id
   * ```ts
   * import { DedupWindow } from "./dedup_window.ts";
   * new DedupWindow(10).add("order-1", 1);
   * ```
   */
  add(id: string, position: number): void {
    this.#flush();
    this.#put(hash(id), position);
  }

  /**
   * {@link add} for an id given as its bytes, `bytes[start..end)`, which must
   * be ASCII (then they are the id's UTF-16 code units and hash the same).
   * Saves making a string of every id when rebuilding the window at start-up.
   *
   * @example Add an id straight from a stored line
   * ```ts
   * import { DedupWindow } from "./dedup_window.ts";
   * const line = new TextEncoder().encode('{"position":1,"id":"order-1",');
   * const window = new DedupWindow(10);
   * window.addAscii(line, 20, 27, 1);
   * console.log(window.candidates("order-1")); // [1]
   * ```
   */
  addAscii(bytes: Uint8Array, start: number, end: number, position: number): void {
    let h = FNV_OFFSET;
    for (let i = start; i < end; i++) {
      h ^= bytes[i];
      h = Math.imul(h, FNV_PRIME);
    }
    const n = this.#pending++;
    this.#pendingKeys[n] = fold(h);
    this.#pendingPositions[n] = position;
    if (this.#pending === PENDING) this.#flush();
  }

  #flush(): void {
    const count = this.#pending;
    if (count === 0) return;
    this.#pending = 0;
    this.#current.touch(this.#pendingKeys, count);
    for (let i = 0; i < count; i++) this.#put(this.#pendingKeys[i], this.#pendingPositions[i]);
  }

  #put(key: number, position: number): void {
    if (this.#current.size >= this.#capacity) this.#rotate();
    if (!this.#current.add(key, position)) {
      // Out of order or far apart (not how the server adds): start a fresh generation.
      this.#rotate();
      this.#current.add(key, position);
    }
  }

  #rotate(): void {
    const reused = this.#previous ?? new Generation(this.#capacity);
    reused.clear();
    this.#previous = this.#current;
    this.#current = reused;
  }

  /**
   * Positions whose id may equal `id` (same hash), newest first. A hit is a
   * candidate only: compare the record stored there.
   *
   * @example A redelivered message
   * ```ts
   * import { DedupWindow } from "./dedup_window.ts";
   * const window = new DedupWindow(10);
   * window.add("order-1", 1);
   * window.add("order-2", 2);
   * console.log(window.candidates("order-2")); // [2]: already stored at 2 (if the record there says so)
   * ```
   */
  candidates(id: string): number[] {
    this.#flush();
    const key = hash(id);
    const out: number[] = [];
    this.#current.collect(key, out);
    this.#previous?.collect(key, out);
    return out;
  }
}

/** Ids from addAscii put together (see DedupWindow's pending ids). */
const PENDING = 2048;

/** Slots a generation starts with (8 bytes each); it doubles as ids come, up to its capacity's. */
const INITIAL_SLOTS = 4096;

/** Largest capacity: a generation's table must fit a typed array comfortably. */
const MAX_CAPACITY = 1 << 28;

/**
 * One generation: linear probing over `slots` pairs in one Uint32Array,
 * `[hash + 1 (0 is empty), position - base]`, so a probe touches one cache
 * line. `base` is the generation's first position; positions are added in
 * increasing order, so the differences fit 32 bits.
 */
class Generation {
  #table: Uint32Array;
  #slots: number;
  /** The most slots this generation grows to: load at most 4/5 at `capacity` ids. */
  readonly #maxSlots: number;
  /** Size at which the table doubles (4/5 of its slots), or Infinity once it is at #maxSlots. */
  #growAt: number;
  #base = 0;
  size = 0;

  constructor(capacity: number) {
    this.#maxSlots = capacity + Math.ceil(capacity / 4) + 1;
    this.#slots = Math.min(this.#maxSlots, INITIAL_SLOTS);
    this.#table = new Uint32Array(2 * this.#slots);
    this.#growAt = this.#limit();
  }

  #limit(): number {
    return this.#slots === this.#maxSlots ? Infinity : Math.floor((this.#slots * 4) / 5);
  }

  clear(): void {
    this.#table.fill(0);
    this.size = 0;
  }

  /** Double the table (up to #maxSlots) and put every entry again. */
  #grow(): void {
    const old = this.#table;
    this.#slots = Math.min(this.#maxSlots, 2 * this.#slots);
    this.#table = new Uint32Array(2 * this.#slots);
    this.#growAt = this.#limit();
    for (let j = 0; j < old.length; j += 2) {
      if (old[j] !== 0) this.#insert(old[j], old[j + 1]);
    }
  }

  #home(key: number): number {
    return Math.floor(((Math.imul(key, 0x9e3779b1) >>> 0) * this.#slots) / 2 ** 32);
  }

  #insert(stored: number, delta: number): void {
    const table = this.#table;
    let i = this.#home(stored - 1);
    while (table[2 * i] !== 0) i = i + 1 === this.#slots ? 0 : i + 1;
    table[2 * i] = stored;
    table[2 * i + 1] = delta;
  }

  /** Load the home slot of each of `keys[0..count)`, so that the adds after it mostly hit the cache. */
  touch(keys: Uint32Array, count: number): void {
    const table = this.#table;
    let touched = 0;
    for (let i = 0; i < count; i++) touched |= table[2 * this.#home(keys[i])];
    this.touched = touched;
  }

  /** What touch loaded (kept so that the loads are not optimised away). */
  touched = 0;

  /** Store `position` under `key`; false when the position does not fit this generation (start a new one). */
  add(key: number, position: number): boolean {
    if (this.size === 0) this.#base = position;
    const delta = position - this.#base;
    if (delta < 0 || delta > 0xffffffff) return false;
    if (this.size >= this.#growAt) this.#grow();
    this.#insert(key + 1, delta);
    this.size++;
    return true;
  }

  /** Push the positions stored under `key`, newest first (positions grow with insertion, so by position). */
  collect(key: number, out: number[]): void {
    if (this.size === 0) return;
    const table = this.#table;
    const start = out.length;
    for (let i = this.#home(key); table[2 * i] !== 0; i = i + 1 === this.#slots ? 0 : i + 1) {
      if (table[2 * i] === key + 1) out.push(this.#base + table[2 * i + 1]);
    }
    if (out.length - start > 1) {
      const found = out.splice(start).sort((a, b) => b - a);
      for (const position of found) out.push(position);
    }
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
