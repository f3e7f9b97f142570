import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { rateLimited } from "../lib/log.ts";

describe("rateLimited", () => {
  it("writes the first line at once, drops lines within the interval and counts them on the next one", () => {
    let t = 1_000;
    const written: string[] = [];
    const warn = rateLimited((message) => written.push(message), 30_000, () => t);
    warn("a");
    t += 10_000;
    warn("b");
    t += 19_999;
    warn("c");
    assert.deepEqual(written, ["a"]);
    t += 1;
    warn("d");
    t += 30_000;
    warn("e");
    assert.deepEqual(written, ["a", "d (2 similar messages suppressed)", "e"]);
    warn("f");
    t += 30_000;
    warn("g");
    assert.deepEqual(written.slice(3), ["g (1 similar message suppressed)"]);
  });

  it("an interval of 0 writes every line", () => {
    const written: string[] = [];
    const warn = rateLimited((message) => written.push(message), 0, () => 5);
    warn("a");
    warn("b");
    assert.deepEqual(written, ["a", "b"]);
  });
});
