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
import type { EventStorage } from "./storage.ts";

/**
 * Build the request handler.
 *
 * @param storage The storage to read from.
 * @param status Extra fields for `/health`.
 * @example Call it without a server
 * ```ts ignore
 * const handle = historyHandler(storage);
 * const response = await handle(new Request("http://x/?from=10&limit=5"));
 * console.log(await response.text());
 * ```
 */
export function historyHandler(
  storage: EventStorage,
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
