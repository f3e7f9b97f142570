/**
 * The operator's side of the server's HTTP, in front of the history handler
 * (a plain `(Request) => Promise<Response>` wrapping another):
 *
 * - `/health/live` — liveness: `200 {"status":"live"}` while the process
 *   answers HTTP at all;
 * - `/health/ready` — readiness: `200 {"status":"ready"}` when the storage is
 *   open and writable, the broker connected and the queue consumed, else
 *   `503 {"status":"not ready","reasons":[…]}` saying what is missing;
 * - `/metrics` — the Prometheus exposition, when metrics are given;
 * - with a token (`HTTPTOKEN`), every other path (the history, `/metrics`)
 *   needs `Authorization: Bearer <token>`, else `401` with
 *   `WWW-Authenticate: Bearer`. The probes (`/health`, `/health/live`,
 *   `/health/ready`) stay open: a load balancer or kubelet probe carries no
 *   secret, and they reveal no event data.
 *
 * Everything else is handed to the wrapped handler unchanged (`/health` as
 * before, and the history on any other path).
 *
 * @module
 */
import { bearerAuth } from "./bearer_auth.ts";

/**
 * Options for {@link operationsHandler}.
 *
 * @example Always ready, no metrics, no token
 * ```ts
 * import type { OperationsOptions } from "./operations_handler.ts";
 * const options: OperationsOptions = { notReady: () => [] };
 * ```
 */
export interface OperationsOptions {
  /** Why the server is not ready (empty: ready), asked on every `/health/ready`. */
  notReady: () => string[] | Promise<string[]>;
  /** Answers `/metrics`; without it `/metrics` goes to the wrapped handler. @default {undefined} */
  metrics?: { response(): Promise<Response> };
  /** The bearer token every path but the probes needs (`HTTPTOKEN`). @default {undefined} (open) */
  token?: string;
}

/** Paths answered without a token: probes, which carry no secret and show no events. */
const OPEN_PATHS = new Set(["/health", "/health/live", "/health/ready"]);

/**
 * Wrap `next` with the probes, the metrics and the optional token check.
 *
 * @param next The handler for everything else (the history handler).
 * @param options Readiness, metrics and token.
 * @returns The handler to serve.
 * @example Readiness in front of a handler
 * ```ts
 * import { operationsHandler } from "./operations_handler.ts";
 * const handle = operationsHandler(() => Promise.resolve(new Response("history\n")), {
 *   notReady: () => ["broker not connected"],
 * });
 * const response = await handle(new Request("http://x/health/ready"));
 * console.log(response.status, await response.json()); // 503 { status: "not ready", reasons: [ "broker not connected" ] }
 * ```
 */
export function operationsHandler(
  next: (request: Request) => Promise<Response>,
  options: OperationsOptions,
): (request: Request) => Promise<Response> {
  const refuse = options.token === undefined ? undefined : bearerAuth(options.token);
  return (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/health/live") return Promise.resolve(json(200, { status: "live" }));
    if (path === "/health/ready") {
      return Promise.resolve(options.notReady()).then((reasons) =>
        reasons.length === 0 ? json(200, { status: "ready" }) : json(503, { status: "not ready", reasons })
      );
    }
    if (refuse && !OPEN_PATHS.has(path)) {
      const denied = refuse(request);
      if (denied) {
        void request.body?.cancel().catch(() => {});
        return Promise.resolve(denied);
      }
    }
    if (path === "/metrics" && options.metrics) return options.metrics.response();
    return next(request);
  };
}

function json(status: number, body: unknown): Response {
  return Response.json(body, { status, headers: { "cache-control": "no-store" } });
}
