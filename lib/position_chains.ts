/**
 * Chains of ascending global positions (one per stream, or one per
 * category) kept as links, for the stream index: each position points to the
 * next position of its chain (4 bytes per position, in one {@link U32Column}
 * all chains share), each chain knows its first and last position and its
 * length, side by side (16 bytes per chain with a tag its owner keeps), and a chain longer than {@link CHECKPOINT_EVERY}
 * also keeps every CHECKPOINT_EVERY-th position, so that finding its k-th
 * position, or its first position at or after a global one, walks at most
 * CHECKPOINT_EVERY - 1 links whatever its length.
 *
 * Why links and not an array per chain: a million short streams would be a
 * million JS arrays (about 100 bytes each before their elements, and
 * doubling slack); links make the cost per event a flat 4 bytes and the cost
 * per chain a flat 16.
 *
 * @module
 */
import { U32Column } from "./u32_column.ts";

/** A chain keeps the position of every CHECKPOINT_EVERY-th element (0-based 0, E, 2E, …). */
export const CHECKPOINT_EVERY = 64;
const FIRST = 0;
const LAST = 1;
const LENGTH = 2;
const TAG = 3;

/**
 * Chains numbered 0, 1, 2 … of ascending positions.
 *
 * @example Two chains, read back from an element
 * ```ts
 * import { PositionChains } from "./position_chains.ts";
 * const chains = new PositionChains();
 * chains.append(0, 1);
 * chains.append(1, 2);
 * chains.append(0, 3);
 * console.log(chains.length(0), chains.slice(0, 0, 10), chains.lowerBound(0, 2)); // 2 [1, 3] 1
 * ```
 */
export class PositionChains {
  readonly #next = new U32Column();
  /** Per chain, side by side (one cache line for the three a step reads): first, last, length, tag. */
  readonly #chains = new U32Column();
  /** For chains longer than CHECKPOINT_EVERY: the positions of elements E, 2E, … (element 0 is `#first`). */
  readonly #checkpoints = new Map<number, number[]>();

  /** How many positions chain `chain` holds. */
  length(chain: number): number {
    return this.#chains.get(chain * 4 + LENGTH);
  }

  /** The chain's last position (0 when empty). */
  last(chain: number): number {
    return this.#chains.get(chain * 4 + LAST);
  }

  /** A 32-bit value its owner keeps with the chain (the stream index: the stream's category); 0 until set. */
  tag(chain: number): number {
    return this.#chains.get(chain * 4 + TAG);
  }

  /** Set the chain's {@link PositionChains.tag}. */
  setTag(chain: number, value: number): void {
    this.#chains.set(chain * 4 + TAG, value);
  }

  /** Add `position`, above every position of the chain, at its end. */
  append(chain: number, position: number): void {
    const length = this.#chains.get(chain * 4 + LENGTH);
    if (length === 0) this.#chains.set(chain * 4 + FIRST, position);
    else this.#next.set(this.#chains.get(chain * 4 + LAST), position);
    if (length > 0 && length % CHECKPOINT_EVERY === 0) {
      let checkpoints = this.#checkpoints.get(chain);
      if (!checkpoints) this.#checkpoints.set(chain, checkpoints = []);
      checkpoints.push(position);
    }
    this.#chains.set(chain * 4 + LAST, position);
    this.#chains.set(chain * 4 + LENGTH, length + 1);
  }

  /** Up to `limit` positions of the chain from its element `k` (0-based), in order. */
  slice(chain: number, k: number, limit: number): number[] {
    const length = this.#chains.get(chain * 4 + LENGTH);
    const count = Math.min(limit, length - k);
    if (k < 0 || count <= 0) return [];
    const out = new Array<number>(count);
    let position = this.#at(chain, k);
    out[0] = position;
    for (let i = 1; i < count; i++) out[i] = position = this.#next.get(position);
    return out;
  }

  /** The index of the chain's first element at or above `position` (its length when there is none). */
  lowerBound(chain: number, position: number): number {
    const length = this.#chains.get(chain * 4 + LENGTH);
    if (length === 0 || this.#chains.get(chain * 4 + LAST) < position) return length;
    if (this.#chains.get(chain * 4 + FIRST) >= position) return 0;
    // The last checkpoint below `position`, then at most CHECKPOINT_EVERY - 1 links.
    const checkpoints = this.#checkpoints.get(chain) ?? [];
    let lo = 0;
    let hi = checkpoints.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (checkpoints[mid] < position) lo = mid + 1;
      else hi = mid;
    }
    let k = lo * CHECKPOINT_EVERY;
    let at = lo === 0 ? this.#chains.get(chain * 4 + FIRST) : checkpoints[lo - 1];
    while (at < position) {
      at = this.#next.get(at);
      k++;
    }
    return k;
  }

  /** Drop the chain's positions above `head`; returns its new last position (0 when it is empty now). */
  truncate(chain: number, head: number): number {
    if (this.#chains.get(chain * 4 + LAST) <= head) return this.#chains.get(chain * 4 + LAST);
    const keep = this.lowerBound(chain, head + 1);
    this.#chains.set(chain * 4 + LENGTH, keep);
    const checkpoints = this.#checkpoints.get(chain);
    if (checkpoints) {
      checkpoints.length = Math.max(0, Math.floor((keep - 1) / CHECKPOINT_EVERY));
      if (checkpoints.length === 0) this.#checkpoints.delete(chain);
    }
    if (keep === 0) {
      this.#chains.set(chain * 4 + FIRST, 0);
      this.#chains.set(chain * 4 + LAST, 0);
      return 0;
    }
    const last = this.#at(chain, keep - 1);
    this.#chains.set(chain * 4 + LAST, last);
    return last;
  }

  /** Bytes of typed storage held (the links and the per-chain entries; checkpoints not counted). */
  get bytes(): number {
    return this.#next.bytes + this.#chains.bytes;
  }

  /** The position of element `k` (0 ≤ k < length). */
  #at(chain: number, k: number): number {
    const c = Math.floor(k / CHECKPOINT_EVERY);
    let position = c === 0 ? this.#chains.get(chain * 4 + FIRST) : this.#checkpoints.get(chain)![c - 1];
    for (let i = c * CHECKPOINT_EVERY; i < k; i++) position = this.#next.get(position);
    return position;
  }
}
