/**
 * Tests of lib/stream_name.ts: names and categories.
 *
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { categoryOf, parseStreamName } from "../lib/stream_name.ts";

describe("parseStreamName", () => {
  it("takes 1 to 255 bytes of UTF-8 without control characters, also as AMQP bytes", () => {
    for (const name of ["a", "order-42", "é".repeat(127) + "x", "x".repeat(255), "日本-1"]) {
      assert.equal(parseStreamName(name), name);
    }
    assert.equal(parseStreamName(new TextEncoder().encode("cart-1")), "cart-1");
  });

  it("refuses empty, too long (in bytes), control characters and non-strings, saying why", () => {
    const cases: Array<[unknown, RegExp]> = [
      ["", /empty/],
      ["x".repeat(256), /256 bytes, longer than 255/],
      ["é".repeat(128), /256 bytes/],
      ["a\nb", /control character/],
      ["a\u0000", /control character/],
      ["a\u0085", /control character/],
      [42, /must be a string/],
      [new Uint8Array([0xff]), /not valid UTF-8/],
    ];
    for (const [value, reason] of cases) {
      const result = parseStreamName(value);
      assert.equal(typeof result, "object", String(value));
      assert.match((result as { reason: string }).reason, reason);
    }
  });
});

describe("categoryOf", () => {
  it("is the part before the first dash, or the whole name", () => {
    assert.equal(categoryOf("order-42"), "order");
    assert.equal(categoryOf("order-42-b"), "order");
    assert.equal(categoryOf("audit"), "audit");
    assert.equal(categoryOf("-x"), "");
  });
});
