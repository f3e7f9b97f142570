/**
 * What `deno task bench --peers` asks of each system it compares (ours, a
 * RabbitMQ stream, NATS JetStream, a PostgreSQL table, Emmett on PostgreSQL):
 * the {@link Peer} interface, one measured phase ({@link measurePhase}: rate
 * and CPU per event from /proc) and the check that a read gave back exactly
 * the events written, in order ({@link SequenceCheck}), or each at least once
 * ({@link AtLeastOnceCheck}).
 *
 * @module
 */
import process from "node:process";
import { cpuSnapshot, cpuSpent } from "./_bench_cpu.ts";
import { benchEvent } from "./_bench_util.ts";

/** Processes whose CPU counts as one system's (the server side), as `cpuOf` selects them. */
export type CpuSelect = Record<string, { comm?: string[]; pids?: number[] }>;

/** One measured phase of one round. */
export interface PhaseResult {
  /** What was measured, e.g. `write` or `appendToStream, batch of 1000`. */
  phase: string;
  /** A write is compared with our write, a read with our replay. */
  kind: "write" | "read";
  /** Events written or read. */
  events: number;
  /** Events per second over the phase. */
  rate: number;
  /** CPU µs per event of the system's own processes (broker, database), summed. */
  systemCpu: number;
  /** CPU µs per event of the bench process (the client side: publisher, consumer, listener). */
  clientCpu: number;
  /** Something the figure needs said beside it (e.g. events delivered more than once). */
  note?: string;
}

/**
 * A system in the peers bench. Each round writes `events` bench events and
 * reads them back, verified, then removes what it created.
 *
 * @example A peer that does nothing measurable
 * ```ts
 * import type { Peer } from "./_bench_peer.ts";
 * const idle: Peer = {
 *   name: "idle",
 *   durability: () => "nothing is stored",
 *   open: () => Promise.resolve(undefined),
 *   round: () => Promise.resolve([]),
 *   close: () => Promise.resolve(),
 * };
 * console.log(idle.name);
 * ```
 */
export interface Peer {
  /** The system's name in the table. */
  readonly name: string;
  /** What an acknowledged write means on disk (fsync or not), as read from the running system where it can be. */
  durability(): string;
  /** Connect; resolves with a reason when the system cannot be reached (its rows are then skipped with a note). */
  open(): Promise<string | undefined>;
  /** One round of `events`: its phases, in order. Cleans up what it created, also when it fails. */
  round(events: number, round: number): Promise<PhaseResult[]>;
  /** Disconnect and remove anything left. */
  close(): Promise<void>;
}

/**
 * Run `work` as one phase: events per second from its start to its end (or
 * the `endedAt` it returns, a `performance.now()`), and the CPU µs per event
 * of `system` (summed) and of this process.
 *
 * @example Time a loop
 * ```ts
 * import { measurePhase } from "./_bench_peer.ts";
 * const result = await measurePhase({ phase: "write", kind: "write", events: 1000, system: {} }, async () => {});
 * console.log(result.rate);
 * ```
 */
export async function measurePhase(
  spec: { phase: string; kind: "write" | "read"; events: number; system: CpuSelect },
  work: () => Promise<void | { endedAt: number }>,
): Promise<PhaseResult> {
  if (process.env.BENCH_DEBUG) console.log(`debug: ${new Date().toISOString()} ${spec.phase} of ${spec.events}`);
  const before = await cpuSnapshot(spec.system);
  const started = performance.now();
  // A work that waited in vain at its end (a consumer that never delivered an event) says when it really ended.
  const ended = (await work())?.endedAt ?? performance.now();
  const seconds = (ended - started) / 1000;
  const spent = cpuSpent(before, await cpuSnapshot(spec.system));
  let system = 0;
  for (const group of Object.keys(spec.system)) system += spent[group];
  return {
    phase: spec.phase,
    kind: spec.kind,
    events: spec.events,
    rate: spec.events / Math.max(seconds, 1e-9),
    systemCpu: system / spec.events,
    clientCpu: spent.bench / spec.events,
  };
}

/** The JSON body of bench event `i`, the same bytes for every system. */
export function peerBody(i: number): string {
  return JSON.stringify(benchEvent(i));
}

/**
 * Checks that a read delivers bench events `first`, `first + 1`, … in order
 * and, at {@link SequenceCheck.done}, that it delivered `count` of them:
 * a figure for a read that lost, repeated or reordered events would mean
 * nothing.
 *
 * @example
 * ```ts
 * import { SequenceCheck } from "./_bench_peer.ts";
 * const check = new SequenceCheck("example", 2);
 * check.next({ i: 0 });
 * check.next({ i: 1 });
 * check.done();
 * ```
 */
export class SequenceCheck {
  readonly #what: string;
  readonly #count: number;
  readonly #first: number;
  #seen = 0;

  /**
   * @param what The read, for the error message.
   * @param count Events the read must deliver.
   * @param first The `i` of the first event.
   */
  constructor(what: string, count: number, first = 0) {
    this.#what = what;
    this.#count = count;
    this.#first = first;
  }

  /** Events checked so far. */
  get seen(): number {
    return this.#seen;
  }

  /** Whether all `count` events were delivered. */
  get complete(): boolean {
    return this.#seen === this.#count;
  }

  /** Check the next event's body (parsed); throws on a wrong or extra one. */
  next(body: unknown): void {
    const expected = this.#first + this.#seen;
    const i = (body as { i?: unknown } | null)?.i;
    if (this.#seen >= this.#count) {
      throw new Error(`${this.#what}: read more than the ${this.#count} events written (event i=${String(i)})`);
    }
    if (i !== expected) {
      throw new Error(
        `${this.#what}: expected event i=${expected} at read ${this.#seen + 1}, got ${JSON.stringify(body)}`,
      );
    }
    this.#seen++;
  }

  /** Throws unless exactly `count` events were delivered. */
  done(): void {
    if (this.#seen !== this.#count) {
      throw new Error(`${this.#what}: read ${this.#seen} of the ${this.#count} events written`);
    }
  }
}

/**
 * Checks that an at-least-once read delivers each of `count` events (named
 * by a key, e.g. `batch:17`) at least once, and counts those delivered again:
 * for a consumer that may redeliver, whose order across redeliveries is not
 * the write order.
 *
 * @example
 * ```ts
 * import { AtLeastOnceCheck } from "./_bench_peer.ts";
 * const check = new AtLeastOnceCheck("consumer", 2);
 * check.next("a:0");
 * check.next("a:0");
 * check.next("a:1");
 * check.done();
 * console.log(check.repeated); // 1
 * ```
 */
export class AtLeastOnceCheck {
  readonly #what: string;
  readonly #count: number;
  readonly #seen = new Set<string>();
  #repeated = 0;

  /**
   * @param what The read, for the error message.
   * @param count Distinct events the read must deliver.
   */
  constructor(what: string, count: number) {
    this.#what = what;
    this.#count = count;
  }

  /** Distinct events delivered so far. */
  get seen(): number {
    return this.#seen.size;
  }

  /** Deliveries of an event already delivered. */
  get repeated(): number {
    return this.#repeated;
  }

  /** Whether the event `key` was delivered. */
  has(key: string): boolean {
    return this.#seen.has(key);
  }

  /** Whether every event was delivered. */
  get complete(): boolean {
    return this.#seen.size === this.#count;
  }

  /** Count a delivery of the event `key` (the caller checks that it is one written); throws past `count` distinct. */
  next(key: string): void {
    if (this.#seen.has(key)) {
      this.#repeated++;
      return;
    }
    if (this.#seen.size >= this.#count) {
      throw new Error(`${this.#what}: read more than the ${this.#count} events written (event ${key})`);
    }
    this.#seen.add(key);
  }

  /** Throws unless every event was delivered. */
  done(): void {
    if (!this.complete) {
      throw new Error(`${this.#what}: read ${this.#seen.size} of the ${this.#count} events written`);
    }
  }
}
