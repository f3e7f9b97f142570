/**
 * The decider pattern on a stream: read the stream and fold it into a state
 * (`evolve`, `initialState`), `decide` what happens, append the new events at
 * the version read, and on a conflict (another writer appended meanwhile) do
 * it all again from a fresh read, a bounded number of times with a growing,
 * randomised pause.
 *
 * @module
 */
import { aggregateStreamFrom, type StreamReaderLike } from "./aggregate_stream.ts";
import { Backoff, sleep } from "./backoff.ts";
import { DEFAULTS } from "./defaults.ts";
import { WrongExpectedVersionError } from "./errors.ts";
import { type ExpectedVersion, satisfies } from "./expected_version.ts";
import type { AppendToStreamOptions, AppendToStreamResult } from "./stream_appender.ts";
import type { StreamEvent } from "./stream_event.ts";

/**
 * How {@link handleCommandOn} builds the state, and how hard it retries.
 *
 * @example A bank account that never goes below zero
 * ```ts
 * import { handleCommand, type HandleCommandOptions } from "rabbit-eventstore/command";
 * type Event = { type: "Deposited" | "Withdrawn"; data: { amount: number } };
 * const account: HandleCommandOptions<number, Event> = {
 *   initialState: () => 0,
 *   evolve: (balance, e) => (e.type === "Deposited" ? balance + e.data.amount : balance - e.data.amount),
 *   retries: 20,
 * };
 * await handleCommand("account-1", (balance): Event[] => {
 *   if (balance < 30) throw new Error("Insufficient funds");
 *   return [{ type: "Withdrawn", data: { amount: 30 } }];
 * }, account);
 * ```
 */
export interface HandleCommandOptions<S, E extends StreamEvent = StreamEvent> {
  /** The state after one more event (events read are passed as their records). */
  evolve: (state: S, event: E) => S;
  /** The state of a stream without events. */
  initialState: () => S;
  /** Read, decide and append again this many times after a conflict before giving up. @default {10} */
  retries?: number;
  /**
   * What the stream's version must be for the command to run at all
   * (checked against each read; a stream that moved past it fails at once with
   * {@link WrongExpectedVersionError}, without retrying). The append itself
   * always expects the version read. @default {"any"}
   */
  expectedVersion?: ExpectedVersion;
}

/**
 * What a handled command did.
 *
 * @example Report the new version
 * ```ts
 * import { handleCommand, type HandleCommandResult } from "rabbit-eventstore/command";
 * const result: HandleCommandResult<number> = await handleCommand("counter-1", () => ({ type: "Incremented", data: 1 }), {
 *   initialState: () => 0,
 *   evolve: (n) => n + 1,
 * });
 * console.log(`counter-1 is ${result.state} at version ${result.streamVersion}`);
 * ```
 */
export interface HandleCommandResult<S, E extends StreamEvent = StreamEvent> {
  /** The state after the new events. */
  state: S;
  /** The stream's version after the new events (the version read when there were none). */
  streamVersion: number;
  /** Global position of the last new event (of the stream's last event when there were none; 0: no events). */
  position: number;
  /** The new events, as `decide` returned them; empty when it decided nothing. */
  events: E[];
}

/**
 * Decide on a state: return the new events (one, an array, or `[]` for none),
 * or throw to refuse the command. May be async; it may be called more than once
 * (once per attempt), so it must not have side effects of its own.
 *
 * @example Refuse to add an item twice
 * ```ts
 * import type { Decide } from "rabbit-eventstore/command";
 * type Event = { type: "ItemAdded"; data: { sku: string } };
 * const addItem = (sku: string): Decide<string[], Event> => (skus) =>
 *   skus.includes(sku) ? [] : { type: "ItemAdded", data: { sku } };
 * ```
 */
export type Decide<S, E extends StreamEvent = StreamEvent> = (state: S) => E | E[] | Promise<E | E[]>;

/**
 * What {@link handleCommandOn} reads from and appends to: a `Command`.
 *
 * @example A command is one
 * ```ts
 * import { createCommand } from "rabbit-eventstore/command";
 * import type { EventStoreLike } from "./handle_command.ts";
 * const store: EventStoreLike = createCommand();
 * await (store as ReturnType<typeof createCommand>).close();
 * ```
 */
export interface EventStoreLike extends StreamReaderLike {
  /** Append events at an expected version. */
  appendToStream(
    stream: string,
    events: StreamEvent | readonly StreamEvent[],
    options?: AppendToStreamOptions,
  ): Promise<AppendToStreamResult>;
}

/**
 * Handle a command on `stream` against `store` (see the module doc).
 *
 * @param stream The stream's name.
 * @param decide The decision, on the state read.
 * @param options `evolve`, `initialState`, `retries`, `expectedVersion`, and the `store`.
 * @returns The state after the new events, the stream's version, the last position and the new events.
 * @throws {WrongExpectedVersionError} When every attempt conflicted, or the stream is not at `expectedVersion`.
 * @throws {RangeError} When `retries` is not a non-negative integer.
 * @throws What `decide` or `evolve` throws, and what reading or appending throws.
 * @example Increment a counter with a store of one's own
 * ```ts
 * import { createCommand } from "rabbit-eventstore/command";
 * import { handleCommandOn } from "./handle_command.ts";
 * const store = createCommand();
 * const { state } = await handleCommandOn("counter-1", () => ({ type: "Incremented", data: 1 }), {
 *   store,
 *   initialState: () => 0,
 *   evolve: (n: number) => n + 1,
 * });
 * console.log(state);
 * await store.close();
 * ```
 */
export async function handleCommandOn<S, E extends StreamEvent = StreamEvent>(
  stream: string,
  decide: Decide<S, E>,
  options: HandleCommandOptions<S, E> & { store: EventStoreLike },
): Promise<HandleCommandResult<S, E>> {
  if (typeof decide !== "function") {
    throw new TypeError(`Cannot handle a command on stream ${stream}: decide must be a function`);
  }
  const retries = options.retries ?? DEFAULTS.command.conflictRetries;
  if (!(Number.isSafeInteger(retries) && retries >= 0)) {
    throw new RangeError(
      `Cannot handle a command on stream ${stream}: retries must be a non-negative integer, got ${retries}`,
    );
  }
  const required = options.expectedVersion ?? "any";
  const { store, evolve } = options;
  const backoff = new Backoff(DEFAULTS.command.conflictRetry);
  for (let attempt = 0;; attempt++) {
    const read = await aggregateStreamFrom(stream, { reader: store, evolve, initialState: options.initialState });
    if (!satisfies(required, read.streamVersion)) {
      throw new WrongExpectedVersionError(stream, required, read.streamVersion);
    }
    const decided = await decide(read.state);
    const events = Array.isArray(decided) ? decided : [decided];
    if (events.length === 0) {
      return { state: read.state, streamVersion: read.streamVersion, position: read.position, events };
    }
    try {
      const appended = await store.appendToStream(stream, events, {
        expectedVersion: read.streamVersion === 0 ? "no_stream" : read.streamVersion,
      });
      let state = read.state;
      for (const event of events) state = evolve(state, event);
      return { state, streamVersion: appended.streamVersion, position: appended.position, events };
    } catch (error) {
      if (!(error instanceof WrongExpectedVersionError) || attempt >= retries) throw error;
      // Full jitter: writers that collided pick different pauses, so they rarely collide again.
      await sleep(Math.ceil(Math.random() * backoff.next()));
    }
  }
}
