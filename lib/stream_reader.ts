/**
 * Reads one stream from the server's HTTP history: `GET <historyUrl>?stream=S&from=V&limit=N`
 * answers the stream's records in version order, with `x-stream-version` (the
 * stream's version when the request arrived) and `x-last-position` (the global
 * position of the last record in the body), as `lib/history_handler.ts` serves them.
 *
 * The body is read until the record at `x-last-position`, not until the body
 * reports its end (Node's fetch sometimes never does; see `lib/history_client.ts`).
 *
 * @module
 */
import { DEFAULTS } from "./defaults.ts";
import { type EventRecord, parseRecord } from "./record.ts";
import { describeValue } from "./stream_event.ts";

/**
 * Which versions of a stream to read.
 *
 * @example Read versions 11 to 20 of a stream
 * ```ts
 * import { readStream, type ReadStreamOptions } from "rabbit-eventstore/command";
 * const options: ReadStreamOptions = { from: 11, to: 20 };
 * const { events, streamVersion } = await readStream("cart-1", options);
 * console.log(events.length, streamVersion);
 * ```
 */
export interface ReadStreamOptions {
  /** The first stream version to read. @default {1} */
  from?: number;
  /** The last stream version to read (inclusive). @default {the last} */
  to?: number;
  /** Read at most this many events. @default {Infinity} */
  limit?: number;
  /** Aborts the read. @default {undefined} */
  signal?: AbortSignal;
}

/**
 * A stream's events as read, and its version.
 *
 * @example Read a whole stream
 * ```ts
 * import { readStream, type ReadStreamResult } from "rabbit-eventstore/command";
 * const { events, streamVersion }: ReadStreamResult = await readStream("cart-1");
 * for (const event of events) console.log(event.streamVersion, event.type, event.data);
 * console.log(`cart-1 is at version ${streamVersion}`); // 0: it does not exist
 * ```
 */
export interface ReadStreamResult {
  /** The records read, in stream version order. */
  events: EventRecord[];
  /** The stream's version when the server answered (0: the stream does not exist), whatever range was read. */
  streamVersion: number;
}

/**
 * Options of {@link readStreamOver}: a read's range, and where the history is.
 *
 * @example Read from a given server
 * ```ts
 * import { readStreamOver, type ReadStreamOverOptions } from "./stream_reader.ts";
 * const options: ReadStreamOverOptions = { historyUrl: "http://localhost:8080/", from: 1 };
 * console.log((await readStreamOver("cart-1", options)).streamVersion);
 * ```
 */
export interface ReadStreamOverOptions extends ReadStreamOptions {
  /** The server's HTTP history. */
  historyUrl: string;
  /** Fail when the read has not finished after this many ms. @default {30000} */
  timeout?: number;
  /** Sent as `Authorization: Bearer <token>`, for a server with `HTTPTOKEN`. @default {undefined} (none) */
  historyToken?: string;
}

/**
 * Read a stream's records from `from` to `to` (versions, inclusive), at most `limit`.
 *
 * @param stream The stream's name.
 * @param options The range, the history URL and the timeout.
 * @returns The records in version order, and the stream's version.
 * @throws {TypeError} When the stream is not a string or an option is not a number.
 * @throws {RangeError} When `from`, `to` or `limit` is negative or not an integer.
 * @throws {Error} When the server refuses the read (a bad stream name: HTTP 400), has no stream index, or
 *   does not answer within `timeout`.
 * @example Versions 1 to 3
 * ```ts
 * import { readStreamOver } from "./stream_reader.ts";
 * const { events } = await readStreamOver("cart-1", { historyUrl: "http://localhost:8080/", to: 3 });
 * console.log(events.map((e) => e.streamVersion)); // [ 1, 2, 3 ] (at most)
 * ```
 */
export async function readStreamOver(stream: string, options: ReadStreamOverOptions): Promise<ReadStreamResult> {
  if (typeof stream !== "string") {
    throw new TypeError(`Cannot read stream: stream must be a string, got ${describeValue(stream)}`);
  }
  const from = Math.max(1, count(stream, "from", options.from ?? 1));
  const to = options.to === undefined ? Infinity : count(stream, "to", options.to);
  const limit = Math.min(
    options.limit === undefined ? Infinity : count(stream, "limit", options.limit),
    to - from + 1,
  );
  const url = new URL(options.historyUrl);
  url.searchParams.set("stream", stream);
  url.searchParams.set("from", String(from));
  if (Number.isFinite(limit)) url.searchParams.set("limit", String(Math.max(0, limit)));
  const timeout = options.timeout ?? DEFAULTS.command.readTimeout;
  // A timer of our own, not AbortSignal.timeout: Node does not keep the process alive for that one.
  const expiry = new AbortController();
  const timer = setTimeout(() => expiry.abort(new Error("read timeout")), timeout);
  const signal = options.signal ? AbortSignal.any([options.signal, expiry.signal]) : expiry.signal;
  try {
    const headers: Record<string, string> | undefined = options.historyToken === undefined
      ? undefined
      : { authorization: `Bearer ${options.historyToken}` };
    const response = await fetch(url, { signal, headers });
    if (!response.ok) {
      const text = (await response.text().catch(() => "")).trim().slice(0, 200);
      throw new Error(`Cannot read stream ${stream} from ${url}: HTTP ${response.status}${text ? `: ${text}` : ""}`);
    }
    const version = Number(response.headers.get("x-stream-version") ?? NaN);
    const last = Number(response.headers.get("x-last-position") ?? NaN);
    if (!Number.isSafeInteger(version) || !Number.isSafeInteger(last)) {
      void response.body?.cancel().catch(() => {});
      throw new Error(
        `Cannot read stream ${stream} from ${url}: the answer has no x-stream-version (a server without streams?)`,
      );
    }
    const events = last === 0 || !response.body ? [] : await readUntil(response.body, last, signal);
    if (last === 0) void response.body?.cancel().catch(() => {});
    return { events, streamVersion: version };
  } catch (error) {
    if (expiry.signal.aborted && !options.signal?.aborted) {
      throw new Error(`Cannot read stream ${stream} from ${url}: no complete answer within ${timeout} ms`);
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The records of an NDJSON body up to the one at global position `last`. An abort
 * cancels the reader itself (undici ignores an abort for a body that has a reader).
 */
async function readUntil(body: ReadableStream<Uint8Array>, last: number, signal: AbortSignal): Promise<EventRecord[]> {
  const reader = body.getReader();
  const onAbort = () => void reader.cancel(signal.reason).catch(() => {});
  signal.addEventListener("abort", onAbort, { once: true });
  const decoder = new TextDecoder();
  const events: EventRecord[] = [];
  let rest = "";
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (signal.aborted) throw signal.reason;
      const text = rest + (done ? decoder.decode() : decoder.decode(value, { stream: true }));
      let start = 0;
      let end: number;
      while ((end = text.indexOf("\n", start)) !== -1) {
        if (end > start) events.push(parseRecord(text.slice(start, end)));
        start = end + 1;
      }
      rest = text.slice(start);
      if (events.length > 0 && events[events.length - 1].position === last && rest === "") return events;
      if (done) {
        throw new SyntaxError(
          `Cannot read stream: the body ended before the record at position ${last}` +
            (rest ? ` (last line has no newline: ${rest.slice(0, 80)})` : ""),
        );
      }
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    void reader.cancel().catch(() => {}); // never awaited: it can hang (see lib/history_client.ts)
  }
}

/** A non-negative integer option. */
function count(stream: string, name: string, value: unknown): number {
  if (typeof value !== "number") {
    throw new TypeError(`Cannot read stream ${stream}: ${name} must be a number, got ${describeValue(value)}`);
  }
  if (!(Number.isSafeInteger(value) && value >= 0) && value !== Infinity) {
    throw new RangeError(`Cannot read stream ${stream}: ${name} must be a non-negative integer, got ${value}`);
  }
  return value;
}
