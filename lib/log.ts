/**
 * Debug and warning output. Debug lines go to stdout only when DEBUG is set.
 *
 * @module
 */

/**
 * A function that writes one log line.
 *
 * @example Collect lines in a test
 * ```ts
 * import type { Log } from "./log.ts";
 * const lines: string[] = [];
 * const log: Log = (message) => lines.push(message);
 * log("hello");
 * ```
 */
export type Log = (message: string) => void;

/**
 * Make a debug log that writes to stdout when `enabled`, else does nothing.
 *
 * @param enabled Whether to write at all (the `DEBUG` setting).
 * @param component Named in every line, e.g. `server`.
 * @example Log what the server does when DEBUG is set
 * ```ts
 * import { debugLog } from "./log.ts";
 * const log = debugLog(true, "server");
 * log("stored 10 events"); // [rabbit-eventstore server] stored 10 events
 * ```
 */
export function debugLog(enabled: boolean, component: string): Log {
  return enabled ? (message) => console.log(`[rabbit-eventstore ${component}] ${message}`) : () => {};
}

/**
 * A warning log that always writes to stderr.
 *
 * @param component Named in every line, e.g. `listener`.
 * @example Warn on stderr
 * ```ts
 * import { warnLog } from "./log.ts";
 * warnLog("server")("Dead-lettered 1 event"); // [rabbit-eventstore server] Dead-lettered 1 event
 * ```
 */
export function warnLog(component: string): Log {
  return (message) => console.warn(`[rabbit-eventstore ${component}] ${message}`);
}

/**
 * Wrap a log so it writes at most one line per `interval` ms. The first line
 * is written at once; lines within the interval after it are dropped and
 * counted, and the next line written says how many were dropped. Use one
 * wrapper per kind of message, so one kind never hides another.
 *
 * @param log Where the lines that pass go.
 * @param interval Least time between two written lines, in ms.
 * @param now The clock, in ms (tests pass a fake one). @default {Date.now}
 * @example Warn about a repeating failure at most every 30 s
 * ```ts
 * import { rateLimited, warnLog } from "./log.ts";
 * let t = 0;
 * const warn = rateLimited(warnLog("listener"), 30_000, () => t);
 * warn("History unreachable"); // written
 * t = 10_000;
 * warn("History unreachable"); // dropped
 * t = 30_000;
 * warn("History unreachable"); // written: "History unreachable (1 similar message suppressed)"
 * ```
 */
export function rateLimited(log: Log, interval: number, now: () => number = Date.now): Log {
  let last = -Infinity;
  let dropped = 0;
  return (message) => {
    const t = now();
    if (t - last < interval) {
      dropped++;
      return;
    }
    last = t;
    const note = dropped === 0 ? "" : ` (${dropped} similar message${dropped === 1 ? "" : "s"} suppressed)`;
    dropped = 0;
    log(message + note);
  };
}
