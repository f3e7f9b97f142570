/**
 * Remembers which message ids were stored recently, in bounded memory.
 *
 * Ids are kept as 30-bit hashes (small integers V8 stores unboxed), in two
 * generations of `capacity` entries each: the window always covers at least
 * the last `capacity` records and at most twice that. A hash can collide, so a
 * hit is only a candidate: the caller confirms it against the stored record.
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
  #current = new Map<number, number | number[]>();
  #previous = new Map<number, number | number[]>();

  /**
   * @param capacity How many of the most recent ids are always remembered.
   * @default {1_000_000}
   */
  constructor(capacity = 1_000_000) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(`Cannot create dedup window: capacity must be a positive integer, got ${capacity}`);
    }
    this.#capacity = capacity;
  }

  /** How many ids the window is guaranteed to remember. */
  get capacity(): number {
    return this.#capacity;
  }

  /** Remember that `id` was stored at `position`. */
  add(id: string, position: number): void {
    if (this.#current.size >= this.#capacity) {
      this.#previous = this.#current;
      this.#current = new Map();
    }
    const key = hash(id);
    const existing = this.#current.get(key);
    if (existing === undefined) this.#current.set(key, position);
    else if (typeof existing === "number") this.#current.set(key, [existing, position]);
    else existing.push(position);
  }

  /** Positions whose id may equal `id` (same hash), newest first. */
  candidates(id: string): number[] {
    const key = hash(id);
    const out: number[] = [];
    for (const generation of [this.#current, this.#previous]) {
      const value = generation.get(key);
      if (value === undefined) continue;
      if (typeof value === "number") out.push(value);
      else for (let i = value.length - 1; i >= 0; i--) out.push(value[i]);
    }
    return out;
  }
}

/** FNV-1a over UTF-16 code units, folded to 30 bits. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h ^ (h >>> 30)) & 0x3fffffff;
}
