/**
 * The HTTP side of the server as a plain `(req: Request) => Promise<Response>`
 * (hono's habit): runtime adapters only bind it to a port, and tests call it
 * with `new Request(...)`.
 *
 * Any method and any path returns the history as NDJSON, as in the seed.
 * Reserved: `/health` (JSON status). Query: `from` (inclusive position, 0 or
 * 1 = everything) and `limit` (at most this many records).
 *
 * @module
 */

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
