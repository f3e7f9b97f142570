/**
 * The first line of a storage file: what makes a file a store, and the
 * store's identity.
 *
 * ```json
 * {"rabbitEventstore":1,"storeId":"5b0c…","created":"2026-12-01T12:00:00.000Z","published":"0000000000001234:9f3a07c2"}
 * ```
 *
 * The identity is a UUID made when the store is created; it lives in the
 * file, so it survives restarts and goes when the file goes. Stores written
 * before the header existed begin with the record at position 1; they are
 * still stores, and their identity is derived from that first record's bytes
 * (stable, and different for any other store).
 *
 * The last member, `published`, is the store's publish watermark in a slot
 * of fixed width (16 digits, a colon, the CRC-32 of the store id and the
 * digits in 8 hex digits), rewritten in place by `HeaderPublishedMark`: the
 * watermark lives in the store file, so a copy of the file carries it. A
 * slot whose bytes do not check (a write cut short, any bytes at all in its
 * 25) reads as unknown, and the rest of the header still opens. Headers
 * written before the slot existed have none (their watermark is a side
 * file); the format stays 1, as older servers ignore the member.
 *
 * A new store's header line is padded with spaces before `,"published"` to
 * 4096 bytes (`HEADER_LINE_BYTES`), so its first record starts at byte 4096:
 * the slot's in-place rewrites share no 512-byte sector and no 4 KiB page
 * with a record, and the log's records stay append-only. Older headers (not
 * padded) are read and their slot rewritten as before.
 *
 * Only `FileStorage` reads these bytes; everyone else sees `storeId` and
 * `publishedMark`.
 *
 * @module
 */
import { createHash, randomUUID } from "node:crypto";

/**
 * The header of a storage file.
 *
 * @example A header
 * ```ts
 * import type { StoreHeader } from "./store_header.ts";
 * const header: StoreHeader = {
 *   version: 1,
 *   storeId: "5b0c2f7e-0000-4000-8000-000000000000",
 *   created: "2026-12-01T12:00:00.000Z",
 * };
 * console.log(header.storeId);
 * ```
 */
export interface StoreHeader {
  /** The format version; this code writes and reads 1. */
  version: number;
  /** The store's identity, a UUID. */
  storeId: string;
  /** When the store was created, ISO-8601 UTC. */
  created: string;
}

/** The format version this code writes (the `published` slot is optional in it). */
const STORE_FORMAT = 1;
/** How a header line begins. */
const HEADER_START = '{"rabbitEventstore":';
/** How a store written before headers begins (see `encodeRecord`). */
const LEGACY_START = '{"position":1,';
/**
 * A header line longer than this is not ours; {@link classifyStoreStart}
 * needs at most this many bytes of a file.
 *
 * @example Read enough of a file to classify it
 * ```ts
 * import { classifyStoreStart, MAX_HEADER_BYTES } from "./store_header.ts";
 * const file = new TextEncoder().encode("");
 * console.log(classifyStoreStart(file.subarray(0, MAX_HEADER_BYTES), file.length).kind); // "empty"
 * ```
 */
export const MAX_HEADER_BYTES = 4096;

/** What precedes the slot's 25 bytes in the header line; the slot is followed by `"}` and the newline. */
const SLOT_KEY = ',"published":"';
const SLOT_KEY_BYTES = new TextEncoder().encode(SLOT_KEY);
/**
 * Bytes of the watermark slot in a header: 16 decimal digits (every safe
 * integer fits), `:`, and 8 hex digits of CRC-32.
 *
 * @example The slot is of fixed width
 * ```ts
 * import { PUBLISHED_SLOT_BYTES, publishedSlotBytes } from "./store_header.ts";
 * console.log(publishedSlotBytes("5b0c2f7e-0000-4000-8000-000000000000", 42).length === PUBLISHED_SLOT_BYTES); // true
 * ```
 */
export const PUBLISHED_SLOT_BYTES = 25;
const SLOT = /^(\d{16}):([0-9a-f]{8})$/;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A new header with a fresh identity.
 *
 * @param now The creation time. @default {new Date()}
 * @example Make and encode a header
 * ```ts
 * import { newStoreHeader, storeHeaderBytes } from "./store_header.ts";
 * const line = new TextDecoder().decode(storeHeaderBytes(newStoreHeader()));
 * console.log(line.startsWith('{"rabbitEventstore":1,')); // true
 * ```
 */
export function newStoreHeader(now: Date = new Date()): StoreHeader {
  return { version: STORE_FORMAT, storeId: randomUUID(), created: now.toISOString() };
}

/**
 * Bytes a new store's header line takes, newline included: one 4 KiB page (eight 512-byte sectors), so
 * the watermark slot, rewritten in place, shares no sector and no page with a record (a torn write of it on
 * power loss cannot reach a record that was fsync'd), and sits in the page's last sector, away from the
 * store id.
 */
export const HEADER_LINE_BYTES = 4096;

/**
 * The header as its line, with the trailing newline and a watermark slot holding `published`; padded with
 * spaces (JSON whitespace) before the slot to {@link HEADER_LINE_BYTES}, so readers that predate the
 * padding still find the slot right before the closing `"}`.
 */
function encodeStoreHeader(header: StoreHeader, published: number): string {
  const front = `${HEADER_START}${header.version},"storeId":${JSON.stringify(header.storeId)},"created":${
    JSON.stringify(header.created)
  }`;
  const back = `${SLOT_KEY}${new TextDecoder().decode(publishedSlotBytes(header.storeId, published))}"}\n`;
  return front + " ".repeat(Math.max(0, HEADER_LINE_BYTES - encoder.encode(front + back).length)) + back;
}

function slotText(storeId: string, position: number): string {
  const digits = String(position).padStart(16, "0");
  return `${digits}:${crc32(`${storeId}:${digits}`).toString(16).padStart(8, "0")}`;
}

/**
 * The bytes of a watermark slot holding `position` for store `storeId`.
 *
 * @param storeId The store the slot's header belongs to (part of the check).
 * @param position The watermark, a safe non-negative integer.
 * @throws {RangeError} When `position` is not one.
 * @example The bytes `HeaderPublishedMark` writes at the slot's offset
 * ```ts
 * import { publishedSlotBytes } from "./store_header.ts";
 * console.log(new TextDecoder().decode(publishedSlotBytes("5b0c2f7e-0000-4000-8000-000000000000", 7)).slice(0, 16)); // 0000000000000007
 * ```
 */
export function publishedSlotBytes(storeId: string, position: number): Uint8Array {
  if (!Number.isSafeInteger(position) || position < 0) {
    throw new RangeError(`Cannot save publish watermark ${position}: expected a non-negative safe integer`);
  }
  return encoder.encode(slotText(storeId, position));
}

/**
 * The watermark a slot's bytes hold, or undefined when they do not check
 * (a torn or damaged slot: unknown).
 *
 * @param storeId The store the slot's header belongs to.
 * @param bytes The slot's {@link PUBLISHED_SLOT_BYTES} bytes.
 * @example Read back what was written, and refuse a cut write
 * ```ts
 * import { decodePublishedSlot, publishedSlotBytes } from "./store_header.ts";
 * const id = "5b0c2f7e-0000-4000-8000-000000000000";
 * const slot = publishedSlotBytes(id, 7);
 * console.log(decodePublishedSlot(id, slot)); // 7
 * slot[15] = 0x38; // "8": as if a write of a new value were cut short
 * console.log(decodePublishedSlot(id, slot)); // undefined
 * ```
 */
export function decodePublishedSlot(storeId: string, bytes: Uint8Array): number | undefined {
  if (bytes.length !== PUBLISHED_SLOT_BYTES) return undefined;
  const m = SLOT.exec(String.fromCharCode(...bytes));
  if (!m) return undefined;
  if (crc32(`${storeId}:${m[1]}`) !== parseInt(m[2], 16)) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * What the beginning of a file says it is.
 *
 * @example Act on each kind
 * ```ts
 * import { classifyStoreStart, type StoreStart } from "./store_header.ts";
 * const start: StoreStart = classifyStoreStart(new Uint8Array(), 0);
 * if (start.kind === "foreign") throw new Error(start.reason);
 * console.log(start.kind); // "empty": write a new header
 * ```
 */
export type StoreStart =
  /** An empty file: a new store. */
  | { kind: "empty" }
  /**
   * A header line of `length` bytes (newline included). `published`: where its watermark slot is (byte
   * offset in the file) and what it holds (undefined: unknown); absent for a header from before the slot.
   */
  | { kind: "header"; header: StoreHeader; length: number; published?: { offset: number; value: number | undefined } }
  /** A store from before headers: records from byte 0; identity derived from its first line. */
  | { kind: "legacy"; storeId: string }
  /** The whole file is the start of a header or first record cut by a crash: nothing was stored. */
  | { kind: "torn" }
  /** Not a store. */
  | { kind: "foreign"; reason: string };

/**
 * Classify a file from its first bytes.
 *
 * @param start The file's first `min(size, MAX_HEADER_BYTES)` bytes (or more).
 * @param size The file's size.
 * @example Tell a store from somebody else's file
 * ```ts
 * import { classifyStoreStart } from "./store_header.ts";
 * const bytes = new TextEncoder().encode('{"name":"my-app"}\n');
 * console.log(classifyStoreStart(bytes, bytes.length).kind); // "foreign"
 * ```
 */
export function classifyStoreStart(start: Uint8Array, size: number): StoreStart {
  if (size === 0) return { kind: "empty" };
  const whole = start.length >= size;
  const nl = start.indexOf(0x0a);
  const text = decoder.decode(start.subarray(0, nl === -1 ? Math.min(start.length, 256) : nl));
  // No newline in the whole file: a header (or, before headers, a first record) whose write was cut.
  const cutHeader = isPrefix(text, HEADER_START) || text.startsWith(HEADER_START);
  if (nl === -1 && whole && (cutHeader || isPrefix(text, LEGACY_START))) return { kind: "torn" };
  if (text.startsWith(HEADER_START)) {
    const slotted = slottedHeader(start, nl);
    if (slotted) return slotted;
    if (nl === -1) return { kind: "foreign", reason: `its first line is longer than ${MAX_HEADER_BYTES} bytes` };
    return parseHeader(text, nl + 1);
  }
  if (text.startsWith(LEGACY_START)) {
    // The first line, or as much of it as was read: it only ever grows by appends, so this is stable.
    return { kind: "legacy", storeId: derivedId(start.subarray(0, nl === -1 ? start.length : nl)) };
  }
  const head = text.slice(0, 40);
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u0008\u000e-\u001f\ufffd]/.test(head)) {
    const hex = Array.from(start.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join(" ");
    return { kind: "foreign", reason: `it begins with bytes that are not text: ${hex}` };
  }
  return { kind: "foreign", reason: `it begins with ${JSON.stringify(head)}` };
}

function parseHeader(line: string, length: number): StoreStart {
  let value;
  try {
    value = JSON.parse(line);
  } catch {
    return { kind: "foreign", reason: "its header line is not valid JSON" };
  }
  const version = value?.rabbitEventstore;
  if (!Number.isSafeInteger(version) || version < 1) {
    return { kind: "foreign", reason: `its header has format ${JSON.stringify(version)}` };
  }
  if (version > STORE_FORMAT) {
    return { kind: "foreign", reason: `its format ${version} is newer than this server's ${STORE_FORMAT}; upgrade` };
  }
  if (typeof value.storeId !== "string" || !UUID.test(value.storeId)) {
    return { kind: "foreign", reason: "its header has no valid storeId" };
  }
  const created = typeof value.created === "string" ? value.created : "";
  return { kind: "header", header: { version, storeId: value.storeId, created }, length };
}

/**
 * A header with a watermark slot, found by the slot's key before the first newline and its fixed width
 * (so that any bytes in the slot, a newline included, leave the header readable); undefined when the line
 * has no slot.
 */
function slottedHeader(start: Uint8Array, nl: number): StoreStart | undefined {
  const before = nl === -1 ? start.length : nl;
  const keyAt = indexOf(start.subarray(0, before), SLOT_KEY_BYTES);
  if (keyAt === -1) return undefined;
  const slotAt = keyAt + SLOT_KEY_BYTES.length;
  const end = slotAt + PUBLISHED_SLOT_BYTES;
  if (start.length < end + 3 || start[end] !== 0x22 || start[end + 1] !== 0x7d || start[end + 2] !== 0x0a) {
    return undefined; // not a slot of ours: judged as a header without one
  }
  const parsed = parseHeader(decoder.decode(start.subarray(0, keyAt)) + "}", end + 3);
  if (parsed.kind !== "header") return parsed;
  const value = decodePublishedSlot(parsed.header.storeId, start.subarray(slotAt, end));
  return { ...parsed, published: { offset: slotAt, value } };
}

function indexOf(bytes: Uint8Array, pattern: Uint8Array): number {
  const first = pattern[0];
  for (let i = bytes.indexOf(first); i !== -1 && i + pattern.length <= bytes.length; i = bytes.indexOf(first, i + 1)) {
    let k = 1;
    while (k < pattern.length && bytes[i + k] === pattern[k]) k++;
    if (k === pattern.length) return i;
  }
  return -1;
}

let crcTable: Uint32Array | undefined;
/** CRC-32 (IEEE, as zlib and PNG) of a string's UTF-16 code units below 256 (the slot's ASCII). */
function crc32(text: string): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) crc = crcTable[(crc ^ text.charCodeAt(i)) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function isPrefix(text: string, of: string): boolean {
  return text.length > 0 && of.startsWith(text);
}

/** A UUID-shaped id (version 8: custom) from the SHA-256 of a legacy store's first line. */
function derivedId(firstLine: Uint8Array): string {
  const h = createHash("sha256").update(firstLine).digest("hex");
  const variant = ((parseInt(h[16], 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * The header's line as bytes, with its newline (for the storage that writes them).
 *
 * @param header The header.
 * @param published The watermark its slot starts with: 0 for a new store; a tool that writes a whole store
 *   whose records count as published (a bench's generated file) gives their number.
 *
 * @example The bytes a new store begins with
 * ```ts
 * import { newStoreHeader, storeHeaderBytes } from "./store_header.ts";
 * const bytes = storeHeaderBytes(newStoreHeader());
 * console.log(bytes[bytes.length - 1] === 0x0a); // true
 * ```
 */
export function storeHeaderBytes(header: StoreHeader, published = 0): Uint8Array {
  return encoder.encode(encodeStoreHeader(header, published));
}
