/**
 * The length of a string in UTF-8 bytes, counted without encoding it (names
 * and events are checked per message: no buffer per check).
 *
 * @module
 */

/**
 * Bytes `text` takes in UTF-8 (a lone surrogate counts as U+FFFD's 3, as `TextEncoder` writes it).
 *
 * @example Count a name's bytes
 * ```ts
 * import { utf8Length } from "./utf8_length.ts";
 * console.log(utf8Length("order-42"), utf8Length("é"), utf8Length("日本")); // 8 2 6
 * ```
 */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 2; // a pair: 2 UTF-16 units, 4 bytes
        i++;
      } else bytes += 2;
    } else bytes += 2;
  }
  return bytes;
}
