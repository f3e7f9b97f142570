/**
 * Debug and warning output. Debug lines go to stdout only when DEBUG is set.
 *
 * @module
 */

/** A function that writes one log line. */
export type Log = (message: string) => void;

/**
 * Make a debug log that writes to stdout when `enabled`, else does nothing.
 *
 * @example
 * ```ts
 * import { debugLog } from "./log.ts";
 * const log = debugLog(true, "server");
 * log("stored 10 events"); // [rabbit-eventstore server] stored 10 events
 * ```
 */
export function debugLog(enabled: boolean, component: string): Log {
  return enabled ? (message) => console.log(`[rabbit-eventstore ${component}] ${message}`) : () => {};
}

/** A warning log that always writes to stderr. */
export function warnLog(component: string): Log {
  return (message) => console.warn(`[rabbit-eventstore ${component}] ${message}`);
}
