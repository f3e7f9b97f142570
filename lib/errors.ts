/**
 * Named errors raised by the event log, the server and the listener.
 *
 * Each error's doc comment states the rule whose violation it reports, in the
 * manner of tidwall/wal's `ErrOutOfOrder` and `ErrCorrupt`.
 *
 * @module
 */

/**
 * A record was appended whose position is not the head position + 1.
 *
 * Rule: positions are dense. The first record is 1 and every append is
 * exactly one more than the last stored position.
 *
 * @example Append a position that skips one
 * ```ts
 * import { OutOfOrderError } from "rabbit-eventstore";
 * const error = new OutOfOrderError(5, 7);
 * console.log(error.message); // Cannot append record at position 7: expected position 5
 * ```
 */
export class OutOfOrderError extends Error {
  /** The position the log expected next. */
  readonly expected: number;
  /** The position that was offered. */
  readonly actual: number;
  /**
   * Create the error.
   * @param expected The position the log expected next.
   * @param actual The position that was offered.
   */
  constructor(expected: number, actual: number) {
    super(`Cannot append record at position ${actual}: expected position ${expected}`);
    this.name = "OutOfOrderError";
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * A storage file holds damage before its last line.
 *
 * Rule: every line but the last is a complete record whose position is the
 * previous line's position + 1. A damaged last line is a torn write and is
 * truncated at start-up; damage anywhere else is refused, never repaired.
 *
 * @example Report where a store is damaged
 * ```ts
 * import { CorruptLogError, startServer } from "rabbit-eventstore";
 * try {
 *   const server = await startServer(); // opens STORAGEFILE
 *   await server.close();
 * } catch (error) {
 *   if (error instanceof CorruptLogError) console.error(`damaged at line ${error.line}, byte ${error.offset}`);
 * }
 * ```
 */
export class CorruptLogError extends Error {
  /** The storage file's path. */
  readonly path: string;
  /** The 1-based line number of the first damaged line. */
  readonly line: number;
  /** The byte offset at which the damaged line starts. */
  readonly offset: number;
  /** The position the damaged line should have held (the intact records before it are 1 .. position - 1). */
  readonly position: number;
  /**
   * Create the error.
   * @param path The storage file's path.
   * @param line The 1-based line number of the first damaged line.
   * @param offset The byte offset at which that line starts.
   * @param reason What is wrong with the line.
   * @param position The position that line should have held. @default {line}
   */
  constructor(path: string, line: number, offset: number, reason: string, position: number = line) {
    super(`Storage file ${path} is damaged at line ${line} (byte offset ${offset}): ${reason}`);
    this.name = "CorruptLogError";
    this.path = path;
    this.line = line;
    this.offset = offset;
    this.position = position;
  }
}

/**
 * A file offered as a store does not begin as one.
 *
 * Rule: a store is only ever opened from a file that is empty, begins with a
 * store header line, or begins with a record at position 1 (a store written
 * before headers existed). Anything else is somebody else's file: it is
 * refused byte for byte untouched, never "repaired" as a torn tail.
 *
 * @example The message for somebody else's file
 * ```ts
 * import { NotAStoreError } from "rabbit-eventstore";
 * const error = new NotAStoreError("./logo.png", "it begins with bytes that are not text: 89 50 4e 47");
 * console.log(error.message);
 * // File ./logo.png is not a rabbit-eventstore store (it begins with bytes that are not text: 89 50 4e 47); it was left untouched
 * ```
 */
export class NotAStoreError extends Error {
  /** The file's path. */
  readonly path: string;
  /** Why it is not a store, e.g. `it begins with "{\n  \"name\""`. */
  readonly reason: string;
  /**
   * Create the error.
   * @param path The file's path.
   * @param reason Why it is not a store.
   */
  constructor(path: string, reason: string) {
    super(`File ${path} is not a rabbit-eventstore store (${reason}); it was left untouched`);
    this.name = "NotAStoreError";
    this.path = path;
    this.reason = reason;
  }
}

/**
 * Another server holds the store.
 *
 * Rule: a store has one writer. The writer holds an exclusive lock on the
 * file for as long as it runs; the OS frees it when that process dies, so a
 * crash never leaves a stale lock. A second opener never writes a byte.
 *
 * @example Tell the operator who holds the store
 * ```ts
 * import { StoreLockedError } from "rabbit-eventstore";
 * const error = new StoreLockedError("./storage", 5494);
 * console.log(error.message); // Store ./storage is in use by another server (pid 5494)
 * ```
 */
export class StoreLockedError extends Error {
  /** The store's path. */
  readonly path: string;
  /** The pid of the process holding the lock, where the OS tells it. */
  readonly pid: number | undefined;
  /**
   * Create the error.
   * @param path The store's path.
   * @param pid The holder's pid, if known.
   */
  constructor(path: string, pid?: number) {
    super(`Store ${path} is in use by another server (pid ${pid ?? "unknown"})`);
    this.name = "StoreLockedError";
    this.path = path;
    this.pid = pid;
  }
}

/**
 * A write or fsync of the storage failed.
 *
 * Rule: after a failed write or fsync the log accepts nothing more. An fsync
 * that failed is never retried (the kernel may have dropped the dirty pages),
 * so the process must stop and start again from what is on disk.
 *
 * @example Stop after a failed write
 * ```ts
 * import { StorageFailedError } from "rabbit-eventstore";
 * const error = new StorageFailedError("Cannot fsync ./storage", { cause: new Error("EIO") });
 * if (error instanceof StorageFailedError) console.error(error.message, error.cause);
 * ```
 */
export class StorageFailedError extends Error {
  /**
   * Create the error.
   * @param message What failed.
   * @param options The underlying error as `cause`.
   */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StorageFailedError";
  }
}

/**
 * A configuration value (environment variable or option) is invalid.
 *
 * Its message names the setting, the bad value and what to change.
 *
 * @example A setting that is out of range
 * ```ts
 * import { ConfigError } from "rabbit-eventstore";
 * const error = new ConfigError('PREFETCH must be an integer from 1 to 65535, got "0"');
 * console.log(error.name); // ConfigError
 * ```
 */
export class ConfigError extends Error {
  /**
   * Create the error.
   * @param message Which setting is wrong and what to change.
   */
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * A listener's handler threw (or its promise rejected).
 *
 * Rule: an event is never skipped. The listener stops at the failing event
 * and reports its position; the cause is the handler's error.
 *
 * @example Find the event a projection failed on
 * ```ts
 * import { HandlerError, listen } from "rabbit-eventstore";
 * const listener = listen(1, (event) => {
 *   if (event.data === null) throw new Error("no data");
 * });
 * listener.closed.catch((error) => {
 *   if (error instanceof HandlerError) console.error(`stopped at ${error.position}:`, error.cause);
 * });
 * await listener.close();
 * ```
 */
export class HandlerError extends Error {
  /** Position of the event the handler failed on. */
  readonly position: number;
  /**
   * Create the error.
   * @param position Position of the event the handler failed on.
   * @param cause The handler's error.
   */
  constructor(position: number, cause: unknown) {
    super(`Listener handler failed on the event at position ${position}: ${describe(cause)}`, { cause });
    this.name = "HandlerError";
    this.position = position;
  }
}

/**
 * The broker answered a publish with a negative confirm (basic.nack): it did
 * not take responsibility for the message, for example because a queue was
 * stopping. The connection may still be up.
 *
 * Rule: a nacked publish is not an error for good. Publish it again (with the
 * same messageId) after a short pause; the server stores a messageId once.
 *
 * @example Publish again after a nack
 * ```ts
 * import { createCommand, PublishNackedError } from "rabbit-eventstore";
 * const command = createCommand();
 * const event = { type: "OrderPlaced", order: 7 };
 * try {
 *   await command.publish(event, { id: "order-7" });
 * } catch (error) {
 *   if (!(error instanceof PublishNackedError)) throw error;
 *   await command.publish(event, { id: "order-7" }); // the server stores order-7 once
 * }
 * await command.close();
 * ```
 */
export class PublishNackedError extends Error {
  /**
   * Create the error.
   * @param messageId The nacked message's id, if it had one.
   */
  constructor(messageId?: string) {
    super(`The broker did not accept the publish${messageId ? ` of ${messageId}` : ""} (basic.nack); publish it again`);
    this.name = "PublishNackedError";
  }
}

/**
 * RabbitMQ refused the connection or a declaration for a reason that
 * retrying cannot fix: a login it rejects, a vhost that does not exist or
 * that the user may not use, missing permissions on a queue or exchange, a
 * queue or exchange declared before with other settings; or, over `amqps://`, a broker
 * certificate that the trusted CAs (`AMQPCAFILE`, `FANOUTCAFILE`) do not vouch for.
 *
 * Rule: not retried at start-up. The program stops at once with this
 * message, which names the setting (AMQPURL, FANOUTURL, a CA file), the user
 * or the vhost and what to change.
 *
 * @example Tell a refusal from an outage
 * ```ts
 * import { BrokerRefusedError, startServer } from "rabbit-eventstore";
 * try {
 *   await startServer({ amqpUrl: "amqp://app:secret@rabbit/orders" });
 * } catch (error) {
 *   if (error instanceof BrokerRefusedError) console.error(error.code, error.message); // fix the settings
 * }
 * ```
 */
export class BrokerRefusedError extends Error {
  /** RabbitMQ's reply code: `ACCESS_REFUSED`, `NOT_ALLOWED` or `PRECONDITION_FAILED`; `TLS` for an untrusted certificate. */
  readonly code: string;
  /**
   * Create the error.
   * @param message What was refused and what to change.
   * @param code RabbitMQ's reply code.
   * @param cause The client's error.
   */
  constructor(message: string, code: string, cause?: unknown) {
    super(message, { cause });
    this.name = "BrokerRefusedError";
    this.code = code;
  }
}

/**
 * Another consumer holds the server's input queue: RabbitMQ refused the
 * server's exclusive basic.consume (`ACCESS_REFUSED … in exclusive use`).
 *
 * Rule: two servers never number one queue. At start-up the server stops
 * with this message. After a reconnect it waits a while for the queue (the
 * consumer may be its own lost connection, which RabbitMQ drops after missed
 * heartbeats), never taking it from a live consumer, and then stops.
 *
 * @example The message a second server stops with
 * ```ts
 * import { QueueInUseError } from "rabbit-eventstore";
 * console.log(new QueueInUseError("events").message);
 * // QUEUENAME "events" is already consumed by another server; stop that server, or give this one …
 * ```
 */
export class QueueInUseError extends Error {
  /** The queue. */
  readonly queue: string;
  /**
   * Create the error.
   * @param queue The queue another consumer holds.
   * @param cause The client's error.
   */
  constructor(queue: string, cause?: unknown) {
    super(
      `QUEUENAME "${queue}" is already consumed by another server; stop that server, ` +
        `or give this one its own QUEUENAME (and STORAGEFILE)`,
      { cause },
    );
    this.name = "QueueInUseError";
    this.queue = queue;
  }
}

/**
 * The history server sent nothing for `idleTimeout` ms while the reader
 * waited: the request is abandoned (and retried by the listener).
 *
 * Rule: a listener never waits forever on a history response; it asks
 * again from the next position it has not delivered.
 *
 * @example The message of an abandoned request
 * ```ts
 * import { HistoryTimeoutError } from "rabbit-eventstore";
 * const error = new HistoryTimeoutError("http://localhost:8080/?from=1", 30_000);
 * console.log(error.message); // History request http://localhost:8080/?from=1 sent nothing for 30000 ms
 * ```
 */
export class HistoryTimeoutError extends Error {
  /**
   * Create the error.
   * @param url The history request.
   * @param ms The idle time that was exceeded.
   */
  constructor(url: string, ms: number) {
    super(`History request ${url} sent nothing for ${ms} ms`);
    this.name = "HistoryTimeoutError";
  }
}

/**
 * A listener that follows one store saw records of another: the storage file
 * was replaced (deleted and the server restarted) or a different server
 * publishes to the same exchange. Positions of two stores do not continue each
 * other, so delivering on would drop or mix events.
 *
 * Rule: a listener follows one store. It remembers the first store id it sees
 * (the history response header `x-store-id` or the fanout message header
 * `store-id`; or the id given as the `storeId` option) and stops at the first
 * later response or message that carries a different non-empty id. An absent
 * id (a server that does not send one) is unknown and never stops it.
 *
 * @example Stop a projection when its store was replaced
 * ```ts
 * import { listen, StoreChangedError } from "rabbit-eventstore";
 * const saved = { position: 42, storeId: "5b0c2f7e-0000-4000-8000-000000000000" };
 * const listener = listen(saved.position, (event) => console.log(event.data), { storeId: saved.storeId });
 * listener.closed.catch((error) => {
 *   if (error instanceof StoreChangedError) console.error(`rebuild: ${error.expected} -> ${error.actual}`);
 * });
 * ```
 */
export class StoreChangedError extends Error {
  /** The id of the store the listener followed. */
  readonly expected: string;
  /** The id that was seen instead. */
  readonly actual: string;
  /**
   * Create the error.
   * @param expected The id of the store the listener followed.
   * @param actual The id that was seen instead.
   * @param where Where it was seen ("history response", "live message").
   */
  constructor(expected: string, actual: string, where = "message") {
    super(
      `Cannot continue listening: the ${where} comes from store ${actual}, expected store ${expected}; ` +
        `its positions do not continue the ones delivered`,
    );
    this.name = "StoreChangedError";
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * An append to a stream expected a version the stream was not at.
 *
 * Rule: an append with an expected version is stored only when the stream is
 * at that version when the server gives it its positions: `no_stream` (0
 * events), `stream_exists` (at least one), or exactly N events. Nothing of a
 * refused append is stored; `any` never conflicts.
 *
 * @example Tell a conflict from other failures
 * ```ts
 * import { WrongExpectedVersionError } from "./errors.ts";
 * const error: unknown = new WrongExpectedVersionError("cart-1", 3, 4);
 * if (error instanceof WrongExpectedVersionError) console.log(`cart-1 is at ${error.actual}, not ${error.expected}`);
 * ```
 */
export class WrongExpectedVersionError extends Error {
  /** The stream appended to. */
  readonly stream: string;
  /** The expected version the append carried (`no_stream`, `stream_exists` or a number). */
  readonly expected: string | number;
  /** The stream's version when the server checked it (0: the stream does not exist). */
  readonly actual: number;
  /**
   * Create the error.
   * @param stream The stream appended to.
   * @param expected The expected version the append carried.
   * @param actual The stream's version when it was checked.
   */
  constructor(stream: string, expected: string | number, actual: number) {
    super(`Cannot append to stream ${stream}: expected version ${expected}, but the stream is at ${actual}`);
    this.name = "WrongExpectedVersionError";
    this.stream = stream;
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * The server refused an append as invalid (its reply `InvalidEvent`): the
 * body, the stream name or the expected version. Retrying it cannot help.
 *
 * @example Tell a bad stream name from a conflict
 * ```ts
 * import { InvalidEventError } from "./errors.ts";
 * const error = new InvalidEventError("stream name is empty");
 * console.log(error.message); // The server refused the event: stream name is empty
 * ```
 */
export class InvalidEventError extends Error {
  /** Why the server refused it. */
  readonly reason: string;
  /**
   * Create the error.
   * @param reason Why the server refused it.
   */
  constructor(reason: string) {
    super(`The server refused the event: ${reason}`);
    this.name = "InvalidEventError";
    this.reason = reason;
  }
}

/**
 * A record's stream version does not continue its stream.
 *
 * Rule: within a stream, versions are dense: the first event of a stream is
 * version 1 and each later one is the stream's last version + 1, at a higher
 * global position. A store whose records break this is refused at start-up.
 *
 * @example What the index reports
 * ```ts
 * import { StreamVersionError } from "./errors.ts";
 * console.log(new StreamVersionError("order-1", 3, 5, 40).message);
 * ```
 */
export class StreamVersionError extends Error {
  /** The stream. */
  readonly stream: string;
  /** The version the stream expected next. */
  readonly expected: number;
  /** The version the record has. */
  readonly actual: number;
  /** The record's global position. */
  readonly position: number;
  /**
   * Create the error.
   * @param stream The stream.
   * @param expected The version expected next.
   * @param actual The version the record has.
   * @param position The record's global position.
   */
  constructor(stream: string, expected: number, actual: number, position: number) {
    super(
      `Cannot index record at position ${position}: stream ${stream} expected version ${expected}, got ${actual}`,
    );
    this.name = "StreamVersionError";
    this.stream = stream;
    this.expected = expected;
    this.actual = actual;
    this.position = position;
  }
}

/**
 * A command line that cannot be run: an unknown command or option, a missing
 * or extra argument, a bad option value.
 *
 * Rule: nothing was done; the program prints the message and exits 2.
 *
 * @example Refuse a bad option value
 * ```ts
 * import { UsageError } from "./errors.ts";
 * const error = new UsageError('option --from expects a non-negative integer, got "abc"');
 * console.log(error.name); // UsageError
 * ```
 */
export class UsageError extends Error {
  /**
   * Create the error.
   * @param message What is wrong with the command line, and the value.
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * One-line description of any thrown value: an error's message, else the value as a string.
 *
 * @example Describe what a `catch` caught
 * ```ts
 * import { describe } from "./errors.ts";
 * console.log(describe(new Error("disk full"))); // disk full
 * console.log(describe("oops")); // oops
 * ```
 */
export function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
