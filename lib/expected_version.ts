/**
 * Expected versions: what an append to a stream says about the stream's
 * version, as KurrentDB (`any` / `no_stream` / `stream_exists` / a revision)
 * and Emmett do. Versions count from 1; a stream that does not exist is at 0.
 *
 * @module
 */

/**
 * An expected version: `"any"` (never conflicts), `"no_stream"` (the stream
 * has no events), `"stream_exists"` (it has at least one), or N (it holds
 * exactly N events now).
 *
 * @example Append only to a new stream
 * ```ts
 * import type { ExpectedVersion } from "./expected_version.ts";
 * const first: ExpectedVersion = "no_stream";
 * const next: ExpectedVersion = 3; // the stream holds 3 events
 * console.log(first, next);
 * ```
 */
export type ExpectedVersion = "any" | "no_stream" | "stream_exists" | number;

/**
 * Whether a stream at `actual` satisfies `expected`.
 *
 * @param expected The append's expected version.
 * @param actual The stream's version (0: no stream).
 * @example Check a conflict
 * ```ts
 * import { satisfies } from "./expected_version.ts";
 * console.log(satisfies("no_stream", 0), satisfies(2, 3)); // true false
 * ```
 */
export function satisfies(expected: ExpectedVersion, actual: number): boolean {
  if (expected === "any") return true;
  if (expected === "no_stream") return actual === 0;
  if (expected === "stream_exists") return actual > 0;
  return actual === expected;
}

/**
 * Read an `expected-version` header value: absent means `any`; a number or a
 * numeric string is an exact version.
 *
 * @param value The header's value (a string, a number, or AMQP bytes).
 * @returns The expected version, or a string saying why it is not one.
 * @example Parse header values
 * ```ts
 * import { parseExpectedVersion } from "./expected_version.ts";
 * console.log(parseExpectedVersion(undefined), parseExpectedVersion("7"), parseExpectedVersion("soon"));
 * // any 7 { reason: … }
 * ```
 */
export function parseExpectedVersion(value: unknown): ExpectedVersion | { reason: string } {
  if (value === undefined || value === null) return "any";
  if (value instanceof Uint8Array) value = new TextDecoder().decode(value);
  if (typeof value === "bigint") value = value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : -1;
  if (typeof value === "number") {
    if (Number.isSafeInteger(value) && value >= 0) return value;
    return { reason: `expected-version must be a non-negative integer, got ${value}` };
  }
  if (typeof value === "string") {
    if (value === "any" || value === "no_stream" || value === "stream_exists") return value;
    if (/^\d{1,15}$/.test(value)) return Number(value);
  }
  return {
    reason: `expected-version must be any, no_stream, stream_exists or a non-negative integer, got ${
      JSON.stringify(String(value)).slice(0, 80)
    }`,
  };
}
