import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { DedupWindow } from "../lib/dedup_window.ts";

describe("DedupWindow", () => {
  it("finds ids it holds and not others", () => {
    const window = new DedupWindow(100);
    for (let i = 1; i <= 100; i++) window.add(`id-${i}`, i);
    for (let i = 1; i <= 100; i++) assert.ok(window.candidates(`id-${i}`).includes(i));
    let falseHits = 0;
    for (let i = 0; i < 1000; i++) falseHits += window.candidates(`other-${i}`).length;
    assert.ok(falseHits < 5, `too many false candidates: ${falseHits}`);
  });

  it("always remembers at least the last `capacity` ids and forgets old generations", () => {
    const window = new DedupWindow(10);
    for (let i = 1; i <= 35; i++) window.add(`id-${i}`, i);
    for (let i = 26; i <= 35; i++) assert.ok(window.candidates(`id-${i}`).includes(i), `id-${i}`);
    assert.equal(window.candidates("id-1").includes(1), false);
  });

  it("keeps every position of colliding hashes", () => {
    const window = new DedupWindow(10);
    window.add("same", 1);
    window.add("same", 2);
    assert.deepEqual(window.candidates("same"), [2, 1]);
  });

  it("addAscii(bytes) remembers an ASCII id exactly as add(string) does", () => {
    const byString = new DedupWindow(10);
    const byBytes = new DedupWindow(10);
    const bytes = new TextEncoder().encode('xx order-17 ~!{}"\\ yy');
    byString.add('order-17 ~!{}"\\', 5);
    byBytes.addAscii(bytes, 3, bytes.length - 3, 5);
    assert.deepEqual(byBytes.candidates('order-17 ~!{}"\\'), [5]);
    for (let i = 0; i < 25; i++) {
      byString.add(`id-${i}`, 6 + i);
      const id = new TextEncoder().encode(`id-${i}`);
      byBytes.addAscii(id, 0, id.length, 6 + i);
    }
    for (let i = 0; i < 25; i++) assert.deepEqual(byBytes.candidates(`id-${i}`), byString.candidates(`id-${i}`));
  });

  it("addAscii in bulk (put in batches), mixed with add, answers as add alone does across generations", () => {
    const byString = new DedupWindow(1000);
    const mixed = new DedupWindow(1000);
    const encoder = new TextEncoder();
    for (let p = 1; p <= 9000; p++) {
      const id = `id-${p % 4000}`;
      byString.add(id, p);
      if (p % 3000 === 0) mixed.add(id, p); // a string now and then, between batched ones
      else {
        const bytes = encoder.encode(id);
        mixed.addAscii(bytes, 0, bytes.length, p);
      }
      if (p % 2500 === 0) assert.deepEqual(mixed.candidates(id), byString.candidates(id), `after ${p}`);
    }
    for (let n = 0; n < 4000; n++) {
      assert.deepEqual(mixed.candidates(`id-${n}`), byString.candidates(`id-${n}`), `id-${n}`);
    }
  });

  it("keeps positions beyond 32 bits, and one that goes back starts a new generation", () => {
    const window = new DedupWindow(10);
    const far = 2 ** 40;
    window.add("a", far);
    window.add("b", far + 1);
    assert.deepEqual(window.candidates("b"), [far + 1]);
    window.add("c", 3); // back: a new generation, the previous one kept
    assert.deepEqual(window.candidates("a"), [far]);
    assert.deepEqual(window.candidates("c"), [3]);
  });

  it("grows its tables on demand and still finds every id, newest first, across the growth", () => {
    // 50,000 ids start in a 4,096-slot table: it doubles several times on the way.
    const window = new DedupWindow(50_000);
    for (let p = 1; p <= 50_000; p++) window.add(`id-${p % 20_000}`, p);
    for (let n = 0; n < 20_000; n++) {
      const expected = [n + 40_000, n + 20_000, n].filter((p) => p >= 1 && p <= 50_000);
      const found = window.candidates(`id-${n}`);
      for (const p of expected) assert.ok(found.includes(p), `id-${n} at ${p}: ${found}`);
      assert.deepEqual(found, [...found].sort((a, b) => b - a), `id-${n} newest first`);
      assert.equal(found[0], expected[0] ?? found[0], `id-${n} newest first`);
    }
  });

  it("rejects a bad capacity", () => {
    assert.throws(() => new DedupWindow(0), RangeError);
  });
});
