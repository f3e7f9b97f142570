/**
 * The server's in-process live feed: the sequencer hands it each batch right
 * after the fsync (no broker round trip), and it hands the records to every
 * live HTTP client (SSE and `?follow=1`), each through a bounded buffer of
 * its own.
 *
 * A client subscribes before it reads history, so nothing stored meanwhile
 * is missed; it then tells its subscription the last position history gave
 * it ({@link LiveSubscription.after}), and the records at or below it are
 * dropped: no gap and no duplicate at the hand-over.
 *
 * A client that still has more than `bufferBytes` waiting when the next
 * batch arrives is closed (its buffer is dropped,
 * {@link LiveSubscription.closed} says why) and resumes from the last
 * position it got: a client holds at most `bufferBytes` plus one batch (whose
 * records every client shares), so a burst alone closes no client that keeps
 * up. At most `maxClients` subscribe at once.
 *
 * @module
 */
import { DEFAULTS } from "./defaults.ts";
import { type EventFilter, matches } from "./event_filter.ts";
import { utf8Length } from "./utf8_length.ts";

/**
 * What the feed needs of a stored record (every `StoredRecord` is one).
 *
 * @example A record as the sequencer hands it over
 * ```ts
 * import type { LiveRecord } from "./live_feed.ts";
 * const record: LiveRecord = { position: 1, line: '{"position":1,"id":"a","time":"t","data":{}}' };
 * console.log(record.position);
 * ```
 */
export interface LiveRecord {
  /** Dense position. */
  readonly position: number;
  /** Its stream, when it has one (for `?stream=` and `?category=` clients). */
  readonly stream?: string;
  /** The record's JSON line, without a newline. */
  readonly line: string;
}

/**
 * Options for {@link LiveFeed}.
 *
 * @example A feed for a handful of clients with small buffers
 * ```ts
 * import { LiveFeed, type LiveFeedOptions } from "./live_feed.ts";
 * const options: LiveFeedOptions = { maxClients: 10, bufferBytes: 64 * 1024 };
 * console.log(new LiveFeed(options).clients); // 0
 * ```
 */
export interface LiveFeedOptions {
  /** Live clients at once; {@link LiveFeed.subscribe} refuses one more. @default {100} */
  maxClients?: number;
  /**
   * Bytes of record lines (UTF-8) one client may still have waiting when the next batch arrives; beyond
   * that it is closed as too slow. @default {1048576}
   */
  bufferBytes?: number;
}

/**
 * One live client's view of the feed: a bounded buffer of the records after
 * its position that pass its filter.
 *
 * @example Hand over from history to live
 * ```ts
 * import { LiveFeed } from "./live_feed.ts";
 * const feed = new LiveFeed();
 * const live = feed.subscribe()!; // before reading history
 * feed.publish([{ position: 1, line: "{}" }, { position: 2, line: "{}" }]);
 * live.after(1); // history gave position 1
 * console.log(live.take().map((r) => r.position)); // [2]
 * live.close();
 * ```
 */
export interface LiveSubscription {
  /** Why the feed closed this client (too slow, server closing); undefined while it is open. */
  readonly closed: string | undefined;
  /** Drop what is buffered up to `position` and everything at or below it later (what history already sent). */
  after(position: number): void;
  /** Take the buffered records, in position order. */
  take(): LiveRecord[];
  /** Resolves when records are buffered or the subscription is closed (at once if either holds). */
  wait(): Promise<void>;
  /** Leave the feed (the client went away, or the response ended). */
  close(): void;
}

/**
 * What a live client reads: Server-Sent Events, or NDJSON with `?follow=1`.
 *
 * @example Count the SSE clients
 * ```ts
 * import { LiveFeed, type LiveKind } from "./live_feed.ts";
 * const kind: LiveKind = "follow";
 * const feed = new LiveFeed();
 * feed.subscribe(undefined, kind);
 * console.log(feed.byKind()); // { sse: 0, follow: 1 }
 * ```
 */
export type LiveKind = "sse" | "follow";

/** The defaults of {@link LiveFeedOptions}. */
const FEED_DEFAULTS = {
  maxClients: DEFAULTS.live.maxClients,
  bufferBytes: DEFAULTS.live.bufferBytes,
} as const;

/**
 * Fans durable records out to live HTTP clients in-process.
 *
 * @example Feed a client
 * ```ts
 * import { LiveFeed } from "./live_feed.ts";
 * const feed = new LiveFeed({ maxClients: 2 });
 * const live = feed.subscribe({ category: "order" })!;
 * feed.publish([{ position: 1, stream: "order-1", line: "{}" }, { position: 2, stream: "user-1", line: "{}" }]);
 * await live.wait();
 * console.log(live.take().map((r) => r.position)); // [1]
 * await feed.close("the server is closing");
 * ```
 */
export class LiveFeed {
  readonly #maxClients: number;
  readonly #bufferBytes: number;
  readonly #subscribers = new Set<Subscriber>();
  #closing: string | undefined;

  /**
   * Create an empty feed.
   *
   * @param options The client cap and each client's buffer.
   * @throws {RangeError} When `maxClients` or `bufferBytes` is not a positive integer.
   */
  constructor(options: LiveFeedOptions = {}) {
    const { maxClients, bufferBytes } = { ...FEED_DEFAULTS, ...definedOnly(options) };
    for (const [name, value] of [["maxClients", maxClients], ["bufferBytes", bufferBytes]] as const) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new RangeError(`Cannot create a live feed with ${name} ${value}: expected a positive integer`);
      }
    }
    this.#maxClients = maxClients;
    this.#bufferBytes = bufferBytes;
  }

  /** Live clients now. */
  get clients(): number {
    return this.#subscribers.size;
  }

  /** Live clients now, by kind (the metrics' `live_clients{kind}`). */
  byKind(): Record<LiveKind, number> {
    const counts = { sse: 0, follow: 0 };
    for (const subscriber of this.#subscribers) counts[subscriber.kind]++;
    return counts;
  }

  /** The cap on live clients. */
  get maxClients(): number {
    return this.#maxClients;
  }

  /**
   * Subscribe a client; records published from now on that pass `filter` are buffered for it.
   *
   * @param filter One stream or one category. @default {every record}
   * @param kind What the client reads, for {@link LiveFeed.byKind}. @default {"sse"}
   * @returns The subscription, or undefined when `maxClients` are subscribed or the feed is closing.
   */
  subscribe(filter?: EventFilter, kind: LiveKind = "sse"): LiveSubscription | undefined {
    if (this.#closing !== undefined || this.#subscribers.size >= this.#maxClients) return undefined;
    const subscriber = new Subscriber(filter, kind, this.#bufferBytes, (s) => this.#subscribers.delete(s));
    this.#subscribers.add(subscriber);
    return subscriber;
  }

  /** Hand a durable batch (in position order) to every client. */
  publish(records: readonly LiveRecord[]): void {
    if (records.length === 0 || this.#subscribers.size === 0) return;
    const sizes = records.map((record) => utf8Length(record.line));
    for (const subscriber of this.#subscribers) subscriber.push(records, sizes);
  }

  /**
   * Close every client with `reason`, and refuse new ones. Resolves once each
   * has left (its response ended), or after `graceMs`.
   *
   * @param reason What the clients are told.
   * @param graceMs How long to wait for them to leave. @default {1000}
   */
  async close(reason: string, graceMs: number = DEFAULTS.live.closeGrace): Promise<void> {
    this.#closing ??= reason;
    const left = [...this.#subscribers].map((s) => s.end(reason));
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(left),
      new Promise<void>((resolve) => timer = setTimeout(resolve, graceMs)),
    ]);
    clearTimeout(timer);
  }
}

class Subscriber implements LiveSubscription {
  readonly kind: LiveKind;
  readonly #filter: EventFilter | undefined;
  readonly #limit: number;
  readonly #leave: (s: Subscriber) => void;
  #buffer: LiveRecord[] = [];
  #sizes: number[] = [];
  #bytes = 0;
  #after = 0;
  #closed: string | undefined;
  #wake: (() => void) | undefined;
  #left = false;
  #onLeft: (() => void) | undefined;

  constructor(filter: EventFilter | undefined, kind: LiveKind, limit: number, leave: (s: Subscriber) => void) {
    this.kind = kind;
    this.#filter = filter;
    this.#limit = limit;
    this.#leave = leave;
  }

  get closed(): string | undefined {
    return this.#closed;
  }

  push(records: readonly LiveRecord[], sizes: readonly number[]): void {
    if (this.#closed !== undefined) return;
    // Still more than the bound waiting from earlier batches: too slow. A batch itself always fits (its
    // records are the server's, shared by every client), so a burst does not close a client that keeps up.
    if (this.#bytes > this.#limit) {
      this.#empty();
      this.#closed = `too slow: more than ${this.#limit} bytes of events waited for this client`;
      return this.#notify();
    }
    let added = false;
    for (let i = 0; i < records.length; i++) {
      const record = records[i];
      if (record.position <= this.#after || !matches(this.#filter, record.stream)) continue;
      this.#buffer.push(record);
      this.#sizes.push(sizes[i]);
      this.#bytes += sizes[i];
      added = true;
    }
    if (added) this.#notify();
  }

  after(position: number): void {
    if (position <= this.#after) return;
    this.#after = position;
    let drop = 0;
    while (drop < this.#buffer.length && this.#buffer[drop].position <= position) this.#bytes -= this.#sizes[drop++];
    if (drop > 0) {
      this.#buffer = this.#buffer.slice(drop);
      this.#sizes = this.#sizes.slice(drop);
    }
  }

  take(): LiveRecord[] {
    const taken = this.#buffer;
    this.#empty();
    if (taken.length > 0) this.#after = taken[taken.length - 1].position;
    return taken;
  }

  wait(): Promise<void> {
    if (this.#buffer.length > 0 || this.#closed !== undefined) return Promise.resolve();
    return new Promise<void>((resolve) => (this.#wake = resolve));
  }

  /** Close with `reason`; resolves when the client has left. */
  end(reason: string): Promise<void> {
    this.#closed ??= reason;
    this.#notify();
    if (this.#left) return Promise.resolve();
    return new Promise<void>((resolve) => (this.#onLeft = resolve));
  }

  close(): void {
    if (this.#left) return;
    this.#left = true;
    this.#closed ??= "closed";
    this.#empty();
    this.#leave(this);
    this.#notify();
    this.#onLeft?.();
  }

  #empty(): void {
    this.#buffer = [];
    this.#sizes = [];
    this.#bytes = 0;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}
