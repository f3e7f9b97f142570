import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readAppendRequest } from "../lib/append_request.ts";
import { encodeStreamEvents } from "../lib/stream_event.ts";

describe("encodeStreamEvents", () => {
  it("encodes one event or many as the batch body the server reads back", () => {
    const events = [
      { type: "A", data: { big: 12345678901234567890, text: "é\n" } },
      { type: "B", data: null, metadata: { who: "ada" } },
    ];
    const { body } = encodeStreamEvents("s", events);
    const request = readAppendRequest({
      body: new TextEncoder().encode(body),
      headers: { stream: "s", batch: true },
      tag: 1,
      redelivered: false,
    }, 1024);
    assert.ok(!("reason" in request), JSON.stringify(request));
    assert.deepEqual(request.events.map((e) => [e.type, JSON.parse(e.data), e.metadata && JSON.parse(e.metadata)]), [
      ["A", events[0].data, undefined],
      ["B", null, { who: "ada" }],
    ]);
    assert.equal(encodeStreamEvents("s", { type: "C", data: 0 }).body, '[{"type":"C","data":0}]');
  });

  it("names what is wrong, with the event's index", () => {
    const bad = (events: unknown) => () => encodeStreamEvents("s", events as never);
    assert.throws(bad([]), {
      name: "RangeError",
      message: "Cannot append to stream s: expected 1 to 1000 events, got 0",
    });
    assert.throws(bad(null), { name: "TypeError", message: /the event must be an object .* got null/ });
    assert.throws(bad([{ type: "A", data: 1 }, 7]), { name: "TypeError", message: /event 2 must be an object/ });
    assert.throws(bad({ type: "", data: 1 }), /needs a non-empty string type, got ""/);
    assert.throws(bad({ type: "A" }), {
      name: "TypeError",
      message: "Cannot append to stream s: the event has no data",
    });
    assert.throws(bad({ type: "A", data: { f: () => 1 } }), /has data JSON cannot hold: property "f" is a function/);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    assert.throws(bad({ type: "A", data: cycle }), /has data JSON cannot hold: it is not JSON-serialisable/);
    assert.throws(bad({ type: "A", data: 1, metadata: "x" }), /metadata that is not an object: "x"/);
    assert.throws(bad({ type: "A", data: 1, metadata: { n: 1n } }), /has metadata JSON cannot hold/);
  });
});
