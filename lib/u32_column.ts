/**
 * A growable column of unsigned 32-bit integers in fixed-size chunks, for
 * the stream index: growing never copies (no moment with the old and the new
 * array both alive, no doubling slack), and a chunk nobody wrote to is never
 * allocated, so a column indexed by global position costs nothing for the
 * stretches of a store that hold no stream events.
 *
 * @module
 */

/** Entries per chunk (256 KiB of Uint32). */
const CHUNK_BITS = 16;
const CHUNK = 1 << CHUNK_BITS;
const MASK = CHUNK - 1;

/** The largest value and index a {@link U32Column} holds. */
export const MAX_U32 = 0xffff_ffff;

/**
 * Unsigned 32-bit integers at indexes 0..2^32-1; unwritten entries read 0.
 *
 * @example Set and get
 * ```ts
 * import { U32Column } from "./u32_column.ts";
 * const column = new U32Column();
 * column.set(10_000_000, 42);
 * console.log(column.get(10_000_000), column.get(5), column.bytes); // 42 0 262144
 * ```
 */
export class U32Column {
  readonly #chunks: Array<Uint32Array | undefined> = [];
  #allocated = 0;

  /** The entry at `index` (0 when never written). */
  get(index: number): number {
    const chunk = this.#chunks[index >>> CHUNK_BITS];
    return chunk === undefined ? 0 : chunk[index & MASK];
  }

  /** Write `value` (0..2^32-1) at `index` (0..2^32-1). */
  set(index: number, value: number): void {
    const k = index >>> CHUNK_BITS;
    let chunk = this.#chunks[k];
    if (chunk === undefined) {
      while (this.#chunks.length < k) this.#chunks.push(undefined);
      this.#chunks[k] = chunk = new Uint32Array(CHUNK);
      this.#allocated++;
    }
    chunk[index & MASK] = value;
  }

  /** Bytes allocated for entries. */
  get bytes(): number {
    return this.#allocated * CHUNK * 4;
  }
}
