/**
 * The stored record: one JSON object per line, the same bytes in the storage
 * file, in the HTTP history and on the fanout exchange.
 *
 * ```json
 * {"position":1,"id":"6a1c…","time":"2026-11-26T12:00:00.000Z","data":{"any":"json"}}
 * ```
 *
 * `position`, `id`, `time` and `data` are the contract; `type` appears when
 * the publisher set the AMQP `type` property.
 *
 * @module
 */

/**
 * One event as stored and delivered.
 *
 * @example Type the data of the events a projection reads
 * ```ts
 * import type { EventRecord } from "rabbit-eventstore";
 * type OrderPlaced = { orderId: number; total: number };
 * const record: EventRecord<OrderPlaced> = {
 *   position: 1,
 *   id: "order-1",
 *   time: "2026-01-01T00:00:00.000Z",
 *   type: "OrderPlaced",
 *   data: { orderId: 1, total: 9.5 },
 * };
 * console.log(record.data.total);
 * ```
 */
export interface EventRecord<T = unknown> {
  /** Dense position: 1, 2, 3 … never reused, never skipped. */
  position: number;
  /** The AMQP messageId the publisher set, else a UUID the server generated. */
  id: string;
  /** When the server stored the event, ISO-8601 UTC. */
  time: string;
  /** The AMQP `type` property, when the publisher set one. */
  type?: string;
  /** The event exactly as published. */
  data: T;
}

/**
 * Encode one record as its line of JSON (without a newline; the storage
 * frames it).
 *
 * `rawData` must be valid JSON text; it is embedded as received. JSON can only
 * hold a raw line break as whitespace between tokens, so line breaks are
 * replaced by spaces to keep one record per line without changing the value.
 *
 * @example Encode a record
 * ```ts
 * import { encodeRecord } from "./record.ts";
 * const line = encodeRecord(1, "a", "2026-01-01T00:00:00.000Z", '{"x":1}');
 * // '{"position":1,"id":"a","time":"2026-01-01T00:00:00.000Z","data":{"x":1}}'
 * ```
 */
export function encodeRecord(
  position: number,
  id: string,
  time: string,
  rawData: string,
  type?: string,
): string {
  const data = /[\r\n]/.test(rawData) ? rawData.replace(/[\r\n]/g, " ") : rawData;
  const typePart = type === undefined ? "" : `,"type":${JSON.stringify(type)}`;
  return `{"position":${position},"id":${JSON.stringify(id)},"time":"${time}"${typePart},"data":${data.trim()}}`;
}

/**
 * Parse one NDJSON line (without its newline) into a record, checking the
 * contract fields.
 *
 * @throws {SyntaxError} When the line is not JSON or lacks a contract field.
 * @example Parse a line
 * ```ts
 * import { parseRecord } from "./record.ts";
 * const record = parseRecord('{"position":1,"id":"a","time":"t","data":null}');
 * console.log(record.position); // 1
 * ```
 */
export function parseRecord(line: string): EventRecord {
  const value = JSON.parse(line);
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new SyntaxError(`Cannot parse record: expected an object, got ${line.slice(0, 80)}`);
  }
  const { position, id, time } = value;
  if (!Number.isSafeInteger(position) || position < 1) {
    throw new SyntaxError(`Cannot parse record: position is not a positive integer: ${String(position)}`);
  }
  if (typeof id !== "string") throw new SyntaxError(`Cannot parse record at position ${position}: id is not a string`);
  if (typeof time !== "string") {
    throw new SyntaxError(`Cannot parse record at position ${position}: time is not a string`);
  }
  if (!("data" in value)) throw new SyntaxError(`Cannot parse record at position ${position}: data is missing`);
  return value as EventRecord;
}
