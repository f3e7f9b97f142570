/**
 * What the server answers an append with, on the message's `reply-to`: the
 * JSON body of the reply, the same for any AMQP client.
 *
 * ```json
 * {"ok":true,"position":41,"streamVersion":3,"count":2}
 * {"ok":false,"error":"WrongExpectedVersion","stream":"cart-1","expected":2,"actual":3}
 * {"ok":false,"error":"InvalidEvent","reason":"event is not valid JSON: …"}
 * ```
 *
 * @module
 */

/**
 * The reply to a stored (or already stored) message: `position` and
 * `streamVersion` are those of the last event it stored, `count` how many.
 *
 * @example Read a reply
 * ```ts
 * import type { AppendResult } from "./append_result.ts";
 * const reply = JSON.parse('{"ok":true,"position":41,"streamVersion":3,"count":2}') as AppendResult;
 * if (reply.ok) console.log(`stored up to position ${reply.position}`);
 * ```
 */
export type AppendResult = AppendStored | AppendConflict | AppendInvalid;

/**
 * Stored: the message's events are durable.
 *
 * @example A stored reply
 * ```ts
 * import type { AppendStored } from "./append_result.ts";
 * const stored: AppendStored = { ok: true, position: 41, streamVersion: 3, count: 2 };
 * ```
 */
export interface AppendStored {
  /** Stored. */
  ok: true;
  /** Global position of the message's last event. */
  position: number;
  /** Stream version of the message's last event; absent for events in no stream. */
  streamVersion?: number;
  /** How many events the message stored. */
  count: number;
}

/**
 * Refused: the stream was not at the expected version; nothing was stored.
 *
 * @example A conflict reply
 * ```ts
 * import type { AppendConflict } from "./append_result.ts";
 * const conflict: AppendConflict = { ok: false, error: "WrongExpectedVersion", stream: "cart-1", expected: 2, actual: 3 };
 * ```
 */
export interface AppendConflict {
  /** Not stored. */
  ok: false;
  /** The reason's name. */
  error: "WrongExpectedVersion";
  /** The stream. */
  stream: string;
  /** The expected version the message carried. */
  expected: string | number;
  /** The stream's version when it was checked. */
  actual: number;
}

/**
 * Refused: the event, the stream name or the expected version is invalid; nothing was stored.
 *
 * @example An invalid reply
 * ```ts
 * import type { AppendInvalid } from "./append_result.ts";
 * const invalid: AppendInvalid = { ok: false, error: "InvalidEvent", reason: "stream name is empty" };
 * ```
 */
export interface AppendInvalid {
  /** Not stored. */
  ok: false;
  /** The reason's name. */
  error: "InvalidEvent";
  /** What was wrong. */
  reason: string;
}

/**
 * The `x-rejected-reason` for a refusal dead-lettered because it had no `reply-to`.
 *
 * @example A conflict's reason
 * ```ts
 * import { refusalReason } from "./append_result.ts";
 * console.log(refusalReason({ ok: false, error: "WrongExpectedVersion", stream: "cart-1", expected: 2, actual: 3 }));
 * // WrongExpectedVersion: stream cart-1 expected version 2, but it is at 3
 * ```
 */
export function refusalReason(result: AppendConflict | AppendInvalid): string {
  if (result.error === "InvalidEvent") return result.reason;
  return `WrongExpectedVersion: stream ${result.stream} expected version ${result.expected}, but it is at ${result.actual}`;
}
