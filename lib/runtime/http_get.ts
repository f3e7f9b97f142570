/**
 * An HTTP GET whose body is read chunk by chunk, the cheapest way each runtime has.
 *
 * - Deno: `fetch` (Deno's fetch streams a body at about 0.1 µs per history record).
 * - Node: `node:http` / `node:https`. Node's `fetch` (undici, and web streams on top) cost about
 *   0.6 µs per history record on a replay here against 0.2 µs for `node:http`, a fifth of the Node
 *   listener's CPU.
 *
 * Either way the answer has the small part of `Response` a history reader needs: `ok`, `status`,
 * `headers.get`, `text()` and `body.getReader()` (`read()`, `cancel()`). An abort of `signal`
 * ends the request and a pending `read()`.
 *
 * @module
 */
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { IncomingMessage } from "node:http";
import { IS_DENO } from "./main_module.ts";

/**
 * What {@link httpGet} needs: the request's signal and headers.
 *
 * @example Abort after 5 s
 * ```ts
 * import type { HttpGetOptions } from "./http_get.ts";
 * const options: HttpGetOptions = { signal: AbortSignal.timeout(5_000), headers: { accept: "application/x-ndjson" } };
 * console.log(Object.keys(options));
 * ```
 */
export interface HttpGetOptions {
  /** Aborts the request and a pending body read. @default {undefined} */
  signal?: AbortSignal;
  /** Request headers. @default {undefined} */
  headers?: Record<string, string>;
}

/**
 * A reader of the body's chunks.
 *
 * @example Count the bytes of a body
 * ```ts
 * import { httpGet } from "./http_get.ts";
 * const response = await httpGet("http://localhost:8080/?from=1");
 * const reader = response.body!.getReader();
 * let bytes = 0;
 * for (let r = await reader.read(); !r.done; r = await reader.read()) bytes += r.value.length;
 * ```
 */
export interface BodyReader {
  /** The next chunk, or `done` at the end of the body (or after `cancel`). */
  read(): Promise<{ done: true; value?: undefined } | { done: false; value: Uint8Array }>;
  /** Drop the rest of the body; a pending read reports `done`. */
  cancel(reason?: unknown): Promise<void>;
}

/**
 * The answer of {@link httpGet}.
 *
 * @example Read the status and one header
 * ```ts
 * import { httpGet, type HttpGetResponse } from "./http_get.ts";
 * const response: HttpGetResponse = await httpGet("http://localhost:8080/?from=1");
 * console.log(response.status, response.headers.get("x-head-position"));
 * ```
 */
export interface HttpGetResponse {
  /** Status 200–299. */
  ok: boolean;
  /** The HTTP status. */
  status: number;
  /** Response headers (`get` answers null for an absent one). */
  headers: { get(name: string): string | null };
  /** The whole body as text. */
  text(): Promise<string>;
  /** The body; null when there is none. */
  body: { getReader(): BodyReader } | null;
}

/**
 * GET `url`, answering once the headers arrived; the body is read through `body.getReader()`.
 *
 * @param url The URL (http: or https:).
 * @param options The signal and headers.
 * @returns The response.
 * @example Fetch the history's head
 * ```ts
 * import { httpGet } from "./http_get.ts";
 * const response = await httpGet("http://localhost:8080/?from=1&limit=0");
 * console.log(response.headers.get("x-head-position"));
 * ```
 */
export const httpGet: (url: URL | string, options?: HttpGetOptions) => Promise<HttpGetResponse> = IS_DENO
  ? (url, options = {}) => fetch(url, options) as Promise<HttpGetResponse>
  : nodeGet;

/** The Node path: node:http(s) with a small pull reader over the IncomingMessage. */
function nodeGet(url: URL | string, options: HttpGetOptions = {}): Promise<HttpGetResponse> {
  const target = typeof url === "string" ? new URL(url) : url;
  const signal = options.signal;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const request = (target.protocol === "https:" ? httpsRequest : httpRequest)(target, {
      method: "GET",
      headers: options.headers,
    });
    const onAbort = () => request.destroy(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    request.once("error", (error) => {
      signal?.removeEventListener("abort", onAbort);
      reject(signal?.aborted ? signal.reason : error);
    });
    request.once("response", (message) => {
      message.once("close", () => signal?.removeEventListener("abort", onAbort));
      resolve(nodeResponse(message, signal));
    });
    request.end();
  });
}

/** How many body chunks may wait for the reader before the socket is paused. */
const QUEUED_CHUNKS = 4;

/** An IncomingMessage as an {@link HttpGetResponse}. */
function nodeResponse(message: IncomingMessage, signal: AbortSignal | undefined): HttpGetResponse {
  const status = message.statusCode ?? 0;
  const queue: Uint8Array[] = [];
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  message.on("data", (chunk: Uint8Array) => {
    queue.push(chunk);
    if (queue.length >= QUEUED_CHUNKS) message.pause(); // memory stays bounded by a few chunks
    notify();
  });
  message.once("end", () => {
    ended = true;
    notify();
  });
  message.once("error", (error) => {
    failure = signal?.aborted ? signal.reason : error;
    notify();
  });
  message.once("close", () => {
    if (!ended && failure === undefined) failure = signal?.aborted ? signal.reason : new Error("Response closed");
    notify();
  });
  let cancelled = false;
  const reader: BodyReader = {
    async read() {
      while (true) {
        if (cancelled) return { done: true };
        const chunk = queue.shift();
        if (chunk !== undefined) {
          if (queue.length === 0 && message.isPaused()) message.resume();
          return { done: false, value: chunk };
        }
        if (ended) return { done: true };
        if (failure !== undefined) throw failure;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
    cancel() {
      cancelled = true;
      message.destroy();
      notify();
      return Promise.resolve();
    },
  };
  return {
    ok: status >= 200 && status < 300,
    status,
    headers: {
      get(name: string) {
        const value = message.headers[name.toLowerCase()];
        return value === undefined ? null : Array.isArray(value) ? value.join(", ") : value;
      },
    },
    async text() {
      let text = "";
      const decoder = new TextDecoder();
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        text += decoder.decode(r.value, { stream: true });
      }
      return text + decoder.decode();
    },
    body: { getReader: () => reader },
  };
}
