import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { eventFilter, matches } from "../lib/event_filter.ts";
import { listen, subscribe } from "../listener.ts";

describe("eventFilter", () => {
  it("makes a stream or a category filter, or none", () => {
    assert.deepEqual(eventFilter({ stream: "order-42" }), { stream: "order-42" });
    assert.deepEqual(eventFilter({ category: "order" }), { category: "order" });
    assert.equal(eventFilter({}), undefined);
  });

  it("refuses both, bad names and a category with a dash, with a TypeError that says why", () => {
    const cases: Array<[{ stream?: string; category?: string }, RegExp]> = [
      [{ stream: "order-1", category: "order" }, /^Cannot listen to stream "order-1" and category "order": give one/],
      [{ stream: "" }, /^Cannot listen to stream "": stream name is empty$/],
      [{ stream: "a\u0001" }, /^Cannot listen to stream "a\\u0001": stream name contains a control character$/],
      [{ stream: "x".repeat(256) }, /stream name is 256 bytes, longer than 255$/],
      [{ category: "" }, /^Cannot listen to category "": stream name is empty$/],
      [{ category: "order-1" }, /^Cannot listen to category "order-1": it holds a "-"/],
      [{ stream: 42 as unknown as string }, /^Cannot listen to stream of type number: stream must be a string/],
    ];
    for (const [options, message] of cases) assert.throws(() => eventFilter(options), { name: "TypeError", message });
  });

  it("matches a stream exactly and a category by what comes before the first dash", () => {
    assert.equal(matches(undefined, undefined), true);
    assert.equal(matches({ stream: "order-1" }, "order-1"), true);
    assert.equal(matches({ stream: "order-1" }, "order-12"), false);
    assert.equal(matches({ stream: "order-1" }, undefined), false);
    assert.equal(matches({ category: "order" }, "order-1"), true);
    assert.equal(matches({ category: "order" }, "order-1-a"), true);
    assert.equal(matches({ category: "order" }, "order"), true);
    assert.equal(matches({ category: "order" }, "orders-1"), false);
    assert.equal(matches({ category: "order" }, undefined), false);
  });
});

describe("listen and subscribe with a filter", () => {
  it("refuse both options and bad names before connecting", () => {
    const handler = () => {};
    const options = { historyUrl: "http://127.0.0.1:9/", amqpUrl: "amqp://127.0.0.1:9" };
    assert.throws(() => listen(1, handler, { ...options, stream: "a-1", category: "a" }), TypeError);
    assert.throws(
      () => listen(handler, { ...options, stream: "" }),
      /Cannot listen to stream "": stream name is empty/,
    );
    assert.throws(() => subscribe(undefined, { ...options, category: "a-1" }), TypeError);
  });
});
