/**
 * The listener: catches up from a position over HTTP, then continues with
 * live events from the fanout exchange, in strict order, awaiting the
 * handler's promise before the next event.
 *
 * @example The seed README's examples (Node: `require("rabbit-eventstore/listener")`)
 * ```ts ignore
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
 * ```ts ignore
 * import { subscribe } from "rabbit-eventstore/listener";
 * for await (const event of subscribe(1)) {
 *   console.log(event.position, event.data);
 *   if (event.position === 100) break; // closes the subscription
 * }
 * ```
 *
 * @module
 */
import { type ListenerSettings, listenerSettings } from "./lib/config.ts";
import { EventFeed, type Handler } from "./lib/event_feed.ts";
import { debugLog } from "./lib/log.ts";
import type { EventRecord } from "./lib/record.ts";

export type { EventRecord, Handler };
export type { BrokerSettings, ListenerSettings } from "./lib/config.ts";
export { HandlerError, StoreChangedError } from "./lib/errors.ts";

/** Options for {@link listen} and {@link subscribe}; each overrides its environment variable. */
export interface ListenOptions extends Partial<ListenerSettings> {
  /** Broker host (env `AMQPHOST`), used when no `amqpUrl` is given. @default {"localhost"} */
  amqpHost?: string;
  /** Called when the handler fails, instead of rejecting `closed` unobserved. */
  onError?: (error: Error) => void;
  /**
   * The id of the store to follow (as `Listener.storeId` reported it before, saved with the position).
   * A history response or live message from another store stops the listener with a
   * `StoreChangedError`. Without it the listener follows the first store id it sees.
   */
  storeId?: string;
  /**
   * Least time between two warnings of one kind on stderr, in ms: history that cannot be read, and
   * messages on the fanout that are not records.
   * @default {30000}
   */
  warnInterval?: number;
}

/** A running listener. */
export interface Listener {
  /**
   * The next position it will deliver: one past the last event whose handler finished (its promise
   * resolved), so every event below it was handled and none at or above it was. Save it and pass it as
   * `from` to `listen` to resume after a restart without a gap or a repeat. Undefined before the first
   * event when listening for new events only.
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
 */
export function listen<T = unknown>(from: number, handler: Handler<T>, options?: ListenOptions): Listener;
/** Deliver only events stored from now on. */
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
  const settings = listenerSettings(options);
  const feed = new EventFeed(settings, handler as Handler, {
    from,
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

/** An async iterable of events that can be closed. */
export interface Subscription<T = unknown> extends AsyncIterableIterator<EventRecord<T>> {
  /** Stop the subscription; a pending `next()` ends with `done: true`. */
  close(): Promise<void>;
}

/**
 * Events from `from` (inclusive; 0 means from the beginning; undefined means
 * new events only) as an async iterable. The next event is fetched only when
 * the loop asks for it, so a slow loop holds at most the broker's prefetch.
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
