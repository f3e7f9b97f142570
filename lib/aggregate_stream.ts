/**
 * Rebuilds a state from a stream: read its events, fold them with `evolve`
 * from `initialState()`. The read half of the decider pattern
 * (`lib/handle_command.ts` is the whole of it).
 *
 * @module
 */
import type { StreamEvent } from "./stream_event.ts";
import type { ReadStreamOptions, ReadStreamResult } from "./stream_reader.ts";

/**
 * How to fold a stream into a state.
 *
 * @example A counter of items in a cart
 * ```ts
 * import { aggregateStream, type AggregateStreamOptions } from "rabbit-eventstore/command";
 * type CartEvent = { type: "ItemAdded"; data: { sku: string } } | { type: "ItemRemoved"; data: { sku: string } };
 * const options: AggregateStreamOptions<number, CartEvent> = {
 *   initialState: () => 0,
 *   evolve: (count, event) => (event.type === "ItemAdded" ? count + 1 : count - 1),
 * };
 * const { state, streamVersion } = await aggregateStream("cart-1", options);
 * console.log(`${state} items at version ${streamVersion}`);
 * ```
 */
export interface AggregateStreamOptions<S, E extends StreamEvent = StreamEvent> {
  /**
   * The state after one more event. Events read are passed as their records
   * (`EventRecord`: `type`, `data`, `metadata`, and also `position`, `streamVersion`, …).
   */
  evolve: (state: S, event: E) => S;
  /** The state of a stream without events; called once per aggregation. */
  initialState: () => S;
  /** Which part of the stream to read. @default {the whole stream} */
  read?: ReadStreamOptions;
}

/**
 * A stream's state, and its version when it was read.
 *
 * @example Append at the version the state was built from
 * ```ts
 * import { aggregateStream, type AggregateStreamResult, appendToStream } from "rabbit-eventstore/command";
 * const cart: AggregateStreamResult<string[]> = await aggregateStream("cart-1", {
 *   initialState: (): string[] => [],
 *   evolve: (skus, event) => [...skus, (event.data as { sku: string }).sku],
 * });
 * if (!cart.state.includes("a")) {
 *   await appendToStream("cart-1", { type: "ItemAdded", data: { sku: "a" } }, { expectedVersion: cart.streamVersion });
 * }
 * ```
 */
export interface AggregateStreamResult<S> {
  /** The state after the events read. */
  state: S;
  /** The stream's version when it was read (0: it does not exist). */
  streamVersion: number;
  /** Global position of the last event read; 0 when none was. */
  position: number;
}

/**
 * Where {@link aggregateStreamFrom} reads: a command's `readStream`.
 *
 * @example A fake that holds one event
 * ```ts
 * import type { StreamReaderLike } from "./aggregate_stream.ts";
 * const record = { position: 1, id: "a", time: "t", stream: "s-1", streamVersion: 1, type: "A", data: 1 };
 * const reader: StreamReaderLike = { readStream: () => Promise.resolve({ events: [record], streamVersion: 1 }) };
 * ```
 */
export interface StreamReaderLike {
  /** Read a stream's records and its version. */
  readStream(stream: string, options?: ReadStreamOptions): Promise<ReadStreamResult>;
}

/**
 * Read `stream` through `reader` and fold its events into a state.
 *
 * @param stream The stream's name.
 * @param options `evolve`, `initialState`, the part to read, and the `reader`.
 * @returns The state, the stream's version and the last event's position.
 * @example Fold a stream read by a fake
 * ```ts
 * import { aggregateStreamFrom } from "./aggregate_stream.ts";
 * const record = { position: 4, id: "a", time: "t", stream: "n-1", streamVersion: 1, type: "Added", data: 2 };
 * const reader = { readStream: () => Promise.resolve({ events: [record], streamVersion: 1 }) };
 * const result = await aggregateStreamFrom("n-1", {
 *   reader,
 *   initialState: () => 40,
 *   evolve: (sum: number, event) => sum + (event.data as number),
 * });
 * console.log(result); // { state: 42, streamVersion: 1, position: 4 }
 * ```
 */
export async function aggregateStreamFrom<S, E extends StreamEvent = StreamEvent>(
  stream: string,
  options: AggregateStreamOptions<S, E> & { reader: StreamReaderLike },
): Promise<AggregateStreamResult<S>> {
  if (typeof options.evolve !== "function" || typeof options.initialState !== "function") {
    throw new TypeError(`Cannot aggregate stream ${stream}: evolve and initialState must be functions`);
  }
  const { events, streamVersion } = await options.reader.readStream(stream, options.read);
  let state = options.initialState();
  for (const event of events) state = options.evolve(state, event as unknown as E);
  return { state, streamVersion, position: events.length === 0 ? 0 : events[events.length - 1].position };
}
