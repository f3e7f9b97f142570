/**
 * lib/utf8_length.ts counts what TextEncoder writes, for every kind of code unit.
 *
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { utf8Length } from "../lib/utf8_length.ts";

describe("utf8Length", () => {
  it("equals TextEncoder's byte count: ASCII, 2- and 3-byte characters, pairs, lone surrogates", () => {
    const encoder = new TextEncoder();
    const samples = [
      "",
      "a",
      "order-42",
      "é",
      "日本",
      "😀",
      "a😀b",
      "\ud800",
      "\udc00",
      "\ud800x",
      "x\udbff",
      "€".repeat(99),
    ];
    let seed = 3;
    for (let n = 0; n < 2_000; n++) {
      let text = "";
      for (let i = 0; i < 12; i++) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        text += String.fromCharCode(seed % 3 === 0 ? seed % 0x80 : seed % 0x10000);
      }
      samples.push(text);
    }
    for (const text of samples) assert.equal(utf8Length(text), encoder.encode(text).length, JSON.stringify(text));
  });
});
