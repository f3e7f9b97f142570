/**
 * Chains of ascending global positions (one per stream, or one per
 * category) kept as links, for the stream index: each position points to the
 * previous position of its chain (4 bytes per position, in one {@link U32Column}
 * all chains share; backwards, so that adding an event writes at its own
 * position, where the start-up scan already is, not at the chain's last
 * event somewhere earlier in memory), each chain knows its first and last position and its
 * length, side by side (16 bytes per chain with a tag its owner keeps), and a chain longer than {@link CHECKPOINT_EVERY}
 * also keeps every CHECKPOINT_EVERY-th position, so that finding its k-th
 * position (back from the checkpoint above it), or its first position at or
 * after a global one, walks at most CHECKPOINT_EVERY - 1 links whatever its
 * length.
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
  /** prev[p]: the position before p in p's chain (0 for a chain's first). */
  readonly #prev = new U32Column();
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
    const base = chain * 4;
    const length = this.#chains.get(base + LENGTH);
    if (length === 0) this.#chains.set(base + FIRST, position);
    // The link is written at the new position (where the scan is), not at the chain's old last one.
    this.#prev.set(position, length === 0 ? 0 : this.#chains.get(base + LAST));
    if (length > 0 && length % CHECKPOINT_EVERY === 0) {
      let checkpoints = this.#checkpoints.get(chain);
      if (!checkpoints) this.#checkpoints.set(chain, checkpoints = []);
      checkpoints.push(position);
    }
    this.#chains.set(base + LAST, position);
    this.#chains.set(base + LENGTH, length + 1);
  }

  /** Up to `limit` positions of the chain from its element `k` (0-based), in order. */
  slice(chain: number, k: number, limit: number): number[] {
    const length = this.#chains.get(chain * 4 + LENGTH);
    const count = Math.min(limit, length - k);
    if (k < 0 || count <= 0) return [];
    // From the last element wanted back to the first.
    const out = new Array<number>(count);
    let position = this.#at(chain, k + count - 1);
    out[count - 1] = position;
    for (let i = count - 2; i >= 0; i--) out[i] = position = this.#prev.get(position);
    return out;
  }

  /** The index of the chain's first element at or above `position` (its length when there is none). */
  lowerBound(chain: number, position: number): number {
    const base = chain * 4;
    const length = this.#chains.get(base + LENGTH);
    if (length === 0 || this.#chains.get(base + LAST) < position) return length;
    if (this.#chains.get(base + FIRST) >= position) return 0;
    // The first checkpoint at or above `position` (else the last element), then back while still at or above.
    const checkpoints = this.#checkpoints.get(chain) ?? [];
    let lo = 0;
    let hi = checkpoints.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (checkpoints[mid] < position) lo = mid + 1;
      else hi = mid;
    }
    let k = lo < checkpoints.length ? (lo + 1) * CHECKPOINT_EVERY : length - 1;
    let at = lo < checkpoints.length ? checkpoints[lo] : this.#chains.get(base + LAST);
    while (true) {
      const before = this.#prev.get(at);
      if (before < position) return k; // the first element is below `position`, so this ends
      at = before;
      k--;
    }
  }

  /** Drop the chain's positions above `head`; returns its new last position (0 when it is empty now). */
  truncate(chain: number, head: number): number {
    const base = chain * 4;
    if (this.#chains.get(base + LAST) <= head) return this.#chains.get(base + LAST);
    const keep = this.lowerBound(chain, head + 1);
    const last = keep === 0 ? 0 : this.#at(chain, keep - 1);
    this.#chains.set(base + LENGTH, keep);
    const checkpoints = this.#checkpoints.get(chain);
    if (checkpoints) {
      checkpoints.length = Math.max(0, Math.floor((keep - 1) / CHECKPOINT_EVERY));
      if (checkpoints.length === 0) this.#checkpoints.delete(chain);
    }
    if (keep === 0) this.#chains.set(base + FIRST, 0);
    this.#chains.set(base + LAST, last);
    return last;
  }

  /** Bytes of typed storage held (the links and the per-chain entries; checkpoints not counted). */
  get bytes(): number {
    return this.#prev.bytes + this.#chains.bytes;
  }

  /** The position of element `k` (0 ≤ k < length): back from the next checkpoint (or the last), at most 63 links. */
  #at(chain: number, k: number): number {
    const base = chain * 4;
    const length = this.#chains.get(base + LENGTH);
    if (k === 0) return this.#chains.get(base + FIRST);
    const c = Math.ceil(k / CHECKPOINT_EVERY);
    let j = c * CHECKPOINT_EVERY;
    let position: number;
    if (j < length) position = this.#checkpoints.get(chain)![c - 1];
    else {
      j = length - 1;
      position = this.#chains.get(base + LAST);
    }
    for (; j > k; j--) position = this.#prev.get(position);
    return position;
  }
}
