/**
 * The listener's engine: history over HTTP, then live events from the fanout,
 * delivered in strict position order with no gaps and no duplicates.
 *
 * How order is kept:
 * 1. At start the history read and the AMQP set-up (connection, channels, a
 *    fresh exclusive queue bound to the fanout, consume) run at once: the
 *    first event does not wait for the 5–10 broker round trips of set-up.
 *    Live events that arrive meanwhile wait in memory (at most the prefetch).
 *    When the queue was bound after a history read was sent (always, at
 *    start), one more read from the next position follows it, so what was
 *    stored between that read's answer and the bind is read too (usually
 *    nothing: one round trip). On a reconnect the queue is bound first, then
 *    history is read from the next position. Nothing can fall between.
 * 2. Live events below the next position were delivered already: ack, skip.
 * 3. A live event above it means some were missed (a reconnect, or a server
 *    that died between fsync and publish): fetch the missing range over HTTP
 *    and deliver it first.
 * 4. The handler's promise is awaited before the next event, and a live
 *    message is acked only after its handler finished (several at once with
 *    `multiple`); the broker's prefetch bounds what waits in memory.
 *
 * What it refuses:
 * - A message on the fanout that is not a record (`{"type":"Ok"}` published to
 *   the exchange by mistake) is acked in turn like a skipped duplicate and
 *   warned about (rate-limited); it never stops the feed. If it was a damaged
 *   record after all, the next record's gap repair fetches it from history.
 * - Records of another store (a different `store-id` header on the fanout or
 *   `x-store-id` on a history response than the first one seen) stop the feed
 *   with a {@link StoreChangedError}.
 * - While history cannot be read (nothing listens, a 404, an HTML page) the
 *   feed retries with backoff and warns on stderr at most every
 *   `warnInterval` ms; `ready` waits until history answered once.
 *
 * With a filter (one stream, or one category: {@link EventFeedOptions.filter})
 * it delivers only the matching events, in global order, with the same rules,
 * and `next` still moves over every position, matching or not:
 * - Catch-up reads only the matching records (`?stream=S&position=P`,
 *   `?category=C&from=P`), so it costs what they cost. A filtered response
 *   read to its end covered everything up to its `x-head-position`: `next`
 *   moves to head + 1, not to the last matching record + 1. Records are
 *   matched again on this side, so a server that ignores the filter costs
 *   time, never correctness.
 * - Gap repair reads the gap unfiltered (`?from=next&limit=gap`, bounded by
 *   the gap) and delivers the matching records of it.
 * - A live message outside the filter is acked in turn and moves `next` past
 *   its position; when the fanout's `stream` header already says it does not
 *   match (a `store-id` and a `position` header mark it as the server's), its
 *   body is not even parsed.
 *
 * History arrives in chunks (one array of records per body chunk) delivered
 * in a plain loop: one promise round trip per chunk, and a handler that
 * returns nothing (or a non-thenable) costs no await at all. `close()` is
 * checked before every record, so it stops mid-chunk.
 *
 * @module
 */
import { Backoff } from "./backoff.ts";
import { BrokerLink } from "./broker_link.ts";
import type { BrokerSession, Delivery, OpenSession } from "./broker_session.ts";
import { FANOUT_BROKER, type ListenerSettings } from "./config.ts";
import { DEFAULTS } from "./defaults.ts";
import { describe, HandlerError, StoreChangedError } from "./errors.ts";
import { type HistoryResponse, readHistoryChunks } from "./history_client.ts";
import { type Log, rateLimited, warnLog } from "./log.ts";
import { type EventFilter, matches } from "./event_filter.ts";
import { type EventRecord, parseRecord } from "./record.ts";
import { utf8Text } from "./runtime/utf8_text.ts";

/**
 * Called for each event in order. A returned promise (any thenable) is awaited
 * before the next event; returning nothing costs no await.
 *
 * @example A handler that projects orders and awaits its write
 * ```ts
 * import type { Handler } from "rabbit-eventstore/listener";
 * const totals = new Map<number, number>();
 * const handler: Handler<{ orderId: number; amount: number }> = async (event) => {
 *   totals.set(event.data.orderId, (totals.get(event.data.orderId) ?? 0) + event.data.amount);
 *   await Promise.resolve(); // e.g. a database write
 * };
 * ```
 */
export type Handler<T = unknown> = (event: EventRecord<T>) => void | PromiseLike<void>;

/**
 * Called with events in groups, in order: the matching records of one history chunk (hundreds), or
 * the live events that arrived together (one or more). A returned promise is awaited before the next
 * group; a live group is acknowledged only after it. Never called with an empty array.
 *
 * @example Insert each group with one statement
 * ```ts
 * import type { BatchHandler } from "rabbit-eventstore/listener";
 * const rows: unknown[][] = [];
 * const handler: BatchHandler<{ amount: number }> = async (events) => {
 *   rows.push(events.map((event) => [event.position, event.data.amount]));
 *   await Promise.resolve(); // e.g. one INSERT … VALUES for the whole group
 * };
 * ```
 */
export type BatchHandler<T = unknown> = (events: EventRecord<T>[]) => void | PromiseLike<void>;

interface Live {
  session: BrokerSession;
  delivery: Delivery;
}

/** Options of an {@link EventFeed}. */
export interface EventFeedOptions {
  /** First position to deliver (0 or 1: everything); undefined: new events only. */
  from?: number;
  /**
   * Call the handler with groups of events (it is then a {@link BatchHandler}): one per history
   * chunk, and live events that are waiting together, at most `maxEvents` of them.
   * @default {undefined} (one event per call)
   */
  batch?: { maxEvents: number };
  /** Debug log. @default {no output} */
  log?: Log;
  /** Where warnings go. @default {stderr} */
  warn?: Log;
  /** Least time between two warnings of one kind, in ms. @default {30000} */
  warnInterval?: number;
  /** The store id to follow; undefined: the first one seen. */
  storeId?: string;
  /**
   * Deliver only the events of this stream, or of this category (see the module doc); `next` still
   * moves over every position. Checked by the caller (lib/event_filter.ts `eventFilter`).
   * @default {undefined} (every event)
   */
  filter?: EventFilter;
  /**
   * Opens each broker session (the feed's {@link BrokerLink} reconnects through it); a fake in unit tests.
   * @default {openSession} (lib/amqp_session.ts: the real broker)
   */
  open?: OpenSession;
  /**
   * Reads history: called with `settings.historyUrl`, the first position and the read options, it
   * yields arrays of records and calls `onResponse` before the first; a fake in unit tests.
   * @default {readHistoryChunks} (lib/history_client.ts: HTTP)
   */
  history?: typeof readHistoryChunks;
}

/** AMQP header on fanout messages that names the store a record belongs to. */
export const STORE_ID_HEADER = "store-id";

/**
 * The listener's engine: binds a live queue to the fanout, catches up over
 * HTTP, hands over to live events without a gap or a repeat, and acks each
 * live message only after its handler finished.
 *
 * @example Deliver from position 1 until closed
 * ```ts ignore
 * const feed = new EventFeed(settings, (event) => console.log(event), { from: 1 });
 * feed.start();
 * await feed.close();
 * ```
 */
export class EventFeed {
  readonly #settings: ListenerSettings;
  readonly #handler: Handler;
  /** The batch handler and its largest live group, when the feed delivers in groups. */
  readonly #batch: { handler: BatchHandler; maxEvents: number } | undefined;
  readonly #log: Log;
  readonly #warn: Log;
  /** Rate-limited warnings, one limit per kind. */
  readonly #warnHistory: Log;
  readonly #warnStray: Log;
  readonly #link: BrokerLink;
  readonly #readHistory: typeof readHistoryChunks;
  readonly #filter: EventFilter | undefined;
  /** The store this feed follows: the option, else the first id seen; undefined while unknown. */
  #storeId: string | undefined;
  /** Whether the live queue is bound, and whether history answered at least once (both make `ready`). */
  #bound = false;
  #reached = false;
  /** Whether a history warning was written since history last answered. */
  #historyWarned = false;
  /** The next position to deliver; new events only: undefined until history named its head (or the first live event). */
  #next: number | undefined;
  #live: Live[] = [];
  /** Live messages handled but not yet acknowledged (acks go out in batches). */
  #unacked = 0;
  /** Whether history must be read from `next` (set at start, and by every bind). */
  #catchUp = true;
  /** The error that stopped the first connection for good (a refused login), thrown by the run loop. */
  #linkError: Error | undefined;
  /** When start() was called, for the set-up timings in the debug log. */
  #startedAt = 0;
  #wake: (() => void) | undefined;
  #closed = false;
  #abort = new AbortController();
  #done: Promise<void>;
  #ready: Promise<void>;
  #resolveReady!: () => void;
  #resolveDone!: () => void;
  #rejectDone!: (error: Error) => void;

  /**
   * Create a feed; nothing connects until {@link EventFeed.start}.
   *
   * @param settings Broker and history settings.
   * @param handler Called once per event, in order (with `options.batch`: a {@link BatchHandler}).
   * @param options Start position, logs, store id, and the broker opener and history reader (fakes in tests).
   */
  constructor(settings: ListenerSettings, handler: Handler | BatchHandler, options: EventFeedOptions = {}) {
    const log = options.log ?? (() => {});
    this.#settings = settings;
    this.#handler = handler as Handler;
    if (options.batch !== undefined) {
      const maxEvents = options.batch.maxEvents;
      if (!Number.isSafeInteger(maxEvents) || maxEvents < 1) {
        throw new RangeError(`Cannot deliver in batches of ${maxEvents} events: expected a positive integer`);
      }
      this.#batch = { handler: handler as BatchHandler, maxEvents };
    }
    this.#log = log;
    this.#warn = options.warn ?? warnLog("listener");
    const interval = options.warnInterval ?? DEFAULTS.listener.warnInterval;
    this.#warnHistory = rateLimited(this.#warn, interval);
    this.#warnStray = rateLimited(this.#warn, interval);
    this.#storeId = options.storeId || undefined;
    this.#filter = options.filter;
    const from = options.from;
    this.#next = from === undefined ? undefined : Math.max(1, from);
    this.#done = new Promise<void>((resolve, reject) => {
      this.#resolveDone = resolve;
      this.#rejectDone = reject;
    });
    this.#ready = new Promise<void>((resolve) => (this.#resolveReady = resolve));
    this.#readHistory = options.history ?? readHistoryChunks;
    // The fanout's broker (FANOUTURL, by default the queue's): the listener needs no other.
    this.#link = new BrokerLink(settings.fanoutUrl, {
      name: "rabbit-eventstore listener",
      caFile: settings.fanoutCaFile,
      settings: FANOUT_BROKER,
      log,
      startTimeout: Infinity,
      setup: (session) => this.#setup(session),
      open: options.open,
    });
  }

  /** Settles when the feed has ended: resolves after close(); rejects with the error that stopped it. */
  get closed(): Promise<void> {
    return this.#done;
  }

  /**
   * Resolves once the live queue is bound and history answered, the first time
   * (or the feed stopped before that).
   */
  get ready(): Promise<void> {
    return this.#ready;
  }

  /** The next position this feed will deliver (new-only mode: undefined until history answered). */
  get next(): number | undefined {
    return this.#next;
  }

  /** The id of the store this feed follows; undefined until one was seen (or with a server that sends none). */
  get storeId(): string | undefined {
    return this.#storeId;
  }

  /** Connect and start delivering. */
  start(): void {
    this.#startedAt = performance.now();
    this.#run().then(() => this.#resolveDone(), (error) => this.#rejectDone(error)).finally(() => this.#resolveReady());
  }

  /** Stop delivering; resolves when the feed has stopped. */
  async close(): Promise<void> {
    this.#stop();
    await this.#done.catch(() => {});
  }

  #stop(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    this.#wake?.();
  }

  async #setup(session: BrokerSession): Promise<void> {
    // Each step's time since start() in the debug log (DEBUG=1): where a slow start spends it.
    const steps: string[] = [`connected ${this.#since()}`];
    await session.declareFanout(this.#settings.exchangeName);
    steps.push(`exchange ${this.#since()}`);
    const queue = await session.declareQueue("", { durable: false, exclusive: true, autoDelete: true });
    steps.push(`queue ${this.#since()}`);
    await session.bind(queue, this.#settings.exchangeName);
    steps.push(`bind ${this.#since()}`);
    this.#catchUp = true;
    await session.consume(queue, this.#settings.prefetch, (delivery) => {
      this.#live.push({ session, delivery });
      this.#wake?.();
    });
    steps.push(`consume ${this.#since()}`);
    this.#wake?.();
    this.#bound = true;
    if (this.#reached) this.#resolveReady();
    this.#log(
      `Bound live queue ${queue} to exchange ${this.#settings.exchangeName} (ms since start: ${steps.join(", ")})`,
    );
  }

  /** Milliseconds since start(), for the debug log. */
  #since(): string {
    return (performance.now() - this.#startedAt).toFixed(1);
  }

  async #run(): Promise<void> {
    // The broker set-up runs beside the first history read (see the module doc, rule 1).
    const linking = this.#link.start().catch((error: Error) => {
      if (this.#closed) return; // closed while connecting: not a failure
      this.#linkError = error;
      this.#stop();
    });
    try {
      while (!this.#closed) {
        if (this.#catchUp && this.#next !== undefined) {
          this.#catchUp = false;
          await this.#history(this.#next, Infinity);
          continue;
        }
        if (this.#catchUp && this.#next === undefined) {
          // New events only: they start after the head history names (the probe), or at the first live one.
          this.#catchUp = false;
          if (!this.#reached) await this.#probe();
          continue;
        }
        const item = this.#live.shift();
        if (!item) {
          await new Promise<void>((resolve) => (this.#wake = resolve));
          this.#wake = undefined;
          continue;
        }
        if (this.#batch !== undefined) await this.#onLiveGroup(item, this.#batch);
        else await this.#onLive(item);
      }
    } finally {
      await this.#link.close();
      await linking;
    }
    if (this.#linkError) throw this.#linkError;
  }

  /**
   * What a live message is: `undefined` for a stray (warned about; to be acked in turn), else its
   * position and its record (undefined when it is outside the filter). Throws a
   * {@link StoreChangedError} for another store's message.
   */
  #classify({ delivery }: Live): { position: number; record: EventRecord | undefined } | undefined {
    const storeId = headerString(delivery.headers?.[STORE_ID_HEADER]);
    if (storeId !== undefined) this.#checkStore(storeId, "live message");
    const header = Number(delivery.headers?.position);
    const headerPosition = Number.isSafeInteger(header) && header > 0 ? header : undefined;
    let record: EventRecord | undefined;
    let position: number;
    if (
      this.#filter !== undefined && storeId !== undefined && headerPosition !== undefined &&
      !matches(this.#filter, headerString(delivery.headers?.stream))
    ) {
      // The server's record of another stream (its headers say so): no need to parse it.
      position = headerPosition;
    } else {
      const line = utf8Text(delivery.body);
      try {
        record = parseRecord(line);
      } catch (error) {
        this.#warnStray(
          `Skipped a message on exchange ${this.#settings.exchangeName} that is not a record of this store ` +
            `(${describe(error)}): ${line.length > 80 ? line.slice(0, 80) + "…" : line}`,
        );
        return undefined;
      }
      position = headerPosition ?? record.position;
      if (!matches(this.#filter, record.stream)) record = undefined;
    }
    if (storeId !== undefined) this.#storeId ??= storeId;
    return { position, record };
  }

  /**
   * Batch mode: deliver `first` and the live messages waiting behind it on the same session as one
   * group (at most `maxEvents` records), then ack them with one multiple-ack. The group ends before
   * a message that skips ahead (a gap), which then goes through {@link EventFeed.#onLive} and its
   * gap repair; duplicates, strays and events outside the filter inside the group are acked with it.
   */
  async #onLiveGroup(first: Live, batch: { handler: BatchHandler; maxEvents: number }): Promise<void> {
    const group: EventRecord[] = [];
    let item: Live | undefined = first;
    let last: Live | undefined; // the last message taken into the group
    let expected = this.#next;
    while (item !== undefined) {
      const seen = this.#classify(item);
      if (seen !== undefined) {
        expected ??= seen.position;
        if (seen.position > expected) break; // a gap: delivered after the group, with its repair
        if (seen.position === expected) {
          if (seen.record !== undefined) group.push(seen.record);
          expected = seen.position + 1;
        }
      }
      last = item;
      item = undefined;
      const next = this.#live[0];
      if (group.length < batch.maxEvents && next !== undefined && next.session === first.session) {
        item = this.#live.shift();
      }
    }
    // Handled (its promise resolved), so next moves past it even if close() came meanwhile.
    if (group.length > 0) await this.#deliverGroup(batch.handler, group);
    this.#next = expected;
    if (last !== undefined && !last.session.closed) {
      this.#unacked = 0;
      await last.session.ack(last.delivery.tag, true).catch(() => {});
    }
    // The message that skipped ahead: its gap is repaired and it is delivered on its own.
    if (item !== undefined) await this.#onLive(item);
  }

  /** Call the batch handler with `group` and await it; a failure stops the feed at the group's first record. */
  async #deliverGroup(handler: BatchHandler, group: EventRecord[]): Promise<void> {
    let result: unknown;
    try {
      result = handler(group);
      if (isThenable(result)) await result;
    } catch (error) {
      throw this.#failed(group[0], error);
    }
  }

  async #onLive(item: Live): Promise<void> {
    const { session, delivery } = item;
    const seen = this.#classify(item);
    if (seen === undefined) {
      // A stray: nothing to deliver; acked in turn, like a duplicate.
      const acking = session.closed ? undefined : this.#ack(session, delivery.tag);
      if (acking) await acking;
      return;
    }
    const { position, record } = seen;
    this.#next ??= position;
    if (position > this.#next) {
      this.#log(`Live event ${position} skips ahead of ${this.#next}; fetching the gap from history`);
      await this.#history(this.#next, position - this.#next);
      if (this.#closed) return;
    }
    if (position === this.#next) {
      if (record !== undefined) {
        if (this.#batch !== undefined) await this.#deliverGroup(this.#batch.handler, [record]);
        else await this.#deliver(record);
      }
      this.#next = position + 1;
    }
    const acking = session.closed ? undefined : this.#ack(session, delivery.tag);
    if (acking) await acking;
  }

  /**
   * Acknowledge a handled live message and every earlier one on its session at once (`multiple`),
   * when nothing else is waiting or a quarter of the prefetch is unacknowledged: one ack frame
   * per burst instead of one per event, while the broker never runs out of prefetch. Returns the
   * ack to await, or nothing (no await, no promise) when this message waits for a later one.
   */
  #ack(session: BrokerSession, tag: number): Promise<void> | undefined {
    this.#unacked++;
    if (this.#live.length > 0 && this.#unacked < Math.max(1, this.#settings.prefetch >> 2)) return undefined;
    this.#unacked = 0;
    return session.ack(tag, true).catch(() => {});
  }

  /**
   * Deliver history from `from`, at most `limit` positions; retries while the server is unreachable.
   * With a filter, a catch-up (no limit) reads only the matching records and then moves `next` to the
   * head the response named; a gap (a limit) is read unfiltered and filtered here.
   */
  async #history(from: number, limit: number): Promise<void> {
    const backoff = new Backoff(DEFAULTS.listener.historyRetry);
    const filter = this.#filter;
    const filtered = filter !== undefined && !Number.isFinite(limit);
    while (!this.#closed && this.#next !== undefined && this.#next < from + limit) {
      const start = this.#next;
      let head: number | undefined;
      try {
        let first = true;
        for await (
          const records of this.#readHistory(this.#settings.historyUrl, start, {
            limit: Number.isFinite(limit) ? from + limit - start : undefined,
            stream: filtered ? filter.stream : undefined,
            category: filtered ? filter.category : undefined,
            signal: this.#abort.signal,
            token: this.#settings.historyToken,
            onResponse: (response) => {
              this.#onHistoryResponse(response);
              head = response.head;
            },
          })
        ) {
          if (first) {
            first = false;
            this.#historyAnswered();
          }
          if (this.#batch !== undefined) {
            await this.#historyGroup(records, filtered, this.#batch.handler);
            continue;
          }
          for (let i = 0; i < records.length; i++) {
            if (this.#closed) return;
            const record = records[i];
            const position = record.position;
            if (position < this.#next) continue;
            if (position > this.#next && !filtered) {
              throw new Error(`history skipped from ${this.#next} to ${position}`);
            }
            if (filter === undefined || matches(filter, record.stream)) {
              // Inline delivery: await only a thenable, in this frame (no async helper per record).
              let result: unknown;
              try {
                result = this.#handler(record);
                if (isThenable(result)) await result;
              } catch (error) {
                throw this.#failed(record, error);
              }
            }
            this.#next = position + 1;
          }
        }
        // Read to its end: a filtered response held every matching record up to its head.
        if (filtered && head !== undefined && head >= this.#next) this.#next = head + 1;
        this.#historyAnswered();
        if (!Number.isFinite(limit) || this.#next >= from + limit) return;
        // The server did not have the range yet; wait and ask again.
        this.#log(`History has not reached ${from + limit - 1} yet; asking again in ${backoff.delay} ms`);
      } catch (error) {
        this.#historyFailed(error, start, backoff.delay);
      }
      await backoff.sleep(this.#abort.signal);
    }
  }

  /**
   * Batch mode: deliver one history chunk's records from `next` on (the matching ones) as one group,
   * then move `next` past the chunk. Same checks as one by one: no skip in an unfiltered read.
   */
  async #historyGroup(records: EventRecord[], filtered: boolean, handler: BatchHandler): Promise<void> {
    if (this.#closed || this.#next === undefined) return;
    const filter = this.#filter;
    const group: EventRecord[] = [];
    let next = this.#next;
    let failure: Error | undefined;
    for (let i = 0; i < records.length; i++) {
      const record = records[i];
      const position = record.position;
      if (position < next) continue;
      if (position > next && !filtered) {
        // Deliver what came before the skip first, as one by one would.
        failure = new Error(`history skipped from ${next} to ${position}`);
        break;
      }
      if (filter === undefined || matches(filter, record.stream)) group.push(record);
      next = position + 1;
    }
    if (group.length > 0) await this.#deliverGroup(handler, group);
    this.#next = next;
    if (failure) throw failure;
  }

  /**
   * New events only: nothing to deliver from history yet, but make sure it answers (and warn when
   * it does not) before a gap needs it, and learn the store id. Asks for no records (`limit=0`).
   * New events are those after the head it names: `next` starts at head + 1, so a live message at
   * or below it (the fanout's catch-up republishing an old position) is dropped, not taken as the
   * start. A server that sends no head: the first live event is the start.
   */
  async #probe(): Promise<void> {
    const backoff = new Backoff(DEFAULTS.listener.historyRetry);
    while (!this.#closed) {
      try {
        let head: number | undefined;
        const chunks = this.#readHistory(this.#settings.historyUrl, 1, {
          limit: 0,
          signal: this.#abort.signal,
          token: this.#settings.historyToken,
          onResponse: (response) => {
            this.#onHistoryResponse(response);
            head = response.head;
          },
        });
        for await (const _ of chunks) break; // a server that ignores limit=0
        if (head !== undefined && Number.isSafeInteger(head) && head >= 0) this.#next ??= head + 1;
        this.#historyAnswered();
        return;
      } catch (error) {
        this.#historyFailed(error, 1, backoff.delay);
      }
      await backoff.sleep(this.#abort.signal);
    }
  }

  /** Check the store id of every history response before its records are delivered. */
  readonly #onHistoryResponse = (response: HistoryResponse): void => {
    if (response.storeId === undefined) return;
    this.#checkStore(response.storeId, "history response");
    this.#storeId ??= response.storeId;
  };

  /** A history read failed: rethrow what stops the feed, else log it and warn (rate-limited). */
  #historyFailed(error: unknown, start: number, delay: number): void {
    if (error instanceof HandlerError || error instanceof StoreChangedError) throw error;
    if (this.#closed) return;
    const reason = describeWithCause(error);
    this.#log(`History from ${start} failed (${reason}); retrying in ${delay} ms`);
    this.#historyWarned = true;
    this.#warnHistory(`Cannot read history from ${this.#settings.historyUrl} (${reason}); still retrying`);
  }

  /** History answered with records (or cleanly with none): `ready` may resolve. */
  #historyAnswered(): void {
    if (this.#historyWarned) {
      this.#historyWarned = false;
      this.#warn(`History at ${this.#settings.historyUrl} answers again`);
    }
    if (this.#reached) return;
    this.#reached = true;
    if (this.#bound) this.#resolveReady();
  }

  /** Stop with a {@link StoreChangedError} when `id` is not the store this feed follows; else follow it. */
  #checkStore(id: string, where: string): void {
    if (this.#storeId === undefined || this.#storeId === id) return;
    // Thrown, not stopped here: a stop now would abort the history read, which then reports the abort.
    throw new StoreChangedError(this.#storeId, id, where);
  }

  /** Deliver one record and await the handler's thenable; a failure stops the feed at its position. */
  async #deliver(record: EventRecord): Promise<void> {
    let result: unknown;
    try {
      result = this.#handler(record);
      if (isThenable(result)) await result;
    } catch (error) {
      throw this.#failed(record, error);
    }
    this.#next = record.position + 1;
  }

  /** Stop the feed because the handler failed at `record`. */
  #failed(record: EventRecord, error: unknown): HandlerError {
    this.#stop();
    return new HandlerError(record.position, error);
  }
}

/** Whether a handler's result is a thenable, which must be awaited (anything else costs no await). */
function isThenable(result: unknown): result is PromiseLike<void> {
  return result !== null && (typeof result === "object" || typeof result === "function") &&
    typeof (result as PromiseLike<void>).then === "function";
}

/** An AMQP header value as a non-empty string, else undefined (absent: a server that sends none). */
function headerString(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const text = value instanceof Uint8Array ? utf8Text(value) : String(value);
  return text.length > 0 ? text : undefined;
}

/** An error's message with its cause's (Node's fetch says only "fetch failed", the cause says why). */
function describeWithCause(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  return cause === undefined ? describe(error) : `${describe(error)}: ${describe(cause)}`;
}
