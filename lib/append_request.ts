/**
 * Reads an incoming message as an append: its events (one, or a batch), the
 * stream and the expected version, from the body and the headers `stream`,
 * `expected-version` and `batch` (see the README's wire contract).
 *
 * @module
 */
import { MAX_GROUP } from "./append_rules.ts";
import type { Delivery } from "./broker_session.ts";
import { validateEvent } from "./event_validator.ts";
import { type ExpectedVersion, parseExpectedVersion } from "./expected_version.ts";
import { objectMembers, splitArray } from "./json_raw.ts";
import { parseStreamName } from "./stream_name.ts";
import { utf8Length } from "./utf8_length.ts";

/** Most events in one batch message: a storage group's limit. */
export const MAX_BATCH: number = MAX_GROUP;

/** Longest event type and event id in UTF-8 bytes: the fanout's AMQP `type` and `messageId` are short strings. */
export const MAX_PROPERTY_BYTES = 255;

/**
 * One event of an append, its data and metadata as the JSON text received.
 *
 * @example An event with a type
 * ```ts
 * import type { EventPart } from "./append_request.ts";
 * const part: EventPart = { data: '{"sku":"a"}', type: "ItemAdded" };
 * ```
 */
export interface EventPart {
  /** The event's JSON text. */
  data: string;
  /** Its type. */
  type?: string;
  /** A JSON object's text. */
  metadata?: string;
}

/**
 * A message read as an append.
 *
 * @example What a batch of two for cart-1 reads as
 * ```ts
 * import type { AppendRequest } from "./append_request.ts";
 * const request: AppendRequest = {
 *   events: [{ data: '{"sku":"a"}', type: "ItemAdded" }, { data: '{"sku":"b"}', type: "ItemAdded" }],
 *   stream: "cart-1",
 *   expected: "no_stream",
 * };
 * ```
 */
export interface AppendRequest {
  /** 1 event, or 1–1000 for a batch; all or none are stored. */
  events: EventPart[];
  /** The stream; undefined: in no stream. */
  stream?: string;
  /** Checked once, before the first event. */
  expected: ExpectedVersion;
}

/**
 * Read a delivery as an append, or say why it cannot be one.
 *
 * - Without `batch`, the body is the event (as before streams): valid UTF-8
 *   JSON of at most `maxEventBytes`, typed by the AMQP `type` property.
 * - With header `batch` true, the body is a JSON array of 1–1000 envelopes
 *   `{"type"?: string, "data": any, "metadata"?: object}`; each `data` is
 *   held to `maxEventBytes`.
 *
 * @param delivery The message.
 * @param maxEventBytes The largest event accepted (`MAXEVENTBYTES`).
 * @returns The append, or `{ reason }`.
 * @example Read a plain message
 * ```ts
 * import { readAppendRequest } from "./append_request.ts";
 * const request = readAppendRequest({
 *   body: new TextEncoder().encode('{"x":1}'),
 *   headers: { stream: "order-1", "expected-version": "no_stream" },
 *   tag: 1,
 *   redelivered: false,
 * }, 1024);
 * console.log(request); // { events: [ { data: '{"x":1}', type: undefined } ], stream: "order-1", expected: "no_stream" }
 * ```
 */
export function readAppendRequest(delivery: Delivery, maxEventBytes: number): AppendRequest | { reason: string } {
  const headers = delivery.headers ?? {};
  let stream: string | undefined;
  if (headers.stream !== undefined && headers.stream !== null) {
    const name = parseStreamName(headers.stream);
    if (typeof name !== "string") return name;
    stream = name;
  }
  const expected = parseExpectedVersion(headers["expected-version"]);
  if (typeof expected === "object") return expected;
  if (expected !== "any" && stream === undefined) {
    return { reason: `expected-version ${expected} needs a stream header` };
  }
  const batch = isTrue(headers.batch);
  if (!batch) {
    const result = validateEvent(delivery.body, maxEventBytes);
    if (!result.ok) return { reason: result.reason };
    const tooLong = overLong("type", delivery.type) ?? overLong("messageId", delivery.messageId);
    if (tooLong) return { reason: tooLong };
    return { events: [{ data: result.text, type: delivery.type }], stream, expected };
  }
  const limit = maxEventBytes * MAX_BATCH;
  const body = validateEvent(delivery.body, limit);
  if (!body.ok) return { reason: `batch: ${body.reason.replace("(MAXEVENTBYTES)", `(${MAX_BATCH} × MAXEVENTBYTES)`)}` };
  const elements = splitArray(body.text);
  if (!elements) return { reason: "batch: the body is not a JSON array" };
  if (elements.length === 0 || elements.length > MAX_BATCH) {
    return { reason: `batch: holds ${elements.length} events, expected 1 to ${MAX_BATCH}` };
  }
  const events: EventPart[] = [];
  for (let i = 0; i < elements.length; i++) {
    const members = objectMembers(elements[i]);
    const at = `batch event ${i + 1}`;
    if (!members) return { reason: `${at}: expected an object {"type", "data", "metadata"}` };
    const data = members.get("data");
    if (data === undefined) return { reason: `${at}: data is missing` };
    if (utf8Length(data) > maxEventBytes) {
      return { reason: `${at}: data is larger than the maximum of ${maxEventBytes} bytes (MAXEVENTBYTES)` };
    }
    const part: EventPart = { data };
    const type = members.get("type");
    if (type !== undefined && type !== "null") {
      const value = JSON.parse(type);
      if (typeof value !== "string") return { reason: `${at}: type must be a string` };
      const tooLong = overLong("type", value);
      if (tooLong) return { reason: `${at}: ${tooLong}` };
      part.type = value;
    }
    const metadata = members.get("metadata");
    if (metadata !== undefined && metadata !== "null") {
      if (!metadata.startsWith("{")) return { reason: `${at}: metadata must be an object` };
      part.metadata = metadata;
    }
    events.push(part);
  }
  // The last event's id is the longest: `<messageId>:<count>`.
  const tooLong = delivery.messageId ? overLong("event id", eventId(delivery.messageId, events.length)) : undefined;
  if (tooLong) return { reason: `batch: ${tooLong}` };
  return { events, stream, expected };
}

/** Why `value` cannot be an AMQP short string property, or undefined when it can. */
function overLong(what: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const bytes = utf8Length(value);
  return bytes > MAX_PROPERTY_BYTES ? `${what} is ${bytes} bytes, longer than ${MAX_PROPERTY_BYTES}` : undefined;
}

/** A header that says yes: true, "true" or 1. */
function isTrue(value: unknown): boolean {
  if (value instanceof Uint8Array) value = new TextDecoder().decode(value);
  return value === true || value === "true" || value === 1;
}

/**
 * The id of event `index` (1-based) of a message with id `messageId`: the
 * message's id for the first, `<messageId>:<index>` for the rest, so a batch
 * of one is stored exactly as a plain message.
 *
 * @example Ids of a batch
 * ```ts
 * import { eventId } from "./append_request.ts";
 * console.log(eventId("m1", 1), eventId("m1", 2)); // m1 m1:2
 * ```
 */
export function eventId(messageId: string, index: number): string {
  return index === 1 ? messageId : `${messageId}:${index}`;
}
