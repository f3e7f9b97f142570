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
import { StreamIndex } from "../lib/stream_index.ts";
import type { AppendRecord, EventStorage, IdVisitor, StoredLine } from "../lib/storage.ts";

/** The part of a broker session the sequencer uses. */
type SessionLike = Pick<BrokerSession, "closed" | "ack" | "reject" | "publish">;
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
    for (const r of records) this.records.push({ ...r });
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
    publish(exchange: string, routingKey: string, body: string | Uint8Array, properties = {}) {
      const text = typeof body === "string" ? body : new TextDecoder().decode(body);
      steps.push(`${prefix}reply ${exchange}/${routingKey} ${properties.correlationId} ${text}`);
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

  describe("streams", () => {
    /** A delivery for `stream` with an expected version, a reply-to, or a batch body. */
    function streamed(
      tag: number,
      id: string | undefined,
      headers: Record<string, unknown>,
      options: { body?: unknown; replyTo?: string } = {},
    ): Delivery {
      const d = delivery(tag, id, options.body ?? { tag });
      return { ...d, headers, replyTo: options.replyTo, correlationId: options.replyTo && `c-${tag}` };
    }
    const replies = (steps: string[]) =>
      steps.filter((s) => s.startsWith("reply")).map((s) => JSON.parse(s.slice(s.indexOf("{"))));

    it("numbers stream versions from 1 per stream, beside dense global positions", async () => {
      const index = new StreamIndex();
      const h = harness({ index });
      h.accept([
        streamed(1, "a", { stream: "order-1" }),
        streamed(2, "b", { stream: "order-2" }),
        streamed(3, "c", {}),
        streamed(4, "d", { stream: "order-1" }),
      ]);
      await h.sequencer.drain();
      assert.deepEqual(
        h.storage.records.map((r) => [r.position, r.stream, r.streamVersion]),
        [[1, "order-1", 1], [2, "order-2", 1], [3, undefined, undefined], [4, "order-1", 2]],
      );
      const line = parseRecord(h.storage.records[3].line);
      assert.deepEqual([line.stream, line.streamVersion], ["order-1", 2], "the line carries them too");
      assert.deepEqual([index.version("order-1"), index.version("order-2"), index.version("none")], [2, 1, 0]);
      assert.deepEqual(h.publisher.published.map((r) => r.streamVersion), [1, 1, undefined, 2]);
    });

    it("checks every expected-version form, counting the appends before it in the same batch", async () => {
      const h = harness();
      const ask = (tag: number, stream: string, expected: unknown) =>
        streamed(tag, `m-${tag}`, { stream, "expected-version": expected }, { replyTo: "r" });
      h.accept([
        ask(1, "s-1", "no_stream"), // ok: 0
        ask(2, "s-1", "no_stream"), // conflict: 1
        ask(3, "s-1", "stream_exists"), // ok: 1
        ask(4, "s-2", "stream_exists"), // conflict: 0
        ask(5, "s-1", 2), // ok: exactly 2
        ask(6, "s-1", "2"), // conflict: numeric string, now 3
        ask(7, "s-1", "any"), // ok
        ask(8, "s-1", 4), // ok: 4
        ask(9, "s-3", 0), // ok: 0 is no stream
      ]);
      await h.sequencer.drain();
      assert.deepEqual(replies(h.steps), [
        { ok: true, position: 1, streamVersion: 1, count: 1 },
        { ok: false, error: "WrongExpectedVersion", stream: "s-1", expected: "no_stream", actual: 1 },
        { ok: true, position: 2, streamVersion: 2, count: 1 },
        { ok: false, error: "WrongExpectedVersion", stream: "s-2", expected: "stream_exists", actual: 0 },
        { ok: true, position: 3, streamVersion: 3, count: 1 },
        { ok: false, error: "WrongExpectedVersion", stream: "s-1", expected: 2, actual: 3 },
        { ok: true, position: 4, streamVersion: 4, count: 1 },
        { ok: true, position: 5, streamVersion: 5, count: 1 },
        { ok: true, position: 6, streamVersion: 1, count: 1 },
      ]);
      assert.equal(h.deadLettered.length, 0, "answered refusals are not dead-lettered");
      assert.deepEqual(h.steps.slice(-1), ["ack 9 multiple"], "answered refusals are acked with the rest");
    });

    it("replies only after the append resolved, with the request's correlation id, on its reply-to", async () => {
      const h = harness();
      const held = h.storage.hold();
      h.accept([streamed(1, "a", { stream: "s-1" }, { replyTo: "amq.rabbitmq.reply-to.x" })]);
      await held.started;
      await settle();
      assert.equal(h.steps.filter((s) => s.startsWith("reply")).length, 0, "no reply before the fsync");
      held.release();
      await h.sequencer.drain();
      assert.deepEqual(h.steps, [
        "append 1",
        "append resolved",
        "publish 1",
        'reply /amq.rabbitmq.reply-to.x c-1 {"ok":true,"position":1,"streamVersion":1,"count":1}',
        "ack 1 multiple",
      ]);
    });

    it("dead-letters a conflict or an invalid message that has no reply-to, naming what was expected and found", async () => {
      const h = harness();
      h.accept([
        streamed(1, "a", { stream: "s-1" }),
        streamed(2, "b", { stream: "s-1", "expected-version": 5 }),
        streamed(3, "c", { stream: "" }),
        streamed(4, "d", { "expected-version": 1 }),
        streamed(5, "e", { stream: "s-1", "expected-version": "soon" }),
      ]);
      await h.sequencer.drain();
      assert.equal(h.storage.head, 1);
      assert.deepEqual(h.deadLettered.map((d) => d.tag), [2, 3, 4, 5]);
      assert.equal(h.deadLettered[0].reason, "WrongExpectedVersion: stream s-1 expected version 5, but it is at 1");
      assert.match(h.deadLettered[1].reason, /stream name is empty/);
      assert.match(h.deadLettered[2].reason, /needs a stream header/);
      assert.match(h.deadLettered[3].reason, /expected-version must be/);
    });

    it("answers an invalid message that has a reply-to with InvalidEvent, and stores nothing of it", async () => {
      const h = harness();
      h.accept([streamed(1, "a", { stream: "s\u0001x" }, { replyTo: "r" })]);
      await h.sequencer.drain();
      assert.deepEqual(replies(h.steps), [{
        ok: false,
        error: "InvalidEvent",
        reason: "stream name contains a control character",
      }]);
      assert.equal(h.storage.head, 0);
      assert.equal(h.deadLettered.length, 0);
    });

    it("stores a batch at consecutive positions in one append, all or none, checked once", async () => {
      const h = harness();
      const batch = (tag: number, id: string, expected: unknown, events: unknown[]) =>
        streamed(tag, id, { stream: "cart-1", "expected-version": expected, batch: true }, {
          body: events,
          replyTo: "r",
        });
      h.accept([
        batch(1, "b1", "no_stream", [{ type: "A", data: { n: 1 } }, { type: "B", data: 2, metadata: { k: 1 } }]),
        batch(2, "b2", 1, [{ type: "C", data: 3 }]), // conflict: the stream is at 2
        batch(3, "b3", 2, [{ type: "C", data: 3 }, { data: 4 }, { type: "E", data: null }]),
      ]);
      await h.sequencer.drain();
      assert.deepEqual(h.storage.appends, [["b1", "b1:2", "b3", "b3:2", "b3:3"]], "one append, ids by index");
      assert.deepEqual(
        h.storage.records.map((r) => [r.position, r.streamVersion, r.type, r.batchSize]),
        [[1, 1, "A", 2], [2, 2, "B", undefined], [3, 3, "C", 3], [4, 4, undefined, undefined], [5, 5, "E", undefined]],
      );
      assert.deepEqual(parseRecord(h.storage.records[1].line).metadata, { k: 1 });
      assert.deepEqual(replies(h.steps), [
        { ok: true, position: 2, streamVersion: 2, count: 2 },
        { ok: false, error: "WrongExpectedVersion", stream: "cart-1", expected: 1, actual: 2 },
        { ok: true, position: 5, streamVersion: 5, count: 3 },
      ]);
    });

    it("keeps a batch's data byte for byte (numbers beyond 2^53, trailing zeros)", async () => {
      const h = harness();
      const body = '[{"type":"A","data":{"big":12345678901234567890,"price":1.50}}]';
      h.accept([{ ...streamed(1, "a", { stream: "s-1", batch: true }), body: encoder.encode(body) }]);
      await h.sequencer.drain();
      assert.match(h.storage.records[0].line, /"data":\{"big":12345678901234567890,"price":1\.50\}\}$/);
    });

    it("refuses a batch that is not an array of 1 to 1000 envelopes with data", async () => {
      const h = harness();
      const bad = [
        { n: 1 },
        [],
        Array.from({ length: 1001 }, () => ({ data: 1 })),
        [{ type: "A" }],
        [{ type: 7, data: 1 }],
        [{ data: 1, metadata: [1] }],
        [1],
      ];
      h.accept(bad.map((body, i) => streamed(i + 1, `x-${i}`, { stream: "s-1", batch: true }, { body })));
      await h.sequencer.drain();
      assert.equal(h.storage.head, 0);
      assert.deepEqual(h.deadLettered.map((d) => d.reason.replace(/:.*/, "")), [
        "batch",
        "batch",
        "batch",
        "batch event 1",
        "batch event 1",
        "batch event 1",
        "batch event 1",
      ]);
    });

    it("refuses a type or an event id over 255 UTF-8 bytes (the fanout's AMQP short strings), and stores the rest", async () => {
      const h = harness();
      const long = "é".repeat(128); // 128 characters, 256 bytes
      const id = "m".repeat(254); // its batch's 2nd event id is 256 bytes
      h.accept([
        streamed(1, "a", { stream: "s-1", batch: true }, { body: [{ type: long, data: 1 }] }),
        streamed(2, id, { stream: "s-1", batch: true }, { body: [{ data: 1 }, { data: 2 }] }),
        { ...streamed(3, "c", { stream: "s-1" }), type: long },
        streamed(4, "ok", { stream: "s-1", batch: true }, { body: [{ type: "é".repeat(127), data: 1 }] }),
      ]);
      await h.sequencer.drain();
      assert.deepEqual(h.storage.appends, [["ok"]]);
      assert.deepEqual(h.deadLettered.map((d) => [d.tag, d.reason]), [
        [1, "batch event 1: type is 256 bytes, longer than 255"],
        [2, "batch: event id is 256 bytes, longer than 255"],
        [3, "type is 256 bytes, longer than 255"],
      ]);
    });

    it("answers a repeated id with the original result, never a conflict, never a new position", async () => {
      const index = new StreamIndex();
      const h = harness({ index });
      const first = streamed(1, "m-1", { stream: "s-1", "expected-version": "no_stream" }, { replyTo: "r" });
      const pair = streamed(2, "m-2", { stream: "s-1", "expected-version": 1, batch: true }, {
        body: [{ data: 1 }, { data: 2 }],
        replyTo: "r",
      });
      h.accept([first, pair, { ...first, tag: 3 }]); // a repeat within the batch
      await settle();
      h.accept([{ ...pair, tag: 4 }, { ...first, tag: 5 }]); // repeats in a later batch, now conflicting
      await h.sequencer.drain();
      assert.equal(h.storage.head, 3);
      const ok1 = { ok: true, position: 1, streamVersion: 1, count: 1 };
      const ok2 = { ok: true, position: 3, streamVersion: 3, count: 2 };
      assert.deepEqual(replies(h.steps), [ok1, ok2, ok1, ok2, ok1]);
      assert.equal(index.version("s-1"), 3);
    });
  });
});
