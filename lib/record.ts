/**
 * The stored record: one JSON object per line, the same bytes in the storage
 * file, in the HTTP history and on the fanout exchange.
 *
 * ```json
 * {"position":1,"id":"6a1c…","time":"2026-11-26T12:00:00.000Z","data":{"any":"json"}}
 * ```
 *
 * `position`, `id`, `time` and `data` are the contract; `type` appears when
 * the publisher set the AMQP `type` property; `stream` and `streamVersion`
 * appear for an event appended to a stream (header `stream`), and `metadata`
 * when a batch element carried one. The order of the members is fixed:
 * `position`, `id`, `time`, `stream`, `streamVersion`, `batchSize`, `type`,
 * `metadata`, `data`. `batchSize` K (> 1) marks the first of K events one
 * message appended together: they are stored whole or not at all.
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
  /** The stream the event was appended to (header `stream`); absent for an event in no stream. */
  stream?: string;
  /** Its version within `stream`: 1 for the stream's first event, then +1 each; absent without `stream`. */
  streamVersion?: number;
  /** On the first event of a batch of K > 1 events stored together: K. */
  batchSize?: number;
  /** The AMQP `type` property (or a batch element's `type`), when the publisher set one. */
  type?: string;
  /** A batch element's `metadata` object, exactly as published, when it carried one. */
  metadata?: Record<string, unknown>;
  /** The event exactly as published. */
  data: T;
}

/**
 * What {@link encodeRecordLine} writes: the record's fields, with `data` and
 * `metadata` as the JSON text received (embedded byte for byte, so numbers
 * keep their precision).
 *
 * @example A record in a stream
 * ```ts
 * import { encodeRecordLine, type RecordFields } from "./record.ts";
 * const fields: RecordFields = {
 *   position: 7,
 *   id: "pay-42",
 *   time: "2026-01-01T00:00:00.000Z",
 *   stream: "order-42",
 *   streamVersion: 3,
 *   type: "OrderPaid",
 *   data: '{"amount":9.5}',
 * };
 * console.log(encodeRecordLine(fields));
 * ```
 */
export interface RecordFields {
  /** Dense global position. */
  position: number;
  /** The record's id. */
  id: string;
  /** ISO-8601 UTC time of storing. */
  time: string;
  /** The event's JSON text, embedded as received. */
  data: string;
  /** On the first event of a batch of more than one: the batch's size. @default {undefined} */
  batchSize?: number;
  /** The event type. @default {undefined} */
  type?: string;
  /** The stream; given with `streamVersion`. @default {undefined} */
  stream?: string;
  /** The version within `stream`. @default {undefined} */
  streamVersion?: number;
  /** A JSON object's text, embedded as received. @default {undefined} */
  metadata?: string;
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
  return encodeRecordLine({ position, id, time, data: rawData, type });
}

/**
 * Encode one record, in or out of a stream, as its line of JSON (without a
 * newline). Members come in the fixed order of the module doc; line breaks
 * in `data` and `metadata` (JSON whitespace) become spaces.
 *
 * @example Encode an event of stream order-42
 * ```ts
 * import { encodeRecordLine } from "./record.ts";
 * const line = encodeRecordLine({
 *   position: 1,
 *   id: "a",
 *   time: "2026-01-01T00:00:00.000Z",
 *   stream: "order-42",
 *   streamVersion: 1,
 *   data: '{"x":1}',
 * });
 * // '{"position":1,"id":"a","time":"2026-01-01T00:00:00.000Z","stream":"order-42","streamVersion":1,"data":{"x":1}}'
 * ```
 */
export function encodeRecordLine(fields: RecordFields): string {
  let line = `{"position":${fields.position},"id":${JSON.stringify(fields.id)},"time":"${fields.time}"`;
  if (fields.stream !== undefined) {
    line += `,"stream":${JSON.stringify(fields.stream)},"streamVersion":${fields.streamVersion}`;
  }
  if (fields.batchSize !== undefined) line += `,"batchSize":${fields.batchSize}`;
  if (fields.type !== undefined) line += `,"type":${JSON.stringify(fields.type)}`;
  if (fields.metadata !== undefined) line += `,"metadata":${oneLine(fields.metadata)}`;
  return line + `,"data":${oneLine(fields.data)}}`;
}

function oneLine(json: string): string {
  return (/[\r\n]/.test(json) ? json.replace(/[\r\n]/g, " ") : json).trim();
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
  const { stream, streamVersion } = value;
  if (stream !== undefined || streamVersion !== undefined) {
    if (typeof stream !== "string" || !Number.isSafeInteger(streamVersion) || streamVersion < 1) {
      throw new SyntaxError(
        `Cannot parse record at position ${position}: stream must be a string and streamVersion a positive integer`,
      );
    }
  }
  return value as EventRecord;
}
