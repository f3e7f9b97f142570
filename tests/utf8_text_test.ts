/**
 * lib/runtime/utf8_text.ts: on each runtime (Buffer#toString on Node, TextDecoder on Deno) the same
 * string as a TextDecoder, for valid text, for invalid bytes, and for any range cut at a newline.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { utf8Text } from "../lib/runtime/utf8_text.ts";

const reference = new TextDecoder();

/** A small seeded generator, so a failure repeats. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

describe("utf8Text", () => {
  it("decodes text with multi-byte characters, whole and in ranges cut at newlines", () => {
    const text = '{"position":1,"data":"é€😀"}\n{"position":2,"data":"ünï"}\n';
    const bytes = new TextEncoder().encode(text);
    assert.equal(utf8Text(bytes), text);
    const cut = bytes.indexOf(10);
    assert.equal(utf8Text(bytes, 0, cut), '{"position":1,"data":"é€😀"}');
    assert.equal(utf8Text(bytes, cut + 1, bytes.length - 1), '{"position":2,"data":"ünï"}');
    assert.equal(utf8Text(bytes, 3, 3), "");
  });

  it("gives what TextDecoder gives for 2,000 random byte strings, valid or not, and their sub-ranges", () => {
    const next = random(42);
    let invalid = 0;
    for (let i = 0; i < 2_000; i++) {
      const bytes = new Uint8Array(1 + Math.floor(next() * 40));
      for (let j = 0; j < bytes.length; j++) {
        bytes[j] = next() < 0.5 ? 0x20 + Math.floor(next() * 90) : Math.floor(next() * 256);
      }
      const expected = reference.decode(bytes);
      if (expected.includes("\ufffd")) invalid++;
      assert.equal(utf8Text(bytes), expected, `bytes ${bytes}`);
      const start = Math.floor(next() * bytes.length);
      const end = start + Math.floor(next() * (bytes.length - start));
      assert.equal(utf8Text(bytes, start, end), reference.decode(bytes.subarray(start, end)), `range ${start}..${end}`);
      // A view into a larger buffer (as a body chunk is) decodes only its own bytes.
      const wider = new Uint8Array(bytes.length + 8);
      wider.set(bytes, 4);
      assert.equal(utf8Text(wider.subarray(4, 4 + bytes.length)), expected);
    }
    assert.ok(invalid > 500, `enough invalid inputs to mean something: ${invalid}`);
  });
});
