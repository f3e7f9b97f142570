/**
 * Publishes stored records to the fanout exchange at least once: after every
 * (re)connect it republishes from the last position the broker confirmed,
 * reading older records back from storage. A publish the broker nacks, or
 * leaves unconfirmed for `confirmTimeout` ms, is sent again the same way on
 * the same connection after a short pause.
 *
 * The catch-up runs beside the live path, paced: records appended meanwhile
 * are published at once, and the republish goes on in the background, in
 * position order, at most `republishRate` records a second, and slower still
 * (`DEFAULTS.fanout.republishRateWhileReading`) while the storage has history
 * reads open ({@link EventStorage.reading}). A restored
 * store whose watermark is unknown republishes its whole history this way
 * without starving live events or history reads. So the fanout carries a
 * catch-up's older positions after newer live ones; listeners take that in
 * their stride (`lib/event_feed.ts`: a live event ahead of the next position
 * fetches the gap over HTTP, one behind it is dropped as delivered). The
 * watermark moves only over positions confirmed with every one before them.
 *
 * @module
 */
import { Backoff } from "./backoff.ts";
import type { PublishingSessionLike } from "./broker_session.ts";
import { DEFAULTS } from "./defaults.ts";
import type { EventStorage, StoredRecord } from "./storage.ts";
import type { PublishWatermark } from "./publish_watermark.ts";
import { settleWithin } from "./settle_within.ts";

/**
 * Options of the catch-up ({@link FanoutPublisher}'s last parameter).
 *
 * @example Republish at most 500 records a second
 * ```ts
 * import type { CatchUpOptions } from "./fanout_publisher.ts";
 * const options: CatchUpOptions = { republishRate: 500 };
 * console.log(options.republishRate);
 * ```
 */
export interface CatchUpOptions {
  /** Records republished per second at most; 0: as fast as the broker confirms. Env `REPUBLISHRATE`. @default {2000} */
  republishRate?: number;
}

/**
 * A record made durable, ready to publish: its line is the message body, its id and type the AMQP properties.
 *
 * @example The records of one append, handed on to the fanout
 * ```ts
 * import type { Publishable } from "./fanout_publisher.ts";
 * import { encodeRecord } from "./record.ts";
 * const batch: Publishable[] = [
 *   { position: 1, id: "a", line: encodeRecord(1, "a", "2026-01-01T00:00:00.000Z", "{}") },
 * ];
 * console.log(batch[0].line); // the message body
 * ```
 */
export type Publishable = StoredRecord;

/**
 * Publishes stored records to the fanout exchange with publisher confirms,
 * advances the published watermark over confirmed positions only, and on
 * every new session (or after a nack or a confirm that never came)
 * republishes from the watermark, reading older records back from storage,
 * paced and beside the live publishes.
 *
 * @example Attach, publish, drain
 * ```ts
 * import type { PublishingSessionLike } from "./broker_session.ts";
 * import { FanoutPublisher } from "./fanout_publisher.ts";
 * import { MemoryStorage } from "./memory_storage.ts";
 * import { PublishWatermark } from "./publish_watermark.ts";
 * const storage = new MemoryStorage();
 * const watermark = await PublishWatermark.open(storage);
 * const session: PublishingSessionLike = { closed: false, publish: () => Promise.resolve() }; // confirms everything
 * const publisher = new FanoutPublisher(storage, watermark, "events");
 * void publisher.attach(session); // on every (re)connect
 * publisher.publish([]); // after every durable append: the records just stored
 * await publisher.close(); // before shutdown: stops the catch-up, settles what was sent
 * ```
 */
export class FanoutPublisher {
  readonly #storage: EventStorage;
  readonly #watermark: PublishWatermark;
  readonly #exchange: string;
  readonly #log: (message: string) => void;
  #session: PublishingSessionLike | undefined;
  /** Bumped on every attach; confirms from an older epoch never move the watermark. */
  #epoch = 0;
  /** Set once a publish of the current epoch failed: nothing later in it may move the watermark. */
  #broken = false;
  /** Highest position handed to the current session on the live path (a catch-up sends only below it). */
  #sent = 0;
  /** The last position the current epoch's catch-up republishes: the head at attach. */
  #catchTo = 0;
  /** Highest position confirmed of the catch-up (with all before it), and of the live publishes. */
  #catchConfirmed = 0;
  #liveConfirmed = 0;
  readonly #republishRate: number;
  /** Ends the catch-up's current pause early (detach, attach, close). */
  #wakeCatchUp: (() => void) | undefined;
  #closing = false;
  /** Settles, in order, the confirms of everything sent so far. */
  #chain: Promise<void> = Promise.resolve();
  #inFlight = 0;
  #republished = 0;
  /** The epoch whose catch-up is running, or -1. */
  #catchingEpoch = -1;
  #catchUpDone: Promise<void> = Promise.resolve();
  #waiters: Array<() => void> = [];
  readonly #confirmTimeout: number;
  /** Pauses before resends on a live session; grows while resends fail. */
  readonly #resend = new Backoff(DEFAULTS.fanout.resend);
  #resendTimer: ReturnType<typeof setTimeout> | undefined;

  /**
   * Create a publisher; it publishes nothing until a session is attached.
   *
   * @param storage Where older records are read back from.
   * @param watermark The confirmed position, advanced here.
   * @param exchange The fanout exchange's name.
   * @param log Debug log.
   * @param confirmTimeout Resend when a batch has no confirm after this many ms.
   * @param catchUp How fast a catch-up republishes.
   */
  constructor(
    storage: EventStorage,
    watermark: PublishWatermark,
    exchange: string,
    log: (message: string) => void = () => {},
    confirmTimeout: number = DEFAULTS.fanout.confirmTimeout,
    catchUp: CatchUpOptions = {},
  ) {
    const rate = catchUp.republishRate ?? DEFAULTS.fanout.republishRate;
    if (!Number.isFinite(rate) || rate < 0) {
      throw new RangeError(`Cannot pace the catch-up at ${rate} records/s: expected 0 (no pacing) or more`);
    }
    this.#republishRate = rate;
    this.#storage = storage;
    this.#watermark = watermark;
    this.#exchange = exchange;
    this.#log = log;
    this.#confirmTimeout = confirmTimeout;
  }

  /** Publishes sent but not yet confirmed. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Records published again since start (read back from storage after a reconnect, a nack or a lost confirm). */
  get republished(): number {
    return this.#republished;
  }

  /**
   * Use a new session: republish everything after the confirmed watermark up to the head, paced, while
   * records appended from now on are published at once. Resolves when that catch-up has ended.
   */
  attach(session: PublishingSessionLike): Promise<void> {
    clearTimeout(this.#resendTimer);
    this.#resendTimer = undefined;
    this.#session = session;
    this.#epoch++;
    this.#broken = false;
    this.#catchTo = this.#storage.head;
    this.#catchConfirmed = this.#watermark.value;
    this.#liveConfirmed = this.#catchTo;
    this.#sent = this.#catchTo;
    this.#wakeCatchUp?.();
    return this.#startCatchUp(session);
  }

  /** Stop using the current session (it was lost). */
  detach(): void {
    clearTimeout(this.#resendTimer);
    this.#resendTimer = undefined;
    this.#session = undefined;
    this.#epoch++;
    this.#wakeCatchUp?.();
  }

  /** Publish records that were just appended (in order, dense), at once, also while a catch-up runs. */
  publish(records: readonly Publishable[]): void {
    const session = this.#session;
    if (!session || records.length === 0) return;
    const first = records[0].position;
    if (records[records.length - 1].position <= this.#sent) return; // the catch-up reads them from storage
    if (first > this.#sent + 1) {
      // Never expected (attach takes the head): publish again from the watermark rather than leave a hole.
      void this.attach(session);
      return;
    }
    this.#send(session, first <= this.#sent ? records.slice(this.#sent + 1 - first) : records);
  }

  /** Wait until fewer than `limit` publishes await a confirm. */
  async below(limit: number): Promise<void> {
    while (this.#inFlight >= limit) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  /** Wait for the catch-up to end and every publish sent so far to settle. */
  async idle(): Promise<void> {
    await this.#catchUpDone;
    await this.#chain;
  }

  /**
   * Stop the catch-up where it is (the watermark keeps what was confirmed; the next start republishes the
   * rest) and wait for every publish sent so far to settle: before shutdown. No catch-up runs after it.
   */
  async close(): Promise<void> {
    this.#closing = true;
    this.#wakeCatchUp?.();
    await this.idle();
  }

  #send(session: PublishingSessionLike, records: readonly Publishable[]): void {
    const settled = this.#publishAll(session, records);
    const last = records[records.length - 1].position;
    const epoch = this.#epoch;
    if (last > this.#sent) this.#sent = last;
    this.#inFlight += records.length;
    this.#chain = this.#chain.then(async () => {
      const outcome = await settleWithin(settled, this.#confirmTimeout, () => "late" as const);
      this.#inFlight -= records.length;
      for (const wake of this.#waiters.splice(0)) wake();
      if (epoch !== this.#epoch) return;
      if (this.#broken || outcome !== "confirmed") {
        // Nothing later in this epoch may move the watermark. A lost session is re-attached by
        // its owner on reconnect; on a live one (nack, or a confirm that never came) resend here.
        this.#broken = true;
        this.#resendLater(
          session,
          epoch,
          outcome === "late" ? `not confirmed within ${this.#confirmTimeout} ms` : "nacked",
        );
        return;
      }
      this.#resend.reset();
      this.#confirmed(last);
    });
  }

  /**
   * Publish `records` in order: as one batch (one socket write, one promise) where the session
   * can, else one by one. Settles (never rejects) once every confirm is in, or at the first failure.
   */
  #publishAll(session: PublishingSessionLike, records: readonly Publishable[]): Promise<"confirmed" | "failed"> {
    const storeId = this.#storage.storeId;
    const messages = records.map((r) => ({
      body: r.line,
      properties: {
        messageId: r.id,
        type: r.type,
        headers: r.stream === undefined
          ? { position: r.position, "store-id": storeId }
          : { position: r.position, "store-id": storeId, stream: r.stream, "stream-version": r.streamVersion },
      },
    }));
    if (session.publishBatch) {
      return session.publishBatch(this.#exchange, "", messages).then(() => "confirmed", () => "failed");
    }
    return Promise.allSettled(messages.map((m) => session.publish(this.#exchange, "", m.body, m.properties)))
      .then((results) => results.some((r) => r.status === "rejected") ? "failed" : "confirmed");
  }

  #resendLater(session: PublishingSessionLike, epoch: number, why: string): void {
    if (session.closed || this.#resendTimer) return;
    const delay = this.#resend.next();
    this.#log(`Fanout publish ${why}; publishing again from position ${this.#watermark.value + 1} in ${delay} ms`);
    this.#resendTimer = setTimeout(() => {
      this.#resendTimer = undefined;
      if (epoch === this.#epoch && this.#session === session && !session.closed) void this.attach(session);
    }, delay);
  }

  /**
   * Everything sent up to `last` (a catch-up batch when it is at most `#catchTo`, else a live one) is
   * confirmed; the chain settles batches in the order they were sent. Live confirms move the watermark
   * only once the catch-up below them is confirmed too.
   */
  #confirmed(last: number): void {
    if (last <= this.#catchTo) this.#catchConfirmed = last;
    else this.#liveConfirmed = last;
    this.#watermark.advance(this.#catchConfirmed < this.#catchTo ? this.#catchConfirmed : this.#liveConfirmed);
  }

  /** Wait `ms` (nothing when ≤ 0), or less when the catch-up is told to stop. */
  #pause(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        if (this.#wakeCatchUp === wake) this.#wakeCatchUp = undefined;
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#wakeCatchUp = wake;
    });
  }

  #startCatchUp(session: PublishingSessionLike): Promise<void> {
    const epoch = this.#epoch;
    if (this.#catchingEpoch === epoch) return this.#catchUpDone;
    this.#catchingEpoch = epoch;
    this.#catchUpDone = this.#catchUp(session, epoch);
    return this.#catchUpDone;
  }

  /**
   * Republish `(watermark, #catchTo]` in position order, in batches of about a twentieth of a second's
   * worth at the rate, each read from storage when the pace allows it and the window has room.
   */
  async #catchUp(session: PublishingSessionLike, epoch: number): Promise<void> {
    const rate = this.#republishRate;
    const last = this.#catchTo;
    let next = this.#catchConfirmed + 1;
    if (next > last) {
      if (this.#catchingEpoch === epoch) this.#catchingEpoch = -1;
      return;
    }
    const size = rate > 0 ? Math.max(1, Math.min(CATCH_UP_BATCH, Math.ceil(rate / 20))) : CATCH_UP_BATCH;
    let due = performance.now();
    const going = () => epoch === this.#epoch && !session.closed && !this.#closing;
    this.#log(`Republishing positions ${next}..${last} to the fanout` + (rate > 0 ? ` at ${rate}/s at most` : ""));
    try {
      while (going() && next <= last) {
        const to = Math.min(last, next + size - 1);
        const batch: Publishable[] = [];
        for await (const stored of this.#storage.scan(next, to)) batch.push(stored);
        if (batch.length === 0 || !going()) break;
        this.#send(session, batch);
        next = to + 1;
        this.#republished += batch.length;
        await this.below(CATCH_UP_IN_FLIGHT);
        if (rate > 0) {
          // Slower still while history reads are open (a listener catching up over HTTP): they come first.
          const pace = (this.#storage.reading ?? 0) > 0 ? Math.min(rate, WHILE_READING) : rate;
          due = Math.max(due, performance.now()) + (batch.length * 1000) / pace;
          await this.#pause(due - performance.now());
        }
      }
      if (next > last) this.#log(`Republished positions up to ${last}`);
    } catch (error) {
      this.#log(`Republishing stopped: ${(error as Error)?.message ?? error}`);
    } finally {
      // Cleared synchronously when the loop ends, so a publish() right after sends directly.
      if (this.#catchingEpoch === epoch) this.#catchingEpoch = -1;
    }
  }
}

/** Records republished per second at most while history reads are open (a paced catch-up only). */
const WHILE_READING = DEFAULTS.fanout.republishRateWhileReading;

/** Records per catch-up batch at most (one storage read, one step of the confirm chain). */
const CATCH_UP_BATCH = 1000;

/**
 * Most republished records awaiting a confirm during a catch-up. Each costs a
 * publish buffer in the AMQP client; the catch-up reads from disk whenever it
 * likes, so a deeper window buys nothing.
 */
const CATCH_UP_IN_FLIGHT = DEFAULTS.fanout.catchUpInFlight;
