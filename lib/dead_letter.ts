/**
 * The dead-letter queue: where the server puts a message it will not store
 * (not JSON, too large), with the reason, instead of giving it a position.
 * Its queue is `<QUEUENAME>.dead`; a message goes there with its body, id,
 * type and headers, plus `x-rejected-reason` and `x-original-queue`.
 *
 * @module
 */
import { Backoff } from "./backoff.ts";
import type { BrokerSession, Delivery } from "./broker_session.ts";
import { DEFAULTS } from "./defaults.ts";
import { PublishNackedError } from "./errors.ts";
import { settleWithin } from "./settle_within.ts";

/**
 * The dead-letter queue's name for an input queue: `<QUEUENAME>.dead`.
 *
 * @example The name for the default queue
 * ```ts
 * import { deadLetterQueueName } from "./dead_letter.ts";
 * console.log(deadLetterQueueName("events")); // events.dead
 * ```
 */
export function deadLetterQueueName(queueName: string): string {
  return `${queueName}.dead`;
}

/**
 * What dead-lettering needs of a session; a test's fake implements these two.
 *
 * @example A fake that records what was dead-lettered
 * ```ts
 * import type { DeadLetterSessionLike } from "./dead_letter.ts";
 * const sent: string[] = [];
 * const fake: DeadLetterSessionLike = {
 *   declareQueue: (name) => Promise.resolve(name),
 *   publish: (_exchange, queue) => {
 *     sent.push(queue);
 *     return Promise.resolve();
 *   },
 * };
 * ```
 */
export type DeadLetterSessionLike = Pick<BrokerSession, "declareQueue" | "publish">;

/**
 * Options for {@link DeadLetterQueue}.
 *
 * @example Fail a dead-letter publish after 5 s without a confirm
 * ```ts
 * import { type DeadLetterOptions, DeadLetterQueue } from "./dead_letter.ts";
 * const options: DeadLetterOptions = { confirmTimeout: 5_000 };
 * console.log(new DeadLetterQueue("orders", options).name); // orders.dead
 * ```
 */
export interface DeadLetterOptions {
  /** A publish the broker has not confirmed after this many ms fails. @default {15000} */
  confirmTimeout?: number;
}

/**
 * Dead-letters messages of one input queue.
 *
 * A nack is retried a few times (50 ms × attempt apart); a confirm that never
 * comes must not hold the batch forever, so it fails after `confirmTimeout`.
 * If a send still fails it throws, the message stays unacknowledged and the
 * broker redelivers it on reconnect. A message whose own headers do not fit
 * in one of our AMQP frames is dead-lettered without them
 * (`x-original-headers: dropped: larger than one AMQP frame`).
 *
 * @example Dead-letter a delivery the server will not store
 * ```ts
 * import type { BrokerSession, Delivery } from "./broker_session.ts";
 * import { DeadLetterQueue } from "./dead_letter.ts";
 * declare const session: BrokerSession;
 * declare const delivery: Delivery;
 * const deadLetters = new DeadLetterQueue("events");
 * await session.declareQueue(deadLetters.name);
 * await deadLetters.send(session, delivery, "not valid JSON");
 * await session.reject(delivery.tag);
 * ```
 */
export class DeadLetterQueue {
  /** The input queue whose messages go here. */
  readonly queueName: string;
  /** This queue's name: `<queueName>.dead`. */
  readonly name: string;
  readonly #confirmTimeout: number;

  /**
   * The dead-letter queue of `queueName`.
   *
   * @param queueName The input queue.
   * @param options Confirm timeout.
   */
  constructor(queueName: string, options: DeadLetterOptions = {}) {
    this.queueName = queueName;
    this.name = deadLetterQueueName(queueName);
    this.#confirmTimeout = options.confirmTimeout ?? DEFAULTS.deadLetter.confirmTimeout;
  }

  /**
   * Publish `delivery` here with `reason`, and resolve once the broker confirmed it.
   *
   * @throws {PublishNackedError} When the broker still nacked it after the last attempt.
   * @throws {Error} When the broker did not confirm within `confirmTimeout`, or the session failed.
   */
  async send(session: DeadLetterSessionLike, delivery: Delivery, reason: string): Promise<void> {
    // Declare it again first: a publish to a queue that was deleted meanwhile is confirmed and dropped.
    await session.declareQueue(this.name);
    const ours = { "x-rejected-reason": reason, "x-original-queue": this.queueName };
    let headers: Record<string, unknown> = { ...delivery.headers, ...ours };
    const retry = new Backoff(DEFAULTS.deadLetter.retry);
    for (let attempt = 1;; attempt++) {
      const sent = session.publish("", this.name, delivery.body, {
        messageId: delivery.messageId,
        type: delivery.type,
        contentType: "application/octet-stream",
        headers,
      });
      try {
        const ms = this.#confirmTimeout;
        await settleWithin(sent, ms, () => {
          throw new Error(`dead-letter publish not confirmed within ${ms} ms`);
        });
        return;
      } catch (error) {
        if (error instanceof RangeError && !("x-original-headers" in headers)) {
          // Its own headers do not fit in one of our frames: dead-letter it without them.
          headers = { ...ours, "x-original-headers": "dropped: larger than one AMQP frame" };
          continue;
        }
        if (!(error instanceof PublishNackedError) || attempt === DEFAULTS.deadLetter.attempts) throw error;
        await retry.sleep();
      }
    }
  }
}
