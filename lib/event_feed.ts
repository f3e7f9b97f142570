/**
 * The listener's engine: history over HTTP, then live events from the fanout,
 * delivered in strict position order with no gaps and no duplicates.
 *
 * How order is kept:
 * 1. On every connection, bind a fresh exclusive queue to the fanout first,
 *    then read history from the next position: nothing can fall between.
 * 2. Live events below the next position were delivered already: ack, skip.
 * 3. A live event above it means some were missed (a reconnect, or a server
 *    that died between fsync and publish): fetch the missing range over HTTP
 *    and deliver it first.
 * 4. The handler's promise is awaited before the next event, and a live
 *    message is acked only after its handler finished (several at once with
 *    `multiple`); the broker's prefetch bounds what waits in memory.
 *
 * History arrives in chunks (one array of records per body chunk) delivered
 * in a plain loop: one promise round trip per chunk, and a handler that
 * returns nothing (or a non-thenable) costs no await at all. `close()` is
 * checked before every record, so it stops mid-chunk.
 *
 * @module
 */
import { BrokerLink, type BrokerSession, type Delivery } from "./broker.ts";
import type { ListenerSettings } from "./config.ts";
import { describe, HandlerError } from "./errors.ts";
import { readHistoryChunks } from "./history_client.ts";
import type { Log } from "./log.ts";
import { type EventRecord, parseRecord } from "./record.ts";

/**
 * Called for each event in order. A returned promise (any thenable) is awaited
 * before the next event; returning nothing costs no await.
 */
export type Handler<T = unknown> = (event: EventRecord<T>) => void | PromiseLike<void>;

interface Live {
  session: BrokerSession;
  delivery: Delivery;
}

const decoder = new TextDecoder();

/**
 * @example
 * ```ts ignore
 * const feed = new EventFeed(settings, 1, (event) => console.log(event), log);
 * feed.start();
 * await feed.close();
 * ```
 */
export class EventFeed {
  readonly #settings: ListenerSettings;
  readonly #handler: Handler;
  readonly #log: Log;
  readonly #link: BrokerLink;
  /** The next position to deliver; undefined until the first live event when listening for new events only. */
  #next: number | undefined;
  #live: Live[] = [];
  /** Live messages handled but not yet acknowledged (acks go out in batches). */
  #unacked = 0;
  #catchUp = false;
  #wake: (() => void) | undefined;
  #closed = false;
  #abort = new AbortController();
  #done: Promise<void>;
  #ready: Promise<void>;
  #resolveReady!: () => void;
  #resolveDone!: () => void;
  #rejectDone!: (error: Error) => void;

  /**
   * @param settings Broker and history settings.
   * @param from First position to deliver (0 or 1: everything), or undefined for new events only.
   * @param handler Called once per event, in order.
   * @param log Debug log.
   */
  constructor(settings: ListenerSettings, from: number | undefined, handler: Handler, log: Log) {
    this.#settings = settings;
    this.#handler = handler;
    this.#log = log;
    this.#next = from === undefined ? undefined : Math.max(1, from);
    this.#done = new Promise<void>((resolve, reject) => {
      this.#resolveDone = resolve;
      this.#rejectDone = reject;
    });
    this.#ready = new Promise<void>((resolve) => (this.#resolveReady = resolve));
    this.#link = new BrokerLink(settings.amqpUrl, {
      name: "rabbit-eventstore listener",
      log,
      startTimeout: Infinity,
      setup: (session) => this.#setup(session),
    });
  }

  /** Resolves after close(); rejects with the error that stopped the feed. */
  get done(): Promise<void> {
    return this.#done;
  }

  /** Resolves once the live queue is bound the first time (or the feed stopped before that). */
  get ready(): Promise<void> {
    return this.#ready;
  }

  /** The next position this feed will deliver (undefined before the first event in new-only mode). */
  get next(): number | undefined {
    return this.#next;
  }

  /** Connect and start delivering. */
  start(): void {
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
    await session.declareFanout(this.#settings.exchangeName);
    const queue = await session.declareQueue("", { durable: false, exclusive: true, autoDelete: true });
    await session.bind(queue, this.#settings.exchangeName);
    this.#catchUp = true;
    await session.consume(queue, this.#settings.prefetch, (delivery) => {
      this.#live.push({ session, delivery });
      this.#wake?.();
    });
    this.#wake?.();
    this.#resolveReady();
    this.#log(`Bound live queue ${queue} to exchange ${this.#settings.exchangeName}`);
  }

  async #run(): Promise<void> {
    try {
      await this.#link.start();
      while (!this.#closed) {
        if (this.#catchUp && this.#next !== undefined) {
          this.#catchUp = false;
          await this.#history(this.#next, Infinity);
          continue;
        }
        const item = this.#live.shift();
        if (!item) {
          await new Promise<void>((resolve) => (this.#wake = resolve));
          this.#wake = undefined;
          continue;
        }
        await this.#onLive(item);
      }
    } finally {
      await this.#link.close();
    }
  }

  async #onLive({ session, delivery }: Live): Promise<void> {
    const line = decoder.decode(delivery.body);
    const header = Number(delivery.headers?.position);
    const record = parseRecord(line);
    const position = Number.isSafeInteger(header) && header > 0 ? header : record.position;
    this.#next ??= position;
    if (position > this.#next) {
      this.#log(`Live event ${position} skips ahead of ${this.#next}; fetching the gap from history`);
      await this.#history(this.#next, position - this.#next);
      if (this.#closed) return;
    }
    if (position === this.#next) await this.#deliver(record);
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

  /** Deliver history from `from`, at most `limit` records; retries while the server is unreachable. */
  async #history(from: number, limit: number): Promise<void> {
    let delay = 100;
    while (!this.#closed && this.#next !== undefined && this.#next < from + limit) {
      const start = this.#next;
      try {
        for await (
          const records of readHistoryChunks(this.#settings.historyUrl, start, {
            limit: Number.isFinite(limit) ? from + limit - start : undefined,
            signal: this.#abort.signal,
          })
        ) {
          for (let i = 0; i < records.length; i++) {
            if (this.#closed) return;
            const record = records[i];
            const position = record.position;
            if (position < this.#next) continue;
            if (position > this.#next) throw new Error(`history skipped from ${this.#next} to ${position}`);
            // Inline delivery: await only a thenable, and no extra async frame per record.
            const result = this.#call(record);
            if (result !== undefined) await this.#settle(result, record);
            this.#next = position + 1;
          }
        }
        if (!Number.isFinite(limit) || this.#next >= from + limit) return;
        // The server did not have the range yet; wait and ask again.
        this.#log(`History has not reached ${from + limit - 1} yet; asking again in ${delay} ms`);
      } catch (error) {
        if (error instanceof HandlerError) throw error;
        if (this.#closed) return;
        this.#log(`History from ${start} failed (${describe(error)}); retrying in ${delay} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 5000);
    }
  }

  async #deliver(record: EventRecord): Promise<void> {
    const result = this.#call(record);
    if (result !== undefined) await this.#settle(result, record);
    this.#next = record.position + 1;
  }

  /** Await the handler's thenable; a rejection stops the feed with the record's position. */
  async #settle(result: PromiseLike<void>, record: EventRecord): Promise<void> {
    try {
      await result;
    } catch (error) {
      throw this.#failed(record, error);
    }
  }

  /** Call the handler; returns its result only when it is a thenable (which must be awaited). */
  #call(record: EventRecord): PromiseLike<void> | undefined {
    let result: unknown;
    try {
      result = this.#handler(record);
    } catch (error) {
      throw this.#failed(record, error);
    }
    if (
      result !== null && (typeof result === "object" || typeof result === "function") &&
      typeof (result as PromiseLike<void>).then === "function"
    ) {
      return result as PromiseLike<void>;
    }
    return undefined;
  }

  /** Stop the feed because the handler failed at `record`. */
  #failed(record: EventRecord, error: unknown): HandlerError {
    this.#stop();
    return new HandlerError(record.position, error);
  }
}
