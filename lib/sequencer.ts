/**
 * The heart of the server: turns deliveries from the input queue into stored
 * records at dense positions, with group commit.
 *
 * Per batch: read each message as an append (one event or a batch, with its
 * stream and expected version); answer ids already stored with their
 * original result (idempotent append); check each stream's expected version
 * against the index and the appends before it in the batch; give the rest
 * the next positions and stream versions, append and fsync them in one
 * write, hand them to the fanout publisher, reply on `reply-to`, then
 * acknowledge. A refused message (invalid, or a version conflict) is
 * answered on its `reply-to`, or dead-lettered with the reason when it has
 * none. Nothing is acknowledged or answered before it is durable.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { BrokerSession, Delivery } from "./broker_session.ts";
import { crashPoint } from "./crash_point.ts";
import { DEFAULTS } from "./defaults.ts";
import type { DedupWindow } from "./dedup_window.ts";
import { describe } from "./errors.ts";
import { eventId, readAppendRequest } from "./append_request.ts";
import { type AppendResult, type AppendStored, refusalReason } from "./append_result.ts";
import { satisfies } from "./expected_version.ts";
import type { FanoutPublisher } from "./fanout_publisher.ts";
import { encodeRecordLine, type RecordFields } from "./record.ts";
import type { AppendRecord, EventStorage, StoredRecord } from "./storage.ts";
import { StreamIndex } from "./stream_index.ts";

/**
 * Options for {@link Sequencer}.
 *
 * @example The collaborators of a sequencer over memory storage
 * ```ts
 * import type { PublishingSessionLike } from "./broker_session.ts";
 * import { DedupWindow } from "./dedup_window.ts";
 * import { FanoutPublisher } from "./fanout_publisher.ts";
 * import { MemoryStorage } from "./memory_storage.ts";
 * import { PublishWatermark } from "./publish_watermark.ts";
 * import type { SequencerOptions } from "./sequencer.ts";
 * const storage = new MemoryStorage();
 * const fanout: PublishingSessionLike = { closed: false, publish: () => Promise.resolve() };
 * const publisher = new FanoutPublisher(storage, await PublishWatermark.open(storage), "events");
 * void publisher.attach(fanout);
 * const options: SequencerOptions = {
 *   storage,
 *   window: new DedupWindow(1_000),
 *   publisher,
 *   maxEventBytes: 1_048_576,
 *   deadLetter: async (_session, delivery, reason) => console.warn(`dead-lettered ${delivery.tag}: ${reason}`),
 *   onFatal: (error) => console.error("storage failed:", error),
 * };
 * ```
 */
export interface SequencerOptions {
  /** Where records are appended. */
  storage: EventStorage;
  /** Recently stored ids, for idempotent append. */
  window: DedupWindow;
  /** Stream versions, checked against expected versions and advanced after each append. @default {an empty index} */
  index?: StreamIndex;
  /** Publishes stored records to the fanout. */
  publisher: FanoutPublisher;
  /** Largest accepted body in bytes. */
  maxEventBytes: number;
  /** Publish a rejected message, with its reason, to the dead-letter queue. */
  deadLetter: (session: BrokerSession, delivery: Delivery, reason: string) => Promise<void>;
  /** Called once when storage fails; the sequencer accepts nothing more. */
  onFatal: (error: Error) => void;
  /** Debug log. @default {no logging} */
  log?: (message: string) => void;
  /** Warnings (rejected messages). @default {console.warn} */
  warn?: (message: string) => void;
  /** Generates ids for messages without a messageId. @default {crypto.randomUUID} */
  newId?: () => string;
  /** Stop taking new batches while this many fanout publishes await a confirm. @default {20000} */
  maxUnconfirmed?: number;
  /** Called with each batch once it is durable, before the fanout gets it (the live HTTP feed). @default {none} */
  onStored?: (records: readonly StoredRecord[]) => void;
  /** Told of every durable append, once per batch (the server's metrics). @default {undefined} */
  observer?: SequencerObserver;
}

/**
 * What the sequencer reports after each durable append: one call per batch.
 *
 * @example Log each batch
 * ```ts
 * import type { SequencerObserver } from "./sequencer.ts";
 * const observer: SequencerObserver = {
 *   stored: ({ events, bytes, seconds }) => console.log(`${events} events, ${bytes} B in ${seconds} s`),
 * };
 * ```
 */
export interface SequencerObserver {
  /** A batch is durable: its records, their bytes (UTF-8 lines with newlines), and the append's write + fsync time. */
  stored(batch: { events: number; bytes: number; seconds: number }): void;
}

interface Pending {
  session: BrokerSession;
  delivery: Delivery;
}

/**
 * Gives each accepted delivery the next dense position: validates and
 * dedupes it, appends a batch with one fsync (group commit), hands the batch
 * to the fanout, dead-letters what it cannot accept, then acks the batch.
 *
 * @example Number a queue's deliveries
 * ```ts
 * import { openSession } from "./amqp_session.ts";
 * import { DeadLetterQueue } from "./dead_letter.ts";
 * import { DedupWindow } from "./dedup_window.ts";
 * import { FanoutPublisher } from "./fanout_publisher.ts";
 * import { MemoryStorage } from "./memory_storage.ts";
 * import { PublishWatermark } from "./publish_watermark.ts";
 * import { Sequencer } from "./sequencer.ts";
 * const session = await openSession("amqp://guest:guest@127.0.0.1");
 * const storage = new MemoryStorage();
 * const publisher = new FanoutPublisher(storage, await PublishWatermark.open(storage), "events");
 * void publisher.attach(session);
 * const deadLetters = new DeadLetterQueue("events");
 * const sequencer = new Sequencer({
 *   storage,
 *   window: new DedupWindow(),
 *   publisher,
 *   maxEventBytes: 1_048_576,
 *   deadLetter: (s, delivery, reason) => deadLetters.send(s, delivery, reason),
 *   onFatal: (error) => console.error(error),
 * });
 * await session.consume("events", 1000, (delivery) => sequencer.accept(session, delivery));
 * ```
 */
export class Sequencer {
  readonly #o:
    & Required<Omit<SequencerOptions, "log" | "observer" | "onStored">>
    & Pick<SequencerOptions, "onStored">
    & {
      log: (message: string) => void;
    };
  readonly #observer: SequencerObserver | undefined;
  #pending: Pending[] = [];
  #running: Promise<void> | undefined;
  #failed = false;
  #stopped = false;

  /**
   * Create a sequencer.
   *
   * @param options Collaborators and limits.
   */
  constructor(options: SequencerOptions) {
    this.#o = {
      log: () => {},
      warn: (message: string) => console.warn(message),
      newId: () => crypto.randomUUID(),
      maxUnconfirmed: DEFAULTS.server.maxUnconfirmed,
      index: new StreamIndex(),
      ...options,
    };
    this.#observer = options.observer;
  }

  /** Take one delivery; it is stored (or rejected) in the next batch. */
  accept(session: BrokerSession, delivery: Delivery): void {
    if (this.#failed || this.#stopped) return; // never acked: the broker redelivers it later
    this.#pending.push({ session, delivery });
    this.#running ??= this.#run().finally(() => (this.#running = undefined));
  }

  /** Store everything taken so far, then take nothing more. */
  async drain(): Promise<void> {
    while (this.#running) await this.#running;
    this.#stopped = true;
  }

  async #run(): Promise<void> {
    while (this.#pending.length > 0 && !this.#failed && !this.#stopped) {
      await this.#o.publisher.below(this.#o.maxUnconfirmed);
      const batch = this.#pending;
      this.#pending = [];
      try {
        await this.#process(batch);
      } catch (error) {
        this.#failed = true;
        this.#pending = [];
        this.#o.onFatal(error as Error);
      }
    }
  }

  async #process(batch: Pending[]): Promise<void> {
    const { storage, window, index, maxEventBytes } = this.#o;
    const records: AppendRecord[] = [];
    const done: Pending[] = [];
    const rejected: Array<Pending & { reason: string }> = [];
    const answers: Array<{ item: Pending; result: AppendResult }> = [];
    /** Results of the messages stored in this batch, by messageId (a repeat within the batch). */
    const results = new Map<string, AppendStored>();
    /** Stream versions as this batch leaves them, ahead of the index (updated after the append). */
    const versions = new Map<string, number>();
    const time = new Date().toISOString();
    /** One set of line fields for the whole batch, filled in per record (no object per record for the encoder). */
    const fields: RecordFields = {
      position: 0,
      id: "",
      time,
      data: "",
      batchSize: undefined,
      type: undefined,
      stream: undefined,
      streamVersion: undefined,
      metadata: undefined,
    };
    const stored = await this.#storedAt(batch);
    let position = storage.head;
    /** Answer on reply-to (and ack), or, without one, dead-letter a refusal. */
    const settle = (item: Pending, result: AppendResult) => {
      if (item.delivery.replyTo) {
        answers.push({ item, result });
        done.push(item);
      } else if (result.ok) done.push(item);
      else rejected.push({ ...item, reason: refusalReason(result) });
    };
    for (const item of batch) {
      if (item.session.closed) continue; // its broker redelivers it on the next connection
      const { delivery } = item;
      const request = readAppendRequest(delivery, maxEventBytes);
      if ("reason" in request) {
        settle(item, { ok: false, error: "InvalidEvent", reason: request.reason });
        continue;
      }
      const count = request.events.length;
      const given = delivery.messageId;
      if (given) {
        // Idempotent: a message stored before gets its original result, never a conflict.
        // The count is the stored message's (its first record's batchSize), not the repeat's.
        const first = stored.get(given);
        const again = results.get(given) ?? (first && originalResult(first, first.batchSize ?? 1));
        if (again) {
          this.#o.log(
            `Message ${given} is already stored at position ${again.position}; acknowledging without a new position`,
          );
          settle(item, again);
          continue;
        }
      }
      const { stream, expected } = request;
      let version = 0;
      if (stream !== undefined) {
        version = versions.get(stream) ?? index.version(stream);
        if (!satisfies(expected, version)) {
          settle(item, { ok: false, error: "WrongExpectedVersion", stream, expected, actual: version });
          continue;
        }
      }
      const id = given || this.#o.newId();
      for (let i = 1; i <= count; i++) {
        const event = request.events[i - 1];
        position++;
        const record: AppendRecord = { position, id: eventId(id, i), type: event.type, line: "" };
        if (stream !== undefined) {
          record.stream = stream;
          record.streamVersion = version + i;
        }
        if (i === 1 && count > 1) record.batchSize = count;
        fields.position = position;
        fields.id = record.id;
        fields.stream = stream;
        fields.streamVersion = record.streamVersion;
        fields.batchSize = record.batchSize;
        fields.type = event.type;
        fields.metadata = event.metadata;
        fields.data = event.data;
        record.line = encodeRecordLine(fields);
        records.push(record);
      }
      const result: AppendStored = stream === undefined
        ? { ok: true, position, count }
        : { ok: true, position, streamVersion: version + count, count };
      if (stream !== undefined) versions.set(stream, version + count);
      if (given) results.set(given, result);
      settle(item, result);
    }
    if (records.length > 0) {
      const observer = this.#observer;
      const started = observer ? performance.now() : 0;
      await storage.append(records);
      const seconds = observer ? (performance.now() - started) / 1000 : 0;
      let bytes = 0;
      for (const r of records) {
        window.add(r.id, r.position);
        if (r.stream !== undefined) index.add(r.position, r.stream, r.streamVersion!);
        // Native UTF-8 count: about a tenth of utf8Length's time per line on Deno, and this runs per record.
        if (observer) bytes += Buffer.byteLength(r.line, "utf8") + 1;
      }
      observer?.stored({ events: records.length, bytes, seconds });
      this.#o.onStored?.(records);
      await crashPoint("before-publish"); // test-only crash points: no-ops unless RABBIT_EVENTSTORE_CRASH_AT is set
      this.#o.publisher.publish(records);
      await crashPoint("before-ack", () => this.#o.publisher.idle());
      this.#o.log(`Stored positions ${records[0].position}..${position}`);
    }
    // Replies only now: everything they report is durable. A lost reply costs the sender a retry
    // with the same id, which gets the same answer, so they are not awaited.
    for (const { item, result } of answers) {
      if (item.session.closed) continue;
      item.session.publish("", item.delivery.replyTo!, JSON.stringify(result), {
        correlationId: item.delivery.correlationId,
        persistent: false,
        confirm: false,
      }).catch((error) => this.#o.log(`Reply to ${item.delivery.replyTo} failed (${describe(error)})`));
    }
    // Rejections go first: the multiple-ack below must not cover them.
    const unsettled = new Set<BrokerSession>();
    for (const item of rejected) {
      this.#o.warn(`Rejected message ${item.delivery.messageId ?? "(no messageId)"}: ${item.reason}`);
      try {
        await this.#o.deadLetter(item.session, item.delivery, item.reason);
        await item.session.reject(item.delivery.tag);
      } catch (error) {
        this.#o.log(`Could not dead-letter a message (${describe(error)}); the broker will redeliver it`);
        unsettled.add(item.session);
      }
    }
    await ackAll(done, unsettled, this.#o.log);
  }

  /**
   * Where the batch's messageIds are already stored, for those within the
   * dedup window. Window hits are only candidates (hashes), so each is
   * confirmed against the stored record; nearby candidates are read in one
   * scan, because after a crash the broker redelivers a whole prefetch of
   * messages that were stored but not acknowledged, and a read per message
   * made recovery so slow that repeated crashes never let a batch finish.
   */
  async #storedAt(batch: Pending[]): Promise<Map<string, StoredRecord>> {
    const wanted = new Map<number, Set<string>>();
    for (const { delivery } of batch) {
      const id = delivery.messageId;
      if (!id) continue;
      for (const candidate of this.#o.window.candidates(id)) {
        let ids = wanted.get(candidate);
        if (!ids) wanted.set(candidate, ids = new Set());
        ids.add(id);
      }
    }
    const found = new Map<string, StoredRecord>();
    const positions = [...wanted.keys()].sort((a, b) => a - b);
    for (let i = 0; i < positions.length;) {
      let j = i;
      while (j + 1 < positions.length && positions[j + 1] - positions[j] <= SCAN_GAP) j++;
      for await (const record of this.#o.storage.scan(positions[i], positions[j])) {
        if (wanted.get(record.position)?.has(record.id)) found.set(record.id, record);
      }
      i = j + 1;
    }
    return found;
  }
}

/** The result a message got when it was stored, from its first record and its count (a batch's events are consecutive). */
function originalResult(first: StoredRecord, count: number): AppendStored {
  const position = first.position + count - 1;
  if (first.streamVersion === undefined) return { ok: true, position, count };
  return { ok: true, position, streamVersion: first.streamVersion + count - 1, count };
}

/** Candidates at most this many positions apart are read in one scan rather than two. */
const SCAN_GAP = 256;

/**
 * Acknowledge deliveries: one multiple-ack per session (tags rise within a
 * session), or one ack each where a message of that session is still
 * unsettled and must not be covered.
 */
async function ackAll(items: Pending[], unsettled: Set<BrokerSession>, log: (message: string) => void): Promise<void> {
  const highest = new Map<BrokerSession, number>();
  const acks: Promise<void>[] = [];
  const failed = (error: unknown) => log(`Ack failed (${describe(error)}); the broker will redeliver`);
  for (const { session, delivery } of items) {
    if (session.closed) continue;
    if (unsettled.has(session)) acks.push(session.ack(delivery.tag).catch(failed));
    else highest.set(session, Math.max(highest.get(session) ?? 0, delivery.tag));
  }
  for (const [session, tag] of highest) acks.push(session.ack(tag, true).catch(failed));
  await Promise.all(acks);
}
