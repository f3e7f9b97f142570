/**
 * Unit tests of the Sequencer with small fakes behind our own interfaces: an
 * in-memory {@link EventStorage} whose appends can be held or failed, a
 * session that records acks and rejects, a fanout publisher that records
 * what it was given. Every step lands in one shared `steps` list, so the
 * tests can assert the order (append before ack, reject before the
 * multiple-ack). No broker, no disk.
 *
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { BrokerSession, Delivery } from "../lib/broker_session.ts";
import { DedupWindow } from "../lib/dedup_window.ts";
import type { FanoutPublisher, Publishable } from "../lib/fanout_publisher.ts";
import { parseRecord } from "../lib/record.ts";
import { Sequencer, type SequencerOptions } from "../lib/sequencer.ts";
import type { AppendRecord, EventStorage, IdVisitor, StoredLine } from "../lib/storage.ts";

/** The part of a broker session the sequencer uses. */
type SessionLike = Pick<BrokerSession, "closed" | "ack" | "reject">;
/** The part of the fanout publisher the sequencer uses. */
type PublisherLike = Pick<FanoutPublisher, "below" | "publish" | "idle">;

/**
 * The sequencer's options ask for the classes; it calls only what the …Like types name, so the fakes are
 * handed over through these two casts and nowhere else.
 */
const asPublisher = (fake: PublisherLike) => fake as FanoutPublisher;
const asSession = (fake: SessionLike) => fake as BrokerSession;

/** A promise with its resolve and reject functions. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** Records kept in memory, every step logged; `hold()` makes the next append wait until released (or fail). */
class RecordingStorage implements EventStorage {
  readonly storeId = "memory-store";
  readonly publishedMark = { load: () => Promise.resolve(0), save: () => Promise.resolve() };
  readonly records: StoredLine[] = [];
  /** Ids of each append call, in order. */
  readonly appends: string[][] = [];
  #gate: { promise: Promise<void>; resolve: () => void; reject: (error: unknown) => void } | undefined;
  #started = deferred();
  readonly #steps: string[];

  constructor(steps: string[]) {
    this.#steps = steps;
  }

  get head(): number {
    return this.records.length;
  }

  /** The next append waits until the returned function is called (with an error: it fails). */
  hold(): { started: Promise<void>; release: (error?: Error) => void } {
    const gate = deferred();
    this.#gate = gate;
    this.#started = deferred();
    return {
      started: this.#started.promise,
      release: (error) => (error ? gate.reject(error) : gate.resolve()),
    };
  }

  async append(records: readonly AppendRecord[]): Promise<void> {
    this.#steps.push(`append ${records.map((r) => r.position).join(",")}`);
    this.appends.push(records.map((r) => r.id));
    this.#started.resolve();
    const gate = this.#gate;
    this.#gate = undefined;
    if (gate) await gate.promise; // a failed append rejects here, before anything is stored
    records.forEach((r, i) => assert.equal(r.position, this.head + 1 + i, "positions must continue the head densely"));
    for (const r of records) this.records.push({ position: r.position, id: r.id, line: r.line.replace(/\n$/, "") });
    this.#steps.push("append resolved");
  }

  read(): ReadableStream<Uint8Array> {
    throw new Error("the sequencer does not read");
  }

  readPositions(): ReadableStream<Uint8Array> {
    throw new Error("the sequencer does not read");
  }

  async *scan(from: number, to = this.head): AsyncIterable<StoredLine> {
    for (const record of this.records.slice(Math.max(0, from - 1), Math.max(0, to))) yield record;
  }

  scanIds(from: number, visitor: IdVisitor): Promise<void> {
    for (const r of this.records.slice(Math.max(0, from - 1))) visitor.id(r.position, r.id);
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A session that records acks and rejects in `steps`. */
function fakeSession(steps: string[], name = ""): SessionLike & { closed: boolean } {
  const prefix = name ? `${name} ` : "";
  return {
    closed: false,
    ack(tag: number, multiple = false) {
      steps.push(`${prefix}ack ${tag}${multiple ? " multiple" : ""}`);
      return Promise.resolve();
    },
    reject(tag: number) {
      steps.push(`${prefix}reject ${tag}`);
      return Promise.resolve();
    },
  };
}

/** A publisher that records the positions it was handed. */
function fakePublisher(steps: string[]): PublisherLike & { published: Publishable[] } {
  const published: Publishable[] = [];
  return {
    published,
    below: () => Promise.resolve(),
    publish(records: readonly Publishable[]) {
      steps.push(`publish ${records.map((r) => r.position).join(",")}`);
      published.push(...records);
    },
    idle: () => Promise.resolve(),
  };
}

const encoder = new TextEncoder();

/** A delivery with a JSON (or, with `raw`, any) body. */
function delivery(tag: number, messageId: string | undefined, body: unknown = { tag }, raw = false): Delivery {
  const text = raw ? String(body) : JSON.stringify(body);
  return { tag, messageId, body: encoder.encode(text), redelivered: false, type: "Test" };
}

interface Harness {
  steps: string[];
  storage: RecordingStorage;
  window: DedupWindow;
  publisher: ReturnType<typeof fakePublisher>;
  session: ReturnType<typeof fakeSession>;
  sequencer: Sequencer;
  fatal: Error[];
  deadLettered: Array<{ tag: number; reason: string }>;
  /** Hand deliveries to the sequencer on `session` (default: the harness's). */
  accept(deliveries: Delivery[], session?: SessionLike): void;
}

function harness(options: Partial<SequencerOptions> = {}): Harness {
  const steps: string[] = [];
  const storage = new RecordingStorage(steps);
  const window = new DedupWindow(100);
  const publisher = fakePublisher(steps);
  const session = fakeSession(steps);
  const fatal: Error[] = [];
  const deadLettered: Array<{ tag: number; reason: string }> = [];
  let n = 0;
  const sequencer = new Sequencer({
    storage,
    window,
    publisher: asPublisher(publisher),
    maxEventBytes: 1024,
    deadLetter: (_session, d, reason) => {
      steps.push(`dead-letter ${d.tag}`);
      deadLettered.push({ tag: d.tag, reason });
      return Promise.resolve();
    },
    onFatal: (error) => {
      steps.push("fatal");
      fatal.push(error);
    },
    warn: () => {},
    newId: () => `generated-${++n}`,
    ...options,
  });
  const accept = (deliveries: Delivery[], on: SessionLike = session) => {
    for (const d of deliveries) sequencer.accept(asSession(on), d);
  };
  return { steps, storage, window, publisher, session, sequencer, fatal, deadLettered, accept };
}

/** Let pending promise callbacks run (the sequencer works in microtasks and awaits). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

describe("Sequencer", () => {
  it("stores deliveries handed over together in one append and acks them with one multiple-ack", async () => {
    const h = harness();
    h.accept(Array.from({ length: 50 }, (_, i) => delivery(i + 1, `m-${i + 1}`)));
    await h.sequencer.drain();

    assert.equal(h.storage.appends.length, 1, `one append for the batch: ${h.steps.join(" | ")}`);
    assert.equal(h.storage.head, 50);
    assert.deepEqual(
      h.storage.records.map((r) => [r.position, r.id]),
      Array.from({ length: 50 }, (_, i) => [i + 1, `m-${i + 1}`]),
    );
    const parsed = parseRecord(h.storage.records[9].line);
    assert.deepEqual([parsed.position, parsed.id, parsed.data], [10, "m-10", { tag: 10 }]);
    assert.deepEqual(h.steps.slice(-1), ["ack 50 multiple"], "one multiple-ack, at the highest tag");
    assert.equal(h.steps.filter((s) => s.startsWith("ack")).length, 1);
    assert.deepEqual(h.publisher.published.map((r) => r.position), Array.from({ length: 50 }, (_, i) => i + 1));
    assert.equal(h.fatal.length, 0);
  });

  it("group commit: deliveries arriving during an append wait and go together in the next one", async () => {
    const h = harness();
    const held = h.storage.hold();
    h.accept([delivery(1, "a"), delivery(2, "b"), delivery(3, "c")]);
    await held.started;
    h.accept([4, 5, 6, 7, 8].map((tag) => delivery(tag, `m-${tag}`)));
    await settle();
    assert.deepEqual(h.storage.appends, [["a", "b", "c"]], "the second batch waits for the first append");
    held.release();
    await h.sequencer.drain();

    assert.deepEqual(h.storage.appends, [["a", "b", "c"], ["m-4", "m-5", "m-6", "m-7", "m-8"]]);
    assert.deepEqual(h.steps, [
      "append 1,2,3",
      "append resolved",
      "publish 1,2,3",
      "ack 3 multiple",
      "append 4,5,6,7,8",
      "append resolved",
      "publish 4,5,6,7,8",
      "ack 8 multiple",
    ]);
  });

  it("acknowledges nothing before the append resolved", async () => {
    const h = harness();
    const held = h.storage.hold();
    h.accept([delivery(1, "a"), delivery(2, "b")]);
    await held.started;
    await settle();
    assert.deepEqual(h.steps, ["append 1,2"], "no ack and no publish while the append is in flight");
    held.release();
    await h.sequencer.drain();
    assert.deepEqual(h.steps, ["append 1,2", "append resolved", "publish 1,2", "ack 2 multiple"]);
  });

  it("acks a repeated messageId without a new position, in the same batch and in a later one", async () => {
    const h = harness();
    h.accept([delivery(1, "a"), delivery(2, "b"), delivery(3, "a")]); // "a" twice in one batch
    await settle();
    h.accept([delivery(4, "b"), delivery(5, "c")]); // "b" again, in the next batch
    await h.sequencer.drain();

    assert.deepEqual(h.storage.records.map((r) => [r.position, r.id]), [[1, "a"], [2, "b"], [3, "c"]]);
    assert.deepEqual(h.storage.appends, [["a", "b"], ["c"]]);
    assert.deepEqual(h.steps.filter((s) => s.startsWith("ack")), ["ack 3 multiple", "ack 5 multiple"]);
  });

  it("acks a redelivery of a record stored before the restart (its window rebuilt from storage) without appending", async () => {
    const h = harness();
    h.accept([delivery(1, "a"), delivery(2, "b")]);
    await h.sequencer.drain();
    // A new sequencer on the same storage with its window rebuilt from it, as after a restart; the broker
    // redelivers "b".
    const window = new DedupWindow(100);
    for (const r of h.storage.records) window.add(r.id, r.position);
    const steps: string[] = [];
    const session = fakeSession(steps);
    const again = new Sequencer({
      storage: h.storage,
      window,
      publisher: asPublisher(fakePublisher(steps)),
      maxEventBytes: 1024,
      deadLetter: () => Promise.reject(new Error("nothing is dead-lettered here")),
      onFatal: (error) => assert.fail(error),
    });
    again.accept(asSession(session), { ...delivery(1, "b"), redelivered: true });
    await again.drain();

    assert.deepEqual(steps, ["ack 1 multiple"], "acked, not appended, not published");
    assert.equal(h.storage.head, 2);
  });

  it("gives messages without a messageId a new id and position each", async () => {
    const h = harness();
    h.accept([delivery(1, undefined), delivery(2, undefined)]);
    await h.sequencer.drain();
    assert.deepEqual(h.storage.records.map((r) => [r.position, r.id]), [[1, "generated-1"], [2, "generated-2"]]);
  });

  it("dead-letters and rejects a bad message before the one multiple-ack that covers the good ones", async () => {
    const h = harness();
    h.accept([
      delivery(1, "a"),
      delivery(2, "bad-json", "{not json", true),
      delivery(3, "b"),
      delivery(4, "too-big", { pad: "x".repeat(2000) }),
      delivery(5, "c"),
    ]);
    await h.sequencer.drain();

    assert.deepEqual(h.storage.records.map((r) => [r.position, r.id]), [[1, "a"], [2, "b"], [3, "c"]]);
    assert.deepEqual(h.steps, [
      "append 1,2,3",
      "append resolved",
      "publish 1,2,3",
      "dead-letter 2",
      "reject 2",
      "dead-letter 4",
      "reject 4",
      "ack 5 multiple",
    ]);
    assert.match(h.deadLettered[0].reason, /not valid JSON/);
    assert.match(h.deadLettered[1].reason, /larger than the maximum of 1024/);
  });

  it("acks one by one when a rejected message could not be dead-lettered, so no multiple-ack covers it", async () => {
    const h = harness({ deadLetter: () => Promise.reject(new Error("dead-letter queue unavailable")) });
    h.accept([delivery(1, "a"), delivery(2, "bad", "", true), delivery(3, "b")]);
    await h.sequencer.drain();

    assert.deepEqual(h.steps, ["append 1,2", "append resolved", "publish 1,2", "ack 1", "ack 3"]);
    assert.equal(h.fatal.length, 0, "a failed dead-letter is not fatal: the broker redelivers the message");
  });

  it("sends one multiple-ack per session, and none to a session that closed", async () => {
    const h = harness();
    const other = fakeSession(h.steps, "other");
    const gone = fakeSession(h.steps, "gone");
    h.accept([delivery(1, "a"), delivery(2, "b")]);
    h.accept([delivery(1, "c"), delivery(2, "d")], other);
    h.accept([delivery(1, "e")], gone);
    gone.closed = true; // its broker redelivers "e" on the next connection
    await h.sequencer.drain();

    assert.deepEqual(h.storage.records.map((r) => r.id), ["a", "b", "c", "d"]);
    assert.deepEqual(h.steps.filter((s) => /ack/.test(s)).sort(), ["ack 2 multiple", "other ack 2 multiple"]);
  });

  it("a failed append stops it: onFatal once, nothing acked or published, later deliveries ignored", async () => {
    const h = harness();
    const held = h.storage.hold();
    h.accept([delivery(1, "a"), delivery(2, "b")]);
    await held.started;
    h.accept([delivery(3, "c")]); // waiting for the next batch when the append fails
    held.release(new Error("disk full"));
    await h.sequencer.drain();
    h.accept([delivery(4, "d")]);
    await settle();

    assert.deepEqual(h.steps, ["append 1,2", "fatal"]);
    assert.equal(h.fatal.length, 1);
    assert.equal(h.fatal[0].message, "disk full");
    assert.equal(h.storage.head, 0);
    assert.equal(h.publisher.published.length, 0);
  });
});
