/**
 * The listener: catches up from a position over HTTP, then continues with
 * live events from the fanout exchange, in strict order, awaiting the
 * handler's promise before the next event.
 *
 * @example The seed README's examples (Node: `require("rabbit-eventstore/listener")`)
 * ```ts
 * import * as listener from "rabbit-eventstore/listener";
 * // Start fetching events from position 50:
 * listener.listen(50, (msg) => console.log("Incoming event:", msg));
 * // Start fetching events from the beginning of time:
 * listener.listen(0, (msg) => console.log("Incoming event:", msg));
 * // Just fetch new events (from now on):
 * listener.listen((msg) => console.log("Incoming event:", msg));
 * ```
 *
 * @example As an async iterable
 * ```ts
 * import { subscribe } from "rabbit-eventstore/listener";
 * for await (const event of subscribe(1)) {
 *   console.log(event.position, event.data);
 *   if (event.position === 100) break; // closes the subscription
 * }
 * ```
 *
 * @example In groups: one call per history chunk, then live events as they come together
 * ```ts
 * import { listenInBatches } from "rabbit-eventstore/listener";
 * const listener = listenInBatches(0, async (events) => {
 *   console.log(`${events.length} events, ${events[0].position}..${events.at(-1)!.position}`);
 * });
 * await listener.close();
 * ```
 *
 * @example Only the events of one stream, or of one category
 * ```ts
 * import { listen } from "rabbit-eventstore/listener";
 * const order = listen(1, (event) => console.log(event.streamVersion, event.data), { stream: "order-42" });
 * const orders = listen(1, (event) => console.log(event.stream, event.data), { category: "order" });
 * await Promise.all([order.close(), orders.close()]);
 * ```
 *
 * @module
 */
import { type ListenerSettings, listenerSettings } from "./lib/config.ts";
import { type BatchHandler, EventFeed, type Handler } from "./lib/event_feed.ts";
import { eventFilter } from "./lib/event_filter.ts";
import { debugLog } from "./lib/log.ts";
import type { EventRecord } from "./lib/record.ts";

export type { BatchHandler, EventRecord, Handler };
export type { BrokerSettings, ListenerSettings } from "./lib/config.ts";
export { HandlerError, StoreChangedError } from "./lib/errors.ts";

/**
 * Options for {@link listen} and {@link subscribe}; each overrides its environment variable.
 *
 * @example Follow a saved position of one store
 * ```ts
 * import { type ListenOptions, listen } from "rabbit-eventstore/listener";
 * const saved = { position: 42, storeId: "5b0c2f7e-0000-4000-8000-000000000000" };
 * const options: ListenOptions = {
 *   historyUrl: "http://eventstore:8080/",
 *   storeId: saved.storeId,
 *   onError: (error) => console.error(error.message),
 * };
 * const listener = listen(saved.position, (event) => console.log(event.position), options);
 * await listener.close();
 * ```
 */
export interface ListenOptions extends Partial<ListenerSettings> {
  /** Broker host (env `AMQPHOST`), used when no `amqpUrl` is given. @default {"localhost"} */
  amqpHost?: string;
  /**
   * The fanout broker's host (env `FANOUTHOST`), used when no `fanoutUrl` is given; the listener binds
   * there. @default {the `amqpUrl` broker}
   */
  fanoutHost?: string;
  /**
   * Called when the listener stops with an error (a `HandlerError` or a `StoreChangedError`), so
   * that `closed` does not reject unobserved.
   * @default {undefined}
   */
  onError?: (error: Error) => void;
  /**
   * The id of the store to follow (as `Listener.storeId` reported it before, saved with the position).
   * A history response or live message from another store stops the listener with a
   * `StoreChangedError`. Without it the listener follows the first store id it sees.
   * @default {undefined}
   */
  storeId?: string;
  /**
   * Least time between two warnings of one kind on stderr, in ms: history that cannot be read, and
   * messages on the fanout that are not records.
   * @default {30000}
   */
  warnInterval?: number;
  /**
   * Deliver only the events of this stream (the `stream` they were appended to), still in global
   * order, each once, with no gap. `from` stays a global position, and `Listener.position` still
   * moves over every event, matching or not, so a saved position resumes as without a filter.
   * Catch-up reads only the stream's records from the server. Not with `category`.
   * @default {undefined} (every event)
   * @example Follow one order, resuming at a saved global position
   * ```ts
   * import { listen } from "rabbit-eventstore/listener";
   * const saved = 1;
   * const listener = listen(saved, (event) => console.log(event.streamVersion, event.type), { stream: "order-42" });
   * await listener.close();
   * console.log("resume at", listener.position);
   * ```
   */
  stream?: string;
  /**
   * Deliver only the events of this category's streams: those named `C-…` (and a stream named just
   * `C`), in global order; a category has no `-` (`order-42` is in `order`). As with `stream`, `from`
   * and `Listener.position` are global positions. Not with `stream`.
   * @default {undefined} (every event)
   * @example Project every order, new ones only
   * ```ts
   * import { listen } from "rabbit-eventstore/listener";
   * const listener = listen((event) => console.log(event.stream, event.data), { category: "order" });
   * await listener.close();
   * ```
   */
  category?: string;
}

/**
 * A running listener, as {@link listen} returns it.
 *
 * @example Save where a projection is, to resume there
 * ```ts
 * import { listen } from "rabbit-eventstore/listener";
 * const listener = listen(1, (event) => console.log(event.data));
 * await listener.ready;
 * // … later, on shutdown:
 * await listener.close();
 * const saved = { position: listener.position ?? 1, storeId: listener.storeId };
 * console.log(saved);
 * ```
 */
export interface Listener {
  /**
   * The next position it will deliver: one past the last event whose handler finished (its promise
   * resolved), so every event below it was handled and none at or above it was. Save it and pass it as
   * `from` to `listen` to resume after a restart without a gap or a repeat. Undefined before the first
   * event when listening for new events only. With a `stream` or `category` filter it is still a
   * global position and also moves past the events outside the filter (to the server's head after a
   * catch-up), so it may be far beyond the last event handled; resume from it with the same filter.
   */
  readonly position: number | undefined;
  /**
   * The id of the store it follows (the server's `x-store-id` / `store-id` headers); undefined
   * until one was seen, and with a server that sends none.
   */
  readonly storeId: string | undefined;
  /**
   * Resolves once the live feed is bound and the history server answered, so every event stored
   * after this is delivered. While history cannot be read, the listener retries and warns on stderr.
   */
  readonly ready: Promise<void>;
  /**
   * Settles when the listener has ended: resolves after close(); rejects with a
   * `HandlerError` (carrying the event's position) when the handler threw, or
   * with a `StoreChangedError` when records of another store arrived.
   */
  readonly closed: Promise<void>;
  /** Stop listening. Resolves once no handler call is running. */
  close(): Promise<void>;
}

/**
 * Deliver every event from position `from` (inclusive; 0 means from the
 * beginning), then every new event, to `handler`, one at a time in order.
 *
 * @param from The first position to deliver; 0 or 1 mean from the beginning.
 * @param handler Called with each event; the next event waits for its promise.
 * @param options Where the broker and the history are, and how to report failures.
 * @returns The running listener.
 * @throws {RangeError} When `from` is not a non-negative integer.
 * @throws {TypeError} When `handler` is not a function, or for both `stream` and `category`, or a bad
 *   stream or category name.
 * @example Replay history, then follow live events
 * ```ts
 * import { listen } from "rabbit-eventstore/listener";
 * const listener = listen<{ amount: number }>(0, async (event) => {
 *   console.log(event.position, event.data.amount);
 * }, { historyUrl: "http://localhost:8080/" });
 * await listener.ready;
 * await listener.close();
 * ```
 */
export function listen<T = unknown>(from: number, handler: Handler<T>, options?: ListenOptions): Listener;
/**
 * Deliver only events stored from now on.
 *
 * @param handler Called with each event; the next event waits for its promise.
 * @param options Where the broker and the history are, and how to report failures.
 * @returns The running listener.
 * @throws {TypeError} For both `stream` and `category`, or a bad stream or category name.
 * @example Only new events
 * ```ts
 * import { listen } from "rabbit-eventstore/listener";
 * const listener = listen((event) => console.log("new:", event.position));
 * await listener.close();
 * ```
 */
export function listen<T = unknown>(handler: Handler<T>, options?: ListenOptions): Listener;
export function listen<T = unknown>(
  fromOrHandler: number | Handler<T>,
  handlerOrOptions?: Handler<T> | ListenOptions,
  maybeOptions?: ListenOptions,
): Listener {
  let from: number | undefined;
  let handler: Handler<T>;
  let options: ListenOptions;
  if (typeof fromOrHandler === "function") {
    handler = fromOrHandler;
    options = (handlerOrOptions as ListenOptions | undefined) ?? {};
  } else {
    if (!Number.isSafeInteger(fromOrHandler) || fromOrHandler < 0) {
      throw new RangeError(`Cannot listen from position ${fromOrHandler}: expected a non-negative integer`);
    }
    if (typeof handlerOrOptions !== "function") {
      throw new TypeError(`Cannot listen: expected a handler function, got ${typeof handlerOrOptions}`);
    }
    from = fromOrHandler;
    handler = handlerOrOptions;
    options = maybeOptions ?? {};
  }
  return startFeed(from, handler as Handler, options);
}

/**
 * Options for {@link listenInBatches}: those of {@link listen}, and the largest group of live events.
 *
 * @example Groups of at most 100 live events
 * ```ts
 * import { type BatchListenOptions, listenInBatches } from "rabbit-eventstore/listener";
 * const options: BatchListenOptions = { maxBatch: 100, historyUrl: "http://localhost:8080/" };
 * const listener = listenInBatches(1, (events) => console.log(events.length), options);
 * await listener.close();
 * ```
 */
export interface BatchListenOptions extends ListenOptions {
  /**
   * The most live events in one call: live events that arrived together are handed over as one
   * group of at most this many (a history chunk is one group whatever its size, a few hundred).
   * @default {256} (the listener's prefetch)
   */
  maxBatch?: number;
}

/**
 * Like {@link listen}, but hands events over in groups, for a consumer that takes them in groups (one
 * database transaction or one multi-row insert per call): the matching records of each history chunk
 * in one call, then live events in groups of those that arrived together (one or more). Same
 * guarantees, per group: strict order, no gap and no repeat across the history→live hand-over; the
 * next group waits for the handler's promise, and a live group is acknowledged only after it.
 * `Listener.position` moves past a group once its promise resolved; when the handler fails the
 * listener stops with a `HandlerError` at the group's first position, so a restart from `position`
 * gets the whole group again (at least once).
 *
 * @param from The first position to deliver (0 or 1: from the beginning); undefined: new events only.
 * @param handler Called with each group (never empty); the next group waits for its promise.
 * @param options As for {@link listen}, and `maxBatch`.
 * @returns The running listener.
 * @throws {RangeError} When `from` is not a non-negative integer, or `maxBatch` not a positive integer.
 * @throws {TypeError} When `handler` is not a function, or for both `stream` and `category`, or a bad
 *   stream or category name.
 * @example Project history and live events with one write per group
 * ```ts
 * import { listenInBatches } from "rabbit-eventstore/listener";
 * const totals = new Map<string, number>();
 * const listener = listenInBatches<{ customer: string; amount: number }>(0, async (events) => {
 *   for (const { data } of events) totals.set(data.customer, (totals.get(data.customer) ?? 0) + data.amount);
 *   await Promise.resolve(); // e.g. one UPSERT of every changed total
 * }, { historyUrl: "http://localhost:8080/", maxBatch: 500 });
 * await listener.ready;
 * await listener.close();
 * ```
 */
export function listenInBatches<T = unknown>(
  from: number | undefined,
  handler: BatchHandler<T>,
  options: BatchListenOptions = {},
): Listener {
  if (from !== undefined && (!Number.isSafeInteger(from) || from < 0)) {
    throw new RangeError(`Cannot listen from position ${from}: expected a non-negative integer`);
  }
  if (typeof handler !== "function") {
    throw new TypeError(`Cannot listen: expected a handler function, got ${typeof handler}`);
  }
  const settings = listenerSettings(options);
  const maxEvents = options.maxBatch ?? settings.prefetch;
  if (!Number.isSafeInteger(maxEvents) || maxEvents < 1) {
    throw new RangeError(`Cannot listen in batches of ${options.maxBatch} events: expected a positive integer`);
  }
  return startFeed(from, handler as BatchHandler, options, { maxEvents });
}

/** Start the feed behind {@link listen} and {@link listenInBatches}. */
function startFeed(
  from: number | undefined,
  handler: Handler | BatchHandler,
  options: ListenOptions,
  batch?: { maxEvents: number },
): Listener {
  const filter = eventFilter(options);
  const settings = listenerSettings(options);
  const feed = new EventFeed(settings, handler, {
    from,
    filter,
    batch,
    log: debugLog(settings.debug, "listener"),
    storeId: options.storeId,
    warnInterval: options.warnInterval,
  });
  feed.start();
  if (options.onError) feed.closed.catch(options.onError);
  return {
    get position() {
      return feed.next;
    },
    get storeId() {
      return feed.storeId;
    },
    ready: feed.ready,
    closed: feed.closed,
    close: () => feed.close(),
  };
}

/**
 * An async iterable of events that can be closed, as {@link subscribe} returns it.
 *
 * @example Close from outside the loop
 * ```ts
 * import { subscribe } from "rabbit-eventstore/listener";
 * const events = subscribe(1);
 * setTimeout(() => void events.close(), 1000);
 * for await (const event of events) console.log(event.position);
 * ```
 */
export interface Subscription<T = unknown> extends AsyncIterableIterator<EventRecord<T>> {
  /** Stop the subscription; a pending `next()` ends with `done: true`. */
  close(): Promise<void>;
}

/**
 * Events from `from` (inclusive; 0 means from the beginning; undefined means
 * new events only) as an async iterable. The next event is fetched only when
 * the loop asks for it, so a slow loop holds at most the broker's prefetch.
 *
 * @param from The first position to deliver; undefined for new events only.
 * @param options As for {@link listen}, including the `stream` or `category` filter.
 * @returns The subscription; `break` in a `for await` loop closes it.
 * @throws {TypeError} For both `stream` and `category`, or a bad stream or category name.
 * @example Read the first ten events
 * ```ts
 * import { subscribe } from "rabbit-eventstore/listener";
 * for await (const event of subscribe(1, { historyUrl: "http://localhost:8080/" })) {
 *   console.log(event.position, event.data);
 *   if (event.position === 10) break;
 * }
 * ```
 * @example The events of one stream, as they come
 * ```ts
 * import { subscribe } from "rabbit-eventstore/listener";
 * for await (const event of subscribe(undefined, { stream: "cart-7" })) {
 *   console.log(event.streamVersion, event.type);
 *   if (event.type === "CheckedOut") break;
 * }
 * ```
 */
export function subscribe<T = unknown>(from?: number, options: ListenOptions = {}): Subscription<T> {
  type Slot = { event: EventRecord<T>; handled: () => void };
  let offered: Slot | undefined;
  let current: Slot | undefined;
  let waiting: ((slot: Slot | undefined) => void) | undefined;
  let ended = false;
  let failure: unknown;
  const handler: Handler<T> = (event) =>
    new Promise<void>((handled) => {
      const slot = { event, handled };
      if (waiting) {
        const take = waiting;
        waiting = undefined;
        take(slot);
      } else offered = slot;
    });
  const listener = from === undefined ? listen(handler, options) : listen(from, handler, options);
  const finish = () => {
    ended = true;
    waiting?.(undefined);
    waiting = undefined;
  };
  listener.closed.then(finish, (error) => {
    failure = error;
    finish();
  });
  const iterator: Subscription<T> = {
    async next(): Promise<IteratorResult<EventRecord<T>>> {
      current?.handled();
      current = undefined;
      let slot = offered;
      offered = undefined;
      if (!slot && !ended) slot = await new Promise<Slot | undefined>((resolve) => (waiting = resolve));
      if (!slot) {
        if (failure) throw failure;
        return { done: true, value: undefined };
      }
      current = slot;
      return { done: false, value: slot.event };
    },
    async return(): Promise<IteratorResult<EventRecord<T>>> {
      await iterator.close();
      return { done: true, value: undefined };
    },
    async close(): Promise<void> {
      finish();
      const pending = current ?? offered;
      current = offered = undefined;
      const closing = listener.close();
      pending?.handled();
      await closing;
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
