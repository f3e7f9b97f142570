/**
 * UTF-8 bytes to a string, the fastest way each runtime has.
 *
 * - Node: `Buffer#toString("utf8", start, end)` on a view of the same memory (no copy). Node's
 *   `TextDecoder` goes through ICU and cost 11% of the Node listener's CPU on a replay; the
 *   Buffer path is V8's own UTF-8 decoder.
 * - Deno: `TextDecoder`, which is Deno's fast path (its `node:buffer` shim decodes in JS).
 *
 * Both replace invalid sequences with U+FFFD, so the two give the same string for any bytes.
 * A range must not cut a multi-byte character (callers cut at `\n`, which is never inside one).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { IS_DENO } from "./main_module.ts";

const decoder = new TextDecoder();

/**
 * Decode `bytes[start, end)` as UTF-8 (invalid sequences become U+FFFD).
 *
 * @param bytes The bytes.
 * @param start The first byte to decode. @default {0}
 * @param end One past the last byte to decode. @default {bytes.length}
 * @returns The decoded text.
 * @example Decode one line of a body chunk
 * ```ts
 * import { utf8Text } from "./utf8_text.ts";
 * const chunk = new TextEncoder().encode('{"position":1}\n{"pos');
 * console.log(utf8Text(chunk, 0, chunk.indexOf(10))); // {"position":1}
 * ```
 */
export const utf8Text: (bytes: Uint8Array, start?: number, end?: number) => string = IS_DENO
  ? (bytes, start = 0, end = bytes.length) =>
    decoder.decode(start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end))
  : (bytes, start = 0, end = bytes.length) =>
    (bytes instanceof Buffer ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
      .toString("utf8", start, end);
