/**
 * Publishes stored records to the fanout exchange, in position order, at
 * least once: after every (re)connect it resumes from the last position the
 * broker confirmed, reading older records back from storage. A publish the
 * broker nacks, or leaves unconfirmed for `confirmTimeout` ms, is sent again
 * the same way on the same connection after a short pause.
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
 * republishes from the watermark, reading older records back from storage.
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
 * await publisher.idle(); // before shutdown
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
  /** Highest position handed to the current session. */
  #sent = 0;
  /** Settles, in order, the confirms of everything sent so far. */
  #chain: Promise<void> = Promise.resolve();
  #inFlight = 0;
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
   */
  constructor(
    storage: EventStorage,
    watermark: PublishWatermark,
    exchange: string,
    log: (message: string) => void = () => {},
    confirmTimeout: number = DEFAULTS.fanout.confirmTimeout,
  ) {
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

  /** Use a new session: republish everything after the confirmed watermark. */
  attach(session: PublishingSessionLike): Promise<void> {
    clearTimeout(this.#resendTimer);
    this.#resendTimer = undefined;
    this.#session = session;
    this.#epoch++;
    this.#broken = false;
    this.#sent = this.#watermark.value;
    return this.#startCatchUp(session);
  }

  /** Stop using the current session (it was lost). */
  detach(): void {
    clearTimeout(this.#resendTimer);
    this.#resendTimer = undefined;
    this.#session = undefined;
    this.#epoch++;
  }

  /** Publish records that were just appended (in order, dense). */
  publish(records: readonly Publishable[]): void {
    const session = this.#session;
    if (!session || this.#catchingEpoch === this.#epoch || records.length === 0) return; // the catch-up reads them from storage
    if (records[0].position !== this.#sent + 1) {
      this.#startCatchUp(session);
      return;
    }
    this.#send(session, records);
  }

  /** Wait until fewer than `limit` publishes await a confirm. */
  async below(limit: number): Promise<void> {
    while (this.#inFlight >= limit) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  /** Wait for the catch-up and every publish sent so far to settle. */
  async idle(): Promise<void> {
    await this.#catchUpDone;
    await this.#chain;
  }

  #send(session: PublishingSessionLike, records: readonly Publishable[]): void {
    const settled = this.#publishAll(session, records);
    const last = records[records.length - 1].position;
    const epoch = this.#epoch;
    this.#sent = last;
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
      this.#watermark.advance(last);
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

  #startCatchUp(session: PublishingSessionLike): Promise<void> {
    const epoch = this.#epoch;
    if (this.#catchingEpoch === epoch) return this.#catchUpDone;
    this.#catchingEpoch = epoch;
    this.#catchUpDone = this.#catchUp(session, epoch);
    return this.#catchUpDone;
  }

  async #catchUp(session: PublishingSessionLike, epoch: number): Promise<void> {
    try {
      while (epoch === this.#epoch && !session.closed && this.#sent < this.#storage.head) {
        const from = this.#sent + 1;
        const to = Math.min(this.#storage.head, from + 999);
        const batch: Publishable[] = [];
        for await (const stored of this.#storage.scan(from, to)) batch.push(stored);
        if (batch.length === 0 || epoch !== this.#epoch) break;
        this.#log(`Republishing positions ${from}..${to} to the fanout`);
        this.#send(session, batch);
        await this.below(CATCH_UP_IN_FLIGHT);
      }
    } catch (error) {
      this.#log(`Republishing stopped: ${(error as Error)?.message ?? error}`);
    } finally {
      // Cleared synchronously when the loop ends, so a publish() right after sends directly.
      if (this.#catchingEpoch === epoch) this.#catchingEpoch = -1;
    }
  }
}

/**
 * Most republished records awaiting a confirm during a catch-up. Each costs a
 * publish buffer in the AMQP client; the catch-up reads from disk whenever it
 * likes, so a deeper window buys nothing.
 */
const CATCH_UP_IN_FLIGHT = DEFAULTS.fanout.catchUpInFlight;
