/**
 * The one retry delay of the store: a {@link Backoff} grows from `first` to
 * `max` (doubling, or by `first` each time), and {@link sleep} waits with
 * `node:timers/promises` and an `AbortSignal`, so whoever stops a retry loop
 * aborts its signal instead of keeping a hand-made wake-up.
 *
 * @module
 */
import { setTimeout as delay } from "node:timers/promises";

/**
 * How a {@link Backoff} grows.
 *
 * @example 50 ms, 100 ms, 150 ms, then 200 ms each time
 * ```ts
 * import { Backoff, type BackoffOptions } from "./backoff.ts";
 * const options: BackoffOptions = { first: 50, max: 200, growth: "linear" };
 * console.log(new Backoff(options).delay); // 50
 * ```
 */
export interface BackoffOptions {
  /** The first delay in ms. */
  readonly first: number;
  /** The largest delay in ms. */
  readonly max: number;
  /**
   * `"exponential"` doubles the delay after each use; `"linear"` adds `first`.
   * @default {"exponential"}
   */
  readonly growth?: "exponential" | "linear";
}

/**
 * Wait `ms` milliseconds, or less when `signal` aborts. Never rejects.
 *
 * @returns Whether the whole time passed (false: aborted).
 * @example Sleep until a timeout or a stop
 * ```ts
 * import { sleep } from "./backoff.ts";
 * const stop = new AbortController();
 * setTimeout(() => stop.abort(), 10);
 * const slept = await sleep(60_000, stop.signal); // false after about 10 ms
 * ```
 */
export async function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return false;
  try {
    await delay(ms, undefined, { signal });
    return true;
  } catch (error) {
    if (signal?.aborted) return false;
    throw error;
  }
}

/**
 * A growing retry delay: read {@link Backoff.delay} (for a log line), then
 * {@link Backoff.sleep} or {@link Backoff.next} to use it and grow it;
 * {@link Backoff.reset} after a success.
 *
 * @example Retry with backoff until stopped
 * ```ts
 * import { Backoff } from "./backoff.ts";
 * const stop = new AbortController();
 * const backoff = new Backoff({ first: 100, max: 5_000 });
 * let attempts = 0;
 * const tryOnce = async () => ++attempts >= 3;
 * while (!(await tryOnce())) {
 *   console.log(`retrying in ${backoff.delay} ms`); // 100, then 200
 *   if (!(await backoff.sleep(stop.signal))) break;
 * }
 * ```
 */
export class Backoff {
  readonly #first: number;
  readonly #max: number;
  readonly #linear: boolean;
  #delay: number;

  /**
   * A backoff at its first delay.
   *
   * @param options First and largest delay, and how it grows.
   * @throws {RangeError} When `first` is not positive or `max` is below `first`.
   */
  constructor(options: BackoffOptions) {
    if (!(options.first > 0)) {
      throw new RangeError(`Cannot create a backoff: first must be positive, got ${options.first}`);
    }
    if (!(options.max >= options.first)) {
      throw new RangeError(
        `Cannot create a backoff: max must be at least first (${options.first}), got ${options.max}`,
      );
    }
    this.#first = options.first;
    this.#max = options.max;
    this.#linear = options.growth === "linear";
    this.#delay = options.first;
  }

  /** The delay the next {@link Backoff.next} or {@link Backoff.sleep} uses, in ms. */
  get delay(): number {
    return this.#delay;
  }

  /** Use the current delay: returns it and grows the next one. */
  next(): number {
    const current = this.#delay;
    this.#delay = Math.min(this.#linear ? current + this.#first : current * 2, this.#max);
    return current;
  }

  /** Back to the first delay. */
  reset(): void {
    this.#delay = this.#first;
  }

  /**
   * Sleep the current delay (see {@link sleep}), then grow it.
   * @returns Whether the whole time passed (false: `signal` aborted).
   */
  sleep(signal?: AbortSignal): Promise<boolean> {
    return sleep(this.next(), signal);
  }
}
