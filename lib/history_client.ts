/**
 * Reads records from the server's HTTP history.
 *
 * {@link readHistoryChunks} yields the records of each body chunk as one
 * array, so a consumer pays one promise round trip per chunk (hundreds of
 * records) instead of one per record; {@link readHistory} yields them one by
 * one for convenience.
 *
 * A read never waits forever:
 * - The server's `x-head-position` header says which record ends the body, so
 *   the reader stops after that record instead of waiting for the end of the
 *   body: Node's fetch (undici 6) sometimes never reports the end of a body it
 *   received completely, which once stalled a listener until it was closed
 *   and then stalled its close() too.
 * - The caller's signal, and a server that sends nothing for `idleTimeout`
 *   ms, both end a pending read through the reader itself (undici ignores an
 *   abort for a body that has a reader).
 * - Stopping early never awaits the body's cancellation, which can hang.
 *
 * With `stream` or `category` it asks the server for that stream's or
 * category's records only (`?stream=S&position=P`, `?category=C&from=P`,
 * `from` staying a global position either way). Such a body's last record is
 * not at `x-head-position`: the reader stops after the record at
 * `x-last-position` instead (0: the body holds none).
 *
 * @module
 */
import { DEFAULTS } from "./defaults.ts";
import { HistoryTimeoutError } from "./errors.ts";
import { type EventRecord, parseRecord } from "./record.ts";
import { type BodyReader, httpGet, type HttpGetResponse } from "./runtime/http_get.ts";
import { utf8Text } from "./runtime/utf8_text.ts";

export type { EventRecord };

/**
 * Options for {@link readHistoryChunks} and {@link readHistory}.
 *
 * @example Read at most 100 records, giving up after 5 s of silence
 * ```ts
 * import { readHistory, type ReadHistoryOptions } from "./history_client.ts";
 * const options: ReadHistoryOptions = { limit: 100, idleTimeout: 5_000, signal: AbortSignal.timeout(60_000) };
 * for await (const record of readHistory("http://localhost:8080/", 1, options)) console.log(record.position);
 * ```
 */
export interface ReadHistoryOptions {
  /** Stop after this many records. @default {Infinity} */
  limit?: number;
  /**
   * Only this stream's records, from global position `from` (sent as `?stream=S&position=from`). A
   * server without `position` answers from the stream's first record; one without a stream index
   * answers 400. Not with `category`.
   * @default {undefined}
   */
  stream?: string;
  /**
   * Only the records of this category's streams (`C-…`), from global position `from` (sent as
   * `?category=C&from=from`). Not with `stream`.
   * @default {undefined}
   */
  category?: string;
  /** Aborts the request, including a read that is waiting for bytes. @default {undefined} */
  signal?: AbortSignal;
  /** Sent as `Authorization: Bearer <token>`, for a server with `HTTPTOKEN`. @default {undefined} (none) */
  token?: string;
  /**
   * Fail with a {@link HistoryTimeoutError} when the server sends nothing (no
   * headers, no body bytes) for this many milliseconds while the reader waits
   * for it. Time the consumer spends on a chunk does not count.
   * @default {30000}
   */
  idleTimeout?: number;
  /**
   * Called once the server answered with history, before any record is
   * yielded; what it throws ends the read with that error.
   * @default {undefined}
   */
  onResponse?: (response: HistoryResponse) => void;
}

/**
 * What a history response says about itself, in its headers.
 *
 * @example Learn the store and its head before the first record
 * ```ts
 * import { type HistoryResponse, readHistoryChunks } from "./history_client.ts";
 * let seen: HistoryResponse | undefined;
 * const chunks = readHistoryChunks("http://localhost:8080/", 1, { onResponse: (response) => (seen = response) });
 * for await (const records of chunks) console.log(records.length, seen?.storeId, seen?.head);
 * ```
 */
export interface HistoryResponse {
  /** The store's identity (header `x-store-id`); undefined when the server sends none. */
  storeId: string | undefined;
  /** The server's head position when it answered (header `x-head-position`), if sent. */
  head: number | undefined;
  /**
   * A stream or category read's last record (header `x-last-position`; 0: none); absent when not sent. With
   * fewer records than the limit, the body holds every matching record up to `head`.
   */
  last?: number;
}

/**
 * Stream records from `from` (inclusive), at most `limit` of them, as the
 * server had them when the request arrived, one array per body chunk (never
 * empty). The next chunk is read only when the consumer asks for it, so
 * memory stays bounded by one chunk.
 *
 * @throws {SyntaxError} When a line is not a record, or the body ends without a final newline
 *   (records before the bad line are yielded first).
 * @throws {HistoryTimeoutError} When the server goes silent for `idleTimeout` ms.
 * @throws {Error} When the server answers with an HTTP error or an HTML page (the message holds the
 *   request URL, the status and the start of the body).
 * @example Count records in chunks
 * ```ts
 * import { readHistoryChunks } from "./history_client.ts";
 * let n = 0;
 * for await (const records of readHistoryChunks("http://localhost:8080/", 1)) n += records.length;
 * ```
 */
export async function* readHistoryChunks(
  historyUrl: string,
  from: number,
  options: ReadHistoryOptions = {},
): AsyncGenerator<EventRecord[]> {
  const url = new URL(historyUrl);
  if (options.stream !== undefined && options.category !== undefined) {
    throw new TypeError(`Cannot read history of stream "${options.stream}" and category "${options.category}"`);
  }
  if (options.stream !== undefined) {
    url.searchParams.set("stream", options.stream);
    url.searchParams.set("position", String(from));
  } else {
    if (options.category !== undefined) url.searchParams.set("category", options.category);
    url.searchParams.set("from", String(from));
  }
  if (options.limit !== undefined && Number.isFinite(options.limit)) {
    url.searchParams.set("limit", String(options.limit));
  }
  const idleTimeout = options.idleTimeout ?? DEFAULTS.listener.historyIdleTimeout;
  const outer = options.signal;
  outer?.throwIfAborted();
  // Our own controller: aborted by the caller's signal, by the idle timer, or when we stop early.
  const controller = new AbortController();
  const signal = controller.signal;
  let reader: BodyReader | undefined;
  // Cancelling through our reader ends a pending read() at once (a locked body ignores
  // stream.cancel(), which is what undici's fetch abort does). Never awaited: it can hang.
  const onAbort = () => void reader?.cancel(signal.reason).catch(() => {});
  signal.addEventListener("abort", onAbort, { once: true });
  const forward = () => controller.abort(outer?.reason);
  outer?.addEventListener("abort", forward, { once: true });
  // Idle watchdog: one timer, re-armed only when it fires, so a chunk costs a Date.now().
  let waitingSince = Date.now();
  let waiting = true;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const watch = () => {
    const idle = waiting ? Date.now() - waitingSince : 0;
    if (idle >= idleTimeout) controller.abort(new HistoryTimeoutError(String(url), idleTimeout));
    else timer = setTimeout(watch, idleTimeout - idle);
  };
  if (Number.isFinite(idleTimeout)) timer = setTimeout(watch, idleTimeout);
  let finished = false; // the body reported its end
  try {
    const headers: Record<string, string> | undefined = options.token === undefined
      ? undefined
      : { authorization: `Bearer ${options.token}` };
    const response = await httpGet(url, { signal, headers });
    const type = response.headers.get("content-type") ?? "";
    if (!response.ok || /^\s*text\/html\b/i.test(type)) {
      const text = await response.text().catch(() => "");
      const what = response.ok ? `not history (content-type ${type})` : `HTTP ${response.status}`;
      throw new Error(`History request ${url} failed: ${what}${excerpt(text)}`);
    }
    const head = integerHeader(response, "x-head-position");
    const lastHeader = integerHeader(response, "x-last-position");
    const answered: HistoryResponse = { storeId: response.headers.get("x-store-id") || undefined, head };
    if (lastHeader !== undefined) answered.last = lastHeader;
    options.onResponse?.(answered);
    if (!response.body) return;
    // The last record this response holds: a filtered read says so (x-last-position); otherwise
    // it is the server's head when it answered, capped by limit.
    const last = lastHeader !== undefined
      ? lastHeader
      : head !== undefined
      ? Math.min(head, options.limit !== undefined ? Math.max(1, from) + options.limit - 1 : Infinity)
      : Infinity;
    reader = response.body.getReader();
    if (signal.aborted) throw signal.reason;
    if (last < Math.max(1, from)) return; // nothing to read; finally drops the body
    // Split lines by hand rather than through TextDecoderStream and a line-splitting
    // TransformStream, which costs a promise round trip per line. Bytes are cut at `\n` (never
    // inside a UTF-8 character) and decoded by the runtime's fastest decoder (lib/runtime/).
    let rest: Uint8Array | undefined; // the bytes of a line not ended yet
    while (true) {
      waitingSince = Date.now();
      waiting = true;
      const { done, value } = await reader.read();
      waiting = false;
      // A read ended by our cancel() reports done: that is an abort, not the end of the body.
      if (signal.aborted) throw signal.reason;
      if (done) break;
      if (value.length === 0) continue;
      const firstEnd = value.indexOf(NEWLINE);
      if (firstEnd === -1) {
        rest = rest === undefined ? value.slice() : concat(rest, value, value.length);
        continue;
      }
      const records: EventRecord[] = [];
      try {
        let start = 0;
        if (rest !== undefined) {
          // The line that began in an earlier chunk: decode it on its own, not the whole chunk twice.
          const line = utf8Text(concat(rest, value, firstEnd));
          rest = undefined;
          if (line.length > 0) records.push(parseRecord(line));
          start = firstEnd + 1;
        }
        const lastEnd = value.lastIndexOf(NEWLINE);
        if (lastEnd > start) {
          const text = utf8Text(value, start, lastEnd);
          let from = 0;
          let end: number;
          while ((end = text.indexOf("\n", from)) !== -1) {
            if (end > from) records.push(parseRecord(text.slice(from, end)));
            from = end + 1;
          }
          if (from < text.length) records.push(parseRecord(from === 0 ? text : text.slice(from)));
        }
        if (lastEnd + 1 < value.length) rest = value.slice(lastEnd + 1);
      } catch (error) {
        if (records.length > 0) yield records;
        throw error;
      }
      if (records.length > 0) {
        yield records;
        // Complete: do not wait for the end of the body (finally drops it).
        if (records[records.length - 1].position >= last && rest === undefined) return;
      }
    }
    finished = true;
    if (rest !== undefined) {
      throw new SyntaxError(`Cannot parse stream: last line has no newline: ${utf8Text(rest).slice(0, 80)}`);
    }
  } catch (error) {
    // Whatever the runtime rejected with, an abort reports its reason (the caller's, or the timeout).
    throw signal.aborted ? signal.reason : error;
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener("abort", forward);
    if (!finished) controller.abort(new DOMException("History read stopped", "AbortError"));
    else signal.removeEventListener("abort", onAbort);
  }
}

/** The byte that ends each record line. */
const NEWLINE = 0x0a;

/** `head` followed by the first `length` bytes of `tail`, in a new array. */
function concat(head: Uint8Array, tail: Uint8Array, length: number): Uint8Array {
  const joined = new Uint8Array(head.length + length);
  joined.set(head);
  joined.set(tail.subarray(0, length), head.length);
  return joined;
}

/** A header holding a non-negative integer; undefined when absent or not one. */
function integerHeader(response: HttpGetResponse, name: string): number | undefined {
  const raw = response.headers.get(name);
  if (raw === null || !/^\d{1,15}$/.test(raw.trim())) return undefined;
  return Number(raw);
}

/** The start of a response body for an error message, on one line. */
function excerpt(text: string): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length === 0 ? "" : `: ${line.length > 120 ? line.slice(0, 120) + "…" : line}`;
}

/**
 * Stream records from `from` (inclusive), at most `limit` of them, as the
 * server had them when the request arrived. Same rules as
 * {@link readHistoryChunks}, one record at a time.
 *
 * @example Print the first ten records
 * ```ts
 * import { readHistory } from "./history_client.ts";
 * for await (const record of readHistory("http://localhost:8080/", 1, { limit: 10 })) {
 *   console.log(record.position, record.data);
 * }
 * ```
 */
export async function* readHistory(
  historyUrl: string,
  from: number,
  options: ReadHistoryOptions = {},
): AsyncGenerator<EventRecord> {
  for await (const records of readHistoryChunks(historyUrl, from, options)) {
    for (const record of records) yield record;
  }
}
