/**
 * StreamIndex against a plain model (a Map of arrays, the skeleton's
 * layout): versions, position ranges, categories, the StreamVersionError
 * rule, and truncate, on seeded random histories with streams short and long
 * (past the chains' checkpoints) and positions outside any stream.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { StreamVersionError } from "../lib/errors.ts";
import { CHECKPOINT_EVERY } from "../lib/position_chains.ts";
import { StreamIndex } from "../lib/stream_index.ts";
import { categoryOf } from "../lib/stream_name.ts";
import { StreamNames } from "../lib/stream_names.ts";
import { prng } from "./_helpers.ts";

/** The obvious index: every stream's and category's positions in arrays. */
class Model {
  readonly streams = new Map<string, number[]>();
  readonly categories = new Map<string, number[]>();
  add(position: number, stream: string): number {
    const positions = this.streams.get(stream) ?? [];
    this.streams.set(stream, positions);
    positions.push(position);
    const category = categoryOf(stream);
    const inCategory = this.categories.get(category) ?? [];
    this.categories.set(category, inCategory);
    inCategory.push(position);
    return positions.length;
  }
  truncate(head: number): void {
    for (const [name, positions] of this.streams) {
      const kept = positions.filter((p) => p <= head);
      if (kept.length === 0) this.streams.delete(name);
      else this.streams.set(name, kept);
    }
    for (const [name, positions] of this.categories) this.categories.set(name, positions.filter((p) => p <= head));
  }
}

/** Compare every query the index answers with the model's answer. */
function assertSame(index: StreamIndex, model: Model, random: () => number, note: string): void {
  assert.equal(index.size, model.streams.size, `${note}: size`);
  const last = Math.max(0, ...[...model.streams.values()].map((p) => p[p.length - 1]));
  assert.equal(index.lastPosition, last, `${note}: lastPosition`);
  for (const [name, positions] of model.streams) {
    assert.equal(index.version(name), positions.length, `${note}: version(${name})`);
    assert.deepEqual(index.positions(name), positions, `${note}: positions(${name})`);
    for (let n = 0; n < 4; n++) {
      const from = Math.floor(random() * (positions.length + 3)) - 1;
      const limit = Math.floor(random() * (CHECKPOINT_EVERY + 5));
      assert.deepEqual(
        index.positions(name, { from, limit }),
        positions.slice(Math.max(1, from) - 1, Math.max(1, from) - 1 + limit),
        `${note}: positions(${name}, ${from}, ${limit})`,
      );
    }
  }
  for (const [name, positions] of model.categories) {
    assert.deepEqual(index.categoryPositions(name), positions, `${note}: categoryPositions(${name})`);
    for (let n = 0; n < 6; n++) {
      const from = Math.floor(random() * (last + 3));
      const limit = Math.floor(random() * 100);
      const start = positions.findIndex((p) => p >= from);
      const expected = start === -1 ? [] : positions.slice(start, start + limit);
      assert.deepEqual(
        index.categoryPositions(name, { from, limit }),
        expected,
        `${note}: categoryPositions(${name}, ${from}, ${limit})`,
      );
    }
  }
}

/** A seeded history: a few long streams, many short ones, and positions in no stream. */
function grow(index: StreamIndex, model: Model, random: () => number, from: number, count: number): number {
  let position = from;
  for (let n = 0; n < count; n++) {
    position += random() < 0.2 ? 2 + Math.floor(random() * 3) : 1; // gaps: records in no stream
    const r = random();
    const stream = r < 0.5 ? `hot-${Math.floor(r * 6)}` : r < 0.9 ? `order-${Math.floor(random() * 80)}` : "solo";
    const version = model.add(position, stream);
    index.add(position, stream, version);
  }
  return position;
}

describe("StreamIndex", () => {
  it("answers versions, positions and categories as the model does", () => {
    const random = prng(11);
    const index = new StreamIndex();
    const model = new Model();
    assertSame(index, model, random, "empty");
    assert.deepEqual(index.positions("nope"), []);
    assert.deepEqual(index.categoryPositions("nope"), []);
    grow(index, model, random, 0, 3000);
    assert.ok([...model.streams.values()].some((p) => p.length > 4 * CHECKPOINT_EVERY), "long streams");
    assertSame(index, model, random, "3000 events");
  });

  it("refuses a version that does not continue the stream, or a position not above the last (StreamVersionError)", () => {
    const index = new StreamIndex();
    index.add(5, "order-1", 1);
    for (
      const [position, stream, version, expected] of [
        [6, "order-1", 1, 2],
        [6, "order-1", 3, 2],
        [6, "order-2", 2, 1],
        [6, "order-2", 0, 1],
        [5, "order-2", 1, 1],
        [4, "order-1", 2, 2],
      ] as const
    ) {
      assert.throws(() => index.add(position, stream, version), (error: unknown) => {
        assert.ok(error instanceof StreamVersionError, `got ${error}`);
        assert.equal(error.expected, expected);
        assert.equal(error.actual, version);
        assert.equal(error.position, position);
        return true;
      });
    }
    assert.throws(() => index.add(2 ** 32, "order-1", 2), RangeError);
    assert.equal(index.version("order-1"), 1, "nothing refused was indexed");
    assert.equal(index.lastPosition, 5);
    index.add(2 ** 32 - 1, "order-1", 2);
    assert.deepEqual(index.positions("order-1"), [5, 2 ** 32 - 1]);
  });

  it("truncate(head) forgets what is above head, as a rebuild from the kept events would, and goes on from there", () => {
    const random = prng(12);
    for (let round = 0; round < 30; round++) {
      const index = new StreamIndex();
      const model = new Model();
      let head = grow(index, model, random, 0, 200 + Math.floor(random() * 1500));
      for (let cut = 0; cut < 3; cut++) {
        // Mostly a short tail (a torn group), sometimes most of the store, sometimes nothing.
        const r = random();
        const drop = r < 0.6 ? Math.floor(random() * 50) : r < 0.9 ? Math.floor(random() * head) : 0;
        head = Math.max(0, head - drop);
        index.truncate(head);
        model.truncate(head);
        assertSame(index, model, random, `round ${round}, cut ${cut} at ${head}`);
        head = grow(index, model, random, head, Math.floor(random() * 300));
        assertSame(index, model, random, `round ${round}, grown after cut ${cut}`);
      }
    }
  });

  it("addBatch indexes as add does, a new stream twice in one batch included, and stops at the first bad event", () => {
    const random = prng(13);
    const names = ["order-1", "order-2", "größe-🐇", "cart-7"];
    const events: Array<[number, string, number]> = [];
    const versions = new Map<string, number>();
    for (let p = 1; p <= 3000; p++) {
      const stream = random() < 0.5 ? names[Math.floor(random() * names.length)] : `new-${p % 700}`;
      versions.set(stream, (versions.get(stream) ?? 0) + 1);
      events.push([p, stream, versions.get(stream)!]);
    }
    const one = new StreamIndex();
    for (const [p, stream, v] of events) one.add(p, stream, v);
    const batched = new StreamIndex();
    const encoder = new TextEncoder();
    for (let from = 0; from < events.length; from += 1000) {
      const slice = events.slice(from, from + 1000);
      const encoded = slice.map(([, stream]) => encoder.encode(stream));
      const bytes = new Uint8Array(encoded.reduce((n, b) => n + b.length, 0));
      const starts = new Uint32Array(slice.length);
      const ends = new Uint32Array(slice.length);
      let at = 0;
      encoded.forEach((b, i) => (bytes.set(b, at), starts[i] = at, at += b.length, ends[i] = at));
      const positions = new Float64Array(slice.map(([p]) => p));
      const versionsOf = new Float64Array(slice.map(([, , v]) => v));
      batched.addBatch(bytes, { count: slice.length, positions, versions: versionsOf, starts, ends });
    }
    assert.equal(batched.size, one.size);
    for (const stream of versions.keys()) assert.deepEqual(batched.positions(stream), one.positions(stream), stream);
    assert.deepEqual(batched.categoryPositions("new"), one.categoryPositions("new"));
    // A bad event in the middle: those before it are indexed, it and those after it are not.
    const index = new StreamIndex();
    const bytes = encoder.encode("a-1a-2a-1");
    const batch = {
      count: 3,
      positions: new Float64Array([1, 2, 3]),
      versions: new Float64Array([1, 2, 2]),
      starts: new Uint32Array([0, 3, 6]),
      ends: new Uint32Array([3, 6, 9]),
    };
    assert.throws(() => index.addBatch(bytes, batch), StreamVersionError);
    assert.deepEqual([index.version("a-1"), index.version("a-2"), index.lastPosition], [1, 0, 1]);
  });

  it("truncate(0) empties it, and a stream emptied by truncate starts again at version 1", () => {
    const index = new StreamIndex();
    index.add(1, "a-1", 1);
    index.add(2, "a-1", 2);
    index.truncate(0);
    assert.equal(index.size, 0);
    assert.equal(index.version("a-1"), 0);
    assert.equal(index.lastPosition, 0);
    assert.deepEqual(index.categoryPositions("a"), []);
    index.add(1, "a-1", 1);
    assert.deepEqual(index.positions("a-1"), [1]);
    assert.equal(index.size, 1);
  });
});

describe("StreamNames", () => {
  it("numbers names in order, finds them by string and by bytes alike, through growth and hash clashes", () => {
    const names = new StreamNames();
    const encoder = new TextEncoder();
    const all = Array.from({ length: 20_000 }, (_, i) => (i % 97 === 0 ? `größe-${i}` : `order-${i}`));
    for (const [i, name] of all.entries()) assert.equal(names.intern(name), i);
    assert.equal(names.size, all.length);
    for (const [i, name] of all.entries()) {
      assert.equal(names.find(name), i, name);
      assert.equal(names.name(i), name);
      const bytes = encoder.encode(`"${name}"`);
      assert.equal(names.findBytes(bytes, 1, bytes.length - 1), i, name);
      assert.equal(names.intern(name), i, "interning again gives the same number");
    }
    for (const missing of ["order-20000", "", "order-", "größe-1"]) assert.equal(names.find(missing), -1, missing);
    const bytes = encoder.encode("xorder-20001x");
    assert.equal(names.findBytes(bytes, 1, 12), -1);
    assert.equal(names.internBytes(bytes, 1, 12), all.length);
    assert.equal(names.find("order-20001"), all.length, "a name added from bytes is found by string");
  });
});
