import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createCommand, serializeEvent } from "../command.ts";

describe("serializeEvent", () => {
  it("serialises JSON values", () => {
    assert.equal(serializeEvent({ a: [1, "x", null] }), '{"a":[1,"x",null]}');
    assert.equal(serializeEvent(0), "0");
  });
  it("throws TypeError for values JSON cannot hold", () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    for (const value of [undefined, () => 1, Symbol("s"), 10n, { nested: 10n }, { f() {} }, cycle]) {
      assert.throws(() => serializeEvent(value), TypeError, String(typeof value));
    }
  });
  it("refuses before connecting anywhere", async () => {
    // An unreachable broker: the TypeError must come first, without any connection attempt.
    const cmd = createCommand({ amqpUrl: "amqp://guest:guest@127.0.0.1:1" });
    await assert.rejects(cmd.publish(undefined), TypeError);
    await assert.rejects(cmd.publish(1n), TypeError);
    await assert.rejects(cmd.publish({}, { id: "" }), TypeError);
    await cmd.close();
  });
});
