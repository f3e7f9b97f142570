/**
 * Cut JSON text into the raw text of its parts without re-encoding them, so
 * an event's data is stored byte for byte as it was published (a
 * `JSON.parse` + `JSON.stringify` round trip would change numbers such as
 * `1.50` or integers above 2^53). The text must already be valid JSON (the
 * caller parsed it once); these functions only find the boundaries.
 *
 * @module
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Index just past the JSON string that starts at `i` (a quote). */
function skipString(text: string, i: number): number {
  for (i++; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH) i++;
    else if (c === QUOTE) return i + 1;
  }
  return i;
}

/** Index just past the JSON value that starts at `i` (after whitespace). */
function skipValue(text: string, i: number): number {
  let depth = 0;
  for (; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      i = skipString(text, i) - 1;
      if (depth === 0) return i + 1;
    } else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      depth--;
      if (depth === 0) return i + 1;
      if (depth < 0) return i; // the end of the enclosing container
    } else if (depth === 0 && (c === "," || c === " " || c === "\t" || c === "\n" || c === "\r")) return i;
  }
  return i;
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && " \t\n\r".includes(text[i])) i++;
  return i;
}

/**
 * The raw texts of the elements of a JSON array.
 *
 * @param text Valid JSON text whose value is an array.
 * @returns Each element's text, trimmed; undefined when the value is not an array.
 * @example Split a batch
 * ```ts
 * import { splitArray } from "./json_raw.ts";
 * console.log(splitArray('[{"a":1.50}, 2, "x,y"]')); // [ '{"a":1.50}', '2', '"x,y"' ]
 * ```
 */
export function splitArray(text: string): string[] | undefined {
  let i = skipSpace(text, 0);
  if (text[i] === "\ufeff") i = skipSpace(text, i + 1);
  if (text[i] !== "[") return undefined;
  const out: string[] = [];
  i = skipSpace(text, i + 1);
  if (text[i] === "]") return out;
  while (i < text.length) {
    const end = skipValue(text, i);
    out.push(text.slice(i, end));
    i = skipSpace(text, end);
    if (text[i] === ",") i = skipSpace(text, i + 1);
    else break;
  }
  return out;
}

/**
 * The raw texts of the members of a JSON object, by key (the last of a
 * repeated key wins, as in `JSON.parse`).
 *
 * @param text Valid JSON text whose value is an object.
 * @returns Each member's value text, trimmed; undefined when the value is not an object.
 * @example Take an envelope apart
 * ```ts
 * import { objectMembers } from "./json_raw.ts";
 * const members = objectMembers('{"type":"Paid","data":{"amount":1.50}}');
 * console.log(members?.get("data")); // {"amount":1.50}
 * ```
 */
export function objectMembers(text: string): Map<string, string> | undefined {
  let i = skipSpace(text, 0);
  if (text[i] !== "{") return undefined;
  const out = new Map<string, string>();
  i = skipSpace(text, i + 1);
  while (i < text.length && text[i] === '"') {
    const keyEnd = skipString(text, i);
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    i = skipSpace(text, keyEnd);
    if (text[i] !== ":") return undefined;
    i = skipSpace(text, i + 1);
    const end = skipValue(text, i);
    out.set(key, text.slice(i, end));
    i = skipSpace(text, end);
    if (text[i] === ",") i = skipSpace(text, i + 1);
    else break;
  }
  return out;
}
