/**
 * Binds a `(req: Request) => Promise<Response>` handler to a TCP port, with
 * `Deno.serve` on Deno and `node:http` on Node. The only place that knows
 * which runtime serves HTTP.
 *
 * @module
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { Readable } from "node:stream";

/** A running HTTP server. */
export interface HttpServer {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  /** Stop accepting connections and close open ones. */
  close(): Promise<void>;
}

/** Options for {@link serve}. */
export interface ServeOptions {
  /** Port; 0 picks a free one. */
  port: number;
  /** Address to bind. @default {"0.0.0.0"} */
  hostname?: string;
}

// deno-lint-ignore no-explicit-any
const Deno = (globalThis as any).Deno;

/**
 * Serve `handler` on a port.
 *
 * @throws {Error} With a message that says what to change when the port is taken or not permitted.
 * @example
 * ```ts ignore
 * const server = await serve((req) => Promise.resolve(new Response("hi")), { port: 0 });
 * await server.close();
 * ```
 */
export function serve(handler: (request: Request) => Promise<Response>, options: ServeOptions): Promise<HttpServer> {
  return Deno?.serve ? serveDeno(handler, options) : serveNode(handler, options);
}

function explain(error: unknown, port: number): Error {
  const code = (error as { code?: string })?.code ?? (error as Error)?.name;
  if (code === "EACCES" || code === "PermissionDenied") {
    return new Error(
      `Cannot listen on port ${port}: permission denied; set PORT to a port above 1023 or run with the needed privilege`,
      { cause: error },
    );
  }
  if (code === "EADDRINUSE" || code === "AddrInUse") {
    return new Error(`Cannot listen on port ${port}: it is already in use; set PORT to a free port`, { cause: error });
  }
  return new Error(`Cannot listen on port ${port}: ${(error as Error)?.message ?? error}`, { cause: error });
}

function serveDeno(handler: (request: Request) => Promise<Response>, options: ServeOptions): Promise<HttpServer> {
  const controller = new AbortController();
  let server;
  try {
    server = Deno.serve({
      port: options.port,
      hostname: options.hostname ?? "0.0.0.0",
      signal: controller.signal,
      onListen: () => {},
      onError: (error: unknown) =>
        new Response(`Internal error: ${(error as Error)?.message ?? error}\n`, { status: 500 }),
    }, handler);
  } catch (error) {
    return Promise.reject(explain(error, options.port));
  }
  return Promise.resolve({
    port: server.addr.port,
    close: async () => {
      controller.abort();
      await server.finished;
    },
  });
}

function serveNode(handler: (request: Request) => Promise<Response>, options: ServeOptions): Promise<HttpServer> {
  const server = createServer((req, res) => {
    respond(handler, req, res).catch((error) => {
      if (!res.headersSent) {
        res.writeHead(500, { "content-type": "text/plain" });
        res.end(`Internal error: ${(error as Error)?.message ?? error}\n`);
      } else res.destroy(error as Error);
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", (error) => reject(explain(error, options.port)));
    server.listen(options.port, options.hostname ?? "0.0.0.0", () => {
      const address = server.address();
      resolve({
        port: typeof address === "object" && address ? address.port : options.port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections?.();
          }),
      });
    });
  });
}

async function respond(
  handler: (request: Request) => Promise<Response>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const controller = new AbortController();
  res.on("close", () => controller.abort());
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  const request = new Request(`http://${req.headers.host ?? "localhost"}${req.url ?? "/"}`, {
    method,
    headers: req.headers as Record<string, string>,
    body: hasBody ? (Readable.toWeb(req) as unknown as ReadableStream<Uint8Array>) : undefined,
    signal: controller.signal,
    // @ts-ignore: Node's fetch needs duplex for streaming request bodies
    duplex: hasBody ? "half" : undefined,
  });
  const response = await handler(request);
  res.writeHead(response.status, Object.fromEntries(response.headers));
  // Send the headers now, as Deno.serve does, not with the first body chunk: a client learns the head at once.
  res.flushHeaders();
  if (!response.body || method === "HEAD") {
    await response.body?.cancel();
    res.end();
    return;
  }
  const reader = response.body.getReader();
  try {
    while (true) {
      if (controller.signal.aborted) break;
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) {
        await new Promise<void>((resolve) => {
          const go = () => {
            res.off("drain", go);
            res.off("close", go);
            resolve();
          };
          res.on("drain", go);
          res.on("close", go);
        });
      }
    }
  } finally {
    if (controller.signal.aborted) await reader.cancel().catch(() => {});
    res.end();
  }
}
