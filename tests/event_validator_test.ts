import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { validateEvent } from "../lib/event_validator.ts";
import { prng } from "./_helpers.ts";

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

/** validateEvent as it was before the byte-level check: decode, then JSON.parse. */
function reference(body: Uint8Array, maxBytes: number) {
  if (body.byteLength > maxBytes) {
    return {
      ok: false,
      reason: `event is ${body.byteLength} bytes, larger than the maximum of ${maxBytes} (MAXEVENTBYTES)`,
    };
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(body);
  } catch {
    return { ok: false, reason: "event is not valid UTF-8" };
  }
  try {
    JSON.parse(text);
  } catch (error) {
    return {
      ok: false,
      reason: text.trim() === "" ? "event is empty" : `event is not valid JSON: ${(error as Error).message}`,
    };
  }
  return { ok: true, text };
}

describe("validateEvent against decode + JSON.parse", () => {
  it("gives the same answer and the same reason for 20,000 random single-byte changes and cuts", () => {
    const random = prng(11);
    const samples = [
      '{"kind":"BenchEvent","i":7,"customer":"c-7","amount":0.7,"note":"xxxxxxxxxxxxxxxx"}',
      '[1,-2.5e-3,0,true,false,null,"a\\"b\\\\c\\u00e9\\n",{"x":{}},[]]',
      ' \t{"ünï":"cødé ✓","n":[{"deep":[[[1]]]}]}\r\n',
      '"just a string"',
      "-0.0E+12",
    ];
    const interesting = bytes('{}[]",:\\0123456789-+.eEtrufalsn \tx\u0001\u007f');
    let accepted = 0;
    let refused = 0;
    for (let n = 0; n < 20_000; n++) {
      let body = bytes(samples[n % samples.length]);
      const at = Math.floor(random() * body.length);
      const how = random();
      if (how < 0.5) body[at] = interesting[Math.floor(random() * interesting.length)];
      else if (how < 0.6) body[at] = Math.floor(random() * 256); // any byte, invalid UTF-8 too
      else if (how < 0.8) body = body.subarray(0, at);
      else body = new Uint8Array([...body.subarray(0, at), ...body.subarray(at + 1)]);
      const got = validateEvent(body, 1000);
      assert.deepEqual(got, reference(body, 1000), new TextDecoder().decode(body));
      if (got.ok) accepted++;
      else refused++;
    }
    assert.ok(
      accepted > 2000 && refused > 2000,
      `both kinds should be common (${accepted} accepted, ${refused} refused)`,
    );
  });

  it("still accepts what only JSON.parse can prove: nesting deeper than 256, a byte order mark", () => {
    const deep = "[".repeat(300) + "]".repeat(300);
    assert.deepEqual(validateEvent(bytes(deep), 1000), { ok: true, text: deep });
    assert.deepEqual(validateEvent(new Uint8Array([0xef, 0xbb, 0xbf, ...bytes(" 1 ")]), 100), {
      ok: true,
      text: " 1 ",
    });
  });
});
