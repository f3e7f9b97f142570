/**
 * One timeout for promises that may never settle (a publisher confirm the
 * broker never sends): used by the command module, the fanout publisher and
 * the server's dead-letter publish.
 *
 * @module
 */

/**
 * Settle like `promise`, or with `fallback()` (its value, or what it throws)
 * once `ms` have passed. A rejection of `promise` after that is ignored: the
 * caller has already moved on (and usually publishes again).
 *
 * @example Give up on a confirm that never comes
 * ```ts
 * import { settleWithin } from "./settle_within.ts";
 * const never = new Promise<string>(() => {});
 * const result = await settleWithin(never, 10, () => "timed out"); // "timed out"
 * ```
 */
export function settleWithin<T, F>(promise: Promise<T>, ms: number, fallback: () => F): Promise<T | F> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  promise.catch(() => {});
  const late = new Promise<F>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(fallback());
      } catch (error) {
        reject(error);
      }
    }, ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
