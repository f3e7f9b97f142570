/**
 * Tests of lib/json_raw.ts: the parts it cuts out parse to exactly the values
 * `JSON.parse` gives, on seeded random JSON, and keep their bytes.
 *
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { objectMembers, splitArray } from "../lib/json_raw.ts";

/** A small seeded generator (mulberry32), so a failure repeats. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SPACE = [" ", "", "\n", "\t", "\r\n  "];
const STRINGS = ["", "a", "x,y", "}]", '\\"', "\\\\", "\\u005d", "é", "[{", ":"];

/** Random JSON text with random whitespace, nested up to `depth`. */
function json(next: () => number, depth: number): string {
  const pick = <T>(items: T[]) => items[Math.floor(next() * items.length)];
  const ws = () => pick(SPACE);
  const kind = depth <= 0 ? Math.floor(next() * 4) : Math.floor(next() * 6);
  switch (kind) {
    case 0:
      return pick(["1", "-0", "1.50", "12345678901234567890", "1e-7", "0"]);
    case 1:
      return `"${pick(STRINGS)}"`;
    case 2:
      return pick(["true", "false", "null"]);
    case 3:
      return `"${pick(STRINGS)}${pick(STRINGS)}"`;
    case 4: {
      const n = Math.floor(next() * 4);
      return `[${ws()}${Array.from({ length: n }, () => ws() + json(next, depth - 1) + ws()).join(",")}${ws()}]`;
    }
    default: {
      const keys = [...new Set(Array.from({ length: Math.floor(next() * 4) }, () => pick(STRINGS)))];
      const members = keys.map((key) => `${ws()}"${key}"${ws()}:${ws()}${json(next, depth - 1)}${ws()}`);
      return `{${members.join(",")}${ws()}}`;
    }
  }
}

describe("splitArray", () => {
  it("cuts an array into element texts that parse to JSON.parse's elements (2,000 seeded arrays)", () => {
    const next = random(7);
    let elements = 0;
    for (let i = 0; i < 2_000; i++) {
      const parts = Array.from({ length: Math.floor(next() * 5) }, () => json(next, 3));
      const text = `${SPACE[i % SPACE.length]}[${parts.map((p) => SPACE[(i + 1) % SPACE.length] + p).join(",")}]`;
      const split = splitArray(text);
      assert.ok(split, text);
      // Compared with the parts the text was made of, not with JSON.parse(text): Deno 2.9's JSON.parse
      // mis-reads some escaped keys (`"\""` as a backslash) in larger texts where Node's does not.
      assert.deepEqual(split, parts.map((p) => p.trim()), text);
      for (const part of split) JSON.parse(part); // each is JSON on its own
      elements += split.length;
    }
    assert.ok(elements > 3_000, `enough elements were cut to mean something: ${elements}`);
  });

  it("says undefined for a value that is not an array", () => {
    for (const text of ['{"a":1}', "1", '"[1]"', "null"]) assert.equal(splitArray(text), undefined, text);
  });
});

describe("objectMembers", () => {
  it("finds each member's text and decoded key (2,000 seeded objects)", () => {
    const next = random(11);
    let members = 0;
    for (let i = 0; i < 2_000; i++) {
      const keys = [...new Set(Array.from({ length: Math.floor(next() * 5) }, () => STRINGS[Math.floor(next() * 10)]))];
      const values = keys.map(() => json(next, 3));
      const ws = () => SPACE[Math.floor(next() * SPACE.length)];
      const text = `${ws()}{${keys.map((key, k) => `${ws()}"${key}"${ws()}:${ws()}${values[k]}${ws()}`).join(",")}}`;
      const expected = new Map(keys.map((key, k) => [JSON.parse(`"${key}"`) as string, values[k].trim()]));
      assert.deepEqual(objectMembers(text), expected, text);
      members += keys.length;
    }
    assert.ok(members > 2_000, `enough members were found to mean something: ${members}`);
  });

  it("says undefined for a value that is not an object", () => {
    for (const text of ["[1]", "1", '"{}"', "null"]) assert.equal(objectMembers(text), undefined, text);
  });

  it("keeps the last of a repeated key, as JSON.parse does", () => {
    assert.equal(objectMembers('{"data":1,"data":2}')?.get("data"), "2");
  });
});
