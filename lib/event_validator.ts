/**
 * Decides whether an incoming message body can be stored.
 *
 * @module
 */
import { isJsonBytes } from "./record_bytes.ts";

// Drops a leading byte order mark (`ignoreBOM` is false by default), so no one else has to.
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * The outcome of {@link validateEvent}: the text to store, or why not.
 *
 * @example Store or dead-letter
 * ```ts
 * import { validateEvent, type Validation } from "./event_validator.ts";
 * const result: Validation = validateEvent(new TextEncoder().encode("{nope"), 1024);
 * if (!result.ok) console.log(`dead-lettered: ${result.reason}`);
 * ```
 */
export type Validation =
  | { ok: true; text: string }
  | { ok: false; reason: string };

/**
 * Accept a body that is valid UTF-8 JSON of at most `maxBytes` bytes. A
 * leading byte order mark is dropped.
 *
 * @param body The message body.
 * @param maxBytes The largest body accepted (`MAXEVENTBYTES`).
 * @example Accept a JSON body
 * ```ts
 * import { validateEvent } from "./event_validator.ts";
 * const bytes = new TextEncoder().encode('{"a":1}');
 * console.log(validateEvent(bytes, 1024)); // { ok: true, text: '{"a":1}' }
 * ```
 */
export function validateEvent(body: Uint8Array, maxBytes: number): Validation {
  if (body.byteLength > maxBytes) {
    return {
      ok: false,
      reason: `event is ${body.byteLength} bytes, larger than the maximum of ${maxBytes} (MAXEVENTBYTES)`,
    };
  }
  let text: string;
  try {
    text = decoder.decode(body);
  } catch {
    return { ok: false, reason: "event is not valid UTF-8" };
  }
  // Proven from the bytes (nearly every body): no JSON.parse. Anything else gets the parse, and its reason.
  if (isJsonBytes(body)) return { ok: true, text };
  try {
    JSON.parse(text);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    return { ok: false, reason: text.trim() === "" ? "event is empty" : `event is not valid JSON: ${detail}` };
  }
  return { ok: true, text };
}
