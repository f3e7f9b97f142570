/**
 * A fast, allocation-free check of one stored record line, for the storage
 * file's start-up scan (used by `file_storage.ts`), and of one JSON value.
 *
 * It proves, from the bytes alone, that a line is what {@link encodeRecord}
 * (or `encodeRecordLine`) writes: the contract prefix
 * `{"position":N,"id":"…","time":"…"` with the expected `N`, then, for an
 * event in a stream, `,"stream":"…","streamVersion":V` (found where
 * `encodeRecordLine` puts it, right after `time`), followed by well-formed
 * JSON members that include `data` and close the object. It never builds the
 * record. Anything it cannot prove — damage, other spacing, escapes in the id
 * or the stream name, a repeated contract key, `stream` anywhere else — is
 * not judged here: the caller falls back to a full `JSON.parse`
 * (`parseRecord`), which says what is wrong. So a line it accepts is one
 * `parseRecord` accepts with the same position, id, stream and stream
 * version; it never accepts more.
 *
 * UTF-8 validity is not checked here: the caller checks whole chunks.
 *
 * {@link isJsonBytes} uses the same value grammar for incoming event bodies
 * (`event_validator.ts`): proven JSON needs no `JSON.parse`.
 *
 * @module
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const ZERO = 0x30;
const NINE = 0x39;

const POSITION_PREFIX = bytesOf('{"position":');
const ID_PREFIX = bytesOf(',"id":"');
const TIME_PREFIX = bytesOf(',"time":"');
const STREAM_PREFIX = bytesOf(',"stream":"');
const VERSION_PREFIX = bytesOf('","streamVersion":');
const DATA_KEY = bytesOf("data");
/**
 * Top-level keys that would override a contract field if repeated (JSON.parse
 * keeps the last), or put a record in a stream from elsewhere than its fixed
 * place: the full parse judges those.
 */
const CONTRACT_KEYS = [
  bytesOf("position"),
  bytesOf("id"),
  bytesOf("time"),
  bytesOf("stream"),
  bytesOf("streamVersion"),
];

function bytesOf(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Deepest nesting the check follows; deeper lines go to the full parse. */
const MAX_DEPTH = 256;
const stack = new Uint8Array(MAX_DEPTH);

/**
 * Check the record line `bytes[start..end)` (without its newline) for
 * position `expected`.
 *
 * @returns The record's id when the line is proven to be a well-formed
 * record at `expected`; `undefined` when it is not proven (the caller must
 * parse it fully to find out).
 * @example Prove a line is the record at position 7
 * ```ts
 * import { matchRecordBytes } from "./record_bytes.ts";
 * const line = new TextEncoder().encode('{"position":7,"id":"a","time":"t","data":{"x":[1,true]}}');
 * console.log(matchRecordBytes(line, 0, line.length, 7)); // "a"
 * console.log(matchRecordBytes(line, 0, line.length, 8)); // undefined
 * ```
 */
export function matchRecordBytes(bytes: Uint8Array, start: number, end: number, expected: number): string | undefined {
  const idEnd = matchRecordId(bytes, start, end, expected);
  if (idEnd < 0) return undefined;
  const idStart = start + idOffset(expected);
  return String.fromCharCode.apply(null, bytes.subarray(idStart, idEnd) as unknown as number[]);
}

/**
 * The id's bytes start this far into a line that {@link matchRecordId} took for `position`.
 *
 * @example Where the id starts
 * ```ts
 * import { idOffset } from "./record_bytes.ts";
 * console.log(idOffset(7)); // 20: after {"position":7,"id":"
 * ```
 */
export function idOffset(position: number): number {
  return POSITION_PREFIX.length + digitCount(position) + ID_PREFIX.length;
}

function digitCount(n: number): number {
  let digits = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    digits++;
  }
  return digits;
}

/**
 * Where {@link matchRecordId} found a record's stream: filled in place (so
 * the start-up scan allocates nothing per line); `start` is -1 for a record
 * in no stream.
 *
 * @example Find the stream of a line
 * ```ts
 * import { matchRecordId, type StreamSpan } from "./record_bytes.ts";
 * const line = new TextEncoder().encode('{"position":1,"id":"a","time":"t","stream":"order-1","streamVersion":2,"data":{}}');
 * const span: StreamSpan = { start: -1, end: -1, version: 0, ascii: true };
 * matchRecordId(line, 0, line.length, 1, span);
 * console.log(new TextDecoder().decode(line.subarray(span.start, span.end)), span.version); // order-1 2
 * ```
 */
export interface StreamSpan {
  /** Index of the stream name's first byte (after its quote), or -1 when the record is in no stream. */
  start: number;
  /** Index just after the stream name's last byte. */
  end: number;
  /** The record's stream version (a positive integer). */
  version: number;
  /** Whether the name is all ASCII (else it holds UTF-8 sequences, checked by the caller as the whole chunk is). */
  ascii: boolean;
}

/**
 * {@link matchRecordBytes} without making the id a string: the id is the
 * printable ASCII at `bytes[start + idOffset(expected) .. result)`. With
 * `stream`, also says where the record's stream name is and its version
 * (see {@link StreamSpan}); a stream name with an escape is not proven.
 *
 * @param stream Filled in with the record's stream, when the line is proven. @default {undefined}
 * @returns The index just after the id's bytes, or -1 when the line is not proven.
 * @example Take the id's bytes without making a string
 * ```ts
 * import { idOffset, matchRecordId } from "./record_bytes.ts";
 * const line = new TextEncoder().encode('{"position":7,"id":"abc","time":"t","data":null}');
 * const end = matchRecordId(line, 0, line.length, 7);
 * console.log(line.subarray(idOffset(7), end)); // the bytes of abc
 * ```
 */
export function matchRecordId(
  bytes: Uint8Array,
  start: number,
  end: number,
  expected: number,
  stream?: StreamSpan,
): number {
  let i = start;
  if (!hasAt(bytes, i, end, POSITION_PREFIX)) return -1;
  i += POSITION_PREFIX.length;
  // position: a positive integer without leading zeros, equal to expected.
  const digitsStart = i;
  let position = 0;
  while (i < end && bytes[i] >= ZERO && bytes[i] <= NINE) position = position * 10 + (bytes[i++] - ZERO);
  const digits = i - digitsStart;
  if (digits === 0 || digits > 15 || bytes[digitsStart] === ZERO || position !== expected) return -1;
  if (!hasAt(bytes, i, end, ID_PREFIX)) return -1;
  i += ID_PREFIX.length;
  // id: printable ASCII without escapes (anything else is left to the full parse).
  while (i < end && bytes[i] !== QUOTE) {
    const b = bytes[i];
    if (b < 0x20 || b >= 0x7f || b === BACKSLASH) return -1;
    i++;
  }
  if (i >= end) return -1;
  const idEnd = i++;
  if (!hasAt(bytes, i, end, TIME_PREFIX)) return -1;
  i += TIME_PREFIX.length;
  i = skipStringBody(bytes, i, end);
  if (i < 0) return -1;
  // An event in a stream: its name (no escapes, no control characters) and version, where encodeRecordLine puts them.
  let streamStart = -1;
  let streamEnd = -1;
  let version = 0;
  let ascii = true;
  if (hasAt(bytes, i, end, STREAM_PREFIX)) {
    i += STREAM_PREFIX.length;
    streamStart = i;
    while (i < end && bytes[i] !== QUOTE) {
      const b = bytes[i];
      if (b < 0x20 || b === BACKSLASH) return -1;
      if (b >= 0x80) ascii = false;
      i++;
    }
    streamEnd = i;
    if (!hasAt(bytes, i, end, VERSION_PREFIX)) return -1;
    i += VERSION_PREFIX.length;
    // streamVersion: a positive integer without leading zeros (a safe integer: at most 15 digits).
    const versionStart = i;
    while (i < end && bytes[i] >= ZERO && bytes[i] <= NINE) version = version * 10 + (bytes[i++] - ZERO);
    if (i === versionStart || i - versionStart > 15 || bytes[versionStart] === ZERO) return -1;
  }
  // The rest: more members, one of them data, then the closing brace.
  let sawData = false;
  while (true) {
    i = skipSpace(bytes, i, end);
    if (i >= end) return -1;
    if (bytes[i] === CLOSE_BRACE) {
      i++;
      break;
    }
    if (bytes[i] !== COMMA) return -1;
    i = skipSpace(bytes, i + 1, end);
    if (i >= end || bytes[i] !== QUOTE) return -1;
    const keyStart = i + 1;
    i = skipStringBody(bytes, keyStart, end);
    if (i < 0) return -1;
    const keyEnd = i - 1;
    if (equalsAt(bytes, keyStart, keyEnd, DATA_KEY)) sawData = true;
    for (const key of CONTRACT_KEYS) if (equalsAt(bytes, keyStart, keyEnd, key)) return -1;
    i = skipSpace(bytes, i, end);
    if (i >= end || bytes[i] !== COLON) return -1;
    i = skipValue(bytes, i + 1, end);
    if (i < 0) return -1;
  }
  if (!sawData || skipSpace(bytes, i, end) !== end) return -1;
  if (stream) {
    stream.start = streamStart;
    stream.end = streamEnd;
    stream.version = version;
    stream.ascii = ascii;
  }
  return idEnd;
}

/**
 * Whether `bytes[start..end)` is one well-formed JSON value, with JSON
 * whitespace around it allowed, proven from the bytes alone (no string, no
 * parse). `false` means not proven, not invalid: a leading byte order mark
 * or nesting deeper than 256 are left to `JSON.parse`, which also says what
 * is wrong. A `true` is never given to bytes `JSON.parse` refuses, once they
 * are valid UTF-8 (not checked here: the caller decodes them anyway).
 *
 * @param start Index of the first byte. @default {0}
 * @param end Index after the last byte. @default {bytes.length}
 * @example Prove an event body is JSON without parsing it
 * ```ts
 * import { isJsonBytes } from "./record_bytes.ts";
 * const encoder = new TextEncoder();
 * console.log(isJsonBytes(encoder.encode(' {"a":[1,2.5e3,"x"]} '))); // true
 * console.log(isJsonBytes(encoder.encode('{"a":01}'))); // false
 * ```
 */
export function isJsonBytes(bytes: Uint8Array, start: number = 0, end: number = bytes.length): boolean {
  const i = skipValue(bytes, start, end);
  return i >= 0 && skipSpace(bytes, i, end) === end;
}

function hasAt(bytes: Uint8Array, at: number, end: number, expected: Uint8Array): boolean {
  if (at + expected.length > end) return false;
  for (let k = 0; k < expected.length; k++) if (bytes[at + k] !== expected[k]) return false;
  return true;
}

function equalsAt(bytes: Uint8Array, from: number, to: number, expected: Uint8Array): boolean {
  return to - from === expected.length && hasAt(bytes, from, to, expected);
}

/** JSON whitespace: space, tab, CR, LF. */
function skipSpace(bytes: Uint8Array, i: number, end: number): number {
  while (i < end) {
    const b = bytes[i];
    if (b !== 0x20 && b !== 0x09 && b !== 0x0d && b !== 0x0a) break;
    i++;
  }
  return i;
}

/** From just after an opening quote: the index after the closing quote, or -1 if not a JSON string. */
function skipStringBody(bytes: Uint8Array, i: number, end: number): number {
  while (i < end) {
    const b = bytes[i++];
    if (b === QUOTE) return i;
    if (b < 0x20) return -1;
    if (b === BACKSLASH) {
      if (i >= end) return -1;
      const e = bytes[i++];
      if (e === 0x75) { // \uXXXX
        if (i + 4 > end) return -1;
        for (let k = 0; k < 4; k++) if (!isHex(bytes[i++])) return -1;
      } else if (
        e !== QUOTE && e !== BACKSLASH && e !== 0x2f && e !== 0x62 && e !== 0x66 && e !== 0x6e && e !== 0x72 &&
        e !== 0x74
      ) return -1;
    }
  }
  return -1;
}

function isHex(b: number): boolean {
  return (b >= ZERO && b <= NINE) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
}

/** One JSON value from `i` (leading space allowed): the index after it, or -1 if not well-formed. */
function skipValue(bytes: Uint8Array, i: number, end: number): number {
  let depth = 0;
  while (true) {
    // Expecting a value.
    i = skipSpace(bytes, i, end);
    if (i >= end) return -1;
    const b = bytes[i];
    if (b === OPEN_BRACE || b === OPEN_BRACKET) {
      if (depth >= MAX_DEPTH) return -1;
      stack[depth++] = b;
      i = skipSpace(bytes, i + 1, end);
      if (i >= end) return -1;
      if (bytes[i] === (b === OPEN_BRACE ? CLOSE_BRACE : CLOSE_BRACKET)) {
        depth--;
        i++;
      } else if (b === OPEN_BRACE) {
        i = skipKey(bytes, i, end);
        if (i < 0) return -1;
        continue;
      } else continue;
    } else if (b === QUOTE) {
      i = skipStringBody(bytes, i + 1, end);
    } else if (b === 0x2d || (b >= ZERO && b <= NINE)) {
      i = skipNumber(bytes, i, end);
    } else if (b === 0x74) {
      i = literal(bytes, i, end, TRUE);
    } else if (b === 0x66) {
      i = literal(bytes, i, end, FALSE);
    } else if (b === 0x6e) {
      i = literal(bytes, i, end, NULL);
    } else return -1;
    if (i < 0) return -1;
    // After a value: close containers or move to the next element / member.
    while (true) {
      if (depth === 0) return i;
      i = skipSpace(bytes, i, end);
      if (i >= end) return -1;
      const c = bytes[i];
      const open = stack[depth - 1];
      if (c === COMMA) {
        i++;
        if (open === OPEN_BRACE) {
          i = skipKey(bytes, skipSpace(bytes, i, end), end);
          if (i < 0) return -1;
        }
        break;
      }
      if (c !== (open === OPEN_BRACE ? CLOSE_BRACE : CLOSE_BRACKET)) return -1;
      depth--;
      i++;
    }
  }
}

/** `"key":` from `i`: the index after the colon, or -1. */
function skipKey(bytes: Uint8Array, i: number, end: number): number {
  if (i >= end || bytes[i] !== QUOTE) return -1;
  i = skipStringBody(bytes, i + 1, end);
  if (i < 0) return -1;
  i = skipSpace(bytes, i, end);
  return i < end && bytes[i] === COLON ? i + 1 : -1;
}

const TRUE = bytesOf("true");
const FALSE = bytesOf("false");
const NULL = bytesOf("null");

function literal(bytes: Uint8Array, i: number, end: number, word: Uint8Array): number {
  return hasAt(bytes, i, end, word) ? i + word.length : -1;
}

/** `-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?` from `i`: the index after it, or -1. */
function skipNumber(bytes: Uint8Array, i: number, end: number): number {
  if (bytes[i] === 0x2d) i++;
  if (i >= end) return -1;
  if (bytes[i] === ZERO) i++;
  else if (bytes[i] > ZERO && bytes[i] <= NINE) i = skipDigits(bytes, i, end);
  else return -1;
  if (i < end && bytes[i] === 0x2e) {
    const from = ++i;
    i = skipDigits(bytes, i, end);
    if (i === from) return -1;
  }
  if (i < end && (bytes[i] === 0x65 || bytes[i] === 0x45)) {
    i++;
    if (i < end && (bytes[i] === 0x2b || bytes[i] === 0x2d)) i++;
    const from = i;
    i = skipDigits(bytes, i, end);
    if (i === from) return -1;
  }
  return i;
}

function skipDigits(bytes: Uint8Array, i: number, end: number): number {
  while (i < end && bytes[i] >= ZERO && bytes[i] <= NINE) i++;
  return i;
}
