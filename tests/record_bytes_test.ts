/**
 * The byte-level start-up check against the full parse: it must never take a
 * line `parseRecord` refuses (or reads with another position or id), and it
 * should take the lines `encodeRecord` writes.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { encodeRecord, encodeRecordLine, parseRecord } from "../lib/record.ts";
import { idOffset, isJsonBytes, matchRecordBytes, matchRecordId, type StreamSpan } from "../lib/record_bytes.ts";
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

/** What a line is to the fast check or the full parse: position, id, stream, version — compared as one string. */
function fastRead(bytes: Uint8Array, expected: number): string | undefined {
  const span: StreamSpan = { start: -1, end: -1, version: 0, ascii: true };
  const idEnd = matchRecordId(bytes, 0, bytes.length, expected, span);
  if (idEnd < 0) return undefined;
  const id = decoder.decode(bytes.subarray(idOffset(expected), idEnd));
  const stream = span.start < 0 ? undefined : decoder.decode(bytes.subarray(span.start, span.end));
  return JSON.stringify([expected, id, stream, span.start < 0 ? undefined : span.version]);
}

function fullRead(bytes: Uint8Array, expected: number): string | undefined {
  try {
    const record = parseRecord(decoder.decode(bytes));
    if (record.position !== expected) return undefined;
    return JSON.stringify([record.position, record.id, record.stream, record.streamVersion]);
  } catch {
    return undefined;
  }
}

/** Stream lines as encodeRecordLine writes them: names plain, UTF-8, with an escape (the full parse's). */
function streamLine(n: number): { line: Uint8Array; escaped: boolean } {
  const names = ["order-42", "größe-🐇", 'quote-"x"', "a", "back\\slash-1", "Category.Sub-9f8e"];
  const stream = names[n % names.length];
  const text = encodeRecordLine({
    position: 7,
    id: `id-${n}`,
    time: TIME,
    stream,
    streamVersion: 1 + (n % 3) * 4999,
    batchSize: n % 4 === 0 ? 3 : undefined,
    type: n % 2 ? "T" : undefined,
    metadata: n % 5 === 0 ? '{"correlation":"c-1","n":[1,2]}' : undefined,
    data: SAMPLES[n % SAMPLES.length],
  });
  return { line: encoder.encode(text), escaped: /["\\]/.test(stream) };
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

  it("takes stream lines with their stream and version, and leaves escaped names to the full parse", () => {
    for (let n = 0; n < 60; n++) {
      const { line, escaped } = streamLine(n);
      const fast = fastRead(line, 7);
      if (escaped) assert.equal(fast, undefined, decoder.decode(line));
      else assert.equal(fast, fullRead(line, 7), decoder.decode(line));
    }
    for (
      const text of [
        '{"position":7,"id":"a","time":"t","stream":"s","data":1}', // no version: refused by the full parse
        '{"position":7,"id":"a","time":"t","stream":"s","streamVersion":0,"data":1}',
        '{"position":7,"id":"a","time":"t","stream":"s","streamVersion":01,"data":1}',
        '{"position":7,"id":"a","time":"t","stream":"s","streamVersion":1.5,"data":1}',
        '{"position":7,"id":"a","time":"t","stream":"s","streamVersion":1e3,"data":1}',
        '{"position":7,"id":"a","time":"t","stream":"s","streamVersion":1,"data":1,"stream":"t"}',
        '{"position":7,"id":"a","time":"t","stream":"s","streamVersion":1,"streamVersion":2,"data":1}',
        '{"position":7,"id":"a","time":"t","type":"x","stream":"s","streamVersion":1,"data":1}',
        '{"position":7,"id":"a","time":"t","data":1,"streamVersion":3}',
        '{"position":7,"id":"a","time":"t","stream":"s\u0001","streamVersion":1,"data":1}',
        '{"position":7,"id":"a","time":"t","stream":"s","streamVersion":1234567890123456,"data":1}',
      ]
    ) {
      const line = encoder.encode(text);
      assert.equal(fastRead(line, 7), undefined, text);
    }
  });

  it("never takes a stream line the full parse refuses or reads otherwise: 20,000 random changes and cuts", () => {
    const random = prng(9);
    const interesting = encoder.encode('{}[]",:\\0123456789-+.eEtrufalsn \tx\u0001');
    let taken = 0;
    let inStream = 0;
    let refused = 0;
    let fallback = 0;
    for (let n = 0; n < 20_000; n++) {
      const { line: original } = streamLine(n);
      let line = original.slice();
      // Mostly near the stream members, where the new code is; sometimes anywhere.
      const near = decoder.decode(original).indexOf(',"stream"');
      const at = random() < 0.7
        ? Math.min(line.length - 1, near + Math.floor(random() * 48))
        : Math.floor(random() * line.length);
      const how = random();
      if (how < 0.6) line[at] = interesting[Math.floor(random() * interesting.length)];
      else if (how < 0.8) line = line.subarray(0, at);
      else line = new Uint8Array([...line.subarray(0, at), ...line.subarray(at + 1)]);
      const fast = fastRead(line, 7);
      const full = fullRead(line, 7);
      if (full === undefined) refused++;
      else if (fast === undefined) fallback++;
      if (fast !== undefined) {
        taken++;
        if (JSON.parse(fast)[2] !== undefined) inStream++;
        assert.equal(full, fast, `fast check read ${decoder.decode(line)} otherwise`);
      }
    }
    assert.ok(taken > 1000, `some changed lines are still records and should be taken (${taken})`);
    assert.ok(inStream > 1000, `some of those are still in a stream (${inStream})`);
    assert.ok(refused > 5000, `many changed lines are refused by the full parse (${refused})`);
    assert.ok(fallback > 1000, `records the fast check leaves to the full parse (escaped names …): ${fallback}`);
  });
});

describe("isJsonBytes", () => {
  it("proves JSON values with whitespace around them, and nothing else", () => {
    for (const text of ['{"a":[1,2.5e3,"x"]}', " null ", "-0", '"\\u00e9"', "[[],{}]", '{"a":{"b":[true,false]}}']) {
      assert.equal(isJsonBytes(encoder.encode(text)), true, text);
    }
    for (const text of ["", " ", "01", "1.", "[1,]", '{"a"}', '{"a":1,}', "tru", '"a', "1 2", "{}x", '"\t"', "NaN"]) {
      assert.equal(isJsonBytes(encoder.encode(text)), false, text);
    }
    const framed = encoder.encode('xx{"a":1}yy');
    assert.equal(isJsonBytes(framed, 2, 9), true);
  });

  it("never proves what JSON.parse refuses: 20,000 random single-byte changes and cuts", () => {
    const random = prng(12);
    const interesting = encoder.encode('{}[]",:\\0123456789-+.eEtrufalsn \tx\u0001');
    let taken = 0;
    for (let n = 0; n < 20_000; n++) {
      let body = encoder.encode(SAMPLES[n % SAMPLES.length]);
      const at = Math.floor(random() * body.length);
      const how = random();
      if (how < 0.6) body[at] = interesting[Math.floor(random() * interesting.length)];
      else if (how < 0.8) body = body.subarray(0, at);
      else body = new Uint8Array([...body.subarray(0, at), ...body.subarray(at + 1)]);
      if (!isJsonBytes(body)) continue;
      taken++;
      assert.doesNotThrow(() => JSON.parse(decoder.decode(body)), decoder.decode(body));
    }
    assert.ok(taken > 1000, `some changed values are still JSON and should be proven (${taken})`);
  });
});
