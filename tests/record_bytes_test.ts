/**
 * The byte-level start-up check against the full parse: it must never take a
 * line `parseRecord` refuses (or reads with another position or id), and it
 * should take the lines `encodeRecord` writes.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { encodeRecord, parseRecord } from "../lib/record.ts";
import { matchRecordBytes } from "../lib/record_bytes.ts";
import { prng } from "./_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const TIME = "2026-11-27T00:00:00.000Z";

/** What the full parse says: the id when the line is a record at `expected`, else undefined. */
function fullParse(bytes: Uint8Array, expected: number): string | undefined {
  try {
    const record = parseRecord(decoder.decode(bytes));
    return record.position === expected ? record.id : undefined;
  } catch {
    return undefined;
  }
}

const SAMPLES = [
  '{"kind":"BenchEvent","i":1,"customer":"c-1","amount":0.1,"note":"xxxxxxxxxxxxxxxx"}',
  '{"a":[1,-2.5e+3,0,true,false,null,{"b":{}},[]],"s":"q\\"uote\\\\ \\u00e9\\n","e":""}',
  '"just a string"',
  "-0.25E-7",
  '[ 1 , [ 2 , { "x" : [ ] } ] ]',
  '{"h":"héllo 🐇"}',
  "null",
];

describe("matchRecordBytes", () => {
  it("takes the lines encodeRecord writes, with their id", () => {
    for (const [i, data] of SAMPLES.entries()) {
      for (const type of [undefined, "Some.Type"]) {
        const position = 1 + i * 997;
        const line = encoder.encode(encodeRecord(position, `id-${i}`, TIME, data, type));
        assert.equal(matchRecordBytes(line, 0, line.length, position), `id-${i}`, `${data} (type ${type})`);
        assert.equal(matchRecordBytes(line, 0, line.length, position + 1), undefined, "wrong position");
      }
    }
  });

  it("leaves lines it cannot prove to the full parse (other spacing, escaped ids, repeated contract keys)", () => {
    for (
      const text of [
        '{ "position":1,"id":"a","time":"t","data":1}',
        '{"position":1,"id":"a\\u0062","time":"t","data":1}',
        '{"position":1,"id":"é","time":"t","data":1}',
        '{"position":1,"id":"a","time":"t","data":1,"id":"b"}',
        '{"position":1,"id":"a","time":"t","data":1,"time":2}',
        '{"position":1.0,"id":"a","time":"t","data":1}',
      ]
    ) {
      const line = encoder.encode(text);
      assert.equal(matchRecordBytes(line, 0, line.length, 1), undefined, text);
    }
  });

  it("never takes a line the full parse refuses: 20,000 random single-byte changes and cuts", () => {
    const random = prng(4);
    const interesting = encoder.encode('{}[]",:\\0123456789-+.eEtrufalsn \tx\u0001');
    let taken = 0;
    for (let n = 0; n < 20_000; n++) {
      const data = SAMPLES[n % SAMPLES.length];
      const original = encoder.encode(encodeRecord(7, `id-${n}`, TIME, data, n % 2 ? "T" : undefined));
      let line = original.slice();
      const at = Math.floor(random() * line.length);
      const how = random();
      if (how < 0.6) line[at] = interesting[Math.floor(random() * interesting.length)];
      else if (how < 0.8) line = line.subarray(0, at);
      else line = new Uint8Array([...line.subarray(0, at), ...line.subarray(at + 1)]);
      const fast = matchRecordBytes(line, 0, line.length, 7);
      if (fast !== undefined) {
        taken++;
        assert.equal(fullParse(line, 7), fast, `fast check took ${decoder.decode(line)}`);
      }
    }
    assert.ok(taken > 1000, `some changed lines are still records and should be taken (${taken})`);
  });
});
