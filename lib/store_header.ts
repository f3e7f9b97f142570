/**
 * The first line of a storage file: what makes a file a store, and the
 * store's identity.
 *
 * ```json
 * {"rabbitEventstore":1,"storeId":"5b0c…","created":"2026-12-01T12:00:00.000Z"}
 * ```
 *
 * The identity is a UUID made when the store is created; it lives in the
 * file, so it survives restarts and goes when the file goes. Stores written
 * before the header existed begin with the record at position 1; they are
 * still stores, and their identity is derived from that first record's bytes
 * (stable, and different for any other store).
 *
 * Only `FileStorage` reads these bytes; everyone else sees `storeId`.
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

/** The format version this code writes. */
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

/** The header as its line, with the trailing newline. */
function encodeStoreHeader(header: StoreHeader): string {
  return `${HEADER_START}${header.version},"storeId":${JSON.stringify(header.storeId)},"created":${
    JSON.stringify(header.created)
  }}\n`;
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
  /** A header line of `length` bytes (newline included). */
  | { kind: "header"; header: StoreHeader; length: number }
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
 * @example The bytes a new store begins with
 * ```ts
 * import { newStoreHeader, storeHeaderBytes } from "./store_header.ts";
 * const bytes = storeHeaderBytes(newStoreHeader());
 * console.log(bytes[bytes.length - 1] === 0x0a); // true
 * ```
 */
export function storeHeaderBytes(header: StoreHeader): Uint8Array {
  return encoder.encode(encodeStoreHeader(header));
}
