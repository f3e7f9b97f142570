/**
 * The one JSON rule of the command module: an event is sent as JSON, and a
 * value JSON would silently lose or cannot encode is refused before anything
 * is sent. Shared by `publish` and `appendToStream`.
 *
 * @module
 */

/**
 * Serialise an event as JSON, refusing values that JSON would silently lose
 * or cannot encode: undefined, functions, symbols, BigInt and cycles.
 *
 * @param event Any value.
 * @returns Its JSON text.
 * @throws {TypeError} Naming what cannot be serialised.
 * @example Check an event before publishing it
 * ```ts
 * import { serializeEvent } from "rabbit-eventstore/command";
 * console.log(serializeEvent({ a: 1 })); // {"a":1}
 * try {
 *   serializeEvent({ total: 10n });
 * } catch (error) {
 *   console.log((error as TypeError).message); // Cannot publish event: property "total" is a bigint, …
 * }
 * ```
 */
export function serializeEvent(event: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(event, (key, value) => {
      const kind = typeof value;
      if (kind === "function" || kind === "symbol" || kind === "bigint") {
        throw new TypeError(
          `Cannot publish event: ${key ? `property "${key}" is` : "it is"} a ${kind}, which JSON cannot hold`,
        );
      }
      return value;
    });
  } catch (error) {
    if (error instanceof TypeError && error.message.startsWith("Cannot publish")) throw error;
    throw new TypeError(`Cannot publish event: it is not JSON-serialisable (${(error as Error).message})`);
  }
  if (text === undefined) throw new TypeError(`Cannot publish event: ${String(event)} is not JSON-serialisable`);
  return text;
}
