/**
 * Appends to streams by request and reply: each append is one `batch`
 * message with headers `stream` and `expected-version`, published on a
 * {@link ReplyChannel} (RabbitMQ's direct reply-to), and the server's reply
 * (`lib/append_result.ts`) settles it.
 *
 * A reply can be lost: the connection drops, the server restarts, the reply
 * is slow. Then the same message (same `messageId`) is sent again, on a new
 * channel if need be; the server answers a repeated id with the original
 * result, never with a conflict, so a retry cannot store an event twice nor
 * turn a success into a failure. Each attempt has its own `correlationId`,
 * and only the current attempt's reply is taken.
 *
 * @module
 */
import type { AppendResult } from "./append_result.ts";
import { Backoff, sleep } from "./backoff.ts";
import type { BrokerSession, Reply, ReplyChannel } from "./broker_session.ts";
import { DEFAULTS } from "./defaults.ts";
import { describe, InvalidEventError, WrongExpectedVersionError } from "./errors.ts";
import type { ExpectedVersion } from "./expected_version.ts";
import { describeValue, encodeStreamEvents, type StreamEvent } from "./stream_event.ts";

/**
 * Options for one append.
 *
 * @example Append only if the stream is still at version 3, with a retry-safe id
 * ```ts
 * import { type AppendToStreamOptions, appendToStream } from "rabbit-eventstore/command";
 * const options: AppendToStreamOptions = { expectedVersion: 3, id: "cart-1-checkout" };
 * await appendToStream("cart-1", { type: "CheckedOut", data: {} }, options);
 * ```
 */
export interface AppendToStreamOptions {
  /**
   * What the stream's version must be: `"any"` (never conflicts), `"no_stream"`
   * (it has no events), `"stream_exists"` (it has some), or N (exactly N events).
   * @default {"any"}
   */
  expectedVersion?: ExpectedVersion;
  /**
   * The message's id: the first event's id (`<id>:<i>` for event i > 1). Reuse it
   * when retrying the same append yourself: the server answers it with the original
   * result. @default {crypto.randomUUID()}
   */
  id?: string;
}

/**
 * Where an append left the stream.
 *
 * @example Append the next event at the version returned
 * ```ts
 * import { type AppendToStreamResult, appendToStream } from "rabbit-eventstore/command";
 * const first: AppendToStreamResult = await appendToStream("cart-1", { type: "Opened", data: {} }, {
 *   expectedVersion: "no_stream",
 * });
 * await appendToStream("cart-1", { type: "ItemAdded", data: { sku: "a" } }, { expectedVersion: first.streamVersion });
 * ```
 */
export interface AppendToStreamResult {
  /** Global position of the last event appended. */
  position: number;
  /** The stream's version after the append: the last event's stream version. */
  streamVersion: number;
}

/**
 * What a {@link StreamAppender} needs from its command.
 *
 * @example An appender on a session of its own (as a test would)
 * ```ts
 * import { openSession } from "./amqp_session.ts";
 * import { StreamAppender, type StreamAppenderOptions } from "./stream_appender.ts";
 * const broker = await openSession("amqp://guest:guest@127.0.0.1");
 * const options: StreamAppenderOptions = { queueName: "events", session: () => Promise.resolve(broker) };
 * const appender = new StreamAppender(options);
 * await appender.append("cart-1", { type: "Opened", data: {} });
 * appender.close();
 * await broker.close();
 * ```
 */
export interface StreamAppenderOptions {
  /** The server's input queue. */
  queueName: string;
  /**
   * The current live session, waiting for one (while reconnecting) until
   * `deadline` (a `Date.now()` value); rejects when there is none by then.
   */
  session: (deadline: number) => Promise<BrokerSession>;
  /** Keep retrying one append for this many ms. @default {30000} */
  retryFor?: number;
  /** Send the append again (same id) when no reply came within this many ms. @default {10000} */
  replyTimeout?: number;
  /** Debug lines. @default {() => {}} */
  log?: (message: string) => void;
}

/** An attempt's outcome while waiting: the reply, or why there is none. */
type Outcome = { reply: Uint8Array } | { lost: "timeout" | "channel closed" | "closed" };

/**
 * Appends to streams over direct reply-to, retrying with the same id until a
 * reply comes or `retryFor` runs out. One reply channel per broker session,
 * opened on the first append and again after a reconnect.
 *
 * @example Append three events to a new stream
 * ```ts
 * import { openSession } from "./amqp_session.ts";
 * import { StreamAppender } from "./stream_appender.ts";
 * const broker = await openSession("amqp://guest:guest@127.0.0.1");
 * const appender = new StreamAppender({ queueName: "events", session: () => Promise.resolve(broker) });
 * const events = ["a", "b", "c"].map((sku) => ({ type: "ItemAdded", data: { sku } }));
 * const { streamVersion } = await appender.append("cart-7", events, { expectedVersion: "no_stream" });
 * console.log(streamVersion); // 3
 * appender.close();
 * await broker.close();
 * ```
 */
export class StreamAppender {
  readonly #o: Required<StreamAppenderOptions>;
  /** The reply channel of each session (a WeakMap: a lost session's entry goes with it). */
  readonly #channels = new WeakMap<BrokerSession, Promise<ReplyChannel>>();
  /** Attempts waiting for their reply, by correlationId. */
  readonly #waiting = new Map<string, (outcome: Outcome) => void>();
  #closed = false;

  /**
   * An appender; nothing is opened before the first append.
   *
   * @param options The queue, the session source and the retry limits.
   */
  constructor(options: StreamAppenderOptions) {
    this.#o = {
      retryFor: DEFAULTS.command.retryFor,
      replyTimeout: DEFAULTS.command.replyTimeout,
      log: () => {},
      ...options,
    };
  }

  /**
   * Append events to `stream` as one message: all are stored, in order and
   * at consecutive versions, or none.
   *
   * @param stream The stream's name.
   * @param events One event, or an array of 1–1000.
   * @param options The expected version and the message id.
   * @returns The position and stream version of the last event.
   * @throws {TypeError} When the stream is not a string, an event is malformed, or an option has the wrong type.
   * @throws {RangeError} When there are no events or more than 1000, or the expected version is a negative
   *   or fractional number.
   * @throws {WrongExpectedVersionError} When the stream was not at the expected version; nothing was stored.
   * @throws {InvalidEventError} When the server refused the append (a bad stream name, an event too large).
   * @throws {Error} When no reply came within `retryFor`, or the appender was closed.
   */
  async append(
    stream: string,
    events: StreamEvent | readonly StreamEvent[],
    options: AppendToStreamOptions = {},
  ): Promise<AppendToStreamResult> {
    if (typeof stream !== "string") {
      throw new TypeError(`Cannot append to stream: stream must be a string, got ${describeValue(stream)}`);
    }
    const { body } = encodeStreamEvents(stream, events);
    const expected = checkExpectedVersion(stream, options.expectedVersion ?? "any");
    const id = options.id ?? crypto.randomUUID();
    if (typeof id !== "string" || id === "") {
      throw new TypeError(`Cannot append to stream ${stream}: id must be a non-empty string, got ${describeValue(id)}`);
    }
    if (this.#closed) throw new Error(`Cannot append to stream ${stream}: the command was closed`);
    const headers = { stream, "expected-version": String(expected), batch: true };
    const deadline = Date.now() + this.#o.retryFor;
    const backoff = new Backoff(DEFAULTS.command.retry);
    let why = "";
    while (true) {
      if (this.#closed) throw new Error(`Cannot append ${id} to stream ${stream}: the command was closed`);
      if (Date.now() > deadline) {
        throw new Error(`Cannot append ${id} to stream ${stream}: no reply within ${this.#o.retryFor} ms (${why})`);
      }
      const correlationId = crypto.randomUUID();
      let outcome: Outcome;
      try {
        const session = await this.#o.session(deadline);
        const channel = await this.#channel(session);
        const waiting = this.#wait(correlationId, channel, Math.min(this.#o.replyTimeout, deadline - Date.now()));
        try {
          await channel.publish("", this.#o.queueName, body, { messageId: id, correlationId, headers });
        } catch (error) {
          this.#waiting.get(correlationId)?.({ lost: "channel closed" });
          throw error;
        }
        outcome = await waiting;
      } catch (error) {
        if (error instanceof RangeError) throw error; // the headers do not fit in a frame: retrying cannot help
        why = `failed: ${describe(error)}`;
        this.#o.log(`Append ${id} to stream ${stream} ${why}; retrying`);
        await sleep(Math.min(backoff.next(), Math.max(0, deadline - Date.now())));
        continue;
      }
      if ("reply" in outcome) return settle(stream, outcome.reply);
      why = outcome.lost === "timeout" ? `no reply within ${this.#o.replyTimeout} ms` : outcome.lost;
      if (outcome.lost === "closed") continue;
      this.#o.log(`Append ${id} to stream ${stream}: ${why}; sending it again`);
      if (outcome.lost === "channel closed") await sleep(Math.min(backoff.next(), Math.max(0, deadline - Date.now())));
    }
  }

  /** Stop: appends waiting for a reply reject, new ones are refused. */
  close(): void {
    this.#closed = true;
    for (const wake of [...this.#waiting.values()]) wake({ lost: "closed" });
  }

  /** This session's reply channel, opened once (again if it closed while the session lives). */
  #channel(session: BrokerSession): Promise<ReplyChannel> {
    let channel = this.#channels.get(session);
    if (!channel) {
      channel = session.openReplyChannel((reply) => this.#onReply(reply));
      this.#channels.set(session, channel);
      channel.catch(() => {
        if (this.#channels.get(session) === channel) this.#channels.delete(session); // the next attempt opens one
      });
      return channel;
    }
    return channel.then((open) => {
      if (!open.closed || session.closed) return open;
      if (this.#channels.get(session) === channel) this.#channels.delete(session);
      return this.#channel(session);
    });
  }

  #onReply(reply: Reply): void {
    const wake = reply.correlationId === undefined ? undefined : this.#waiting.get(reply.correlationId);
    if (wake) wake({ reply: reply.body });
    else this.#o.log(`Reply for ${reply.correlationId ?? "(no correlationId)"} arrived after its attempt; ignored`);
  }

  /**
   * The outcome of the attempt `correlationId`: its reply, or a loss once the
   * channel closed (checked every `sessionPoll` ms), `timeout` passed, or the appender closed.
   */
  #wait(correlationId: string, channel: ReplyChannel, timeout: number): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      const started = Date.now();
      let timer: ReturnType<typeof setTimeout>;
      const done = (outcome: Outcome) => {
        clearTimeout(timer);
        this.#waiting.delete(correlationId);
        resolve(outcome);
      };
      const check = () => {
        if (channel.closed) return done({ lost: "channel closed" });
        const left = timeout - (Date.now() - started);
        if (left <= 0) return done({ lost: "timeout" });
        timer = setTimeout(check, Math.min(left, DEFAULTS.command.sessionPoll));
      };
      this.#waiting.set(correlationId, done);
      check();
    });
  }
}

/**
 * Check an expected version given by a caller.
 *
 * @throws {TypeError} When it is neither one of the three names nor a number.
 * @throws {RangeError} When it is a number but not a non-negative safe integer.
 */
function checkExpectedVersion(stream: string, value: unknown): ExpectedVersion {
  if (value === "any" || value === "no_stream" || value === "stream_exists") return value;
  if (typeof value === "number") {
    if (Number.isSafeInteger(value) && value >= 0) return value;
    throw new RangeError(
      `Cannot append to stream ${stream}: expectedVersion must be a non-negative integer, got ${value}`,
    );
  }
  throw new TypeError(
    `Cannot append to stream ${stream}: expectedVersion must be "any", "no_stream", "stream_exists" or a number, ` +
      `got ${describeValue(value)}`,
  );
}

/** The reply as a result, or the error it reports. */
function settle(stream: string, body: Uint8Array): AppendToStreamResult {
  let result: AppendResult;
  try {
    result = JSON.parse(new TextDecoder().decode(body));
  } catch {
    throw new Error(`Cannot append to stream ${stream}: the server's reply is not JSON`);
  }
  if (result.ok) return { position: result.position, streamVersion: result.streamVersion ?? 0 };
  if (result.error === "WrongExpectedVersion") {
    throw new WrongExpectedVersionError(result.stream, result.expected, result.actual);
  }
  if (result.error === "InvalidEvent") throw new InvalidEventError(result.reason);
  throw new Error(`Cannot append to stream ${stream}: unexpected reply ${JSON.stringify(result).slice(0, 200)}`);
}
