/**
 * Stream names: 1–255 bytes of UTF-8 without control characters; the
 * category is the part before the first `-`.
 *
 * @module
 */
import { utf8Length } from "./utf8_length.ts";

/**
 * The stream name's category: the part before the first `-` (`order-42` →
 * `order`); a name without `-` is its own category.
 *
 * @example The category of a stream
 * ```ts
 * import { categoryOf } from "./stream_name.ts";
 * console.log(categoryOf("order-42"), categoryOf("order-42-a"), categoryOf("audit")); // order order audit
 * ```
 */
export function categoryOf(stream: string): string {
  const dash = stream.indexOf("-");
  return dash === -1 ? stream : stream.slice(0, dash);
}

/** Longest stream name in UTF-8 bytes. */
export const MAX_STREAM_BYTES = 255;

/**
 * Check a stream name: 1–255 bytes of UTF-8, no control characters.
 *
 * @param value The `stream` header's value.
 * @returns The name, or a string saying why it is not one.
 * @example Check names
 * ```ts
 * import { parseStreamName } from "./stream_name.ts";
 * console.log(parseStreamName("order-42"), parseStreamName(""));
 * ```
 */
export function parseStreamName(value: unknown): string | { reason: string } {
  if (value instanceof Uint8Array) value = new TextDecoder().decode(value);
  if (typeof value !== "string") return { reason: `stream must be a string, got ${typeof value}` };
  if (value.length === 0) return { reason: "stream name is empty" };
  const bytes = utf8Length(value);
  if (bytes > MAX_STREAM_BYTES) {
    return { reason: `stream name is ${bytes} bytes, longer than ${MAX_STREAM_BYTES}` };
  }
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(value)) return { reason: "stream name contains a control character" };
  if (value.includes("\ufffd")) return { reason: "stream name is not valid UTF-8" };
  return value;
}
