/**
 * The command module: publishes new events to the server's input queue with
 * publisher confirms. One connection is opened lazily and reused.
 *
 * Every event gets a messageId (yours, or a generated UUID). The server
 * stores a messageId at most once, so retrying a publish with the same id is
 * safe, and this module retries by itself across broker reconnects and
 * negative confirms (basic.nack), for up to `retryFor` ms.
 *
 * Streams: {@link appendToStream} appends to a stream at an expected version
 * (optimistic concurrency) and resolves with the server's reply, {@link readStream}
 * and {@link aggregateStream} read one back over HTTP, and {@link handleCommand}
 * runs the decider pattern (read, decide, append, again on a conflict).
 *
 * @example Publish events (Node: `require("rabbit-eventstore/command")`)
 * ```ts
 * import * as command from "rabbit-eventstore/command";
 * const id = await command.publish({ type: "OrderPlaced", orderId: 42 });
 * await command.publish({ type: "OrderPaid", orderId: 42 }, { id: "pay-42" }); // idempotent retry key
 * await command.close();
 * ```
 *
 * @example A burst with pipelined confirms
 * ```ts
 * import { createCommand } from "rabbit-eventstore/command";
 * const events = [{ type: "ItemAdded", sku: "a" }, { type: "ItemAdded", sku: "b" }];
 * const cmd = createCommand({ queueName: "events" });
 * await Promise.all(events.map((e) => cmd.publish(e))); // no round trip per event
 * await cmd.close();
 * ```
 *
 * @example A decider: add an item to a cart once
 * ```ts
 * import { createCommand, type StreamEvent } from "rabbit-eventstore/command";
 * type CartEvent = StreamEvent<{ sku: string }> & { type: "ItemAdded" };
 * const cmd = createCommand({ historyUrl: "http://localhost:8080/" });
 * const addItem = (sku: string) => (skus: string[]): CartEvent[] =>
 *   skus.includes(sku) ? [] : [{ type: "ItemAdded", data: { sku } }];
 * const { state, streamVersion } = await cmd.handleCommand("cart-1", addItem("a"), {
 *   initialState: (): string[] => [],
 *   evolve: (skus, event: CartEvent) => [...skus, event.data.sku],
 * });
 * console.log(state, streamVersion); // [ "a" ] 1 (on a new cart)
 * await cmd.close();
 * ```
 *
 * @module
 */
import { Backoff } from "./lib/backoff.ts";
import { BrokerLink } from "./lib/broker_link.ts";
import type { BrokerSession } from "./lib/broker_session.ts";
import { type BrokerSettings, brokerSettings, historyUrlSetting, tokenSetting } from "./lib/config.ts";
import { DEFAULTS } from "./lib/defaults.ts";
import { describe, PublishNackedError } from "./lib/errors.ts";
import { debugLog } from "./lib/log.ts";
import { serializeEvent } from "./lib/serialize_event.ts";
import { settleWithin } from "./lib/settle_within.ts";
import { type AppendToStreamOptions, type AppendToStreamResult, StreamAppender } from "./lib/stream_appender.ts";
import type { StreamEvent } from "./lib/stream_event.ts";
import { type ReadStreamOptions, readStreamOver, type ReadStreamResult } from "./lib/stream_reader.ts";
import {
  aggregateStreamFrom,
  type AggregateStreamOptions,
  type AggregateStreamResult,
} from "./lib/aggregate_stream.ts";
import {
  type Decide,
  handleCommandOn,
  type HandleCommandOptions,
  type HandleCommandResult,
} from "./lib/handle_command.ts";

export type { BrokerSettings } from "./lib/config.ts";
export type { ExpectedVersion } from "./lib/expected_version.ts";
export type { AppendToStreamOptions, AppendToStreamResult } from "./lib/stream_appender.ts";
export type { StreamEvent } from "./lib/stream_event.ts";
export type { ReadStreamOptions, ReadStreamResult } from "./lib/stream_reader.ts";
export type { AggregateStreamOptions, AggregateStreamResult } from "./lib/aggregate_stream.ts";
export type { Decide, HandleCommandOptions, HandleCommandResult } from "./lib/handle_command.ts";
export type { EventRecord } from "./lib/record.ts";
export { InvalidEventError, WrongExpectedVersionError } from "./lib/errors.ts";
export { serializeEvent };

/**
 * Options for {@link createCommand}; each overrides its environment variable.
 * The fields of {@link BrokerSettings} (`amqpUrl`, `queueName`, `debug`, …)
 * may be given too.
 *
 * @example Publish to another broker and queue, and give up sooner
 * ```ts
 * import { type CommandOptions, createCommand } from "rabbit-eventstore/command";
 * const options: CommandOptions = {
 *   amqpUrl: "amqps://app:secret@broker.example.com/prod",
 *   queueName: "orders",
 *   retryFor: 5_000,
 * };
 * const cmd = createCommand(options);
 * await cmd.close();
 * ```
 */
export interface CommandOptions extends Partial<BrokerSettings> {
  /** Broker host (env `AMQPHOST`), used when no `amqpUrl` is given. @default {"localhost"} */
  amqpHost?: string;
  /** Keep retrying a publish across reconnects and nacks for this many ms. @default {30000} */
  retryFor?: number;
  /**
   * Publish again (same id) when the broker has not confirmed within this many ms.
   * RabbitMQ can leave a confirm unanswered while it nacks a burst (a full queue with
   * `overflow: reject-publish`); without this a publish could wait forever. @default {10000}
   */
  confirmTimeout?: number;
  /**
   * Send an append again (same id, so it is stored once) when the server's reply
   * has not come within this many ms. @default {10000}
   */
  replyTimeout?: number;
  /**
   * The server's HTTP history, where streams are read (env `HISTORYURL`, as the
   * listener's). Checked on the first read. @default {"http://localhost/"}
   */
  historyUrl?: string;
  /**
   * Bearer token sent with stream reads, for a server with `HTTPTOKEN` (env `HISTORYTOKEN`, as the
   * listener's). @default {undefined} (none sent)
   */
  historyToken?: string;
}

/**
 * Options for one publish.
 *
 * @example A retry-safe publish with a type
 * ```ts
 * import { publish, type PublishOptions } from "rabbit-eventstore/command";
 * const options: PublishOptions = { id: "order-42-paid", type: "OrderPaid" };
 * await publish({ orderId: 42, amount: 9.5 }, options); // publishing it again stores it once
 * ```
 */
export interface PublishOptions {
  /** The messageId; reuse it when retrying so the event is stored once. @default {crypto.randomUUID()} */
  id?: string;
  /** AMQP `type` property, stored as the record's `type`. @default {undefined} */
  type?: string;
}

/**
 * Publishes events and appends to streams; see {@link createCommand}.
 *
 * @example Take a command as a dependency
 * ```ts
 * import { type Command, createCommand } from "rabbit-eventstore/command";
 * async function placeOrder(events: Command, orderId: number): Promise<string> {
 *   return await events.publish({ orderId }, { id: `order-${orderId}`, type: "OrderPlaced" });
 * }
 * const cmd = createCommand();
 * await placeOrder(cmd, 42);
 * await cmd.close();
 * ```
 */
export interface Command {
  /**
   * Publish one event (any JSON value). Resolves with its id once the broker
   * confirmed it; call many at once to pipeline confirms.
   *
   * @throws {TypeError} When the event cannot be serialised as JSON; nothing is sent.
   */
  publish(event: unknown, options?: PublishOptions): Promise<string>;
  /**
   * Append events to a stream as one message (all or none), if the stream is
   * at `expectedVersion`. Retries by itself (same id) across reconnects and
   * lost replies, for up to `retryFor` ms. See {@link appendToStream}.
   *
   * @throws {TypeError} When an argument has the wrong type; nothing is sent.
   * @throws {RangeError} When there are no events or more than 1000, or the expected version is out of range.
   * @throws {WrongExpectedVersionError} When the stream was not at `expectedVersion`; nothing was stored.
   * @throws {InvalidEventError} When the server refused the append (a bad stream name, an event too large).
   */
  appendToStream(
    stream: string,
    events: StreamEvent | readonly StreamEvent[],
    options?: AppendToStreamOptions,
  ): Promise<AppendToStreamResult>;
  /**
   * Read a stream's events (versions `from` to `to`, at most `limit`) and its
   * version, from the server's HTTP history. See {@link readStream}.
   *
   * @throws {ConfigError} When `historyUrl` (or `HISTORYURL`) is not an http(s) URL.
   */
  readStream(stream: string, options?: ReadStreamOptions): Promise<ReadStreamResult>;
  /** Read a stream and fold its events into a state. See {@link aggregateStream}. */
  aggregateStream<S, E extends StreamEvent = StreamEvent>(
    stream: string,
    options: AggregateStreamOptions<S, E>,
  ): Promise<AggregateStreamResult<S>>;
  /** Read, decide, append; again on a conflict. See {@link handleCommand}. */
  handleCommand<S, E extends StreamEvent = StreamEvent>(
    stream: string,
    decide: Decide<S, E>,
    options: HandleCommandOptions<S, E>,
  ): Promise<HandleCommandResult<S, E>>;
  /** Close the connection. */
  close(): Promise<void>;
}

/**
 * Create a command publisher with its own lazily opened connection.
 *
 * @param options The broker, the queue and the retry limits; unset ones come from the environment.
 * @returns The publisher; nothing connects until its first publish.
 * @throws {ConfigError} On an invalid setting.
 * @example Publish with a command of its own
 * ```ts
 * import { createCommand } from "rabbit-eventstore/command";
 * const cmd = createCommand({ amqpUrl: "amqp://guest:guest@127.0.0.1", queueName: "events" });
 * await cmd.publish({ hello: "world" });
 * await cmd.close();
 * ```
 */
export function createCommand(options: CommandOptions = {}): Command {
  const settings = brokerSettings(options);
  const log = debugLog(settings.debug, "command");
  const retryFor = options.retryFor ?? DEFAULTS.command.retryFor;
  const confirmTimeout = options.confirmTimeout ?? DEFAULTS.command.confirmTimeout;
  let link: BrokerLink | undefined;
  let ready: Promise<void> | undefined;
  const sessionWaiters: Array<() => void> = [];
  let closed = false;

  const connect = () => {
    if (!link) {
      link = new BrokerLink(settings.amqpUrl, {
        name: "rabbit-eventstore command",
        caFile: settings.amqpCaFile,
        log,
        setup: async (session) => {
          await session.declareQueue(settings.queueName);
          for (const wake of sessionWaiters.splice(0)) wake();
        },
      });
      ready = link.start();
      ready.catch(() => {
        link = undefined; // the next publish tries again
      });
    }
    return ready!;
  };

  const session = async (deadline: number): Promise<BrokerSession> => {
    await connect();
    while (true) {
      const current = link?.session;
      if (current) return current;
      if (closed) throw new Error("Cannot publish: the command was closed");
      if (Date.now() > deadline) throw new Error(`Cannot publish: no broker connection for ${retryFor} ms`);
      await new Promise<void>((resolve) => {
        sessionWaiters.push(resolve);
        setTimeout(resolve, DEFAULTS.command.sessionPoll);
      });
    }
  };

  const appender = new StreamAppender({
    queueName: settings.queueName,
    session,
    retryFor,
    replyTimeout: options.replyTimeout ?? DEFAULTS.command.replyTimeout,
    log,
  });

  let historyUrl: string | undefined;
  let historyToken: string | undefined;
  const command: Command = {
    appendToStream: (stream, events, appendOptions) => appender.append(stream, events, appendOptions),
    readStream(stream, readOptions = {}) {
      try {
        historyToken ??= tokenSetting("HISTORYTOKEN", options.historyToken);
        historyUrl ??= historyUrlSetting(options.historyUrl);
      } catch (error) {
        return Promise.reject(error);
      }
      return readStreamOver(stream, { ...readOptions, historyUrl, historyToken });
    },
    aggregateStream: (stream, aggregateOptions) =>
      aggregateStreamFrom(stream, { ...aggregateOptions, reader: command }),
    handleCommand: (stream, decide, handleOptions) =>
      handleCommandOn(stream, decide, { ...handleOptions, store: command }),
    async publish(event: unknown, publishOptions: PublishOptions = {}): Promise<string> {
      const body = serializeEvent(event);
      if (publishOptions.id !== undefined && (typeof publishOptions.id !== "string" || publishOptions.id === "")) {
        throw new TypeError(
          `Cannot publish event: id must be a non-empty string, got ${JSON.stringify(publishOptions.id)}`,
        );
      }
      if (closed) throw new Error("Cannot publish: the command was closed");
      const id = publishOptions.id ?? crypto.randomUUID();
      const deadline = Date.now() + retryFor;
      const retry = new Backoff(DEFAULTS.command.retry);
      while (true) {
        const current = await session(deadline);
        try {
          const sent = current.publish("", settings.queueName, body, { messageId: id, type: publishOptions.type });
          if (await settleWithin(sent.then(() => true), confirmTimeout, () => false)) return id;
          if (closed || Date.now() > deadline) throw new Error(`Cannot publish ${id}: the broker did not confirm it`);
          log(`Publish of ${id} not confirmed within ${confirmTimeout} ms; publishing again`);
          continue;
        } catch (error) {
          // Lost with the connection, or nacked by a broker that is stopping a queue: publish
          // again with the same id (the server stores it once) until the deadline. The pause
          // also lets the event loop turn, so the client can notice a dead socket.
          if (closed || Date.now() > deadline) throw error;
          const why = error instanceof PublishNackedError ? "nacked by the broker" : `failed (${describe(error)})`;
          log(`Publish of ${id} ${why}; retrying`);
          await retry.sleep();
        }
      }
    },
    async close(): Promise<void> {
      closed = true;
      appender.close();
      for (const wake of sessionWaiters.splice(0)) wake();
      await link?.close();
      link = undefined;
    },
  };
  return command;
}

let shared: Command | undefined;

/**
 * Append events to a stream with the module's shared command (configured from
 * the environment), if the stream is at `expectedVersion`: one message, all
 * events or none, at consecutive stream versions.
 *
 * Sent as a `batch` message with headers `stream` and `expected-version` by
 * direct reply-to; the server's reply settles it. When a reply is lost (a
 * reconnect, a server restart, `replyTimeout`), the same message (same id) is
 * sent again, until `retryFor`: the server answers a repeated id with the
 * original result, so the events are stored once.
 *
 * @param stream The stream (1–255 bytes of UTF-8, no control characters; the server checks).
 * @param events One event `{ type, data, metadata? }` or an array of 1–1000.
 * @param options `expectedVersion` (default `"any"`) and the message `id`.
 * @returns The global position and the stream version of the last event.
 * @throws {TypeError} When an argument has the wrong type; nothing is sent.
 * @throws {RangeError} When there are no events or more than 1000, or the expected version is out of range.
 * @throws {WrongExpectedVersionError} When the stream was not at `expectedVersion`; nothing was stored.
 * @throws {InvalidEventError} When the server refused the append (a bad stream name, an event too large).
 * @example Open a cart, then add to it only if nobody else did meanwhile
 * ```ts
 * import { appendToStream, close, WrongExpectedVersionError } from "rabbit-eventstore/command";
 * const opened = await appendToStream("cart-1", { type: "CartOpened", data: { owner: "ada" } }, {
 *   expectedVersion: "no_stream",
 * });
 * try {
 *   await appendToStream("cart-1", [{ type: "ItemAdded", data: { sku: "a" } }], {
 *     expectedVersion: opened.streamVersion,
 *   });
 * } catch (error) {
 *   if (!(error instanceof WrongExpectedVersionError)) throw error;
 *   console.log(`cart-1 moved on to version ${error.actual}`);
 * }
 * await close();
 * ```
 */
export function appendToStream(
  stream: string,
  events: StreamEvent | readonly StreamEvent[],
  options?: AppendToStreamOptions,
): Promise<AppendToStreamResult> {
  shared ??= createCommand();
  return shared.appendToStream(stream, events, options);
}

/**
 * Publish with the module's shared command (configured from the environment). See {@link Command.publish}.
 *
 * @param event Any JSON value.
 * @param options Its id and type.
 * @returns The event's id, once the broker confirmed it.
 * @throws {TypeError} When the event cannot be serialised as JSON; nothing is sent.
 * @example Publish from anywhere in a program
 * ```ts
 * import { close, publish } from "rabbit-eventstore/command";
 * const id = await publish({ type: "UserSignedUp", email: "ada@example.com" });
 * console.log("stored once as", id);
 * await close();
 * ```
 */
export function publish(event: unknown, options?: PublishOptions): Promise<string> {
  shared ??= createCommand();
  return shared.publish(event, options);
}

/**
 * Close the module's shared command's connection. A later {@link publish}
 * opens a new one.
 *
 * @example Close on shutdown
 * ```ts
 * import { close, publish } from "rabbit-eventstore/command";
 * await publish({ type: "ServiceStopping" });
 * await close(); // lets the process exit
 * ```
 */
export async function close(): Promise<void> {
  const current = shared;
  shared = undefined;
  await current?.close();
}

/**
 * Read a stream with the module's shared command: its records from version
 * `from` to `to` (inclusive), at most `limit`, in version order, over HTTP
 * (`GET <historyUrl>?stream=S&from=V&limit=N`), and its version when the server
 * answered. An event appended before (its `appendToStream` resolved) is always read.
 *
 * @param stream The stream's name.
 * @param options `from` (default 1), `to` (default the last), `limit`, `signal`.
 * @returns The records (`EventRecord`s) and the stream's version (0: it does not exist).
 * @throws {TypeError} When an argument has the wrong type.
 * @throws {RangeError} When `from`, `to` or `limit` is negative or fractional.
 * @throws {ConfigError} When `HISTORYURL` is not an http(s) URL.
 * @throws {Error} When the server refuses the read (a bad stream name) or does not answer in time.
 * @example Print a cart's events
 * ```ts
 * import { readStream } from "rabbit-eventstore/command";
 * const { events, streamVersion } = await readStream("cart-1");
 * for (const e of events) console.log(e.streamVersion, e.type, e.data);
 * console.log("version", streamVersion);
 * ```
 */
export function readStream(stream: string, options?: ReadStreamOptions): Promise<ReadStreamResult> {
  shared ??= createCommand();
  return shared.readStream(stream, options);
}

/**
 * Rebuild a state from a stream with the module's shared command: read it
 * ({@link readStream}) and fold its events with `evolve` from `initialState()`.
 *
 * @param stream The stream's name.
 * @param options `evolve`, `initialState`, and `read` (which versions; default all).
 * @returns The state, the stream's version when read, and the last event's global position.
 * @example The balance of an account
 * ```ts
 * import { aggregateStream } from "rabbit-eventstore/command";
 * type Event = { type: "Deposited" | "Withdrawn"; data: { amount: number } };
 * const { state, streamVersion } = await aggregateStream<number, Event>("account-1", {
 *   initialState: () => 0,
 *   evolve: (balance, e) => (e.type === "Deposited" ? balance + e.data.amount : balance - e.data.amount),
 * });
 * console.log(`balance ${state} at version ${streamVersion}`);
 * ```
 */
export function aggregateStream<S, E extends StreamEvent = StreamEvent>(
  stream: string,
  options: AggregateStreamOptions<S, E>,
): Promise<AggregateStreamResult<S>> {
  shared ??= createCommand();
  return shared.aggregateStream(stream, options);
}

/**
 * Handle a command with the module's shared command, the decider pattern:
 * read the stream into a state (`evolve`, `initialState`), call `decide(state)`
 * for the new events (one, an array, or `[]` for none), and append them
 * expecting the version read (`no_stream` for a new stream). When another writer
 * appended meanwhile (a {@link WrongExpectedVersionError}), all of it runs again
 * from a fresh read, up to `retries` times (default 10), after a random pause
 * that grows from 10 ms to 1 s.
 *
 * @param stream The stream's name.
 * @param decide The decision: new events, or a throw to refuse the command. Called once per attempt.
 * @param options `evolve`, `initialState`, `retries`, `expectedVersion`.
 * @returns The state after the new events, the stream's version, the last position and the new events.
 * @throws {WrongExpectedVersionError} When every attempt conflicted, or the stream is not at `expectedVersion`.
 * @throws What `decide` throws, and what {@link readStream} and {@link appendToStream} throw.
 * @example Withdraw from an account only when the balance covers it
 * ```ts
 * import { close, handleCommand } from "rabbit-eventstore/command";
 * type Event = { type: "Deposited" | "Withdrawn"; data: { amount: number } };
 * const evolve = (balance: number, e: Event) => e.type === "Deposited" ? balance + e.data.amount : balance - e.data.amount;
 * const withdraw = (amount: number) => (balance: number): Event => {
 *   if (balance < amount) throw new Error(`Insufficient funds: ${balance} < ${amount}`);
 *   return { type: "Withdrawn", data: { amount } };
 * };
 * const { state } = await handleCommand("account-1", withdraw(30), { evolve, initialState: () => 0 });
 * console.log("balance now", state);
 * await close();
 * ```
 */
export function handleCommand<S, E extends StreamEvent = StreamEvent>(
  stream: string,
  decide: Decide<S, E>,
  options: HandleCommandOptions<S, E>,
): Promise<HandleCommandResult<S, E>> {
  shared ??= createCommand();
  return shared.handleCommand(stream, decide, options);
}
