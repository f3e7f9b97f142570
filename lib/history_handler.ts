/**
 * The HTTP side of the server as a plain `(req: Request) => Promise<Response>`
 * (hono's habit): runtime adapters only bind it to a port, and tests call it
 * with `new Request(...)`.
 *
 * Any method and any path returns the history as NDJSON, as in the seed.
 * Reserved: `/health` (JSON status). Query: `from` (inclusive position, 0 or
 * 1 = everything) and `limit` (at most this many records).
 *
 * With the stream index ({@link HistoryHandlerOptions.streams}):
 * - `?stream=S` answers that stream's records in version order, `from` being
 *   the first stream version, with header `x-stream-version` (the stream's
 *   version when the request arrived; 0 and no records for an unknown stream);
 *   `&position=P` starts at the stream's first record at or after global
 *   position P instead (found by bisecting the index: a listener resuming at
 *   a global position pays for none of the records below it);
 * - `?category=C` answers the records of the streams `C-…` in global order,
 *   `from` being the first global position (a category has no `-`).
 *
 * Both cost what their records cost: positions come from the index, records
 * from the storage's `readPositions` (the file store reads nearby records as
 * one range and seeks from an offset every 32 records otherwise). They carry
 * `x-last-position`: the global position of the last record in the body (0
 * when there is none).
 *
 * `x-head-position` stays the server's head, and the index and the head are
 * read together (the server updates the index in the same turn of the event
 * loop as the head): a category read, or a stream read from `position`,
 * with fewer records than `limit` holds every matching record up to the
 * head, so a listener that read it to its end may move on to head + 1.
 *
 * @module
 */

import type { StreamIndex } from "./stream_index.ts";
import { parseStreamName } from "./stream_name.ts";

/**
 * What the handler reads: the part of `EventStorage` it needs (every
 * `EventStorage` is one), so a test can hand it a small fake.
 *
 * @example A fake with two records
 * ```ts
 * import { historyHandler, type HistorySource } from "./history_handler.ts";
 * const lines = ['{"position":1,"id":"a","time":"t","data":1}', '{"position":2,"id":"b","time":"t","data":2}'];
 * const source: HistorySource = {
 *   head: lines.length,
 *   storeId: "5b0c2f7e-0000-4000-8000-000000000000",
 *   read: (from, options = {}) => {
 *     const text = lines.slice(from - 1, from - 1 + (options.limit ?? Infinity)).map((line) => line + "\n").join("");
 *     return new Response(text).body!;
 *   },
 * };
 * const response = await historyHandler(source)(new Request("http://x/?from=2"));
 * console.log(await response.text()); // the second record
 * ```
 */
export interface HistorySource {
  /** The last durable position; 0 when empty. */
  readonly head: number;
  /** The store's identity, sent as `x-store-id`. */
  readonly storeId: string;
  /** Durable records from `from` (inclusive) as NDJSON bytes, at most `limit` of them. */
  read(from: number, options?: { limit?: number }): ReadableStream<Uint8Array>;
  /** The records at these positions as NDJSON bytes (needed for stream and category reads). */
  readPositions?(positions: readonly number[]): ReadableStream<Uint8Array>;
}

/**
 * Options for {@link historyHandler}.
 *
 * @example Serve stream reads from an index
 * ```ts
 * import { historyHandler, type HistoryHandlerOptions } from "./history_handler.ts";
 * import { MemoryStorage } from "./memory_storage.ts";
 * import { StreamIndex } from "./stream_index.ts";
 * const options: HistoryHandlerOptions = { streams: new StreamIndex() };
 * const handle = historyHandler(new MemoryStorage(), () => ({}), options);
 * const response = await handle(new Request("http://x/?stream=order-1"));
 * console.log(response.headers.get("x-stream-version")); // 0
 * ```
 */
export interface HistoryHandlerOptions {
  /** The stream index; without it `?stream=` and `?category=` answer 400. @default {undefined} */
  streams?: Pick<StreamIndex, "version" | "positions" | "categoryPositions">;
}

/**
 * Build the request handler.
 *
 * @param storage The storage to read from (an `EventStorage`).
 * @param status Extra fields for `/health`. @default {() => ({})}
 * @returns The handler: `/health`, else the records as NDJSON, or `400` for a bad `from` or `limit`.
 * @example Call it without a server
 * ```ts
 * import { historyHandler } from "./history_handler.ts";
 * const storage = { head: 0, storeId: "5b0c2f7e-0000-4000-8000-000000000000", read: () => new Response("").body! };
 * const handle = historyHandler(storage, () => ({ published: storage.head }));
 * const response = await handle(new Request("http://x/?from=10&limit=5"));
 * console.log(await response.text());
 * ```
 */
export function historyHandler(
  storage: HistorySource,
  status: () => Record<string, unknown> = () => ({}),
  options: HistoryHandlerOptions = {},
): (request: Request) => Promise<Response> {
  return (request: Request) => {
    const url = new URL(request.url);
    if (url.pathname === "/health") {
      return Promise.resolve(
        Response.json({ status: "ok", head: storage.head, storeId: storage.storeId, ...status() }, {
          headers: { "x-store-id": storage.storeId },
        }),
      );
    }
    const from = parseParam(url, "from", 1);
    if (typeof from === "string") return Promise.resolve(badRequest(from));
    const limit = parseParam(url, "limit", Infinity);
    if (typeof limit === "string") return Promise.resolve(badRequest(limit));
    if (url.searchParams.has("stream") || url.searchParams.has("category")) {
      return Promise.resolve(filtered(storage, url, Math.max(from, 1), limit, options.streams));
    }
    const body = limit === 0 ? null : storage.read(Math.max(from, 1), { limit });
    return Promise.resolve(
      new Response(body, {
        status: 200,
        headers: {
          "content-type": "application/x-ndjson",
          "cache-control": "no-store",
          "x-head-position": String(storage.head),
          "x-store-id": storage.storeId,
        },
      }),
    );
  };
}

/** A stream or category read (see the module doc). */
function filtered(
  storage: HistorySource,
  url: URL,
  from: number,
  limit: number,
  streams: HistoryHandlerOptions["streams"],
): Response {
  const stream = url.searchParams.get("stream");
  const category = url.searchParams.get("category");
  if (stream !== null && category !== null) return badRequest("Cannot read history: give stream or category, not both");
  if (!streams || !storage.readPositions) {
    return badRequest("Cannot read history by stream: this server has no stream index");
  }
  const headers: Record<string, string> = {
    "content-type": "application/x-ndjson",
    "cache-control": "no-store",
    "x-head-position": String(storage.head),
    "x-store-id": storage.storeId,
  };
  let positions: number[];
  if (stream !== null) {
    const name = parseStreamName(stream);
    if (typeof name !== "string") return badRequest(`Cannot read query parameter stream: ${name.reason}`);
    const version = streams.version(name);
    headers["x-stream-version"] = String(version);
    const position = parseParam(url, "position", 1);
    if (typeof position === "string") return badRequest(position);
    const start = Math.max(from, firstVersionAt(streams, name, version, position));
    positions = limit === 0 ? [] : streams.positions(name, { from: start, limit });
  } else {
    if (url.searchParams.has("position")) {
      return badRequest(
        "Cannot read query parameter position: it applies to stream reads; a category's from is global",
      );
    }
    const name = parseStreamName(category);
    if (typeof name !== "string") return badRequest(`Cannot read query parameter category: ${name.reason}`);
    if (name.includes("-")) {
      return badRequest(
        `Cannot read query parameter category: "${name}" has a "-" (a category is what comes before it)`,
      );
    }
    positions = limit === 0 ? [] : streams.categoryPositions(name, { from, limit });
  }
  headers["x-last-position"] = String(positions.length === 0 ? 0 : positions[positions.length - 1]);
  const body = positions.length === 0 ? null : storage.readPositions(positions);
  return new Response(body, { status: 200, headers });
}

/**
 * The first version of `stream` (of `version` versions) whose global position is at least `position`;
 * `version + 1` when none is. Bisects over one-position slices of the index: O(log n), no copy.
 */
function firstVersionAt(
  streams: NonNullable<HistoryHandlerOptions["streams"]>,
  stream: string,
  version: number,
  position: number,
): number {
  if (position <= 1) return 1;
  let lo = 1;
  let hi = version + 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (streams.positions(stream, { from: mid, limit: 1 })[0] < position) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function parseParam(url: URL, name: string, fallback: number): number | string {
  const raw = url.searchParams.get(name);
  if (raw === null) return fallback;
  if (!/^\d{1,15}$/.test(raw)) {
    return `Cannot read query parameter ${name}: expected a non-negative integer, got "${raw}"`;
  }
  return Number(raw);
}

function badRequest(reason: string): Response {
  return new Response(reason + "\n", { status: 400, headers: { "content-type": "text/plain; charset=utf-8" } });
}
