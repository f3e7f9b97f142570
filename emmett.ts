/**
 * rabbit-eventstore for Emmett users: {@link getRabbitEventStore} returns an
 * `EventStore` of `@event-driven-io/emmett` (a peer dependency, needed only
 * for this subpath), so Emmett's `CommandHandler`, deciders and tests run on
 * rabbit-eventstore as they do on Emmett's own PostgreSQL or in-memory stores.
 *
 * How Emmett's contract maps onto ours:
 *
 * | Emmett | rabbit-eventstore |
 * | --- | --- |
 * | `STREAM_DOES_NOT_EXIST` / `STREAM_EXISTS` / `NO_CONCURRENCY_CHECK` / `n` (bigint) | `no_stream` / `stream_exists` / `any` / `n` |
 * | stream versions and global positions (bigint, from 1) | `streamVersion` and `position` (numbers, from 1) |
 * | `metadata.messageId` | the record's `id` |
 * | `ExpectedVersionConflictError(current, expected)` | `WrongExpectedVersionError` (`actual`, `expected`) |
 *
 * One `appendToStream` is one message to the server: all its events are
 * stored at consecutive positions, or none (a conflict stores nothing).
 *
 * @example Handle a command with Emmett's CommandHandler
 * ```ts
 * import { CommandHandler } from "@event-driven-io/emmett";
 * import { getRabbitEventStore } from "rabbit-eventstore/emmett";
 * type Added = { type: "ProductItemAdded"; data: { sku: string; price: number } };
 * type Cart = { total: number };
 * const handle = CommandHandler<Cart, Added>({
 *   evolve: (cart, event) => ({ total: cart.total + event.data.price }),
 *   initialState: () => ({ total: 0 }),
 *   retry: { onVersionConflict: 10 },
 * });
 * const store = getRabbitEventStore({ queueName: "events", historyUrl: "http://localhost:8080/" });
 * const { newState } = await handle(store, "cart-1", () => ({
 *   type: "ProductItemAdded",
 *   data: { sku: "book", price: 3 },
 * }));
 * console.log(newState.total);
 * await store.close();
 * ```
 *
 * @module
 */
import {
  type AggregateStreamOptions,
  type AggregateStreamResult,
  type AppendToStreamOptions,
  type AppendToStreamResultWithGlobalPosition,
  downcastRecordedMessages,
  type Event,
  type EventStore,
  type ExpectedStreamVersion,
  ExpectedVersionConflictError,
  NO_CONCURRENCY_CHECK,
  type ReadEvent,
  type ReadEventMetadataWithGlobalPosition,
  type ReadStreamOptions,
  type ReadStreamResult,
  STREAM_DOES_NOT_EXIST,
  STREAM_EXISTS,
  upcastRecordedMessages,
} from "@event-driven-io/emmett";
import { type CommandOptions, createCommand, WrongExpectedVersionError } from "./command.ts";
import type { ExpectedVersion } from "./lib/expected_version.ts";
import type { EventRecord } from "./lib/record.ts";
import type { StreamEvent } from "./lib/stream_event.ts";

export type { BrokerSettings, CommandOptions } from "./command.ts";
export type { EventRecord } from "./lib/record.ts";
export type { ExpectedVersion } from "./lib/expected_version.ts";
export type { StreamEvent } from "./lib/stream_event.ts";

/**
 * The part of the command client (`rabbit-eventstore/command`) the Emmett
 * store uses, so tests can hand it a fake.
 *
 * @example A client that holds one empty stream
 * ```ts
 * import type { StreamClientLike } from "rabbit-eventstore/emmett";
 * const client: StreamClientLike = {
 *   appendToStream: () => Promise.resolve({ position: 1, streamVersion: 1 }),
 *   readStream: () => Promise.resolve({ events: [], streamVersion: 0 }),
 *   close: () => Promise.resolve(),
 * };
 * ```
 */
export interface StreamClientLike {
  /** Append events to a stream in one message; rejects with `WrongExpectedVersionError` on a conflict. */
  appendToStream(
    stream: string,
    events: StreamEvent[],
    options?: { expectedVersion?: ExpectedVersion; id?: string },
  ): Promise<{ position: number; streamVersion: number }>;
  /** A stream's records with versions `from`..`to` (at most `limit`), and its version now. */
  readStream(
    stream: string,
    options?: { from?: number; to?: number; limit?: number },
  ): Promise<{ events: EventRecord[]; streamVersion: number }>;
  /** Close the connection. */
  close(): Promise<void>;
}

/**
 * Options for {@link getRabbitEventStore}: the command client's options
 * (broker, queue, history URL, retry limits; unset ones come from the
 * environment, see the README), or a client of your own.
 *
 * @example Point the store at a server
 * ```ts
 * import type { RabbitEventStoreOptions } from "rabbit-eventstore/emmett";
 * const options: RabbitEventStoreOptions = {
 *   amqpUrl: "amqp://guest:guest@127.0.0.1:5672",
 *   queueName: "events",
 *   historyUrl: "http://127.0.0.1:8080/",
 * };
 * ```
 */
export interface RabbitEventStoreOptions extends CommandOptions {
  /** Use this client instead of creating one from the other options (tests). @default {createCommand(options)} */
  client?: StreamClientLike;
}

/** Emmett's read-event metadata for this store: stream name, version, messageId and global position. */
export type RabbitReadEventMetadata = ReadEventMetadataWithGlobalPosition;

/**
 * An Emmett `EventStore` on rabbit-eventstore, plus `close()`.
 *
 * @example Append and read back
 * ```ts
 * import { STREAM_DOES_NOT_EXIST } from "@event-driven-io/emmett";
 * import { getRabbitEventStore, type RabbitEventStore } from "rabbit-eventstore/emmett";
 * const store: RabbitEventStore = getRabbitEventStore();
 * await store.appendToStream("order-1", [{ type: "OrderPlaced", data: { total: 9.5 } }], {
 *   expectedStreamVersion: STREAM_DOES_NOT_EXIST,
 * });
 * const { events, currentStreamVersion } = await store.readStream("order-1");
 * console.log(events[0].metadata.globalPosition, currentStreamVersion); // e.g. 41n 1n
 * await store.close();
 * ```
 */
export interface RabbitEventStore extends EventStore<RabbitReadEventMetadata> {
  /** Append; the result also carries `lastEventGlobalPosition`. */
  appendToStream<EventType extends Event, EventPayloadType extends Event = EventType>(
    streamName: string,
    events: EventType[],
    options?: AppendToStreamOptions<bigint, EventType, EventPayloadType>,
  ): Promise<AppendToStreamResultWithGlobalPosition>;
  /** Close the client's connection. */
  close(): Promise<void>;
}

/**
 * Create an Emmett `EventStore` on a rabbit-eventstore server.
 *
 * - `appendToStream` stores the events in one message (all or none) and
 *   rejects with Emmett's `ExpectedVersionConflictError` when the stream is
 *   not at `expectedStreamVersion`.
 * - `readStream` returns the stream's events (versions `from`..`to`, at most
 *   `maxCount`) and, as `currentStreamVersion`, the stream's version when the
 *   server answered (also when `to` stops earlier).
 * - `aggregateStream` folds those events; its `currentStreamVersion` is the
 *   version of the state it returns: the version read up to (`to`, or
 *   `from + maxCount - 1`) when that is below the stream's.
 *
 * @param options The client's options, or a client.
 * @returns The store; nothing connects before its first call.
 * @example Time travel: the state after the first event
 * ```ts
 * import { getRabbitEventStore } from "rabbit-eventstore/emmett";
 * const store = getRabbitEventStore();
 * const { state, currentStreamVersion } = await store.aggregateStream("cart-1", {
 *   evolve: (total: number, event: { type: string; data: { price: number } }) => total + event.data.price,
 *   initialState: () => 0,
 *   read: { to: 1n },
 * });
 * console.log(state, currentStreamVersion); // e.g. 3 1n
 * await store.close();
 * ```
 */
export function getRabbitEventStore(options: RabbitEventStoreOptions = {}): RabbitEventStore {
  const { client: given, ...commandOptions } = options;
  // The command (rabbit-eventstore/command) is such a client: appends by direct reply-to, reads over HTTP.
  const client: StreamClientLike = given ?? createCommand(commandOptions);

  /** Read a stream; `bounded` says whether `to` or `maxCount` may stop the read before the stream's end. */
  const read = async <EventType extends Event, EventPayloadType extends Event>(
    streamName: string,
    readOptions: ReadStreamOptions<bigint, EventType, EventPayloadType> | undefined,
  ) => {
    const from = readOptions?.from === undefined ? 1 : toVersion(readOptions.from, "from");
    const to = readOptions?.to === undefined ? undefined : toVersion(readOptions.to, "to");
    const limit = readOptions?.maxCount === undefined ? undefined : toVersion(readOptions.maxCount, "maxCount");
    const result = await client.readStream(streamName, { from: Math.max(from, 1), to, limit });
    const current = BigInt(result.streamVersion);
    if (readOptions?.expectedStreamVersion !== undefined) {
      assertVersion(current, readOptions.expectedStreamVersion);
    }
    const recorded = result.events.map((record) => toReadEvent<EventPayloadType>(streamName, record));
    const events = upcastRecordedMessages<EventType, EventPayloadType, RabbitReadEventMetadata>(
      recorded,
      readOptions?.schema?.versioning,
    ) as ReadEvent<EventType, RabbitReadEventMetadata>[];
    let upTo = Infinity;
    if (to !== undefined) upTo = to;
    if (limit !== undefined) upTo = Math.min(upTo, Math.max(from, 1) + limit - 1);
    return { events, current, upTo };
  };

  const store: RabbitEventStore = {
    async appendToStream<EventType extends Event, EventPayloadType extends Event = EventType>(
      streamName: string,
      events: EventType[],
      appendOptions?: AppendToStreamOptions<bigint, EventType, EventPayloadType>,
    ): Promise<AppendToStreamResultWithGlobalPosition> {
      if (!Array.isArray(events) || events.length === 0) {
        throw new TypeError(`Cannot append to stream ${streamName}: events must be a non-empty array`);
      }
      const expected = appendOptions?.expectedStreamVersion ?? NO_CONCURRENCY_CHECK;
      const stored = downcastRecordedMessages<EventType, EventPayloadType>(events, appendOptions?.schema?.versioning);
      const envelopes = (stored as Event[]).map((event) => {
        const envelope: StreamEvent = {
          type: event.type,
          data: event.data,
        };
        const metadata = "metadata" in event ? event.metadata : undefined;
        if (metadata !== undefined && metadata !== null) envelope.metadata = metadata as Record<string, unknown>;
        return envelope;
      });
      try {
        const { position, streamVersion } = await client.appendToStream(streamName, envelopes, {
          expectedVersion: toExpectedVersion(expected),
        });
        return {
          nextExpectedStreamVersion: BigInt(streamVersion),
          lastEventGlobalPosition: BigInt(position),
          createdNewStream: streamVersion === events.length,
        };
      } catch (error) {
        if (error instanceof WrongExpectedVersionError) {
          throw new ExpectedVersionConflictError(BigInt(error.actual), expected);
        }
        throw error;
      }
    },

    async readStream<EventType extends Event, EventPayloadType extends Event = EventType>(
      streamName: string,
      readOptions?: ReadStreamOptions<bigint, EventType, EventPayloadType>,
    ): Promise<ReadStreamResult<EventType, RabbitReadEventMetadata>> {
      const { events, current } = await read(streamName, readOptions);
      return { currentStreamVersion: current, events, streamExists: current > 0n };
    },

    async aggregateStream<State, EventType extends Event, EventPayloadType extends Event = EventType>(
      streamName: string,
      aggregateOptions: AggregateStreamOptions<State, EventType, RabbitReadEventMetadata, EventPayloadType>,
    ): Promise<AggregateStreamResult<State, bigint>> {
      const { evolve, initialState } = aggregateOptions;
      const { events, current, upTo } = await read(streamName, aggregateOptions.read);
      let state = initialState();
      // Emmett's evolve takes the event, or the event with its metadata: a read event is both.
      const apply = evolve as (state: State, event: ReadEvent<EventType, RabbitReadEventMetadata>) => State;
      for (const event of events) state = apply(state, event);
      const version = upTo < Number(current) ? BigInt(upTo) : current;
      return { currentStreamVersion: version, state, streamExists: current > 0n };
    },

    async streamExists(streamName: string): Promise<boolean> {
      const { streamVersion } = await client.readStream(streamName, { limit: 0 });
      return streamVersion > 0;
    },

    close: () => client.close(),
  };
  return store;
}

/** Emmett's expected version as ours. */
function toExpectedVersion(expected: ExpectedStreamVersion<bigint>): ExpectedVersion {
  if (expected === NO_CONCURRENCY_CHECK) return "any";
  if (expected === STREAM_DOES_NOT_EXIST) return "no_stream";
  if (expected === STREAM_EXISTS) return "stream_exists";
  if (typeof expected === "bigint") return toVersion(expected, "expectedStreamVersion");
  throw new TypeError(
    `Cannot use expectedStreamVersion ${
      String(expected)
    }: expected STREAM_EXISTS, STREAM_DOES_NOT_EXIST, NO_CONCURRENCY_CHECK or a bigint`,
  );
}

/** Throw Emmett's conflict error unless the stream at `current` matches `expected`. */
function assertVersion(current: bigint, expected: ExpectedStreamVersion<bigint>): void {
  const ok = expected === NO_CONCURRENCY_CHECK ||
    (expected === STREAM_DOES_NOT_EXIST && current === 0n) ||
    (expected === STREAM_EXISTS && current > 0n) ||
    (typeof expected === "bigint" && current === expected);
  if (!ok) throw new ExpectedVersionConflictError(current, expected);
}

/** A bigint version (or count) as a safe non-negative number. */
function toVersion(value: bigint, name: string): number {
  if (typeof value !== "bigint" || value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`Cannot use ${name} ${String(value)}: expected a bigint from 0 to 2^53 - 1`);
  }
  return Number(value);
}

/** A stored record as Emmett's read event. */
function toReadEvent<EventType extends Event>(
  streamName: string,
  record: EventRecord,
): ReadEvent<EventType, RabbitReadEventMetadata> {
  const metadata = {
    ...record.metadata,
    streamName,
    messageId: record.id,
    streamPosition: BigInt(record.streamVersion ?? 0),
    globalPosition: BigInt(record.position),
  };
  return { type: record.type, data: record.data, kind: "Event", metadata } as unknown as ReadEvent<
    EventType,
    RabbitReadEventMetadata
  >;
}
