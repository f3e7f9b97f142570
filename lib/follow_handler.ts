/**
 * Live history over HTTP, in front of the history handler: a request with
 * `Accept: text/event-stream` (any path but `/health`) answers Server-Sent
 * Events, and `?follow=1` keeps an NDJSON answer open; both first send the
 * history the request asks for, then each record as soon as it is durable,
 * fed in-process by the {@link LiveFeed} (no broker round trip).
 *
 * The hand-over has no gap and no duplicate: the client subscribes to the
 * feed before history is read (in the same turn of the event loop as the
 * history's head is taken), and the feed then drops everything at or below
 * that head, which history covers.
 *
 * SSE: `retry: <ms>` first, then one event per record, `id: <position>` and
 * `data: <the record's JSON line>`; `Last-Event-ID: N` (a browser's
 * `EventSource` sends it when it reconnects) resumes at global position
 * N + 1 (for `?stream=`, as `&position=N+1`). A heartbeat comment
 * (`: heartbeat`) goes out whenever nothing was sent for `heartbeat` ms.
 *
 * NDJSON follow: the records' lines; a heartbeat is an empty line.
 *
 * A client the server closes (too slow for its buffer, or the server
 * closing) gets a last line that says why: the SSE comment
 * `: closed: <reason>; resume after <position>`, or the NDJSON line
 * `{"closed":"<reason>","lastPosition":N}` (a JSON object with no
 * `position`, so no record). `lastPosition` is the last record's global
 * position sent (0 if none); resume with `?from=N+1` (a stream:
 * `&position=N+1`).
 *
 * @module
 */
import { DEFAULTS } from "./defaults.ts";
import type { EventFilter } from "./event_filter.ts";
import type { LiveFeed, LiveRecord, LiveSubscription } from "./live_feed.ts";

/**
 * Options for {@link followHandler}.
 *
 * @example Heartbeats every 5 s
 * ```ts
 * import type { FollowHandlerOptions } from "./follow_handler.ts";
 * import { LiveFeed } from "./live_feed.ts";
 * const options: FollowHandlerOptions = { feed: new LiveFeed(), heartbeat: 5_000 };
 * console.log(options.heartbeat);
 * ```
 */
export interface FollowHandlerOptions {
  /** The server's live feed. */
  feed: LiveFeed;
  /** Send a heartbeat when a live response sent nothing for this many ms. @default {15000} */
  heartbeat?: number;
  /** The SSE `retry:` hint in ms. @default {1000} */
  retry?: number;
}

/**
 * Wrap the history handler with live answers (see the module doc); other requests go to `history` unchanged.
 *
 * @param history The history handler (`historyHandler(...)`).
 * @param options The feed and the timings.
 * @returns The handler.
 * @example Follow an in-memory store
 * ```ts
 * import { followHandler } from "./follow_handler.ts";
 * import { historyHandler } from "./history_handler.ts";
 * import { LiveFeed } from "./live_feed.ts";
 * import { MemoryStorage } from "./memory_storage.ts";
 * const feed = new LiveFeed();
 * const handle = followHandler(historyHandler(new MemoryStorage()), { feed });
 * const response = await handle(new Request("http://x/", { headers: { accept: "text/event-stream" } }));
 * console.log(response.headers.get("content-type")); // text/event-stream
 * await feed.close("bye");
 * await response.body?.cancel();
 * ```
 */
export function followHandler(
  history: (request: Request) => Promise<Response>,
  options: FollowHandlerOptions,
): (request: Request) => Promise<Response> {
  const heartbeat = options.heartbeat ?? DEFAULTS.live.heartbeat;
  const retry = options.retry ?? DEFAULTS.live.retry;
  const { feed } = options;
  return async (request) => {
    const url = new URL(request.url);
    const sse = wantsEventStream(request.headers.get("accept"));
    const follow = url.searchParams.get("follow");
    if (url.pathname === "/health" || (!sse && (follow === null || follow === "0" || follow === "false"))) {
      return history(request);
    }
    if (follow !== null && !["", "0", "1", "false", "true"].includes(follow)) {
      return badRequest(`Cannot read query parameter follow: expected 1 or 0, got "${follow}"`);
    }
    if (url.searchParams.has("limit")) {
      return badRequest("Cannot read query parameter limit: a live response has no limit; leave it out");
    }
    const lastId = request.headers.get("last-event-id");
    const query = new URL(url);
    query.searchParams.delete("follow");
    if (lastId !== null && lastId.trim() !== "") {
      if (!/^\s*\d{1,15}\s*$/.test(lastId)) {
        return badRequest(`Cannot read header Last-Event-ID: expected a position, got "${lastId.slice(0, 40)}"`);
      }
      const next = String(Number(lastId) + 1);
      if (query.searchParams.has("stream")) {
        query.searchParams.delete("from");
        query.searchParams.set("position", next);
      } else query.searchParams.set("from", next);
    }
    const stream = url.searchParams.get("stream");
    const category = url.searchParams.get("category");
    const filter: EventFilter | undefined = stream !== null ? { stream } : category !== null ? { category } : undefined;
    // Subscribe first: what is stored from now on reaches the subscription; history covers the rest.
    const live = feed.subscribe(filter, sse ? "sse" : "follow");
    if (!live) {
      return new Response(`Cannot serve more than ${feed.maxClients} live clients at once; retry later\n`, {
        status: 503,
        headers: { "content-type": "text/plain; charset=utf-8", "retry-after": "1" },
      });
    }
    let past: Response;
    try {
      past = await history(new Request(query, { headers: request.headers }));
    } catch (error) {
      live.close();
      throw error;
    }
    if (past.status !== 200) {
      live.close();
      return past;
    }
    // History holds every wanted record up to the head it was read at; the feed takes over after it.
    live.after(Number(past.headers.get("x-head-position") ?? 0));
    const headers = new Headers(past.headers);
    headers.delete("x-last-position");
    headers.set("content-type", sse ? "text/event-stream; charset=utf-8" : "application/x-ndjson");
    headers.set("cache-control", "no-store");
    headers.set("x-accel-buffering", "no");
    const body = liveBody(past.body, live, { sse, heartbeat, retry, signal: request.signal });
    return new Response(body, { status: 200, headers });
  };
}

/** Whether an `Accept` header asks for Server-Sent Events. */
function wantsEventStream(accept: string | null): boolean {
  return accept !== null && /(^|,)\s*text\/event-stream\s*(;|,|$)/i.test(accept);
}

/** The body of a live response: history's lines, then the feed's records, framed for SSE or NDJSON. */
function liveBody(
  past: ReadableStream<Uint8Array> | null,
  live: LiveSubscription,
  options: { sse: boolean; heartbeat: number; retry: number; signal: AbortSignal },
): ReadableStream<Uint8Array> {
  const { sse, heartbeat } = options;
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  let reader = past?.getReader();
  let rest = "";
  /** The global position of the last record sent. */
  let last = 0;
  let sentAt = Date.now();
  let gone = false;
  const leave = () => {
    gone = true;
    live.close();
    void reader?.cancel().catch(() => {});
  };
  options.signal.addEventListener("abort", leave, { once: true });
  const frame = (position: number, line: string) => sse ? `id: ${position}\ndata: ${line}\n\n` : `${line}\n`;
  const send = (controller: ReadableStreamDefaultController<Uint8Array>, text: string) => {
    controller.enqueue(encoder.encode(text));
    sentAt = Date.now();
  };
  const end = (controller: ReadableStreamDefaultController<Uint8Array>) => {
    try {
      controller.close();
    } catch {
      // cancelled meanwhile
    }
  };
  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (sse) send(controller, `retry: ${options.retry}\n\n`);
    },
    async pull(controller) {
      while (!gone) {
        if (reader) {
          const { done, value } = await reader.read();
          let text = rest + (done ? decoder.decode() : decoder.decode(value, { stream: true }));
          if (done) {
            reader = undefined;
            if (text.length > 0 && !text.endsWith("\n")) text += "\n";
          }
          const end = text.lastIndexOf("\n");
          rest = text.slice(end + 1);
          if (end < 0) continue;
          let out = "";
          for (const line of text.slice(0, end).split("\n")) {
            if (line.length === 0) continue;
            const position = positionOf(line);
            if (position <= last) continue;
            last = position;
            out += frame(position, line);
          }
          if (out.length > 0) return send(controller, out);
          continue;
        }
        const records: LiveRecord[] = live.take();
        if (records.length > 0) {
          let out = "";
          for (const record of records) {
            if (record.position <= last) continue;
            last = record.position;
            out += frame(record.position, record.line);
          }
          if (out.length > 0) return send(controller, out);
          continue;
        }
        const reason = live.closed;
        if (reason !== undefined) {
          if (!gone) {
            send(
              controller,
              sse
                ? `: closed: ${reason}; resume after ${last}\n\n`
                : `${JSON.stringify({ closed: reason, lastPosition: last })}\n`,
            );
          }
          // The subscription is left when the response closes (the signal), once this line went out.
          return end(controller);
        }
        const due = sentAt + heartbeat - Date.now();
        if (due <= 0) return send(controller, sse ? ": heartbeat\n\n" : "\n");
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([live.wait(), new Promise<void>((resolve) => timer = setTimeout(resolve, due))]);
        clearTimeout(timer);
      }
      end(controller);
    },
    cancel() {
      leave();
    },
  }, { highWaterMark: 0 });
}

/** A stored line's position: its first member (`{"position":N,…`), else parsed. */
function positionOf(line: string): number {
  const match = /^\{"position":(\d+)[,}]/.exec(line);
  if (match) return Number(match[1]);
  return Number((JSON.parse(line) as { position?: unknown }).position);
}

function badRequest(reason: string): Response {
  return new Response(reason + "\n", { status: 400, headers: { "content-type": "text/plain; charset=utf-8" } });
}
