/**
 * Tests of lib/expected_version.ts: the header forms and the rule.
 *
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseExpectedVersion, satisfies } from "../lib/expected_version.ts";

describe("parseExpectedVersion", () => {
  it("reads absent as any, the three names, numbers and numeric strings (also as AMQP bytes)", () => {
    assert.equal(parseExpectedVersion(undefined), "any");
    assert.equal(parseExpectedVersion(null), "any");
    for (const name of ["any", "no_stream", "stream_exists"]) assert.equal(parseExpectedVersion(name), name);
    assert.equal(parseExpectedVersion(0), 0);
    assert.equal(parseExpectedVersion(42), 42);
    assert.equal(parseExpectedVersion("42"), 42);
    assert.equal(parseExpectedVersion(7n), 7);
    assert.equal(parseExpectedVersion(new TextEncoder().encode("no_stream")), "no_stream");
  });

  it("refuses anything else with a reason that quotes the value", () => {
    for (const bad of [-1, 1.5, "-1", "1.0", "", "ANY", "soon", true, {}, 2n ** 60n]) {
      const result = parseExpectedVersion(bad);
      assert.equal(typeof result, "object", String(bad));
      assert.match((result as { reason: string }).reason, /^expected-version must be/);
    }
  });
});

describe("satisfies", () => {
  it("any always; no_stream at 0 only; stream_exists above 0; N exactly", () => {
    const table: Array<[Parameters<typeof satisfies>[0], number, boolean]> = [
      ["any", 0, true],
      ["any", 9, true],
      ["no_stream", 0, true],
      ["no_stream", 1, false],
      ["stream_exists", 0, false],
      ["stream_exists", 3, true],
      [0, 0, true],
      [0, 1, false],
      [3, 3, true],
      [3, 2, false],
      [3, 4, false],
    ];
    for (const [expected, actual, ok] of table) {
      assert.equal(satisfies(expected, actual), ok, `${expected} at ${actual}`);
    }
  });
});
