/**
 * The event an application appends to a stream, and how a list of them
 * becomes the body of one `batch` message: a JSON array of envelopes
 * `{"type", "metadata"?, "data"}` (see `lib/append_request.ts`, which reads it
 * on the server).
 *
 * @module
 */
import { MAX_BATCH } from "./append_request.ts";
import { serializeEvent } from "./serialize_event.ts";

/**
 * One event to append: its type, its data (any JSON value) and optional
 * metadata (a JSON object). Read back, it is an `EventRecord` with the same
 * `type`, `data` and `metadata`.
 *
 * @example An event for a shopping cart
 * ```ts
 * import type { StreamEvent } from "rabbit-eventstore/command";
 * type ItemAdded = StreamEvent<{ sku: string; quantity: number }> & { type: "ItemAdded" };
 * const event: ItemAdded = { type: "ItemAdded", data: { sku: "a", quantity: 2 }, metadata: { user: "ada" } };
 * ```
 */
export interface StreamEvent<T = unknown> {
  /** The event's type, stored as the record's `type`. */
  type: string;
  /** The event: any JSON value. */
  data: T;
  /** A JSON object stored beside the data (who, why, a correlation id). @default {undefined} */
  metadata?: Record<string, unknown>;
}

/**
 * Check events for `stream` and encode them as one batch body.
 *
 * @param stream The stream (named in error messages only).
 * @param events One event or an array of 1–1000.
 * @returns The body (a JSON array of envelopes) and the events as an array.
 * @throws {TypeError} When an event is not an object with a string `type` and JSON-serialisable `data`, or its
 *   `metadata` is not an object.
 * @throws {RangeError} When the array holds no event or more than 1000.
 * @example Encode two events
 * ```ts
 * import { encodeStreamEvents } from "./stream_event.ts";
 * const { body } = encodeStreamEvents("cart-1", [{ type: "A", data: 1 }, { type: "B", data: { x: 2 } }]);
 * console.log(body); // [{"type":"A","data":1},{"type":"B","data":{"x":2}}]
 * ```
 */
export function encodeStreamEvents<E extends StreamEvent>(
  stream: string,
  events: E | readonly E[],
): { body: string; events: E[] } {
  const list: E[] = Array.isArray(events) ? [...events] : [events as E];
  if (list.length === 0 || list.length > MAX_BATCH) {
    throw new RangeError(
      `Cannot append to stream ${stream}: expected 1 to ${MAX_BATCH} events, got ${list.length}`,
    );
  }
  const parts: string[] = [];
  for (let i = 0; i < list.length; i++) {
    const event = list[i] as unknown;
    const at = list.length === 1 ? "the event" : `event ${i + 1}`;
    if (typeof event !== "object" || event === null || Array.isArray(event)) {
      throw new TypeError(
        `Cannot append to stream ${stream}: ${at} must be an object { type, data, metadata? }, got ${
          describeValue(event)
        }`,
      );
    }
    const { type, data, metadata } = event as Record<string, unknown>;
    if (typeof type !== "string" || type === "") {
      throw new TypeError(
        `Cannot append to stream ${stream}: ${at} needs a non-empty string type, got ${describeValue(type)}`,
      );
    }
    if (data === undefined) throw new TypeError(`Cannot append to stream ${stream}: ${at} has no data`);
    let part = `{"type":${JSON.stringify(type)}`;
    if (metadata !== undefined) {
      if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) {
        throw new TypeError(
          `Cannot append to stream ${stream}: ${at} has metadata that is not an object: ${describeValue(metadata)}`,
        );
      }
      part += `,"metadata":${serialized(stream, at, "metadata", metadata)}`;
    }
    parts.push(`${part},"data":${serialized(stream, at, "data", data)}}`);
  }
  return { body: `[${parts.join(",")}]`, events: list };
}

/** `value` as serializeEvent writes it, its error restated for the append. */
function serialized(stream: string, at: string, what: string, value: unknown): string {
  try {
    return serializeEvent(value);
  } catch (error) {
    const reason = (error as Error).message.replace(/^Cannot publish event: /, "");
    throw new TypeError(`Cannot append to stream ${stream}: ${at} has ${what} JSON cannot hold: ${reason}`);
  }
}

/**
 * A short description of a bad value for an error message.
 *
 * @example Describe values
 * ```ts
 * import { describeValue } from "./stream_event.ts";
 * console.log(describeValue(null), describeValue("x"), describeValue([1])); // null "x" an array
 * ```
 */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value);
  if (typeof value === "object") return "an object";
  if (typeof value === "bigint") return `${value}n`;
  return typeof value === "number" || typeof value === "boolean" ? String(value) : typeof value;
}
