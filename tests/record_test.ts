import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { encodeRecord, parseRecord } from "../lib/record.ts";

describe("encodeRecord", () => {
  it("writes the four contract fields in order, data exactly as received", () => {
    const line = encodeRecord(7, "abc", "2026-01-01T00:00:00.000Z", '{"big":12345678901234567890,"s":"x"}');
    assert.equal(
      line,
      '{"position":7,"id":"abc","time":"2026-01-01T00:00:00.000Z","data":{"big":12345678901234567890,"s":"x"}}',
    );
  });

  it("keeps one record per line when the event JSON spans lines", () => {
    const line = encodeRecord(1, "a", "t", '{\n  "a": "x\\ny"\r\n}');
    assert.equal(line.indexOf("\n"), -1);
    assert.deepEqual(parseRecord(line).data, { a: "x\ny" });
  });

  it("escapes ids and adds type when given", () => {
    const line = encodeRecord(2, 'q"uote', "t", "1", "OrderPlaced");
    const record = parseRecord(line);
    assert.equal(record.id, 'q"uote');
    assert.equal(record.type, "OrderPlaced");
    assert.equal(record.data, 1);
  });
});

describe("parseRecord", () => {
  it("rejects lines without the contract fields", () => {
    assert.throws(() => parseRecord("[]"), SyntaxError);
    assert.throws(() => parseRecord('{"position":0,"id":"a","time":"t","data":1}'), /positive integer/);
    assert.throws(() => parseRecord('{"position":1,"id":2,"time":"t","data":1}'), /id is not a string/);
    assert.throws(() => parseRecord('{"position":1,"id":"a","time":"t"}'), /data is missing/);
    assert.throws(() => parseRecord('{"position":1,'), SyntaxError);
  });
});
