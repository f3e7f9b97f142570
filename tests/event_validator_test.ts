import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { validateEvent } from "../lib/event_validator.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

describe("validateEvent", () => {
  it("accepts any JSON value", () => {
    for (const s of ['{"a":1}', "[1,2]", "3", '"s"', "null", "true"]) {
      assert.deepEqual(validateEvent(bytes(s), 100), { ok: true, text: s });
    }
  });
  it("drops a leading byte order mark (the decoder does it)", () => {
    const body = new Uint8Array([0xef, 0xbb, 0xbf, ...bytes('{"a":1}')]);
    assert.deepEqual(validateEvent(body, 100), { ok: true, text: '{"a":1}' });
  });
  it("rejects invalid JSON, invalid UTF-8, empty and oversize bodies with a reason", () => {
    const bad = validateEvent(bytes("{nope"), 100);
    assert.equal(bad.ok, false);
    assert.match((bad as { reason: string }).reason, /not valid JSON/);
    assert.match((validateEvent(new Uint8Array([0x22, 0xff, 0x22]), 100) as { reason: string }).reason, /UTF-8/);
    assert.match((validateEvent(bytes(""), 100) as { reason: string }).reason, /empty/);
    assert.match(
      (validateEvent(bytes('"' + "x".repeat(200) + '"'), 100) as { reason: string }).reason,
      /larger than the maximum of 100/,
    );
  });
});
