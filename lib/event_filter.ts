/**
 * Which events a filtered listener delivers: those of one stream, or of one
 * category (the streams `C-…`, and a stream named just `C`). Events in no
 * stream match no filter.
 *
 * @module
 */
import { categoryOf, parseStreamName } from "./stream_name.ts";

/**
 * A listener's filter: one stream, or one category.
 *
 * @example The events of order-42, and those of every order
 * ```ts
 * import type { EventFilter } from "./event_filter.ts";
 * const one: EventFilter = { stream: "order-42" };
 * const all: EventFilter = { category: "order" };
 * console.log(one, all);
 * ```
 */
export type EventFilter = { stream: string; category?: undefined } | { category: string; stream?: undefined };

/**
 * Check the `stream` and `category` options and make the filter they ask for.
 *
 * @param options The listener's options (other fields are ignored).
 * @returns The filter, or undefined when neither is given.
 * @throws {TypeError} When both are given, or the name is not a stream name (1–255 bytes of UTF-8, no
 *   control characters), or a category holds a `-` (a category is what comes before the first one).
 * @example Check a category
 * ```ts
 * import { eventFilter } from "./event_filter.ts";
 * console.log(eventFilter({ category: "order" })); // { category: "order" }
 * console.log(eventFilter({})); // undefined
 * ```
 */
export function eventFilter(options: { stream?: string; category?: string }): EventFilter | undefined {
  const { stream, category } = options;
  if (stream !== undefined && category !== undefined) {
    throw new TypeError(`Cannot listen to stream "${stream}" and category "${category}": give one of them`);
  }
  if (stream !== undefined) {
    const name = parseStreamName(stream);
    if (typeof name !== "string") throw new TypeError(`Cannot listen to stream ${quote(stream)}: ${name.reason}`);
    return { stream: name };
  }
  if (category !== undefined) {
    const name = parseStreamName(category);
    if (typeof name !== "string") throw new TypeError(`Cannot listen to category ${quote(category)}: ${name.reason}`);
    if (name.includes("-")) {
      throw new TypeError(
        `Cannot listen to category "${name}": it holds a "-" (the category of order-42 is order)`,
      );
    }
    return { category: name };
  }
  return undefined;
}

/**
 * Whether an event of `stream` (undefined: in no stream) passes `filter` (undefined: everything does).
 *
 * @example Match events by their stream
 * ```ts
 * import { matches } from "./event_filter.ts";
 * console.log(matches({ category: "order" }, "order-42"), matches({ stream: "order-1" }, "order-12")); // true false
 * ```
 */
export function matches(filter: EventFilter | undefined, stream: string | undefined): boolean {
  if (filter === undefined) return true;
  if (stream === undefined) return false;
  return filter.stream !== undefined ? stream === filter.stream : categoryOf(stream) === filter.category;
}

/** A value for an error message: a string in quotes, anything else as its type. */
function quote(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : `of type ${typeof value}`;
}
