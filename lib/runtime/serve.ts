/**
 * Binds a `(req: Request) => Promise<Response>` handler to a TCP port, with
 * `node:http` on both Deno and Node. The only place that knows how HTTP is
 * served.
 *
 * Why `node:http` on Deno too: `Deno.serve` has no header timeout and no
 * connection cap, and dies on `Too many open files`. Deno 2.9's `node:http`
 * runs the same llhttp parser as Node, so both runtimes answer malformed
 * requests alike. The guards live here, in our own accounting, so they do
 * not depend on either runtime's internals:
 *
 * - a connection that has not sent a complete request head within
 *   `headerTimeout` (from connect, or from the end of the previous response)
 *   is closed;
 * - at most `maxConnections` connections are open; one more gets a `503`
 *   and is closed, and the cap is lowered to fit the process's open-file
 *   limit, so a flood cannot exhaust file descriptors;
 * - a response writes at most one chunk ahead of the client (256 KiB, one
 *   socket write, from one buffer per response that is refilled only after
 *   the socket took it), and a client that has not taken a whole chunk
 *   for `writeTimeout` is disconnected;
 * - a request the handler cannot be given (a bad `Host`, `TRACE`, `CONNECT`,
 *   a method the parser does not know) gets a 4xx, never a 500.
 *
 * @module
 */
import { createServer, type IncomingMessage, METHODS, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { readFileSync } from "node:fs";
import { type Duplex, Readable } from "node:stream";
import { DEFAULTS } from "../defaults.ts";

/** A running HTTP server. */
export interface HttpServer {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  /** The connection cap in force: `maxConnections`, lowered if the open-file limit is smaller. */
  readonly maxConnections: number;
  /** Connections open now (not counting those being answered 503). */
  readonly connections: number;
  /** Stop accepting connections and close open ones. */
  close(): Promise<void>;
}

/** Options for {@link serve}. */
export interface ServeOptions {
  /** Port; 0 picks a free one. */
  port: number;
  /** Address to bind. @default {"0.0.0.0"} */
  hostname?: string;
  /**
   * Milliseconds a connection may take to send a complete request head, counted from connect or from the
   * end of the previous response on a kept-alive connection; then it is closed. @default {30000}
   */
  headerTimeout?: number;
  /** Connections open at once; one more is answered 503 and closed. @default {1000} */
  maxConnections?: number;
  /**
   * Milliseconds a response may wait for the client to take the chunk being written (256 KiB for a byte-stream
   * body such as the history); then the connection is closed. @default {60000}
   */
  writeTimeout?: number;
  /** The `Allow` header of a 405 for a method that cannot reach the handler (TRACE, CONNECT, unknown ones). @default {"GET, HEAD"} */
  allow?: string;
}

/** The defaults of the optional {@link ServeOptions}, in one place. */
export const SERVE_DEFAULTS = {
  hostname: "0.0.0.0",
  headerTimeout: DEFAULTS.http.headerTimeout,
  maxConnections: DEFAULTS.http.maxConnections,
  writeTimeout: DEFAULTS.http.writeTimeout,
  allow: "GET, HEAD",
} as const;

const { maxRejecting: MAX_REJECTING, rejectLinger: REJECT_LINGER_MS, reservedFds: RESERVED_FDS } = DEFAULTS.http;

/**
 * Serve `handler` on a port.
 *
 * @throws {Error} With a message that says what to change when the port is taken or not permitted.
 * @throws {RangeError} When a timeout or the connection cap is not a positive integer.
 * @example Serve a handler and stop it
 * ```ts
 * import { serve } from "./serve.ts";
 * const server = await serve(() => Promise.resolve(new Response("hi\n")), { port: 0, hostname: "127.0.0.1" });
 * console.log(await (await fetch(`http://127.0.0.1:${server.port}/`)).text()); // hi
 * await server.close();
 * ```
 */
export function serve(handler: (request: Request) => Promise<Response>, options: ServeOptions): Promise<HttpServer> {
  const settings = { ...SERVE_DEFAULTS, ...definedOnly(options) };
  for (const name of ["headerTimeout", "maxConnections", "writeTimeout"] as const) {
    const value = settings[name];
    if (!Number.isSafeInteger(value) || value < 1) {
      return Promise.reject(new RangeError(`Cannot serve with ${name} ${value}: expected a positive integer`));
    }
  }
  const maxConnections = fitToFileLimit(settings.maxConnections);
  const open = new Set<Socket>();
  const rejecting = new Set<Socket>();
  const headerTimers = new WeakMap<Socket, ReturnType<typeof setTimeout>>();
  /** Requests of a connection being answered (more than one when pipelined). */
  const inFlight = new WeakMap<Socket, number>();
  const awaitHead = (socket: Socket) => {
    clearTimeout(headerTimers.get(socket));
    if (socket.destroyed || (inFlight.get(socket) ?? 0) > 0) return;
    headerTimers.set(socket, setTimeout(() => socket.destroy(), settings.headerTimeout));
  };

  const http = createServer((req, res) => {
    const socket = req.socket;
    clearTimeout(headerTimers.get(socket));
    inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
    res.once("close", () => {
      inFlight.set(socket, (inFlight.get(socket) ?? 1) - 1);
      awaitHead(socket);
    });
    respond(handler, req, res, settings).catch((error) => {
      if (!res.headersSent) {
        res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
        res.end(`Internal error: ${(error as Error)?.message ?? error}\n`);
      } else res.destroy(error as Error);
    });
  });
  // CONNECT never reaches a request listener, and a fetch Request cannot carry it.
  http.on("connect", (_req: IncomingMessage, socket: Duplex) => {
    socket.end(rawResponse(405, methodNotAllowed("CONNECT"), { allow: settings.allow }));
  });
  http.on("clientError", (error: Error & { code?: string; rawPacket?: Uint8Array }, socket: Duplex) => {
    if (error.code === "ECONNRESET" || !socket.writable) return socket.destroy();
    const method = unknownMethod(error.rawPacket);
    socket.end(
      method !== undefined
        ? rawResponse(405, methodNotAllowed(method), { allow: settings.allow })
        : error.code === "HPE_HEADER_OVERFLOW"
        ? rawResponse(431, "Cannot read request: its header is too large\n")
        : rawResponse(400, `Cannot read request: ${error.message}\n`),
    );
  });

  // Every connection passes the cap first. The http server's own connection listener (its parser set-up) is
  // taken off and called only for accepted sockets: handing sockets from a separate net.Server to it with
  // emit("connection") breaks keep-alive on Deno 2.9 (the socket closes after the first response).
  const parserSetUp = http.listeners("connection") as ((socket: Socket) => void)[];
  http.removeAllListeners("connection");
  http.on("connection", (socket: Socket) => {
    socket.on("error", () => {}); // a reset by the client is no server error; the http layer sees the close
    if (open.size >= maxConnections) return reject(socket);
    open.add(socket);
    socket.once("close", () => {
      open.delete(socket);
      clearTimeout(headerTimers.get(socket));
    });
    awaitHead(socket);
    for (const listener of parserSetUp) listener.call(http, socket);
  });

  function reject(socket: Socket): void {
    if (rejecting.size >= MAX_REJECTING) return void socket.destroy();
    rejecting.add(socket);
    const timer = setTimeout(() => socket.destroy(), Math.min(REJECT_LINGER_MS, settings.headerTimeout));
    socket.once("close", () => {
      rejecting.delete(socket);
      clearTimeout(timer);
    });
    socket.end(
      rawResponse(503, `Cannot serve more than ${maxConnections} connections at once; retry later\n`, {
        "retry-after": "1",
      }),
    );
    // Read and drop what the client sends, so that closing does not reset the connection before it reads the 503.
    socket.resume();
  }

  const port = options.port;
  return new Promise((resolve, reject) => {
    http.once("error", (error) => reject(explain(error, port)));
    http.listen(port, settings.hostname, () => {
      // An accept error (e.g. EMFILE) must not crash the process; the server keeps listening.
      http.on("error", () => {});
      const address = http.address();
      resolve({
        port: typeof address === "object" && address ? address.port : port,
        maxConnections,
        get connections() {
          return open.size;
        },
        close: () =>
          new Promise<void>((done) => {
            http.close(() => done());
            for (const socket of [...open, ...rejecting]) socket.destroy();
          }),
      });
    });
  });
}

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/**
 * Lower the cap so that every connection (a socket, plus a storage file while it streams history) and the
 * connections being rejected fit in the soft open-file limit, where the platform tells it (Linux).
 */
function fitToFileLimit(cap: number): number {
  let limit: number;
  try {
    const match = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    if (!match) return cap;
    limit = Number(match[1]);
  } catch {
    return cap;
  }
  return Math.max(1, Math.min(cap, Math.floor((limit - RESERVED_FDS - MAX_REJECTING) / 2)));
}

/** The method of a request the parser refused for its method alone, if that is why. */
function unknownMethod(raw: Uint8Array | undefined): string | undefined {
  if (!raw) return undefined;
  const line = new TextDecoder().decode(raw.subarray(0, 64));
  const match = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) /.exec(line);
  return match && !METHODS.includes(match[1]) ? match[1] : undefined;
}

function methodNotAllowed(method: string): string {
  return `Cannot serve method ${method.slice(0, 32)}: use GET or HEAD\n`;
}

const REASONS: Record<number, string> = {
  400: "Bad Request",
  405: "Method Not Allowed",
  431: "Request Header Fields Too Large",
  503: "Service Unavailable",
};

/** A whole HTTP/1.1 response for a connection that is closed after it. */
function rawResponse(status: number, body: string, headers: Record<string, string> = {}): string {
  const bytes = new TextEncoder().encode(body).length;
  const fields = { "content-type": "text/plain; charset=utf-8", ...headers, "content-length": String(bytes) };
  return `HTTP/1.1 ${status} ${REASONS[status]}\r\nconnection: close\r\n` +
    Object.entries(fields).map(([name, value]) => `${name}: ${value}\r\n`).join("") + "\r\n" + body;
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

function plain(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", ...headers });
  res.end(body);
}

/** The request as a fetch `Request`, or the 4xx to answer when it cannot be one. */
function toRequest(
  req: IncomingMessage,
  signal: AbortSignal,
  allow: string,
): Request | { status: number; body: string; headers?: Record<string, string> } {
  const method = req.method ?? "GET";
  // A fetch Request refuses these (forbidden methods); the seed never served them meaningfully.
  if (method === "TRACE" || method === "TRACK" || method === "CONNECT") {
    return { status: 405, body: methodNotAllowed(method), headers: { allow } };
  }
  const host = req.headers.host ?? "localhost";
  let origin: URL;
  try {
    origin = new URL(`http://${host}`);
    if (origin.pathname !== "/" || origin.search || origin.hash || origin.username || origin.password) throw 0;
  } catch {
    return { status: 400, body: `Cannot read Host header: expected host[:port], got "${host.slice(0, 200)}"\n` };
  }
  const hasBody = method !== "GET" && method !== "HEAD";
  try {
    return new Request(new URL(req.url ?? "/", origin), {
      method,
      headers: req.headers as Record<string, string>,
      body: hasBody ? (Readable.toWeb(req) as unknown as ReadableStream<Uint8Array>) : undefined,
      signal,
      // @ts-ignore: Node's fetch needs duplex for streaming request bodies
      duplex: hasBody ? "half" : undefined,
    });
  } catch (error) {
    return { status: 400, body: `Cannot read request: ${(error as Error)?.message ?? error}\n` };
  }
}

async function respond(
  handler: (request: Request) => Promise<Response>,
  req: IncomingMessage,
  res: ServerResponse,
  settings: { writeTimeout: number; allow: string },
): Promise<void> {
  const controller = new AbortController();
  res.on("close", () => controller.abort());
  const request = toRequest(req, controller.signal, settings.allow);
  if (!(request instanceof Request)) return plain(res, request.status, request.body, request.headers);
  const response = await handler(request);
  res.writeHead(response.status, Object.fromEntries(response.headers));
  // Send the headers now, not with the first body chunk: a client learns the head at once.
  res.flushHeaders();
  if (!response.body || request.method === "HEAD") {
    await response.body?.cancel();
    res.end();
    return;
  }
  // One write per chunk: on Deno's node:http every write costs a chunk frame and a trip through the
  // socket, so a chunk is not sliced. The next chunk is read only once the socket has taken this one, so a
  // response holds at most one chunk of the body.
  // The write timeout is one watchdog per response, as in the history client: a write that completes
  // notes the time, and the timer, armed while a write waits, checks it only when it fires.
  let waiting = 0;
  let takenAt = 0;
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  const watch = () => {
    watchdog = undefined;
    if (waiting === 0) return;
    const idle = Date.now() - takenAt;
    if (idle >= settings.writeTimeout) res.destroy();
    else watchdog = setTimeout(watch, settings.writeTimeout - idle);
  };
  const writing = () => {
    if (waiting++ === 0) {
      takenAt = Date.now();
      watchdog ??= setTimeout(watch, settings.writeTimeout);
    }
  };
  const taken = () => {
    waiting--;
    takenAt = Date.now();
  };
  const byob = byobReader(response.body);
  const reader = byob ?? response.body.getReader();
  try {
    if (byob) {
      // A byte stream (the storage's): read into one buffer, reused once the socket has taken each write,
      // so a response allocates nothing per chunk.
      let buffer = new ArrayBuffer(WRITE_CHUNK);
      while (!controller.signal.aborted) {
        const { done, value } = await byob.read(new Uint8Array(buffer));
        if (done || !value) break;
        writing();
        await written(res, value, taken);
        buffer = value.buffer as ArrayBuffer;
      }
    } else {
      while (!controller.signal.aborted) {
        const { done, value } = await (reader as ReadableStreamDefaultReader<Uint8Array>).read();
        if (done) break;
        writing();
        if (!res.write(value, taken)) await drained(res);
      }
    }
  } finally {
    clearTimeout(watchdog);
    if (controller.signal.aborted) await reader.cancel().catch(() => {});
    res.end();
  }
}

/** Bytes per write of a byte-stream body; see `DEFAULTS.http.writeChunk`. */
const WRITE_CHUNK = DEFAULTS.http.writeChunk;

/** A BYOB reader of `body` when it is a byte stream, else undefined (and `body` stays unlocked). */
function byobReader(body: ReadableStream<Uint8Array>): ReadableStreamBYOBReader | undefined {
  try {
    return body.getReader({ mode: "byob" });
  } catch {
    return undefined;
  }
}

/**
 * Write `chunk` and resolve once the socket has taken it (the write's callback), after which the runtime no
 * longer reads the buffer: the caller may refill it. Also resolves when the response closes first; the
 * caller then stops, since a destroyed socket may still hold the buffer.
 */
function written(res: ServerResponse, chunk: Uint8Array, taken: () => void): Promise<void> {
  return new Promise<void>((resolve) => {
    let settled = false;
    const go = () => {
      res.off("close", go);
      if (settled) return;
      settled = true;
      taken();
      resolve();
    };
    res.on("close", go);
    res.write(chunk, go);
  });
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise<void>((resolve) => {
    const go = () => {
      res.off("drain", go);
      res.off("close", go);
      resolve();
    };
    res.on("drain", go);
    res.on("close", go);
  });
}
