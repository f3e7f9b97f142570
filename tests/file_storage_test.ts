/**
 * FileStorage against real temporary files: append/read/scan across the
 * sparse index, the log's own rules (OutOfOrderError, CorruptLogError), torn
 * and damaged files, and write/fsync failures injected through the FileLike
 * seam (plus a real full disk on a small tmpfs where mounting is allowed).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type FileLike, FileStorage, type FileStorageTestOptions } from "../lib/file_storage.ts";
import { spawnSync } from "node:child_process";
import process from "node:process";
import {
  CorruptLogError,
  NotAStoreError,
  OutOfOrderError,
  StorageFailedError,
  StoreLockedError,
} from "../lib/errors.ts";
import { encodeRecord, encodeRecordLine } from "../lib/record.ts";
import { StreamIndex } from "../lib/stream_index.ts";
import type { AppendRecord } from "../lib/storage.ts";
import { verifyStorageFile } from "../lib/verify.ts";
import { FaultyDisk, ioError, mountTmpfs, resizeTmpfs, unmount } from "./_faulty_disk.ts";
import { prng } from "./_helpers.ts";
import { streamRecords } from "./_storage_contract.ts";

const INDEX_EVERY = 32; // lib/file_storage.ts keeps the offset of every 32nd record
const TIME = "2026-11-27T00:00:00.000Z";
const encoder = new TextEncoder();

/** Record `p` as an append record; every 7th one carries multi-byte UTF-8 so byte and char offsets differ. */
function rec(p: number, data?: string): AppendRecord {
  const body = data ?? (p % 7 === 0 ? `{"n":${p},"s":"héllo 🐇 wörld"}` : `{"n":${p}}`);
  return { position: p, id: `id-${p}`, line: encodeRecord(p, `id-${p}`, TIME, body) };
}

/** A record's bytes in the file: its line and a newline. */
function nl(record: AppendRecord): string {
  return record.line + "\n";
}

function recs(from: number, to: number): AppendRecord[] {
  return Array.from({ length: to - from + 1 }, (_, i) => rec(from + i));
}

function bytesOf(records: AppendRecord[]): Uint8Array {
  return encoder.encode(records.map(nl).join(""));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function text(stream: ReadableStream<Uint8Array>): Promise<string> {
  return await new Response(stream).text();
}

const HEADER_LINE =
  /^\{"rabbitEventstore":1,"storeId":"([0-9a-f-]{36})","created":"[^"]+" *(?:,"published":"[0-9]{16}:[0-9a-f]{8}")?\}\n/;

/** A store file's text without its header line (which a new store begins with). */
async function recordsText(file: string): Promise<string> {
  const content = await readFile(file, "utf8");
  const header = HEADER_LINE.exec(content);
  assert.ok(header, `${file} begins with a store header line: ${JSON.stringify(content.slice(0, 80))}`);
  return content.slice(header[0].length);
}

let root: string;
let counter = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), "res-file-storage-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});
function tempFile(): string {
  return join(root, `storage-${++counter}`);
}

/** Open quietly, collecting warnings. */
async function openQuiet(path: string, open?: (p: string, f: string) => Promise<FileLike>) {
  const warnings: string[] = [];
  const ids: Array<[number, string]> = [];
  const options: FileStorageTestOptions = {
    warn: (m) => warnings.push(m),
    ids: { id: (p, id) => ids.push([p, id]) },
    open,
  };
  const storage = await FileStorage.open(path, options);
  return { storage, warnings, ids };
}

describe("FileStorage basics", () => {
  const total = 80 * INDEX_EVERY + 20; // 2580: 81 index entries, the last one partial
  let path: string;
  let all: AppendRecord[];
  let expected: string[];
  before(async () => {
    path = tempFile();
    all = recs(1, total);
    expected = all.map(nl);
    const storage = await FileStorage.open(path);
    // Uneven batches so that index boundaries fall inside batches and at their edges.
    for (let p = 1; p <= total;) {
      const size = [1, 1023, 1, 2, 700, 333][p % 6] ?? 1;
      const batch = all.slice(p - 1, p - 1 + size);
      await storage.append(batch);
      p += batch.length;
    }
    assert.equal(storage.head, total);
    await storage.close();
  });

  it("creates a new store: one header line with a fresh identity, head 0, empty history", async () => {
    const file = tempFile();
    const storage = await FileStorage.open(file);
    assert.equal(storage.head, 0);
    assert.equal(await text(storage.read(1)), "");
    const content = await readFile(file, "utf8");
    const header = HEADER_LINE.exec(content);
    assert.ok(header, content);
    assert.equal(header[0], content, "the header is all a new store holds");
    assert.equal(storage.storeId, header[1]);
    await storage.close();
    const other = await FileStorage.open(tempFile());
    assert.notEqual(other.storeId, storage.storeId, "every store gets its own identity");
    await other.close();
  });

  it("keeps its identity across reopen, and history never shows the header", async () => {
    const file = tempFile();
    const first = await FileStorage.open(file);
    const id = first.storeId;
    await first.append(recs(1, 3));
    await first.close();
    const again = await FileStorage.open(file);
    assert.equal(again.storeId, id);
    assert.equal(await text(again.read(1)), recs(1, 3).map(nl).join(""));
    await again.close();
  });

  it("writes exactly the encoded lines after its header", async () => {
    assert.equal(await recordsText(path), expected.join(""));
  });

  const froms = [0, 1, 2, 1023, 1024, 1025, 1026, 2047, 2048, 2049, 2050, 2547, 2548, 2549, 5000];
  const limits = [undefined, 0, 1, 2, 1023, 1024, 1025, 3000];

  for (const reopened of [false, true]) {
    const how = reopened
      ? "after reopen (index rebuilt by the start-up scan)"
      : "on the handle that appended (index built by append)";
    it(`read(from, {limit}) returns exactly the requested lines across the index boundary, ${how}`, async () => {
      let storage: FileStorage;
      if (reopened) storage = (await openQuiet(path)).storage;
      else {
        // Rebuild the file with appends on one handle and read from that handle.
        const file = tempFile();
        storage = await FileStorage.open(file);
        for (let p = 1; p <= total; p += 100) await storage.append(all.slice(p - 1, Math.min(total, p + 99)));
      }
      try {
        for (const from of froms) {
          for (const limit of limits) {
            const first = Math.max(1, from);
            const count = Math.max(0, Math.min(total - first + 1, limit ?? Infinity));
            const want = expected.slice(first - 1, first - 1 + count).join("");
            const got = await text(storage.read(from, limit === undefined ? {} : { limit }));
            assert.equal(got, want, `read(${from}, {limit: ${limit}})`);
          }
        }
      } finally {
        await storage.close();
      }
    });
  }

  it("scan(from, to) yields position, id and line without newline, clamped to the head", async () => {
    const { storage } = await openQuiet(path);
    try {
      for (
        const [from, to] of [[1, 1], [1023, 1026], [1024, 2049], [2047, 2048], [2540, 9999], [0, 3], [3000, 4000], [
          5,
          4,
        ]]
      ) {
        const got = [];
        for await (const s of storage.scan(from, to)) got.push(s);
        const first = Math.max(1, from);
        const last = Math.min(to, total);
        const want = all.slice(first - 1, Math.max(first - 1, last)).map((r) => ({
          position: r.position,
          id: r.id,
          line: r.line,
        }));
        assert.deepEqual(got, want, `scan(${from}, ${to})`);
      }
    } finally {
      await storage.close();
    }
  });

  it("reopen keeps the head, visits every record once in order, and the next append is head+1", async () => {
    const copy = tempFile();
    await writeFile(copy, await readFile(path));
    const { storage, warnings, ids } = await openQuiet(copy);
    assert.equal(storage.head, total);
    assert.deepEqual(warnings, []);
    assert.equal(ids.length, total);
    ids.forEach(([p, id], i) => {
      assert.equal(p, i + 1);
      assert.equal(id, `id-${i + 1}`);
    });
    await storage.append([rec(total + 1)]);
    await assert.rejects(storage.append([rec(total + 1)]), OutOfOrderError);
    await storage.close();
    const again = await openQuiet(copy);
    assert.equal(again.storage.head, total + 1);
    assert.equal(await text(again.storage.read(total, { limit: 5 })), nl(rec(total)) + nl(rec(total + 1)));
    await again.storage.close();
  });

  it("ids.ascii gets the ids' bytes where it can, ids.id the rest, together every record once in order", async () => {
    const file = tempFile();
    const records = [
      ...recs(1, 3),
      {
        position: 4,
        id: "é-4",
        line: encodeRecord(4, "é-4", TIME, "{}"),
      },
      { position: 5, id: 'q"5', line: encodeRecord(5, 'q"5', TIME, "{}") },
      rec(6),
    ];
    await writeFile(file, bytesOf(records));
    const seen: Array<[number, string]> = [];
    const storage = await FileStorage.open(file, {
      ids: {
        id: (p, id) => seen.push([p, `visit ${id}`]),
        ascii: (p, bytes, start, end) =>
          seen.push([p, `ascii ${new TextDecoder().decode(bytes.subarray(start, end))}`]),
      },
    });
    await storage.close();
    assert.deepEqual(seen, [
      [1, "ascii id-1"],
      [2, "ascii id-2"],
      [3, "ascii id-3"],
      [4, "visit é-4"],
      [5, 'visit q"5'],
      [6, "ascii id-6"],
    ]);
  });

  it("readPositions gives the records asked for in the order given, across index entries, and RangeError past the head", async () => {
    const { storage } = await openQuiet(path);
    const random = prng(21);
    const lines = (positions: number[]) => positions.map((p) => expected[p - 1]).join("");
    const cases: number[][] = [
      [1],
      [total],
      [INDEX_EVERY, INDEX_EVERY + 1, INDEX_EVERY + 2],
      Array.from({ length: 3 * INDEX_EVERY }, (_, i) => INDEX_EVERY - 5 + i), // one run over three entries
      [total, 1, total - 1, 2],
    ];
    for (let n = 0; n < 40; n++) {
      const positions = Array.from({ length: 1 + Math.floor(random() * 60) }, () => 1 + Math.floor(random() * total));
      if (n % 2) positions.sort((a, b) => a - b);
      cases.push(positions);
    }
    for (const positions of cases) {
      assert.equal(await text(storage.readPositions(positions)), lines(positions), `readPositions(${positions})`);
    }
    for (const bad of [[0], [total + 1], [5, total + 1], [Number.NaN]]) {
      await assert.rejects(text(storage.readPositions(bad)), RangeError, `readPositions(${bad})`);
    }
    await storage.close();
  });

  it("counts the history reads open (read, readPositions) until each ends, is cancelled or fails; scans are not counted", async () => {
    const { storage } = await openQuiet(tempFile());
    await storage.append(recs(1, 100));
    assert.equal(storage.reading, 0);
    const whole = storage.read(1);
    const some = storage.readPositions([3, 50]);
    assert.equal(storage.reading, 2, "two open");
    await text(whole);
    assert.equal(storage.reading, 1, "one read to its end");
    await some.cancel();
    assert.equal(storage.reading, 0, "one cancelled");
    await assert.rejects(text(storage.readPositions([500])), RangeError);
    await text(storage.read(500));
    assert.equal(storage.reading, 0, "a failed read and an empty one are not left open");
    for await (const _ of storage.scan(1)) {
      assert.equal(storage.reading, 0, "a scan (the catch-up's read) is not counted");
    }
    await storage.close();
  });

  it("readPositions reads records much longer than the average line (more than one read)", async () => {
    const file = tempFile();
    const storage = await FileStorage.open(file);
    // Two records of 1 MB among 60-byte ones: the read sized from the average line is far too short for them.
    const big = (p: number) => rec(p, `{"n":${p},"pad":"${"x".repeat(p === 10 || p === 250 ? 1_000_000 : 10)}"}`);
    const records = Array.from({ length: 300 }, (_, i) => big(i + 1));
    await storage.append(records);
    for (
      const positions of [
        [10],
        [20, 21],
        [9, 10, 11],
        [300, 290, 1],
        Array.from({ length: 300 }, (_, i) => 300 - i),
      ]
    ) {
      assert.equal(
        await text(storage.readPositions(positions)),
        positions.map((p) => nl(records[p - 1])).join(""),
        `readPositions(${positions.slice(0, 5)}…)`,
      );
    }
    await storage.close();
  });

  it("reads a record larger than its 1 MiB read chunk, at start-up and through read()", async () => {
    const file = tempFile();
    const big = rec(2, `{"blob":"${"é".repeat(1_500_000)}"}`); // ~3 MB of UTF-8
    let storage = await FileStorage.open(file);
    await storage.append([rec(1), big, rec(3)]);
    await storage.close();
    storage = (await openQuiet(file)).storage;
    assert.equal(storage.head, 3);
    assert.equal(await text(storage.read(2, { limit: 1 })), nl(big));
    assert.equal(await text(storage.read(3)), nl(rec(3)));
    const scanned = [];
    for await (const s of storage.scan(1)) scanned.push(s.id);
    assert.deepEqual(scanned, ["id-1", "id-2", "id-3"]);
    await storage.close();
  });

  it("refuses out-of-order appends with OutOfOrderError and writes nothing, then still accepts head+1", async () => {
    const file = tempFile();
    const storage = await FileStorage.open(file);
    await storage.append(recs(1, 3));
    const size = (await stat(file)).size;
    const cases: Array<[AppendRecord[], number, number]> = [
      [[rec(5)], 4, 5], // a gap
      [[rec(3)], 4, 3], // a repeat
      [[rec(1)], 4, 1],
      [[rec(4), rec(6)], 5, 6], // a gap inside a batch
      [[rec(4), rec(4)], 5, 4],
    ];
    for (const [batch, exp, act] of cases) {
      await assert.rejects(storage.append(batch), (e: unknown) => {
        assert.ok(e instanceof OutOfOrderError);
        assert.equal(e.expected, exp);
        assert.equal(e.actual, act);
        assert.equal(e.message, `Cannot append record at position ${act}: expected position ${exp}`);
        return true;
      });
    }
    await assert.rejects(storage.append([{ ...rec(4), line: rec(4).line + "\n" }]), TypeError);
    await assert.rejects(storage.append([{ ...rec(4), line: "{}\n{}\n" }]), TypeError);
    assert.equal((await stat(file)).size, size);
    assert.equal(storage.head, 3);
    await storage.append([]);
    await storage.append([rec(4)]);
    assert.equal(storage.head, 4);
    await storage.close();
    await assert.rejects(storage.append([rec(5)]), StorageFailedError);
  });
});

describe("FileStorage on torn and damaged files", () => {
  const good = recs(1, 2);
  const last = rec(3, `{"s":"héllo 🐇 wörld","n":[1,2,3]}`);
  const prefix = bytesOf(good);
  const lastBytes = bytesOf([last]);

  /** Open, check the valid prefix is kept exactly, append head+1, reopen and compare the whole file. */
  async function assertKeepsPrefix(
    file: string,
    keep: AppendRecord[],
    expectWarning: boolean,
    label: string,
  ): Promise<string[]> {
    const { storage, warnings } = await openQuiet(file);
    const keptBytes = bytesOf(keep);
    assert.equal(storage.head, keep.length, `${label}: head`);
    assert.equal((await stat(file)).size, keptBytes.length, `${label}: file cut back to the valid prefix`);
    assert.equal(warnings.length, expectWarning ? 1 : 0, `${label}: warnings ${JSON.stringify(warnings)}`);
    const next = rec(keep.length + 1);
    await storage.append([next]);
    await storage.close();
    const again = await openQuiet(file);
    assert.equal(again.storage.head, keep.length + 1, `${label}: head after append and reopen`);
    assert.deepEqual(again.warnings, [], `${label}: clean after reopen`);
    assert.deepEqual(new Uint8Array(await readFile(file)), concat(keptBytes, bytesOf([next])), `${label}: file bytes`);
    await again.storage.close();
    return warnings;
  }

  it("a log cut at every byte of its last record keeps exactly the records before it", async () => {
    let cases = 0;
    for (let cut = 0; cut <= lastBytes.length; cut++) {
      const file = tempFile();
      await writeFile(file, concat(prefix, lastBytes.subarray(0, cut)));
      const complete = cut === lastBytes.length;
      const torn = cut > 0 && !complete;
      const warnings = await assertKeepsPrefix(
        file,
        complete ? [...good, last] : good,
        torn,
        `cut at ${cut}/${lastBytes.length}`,
      );
      if (torn) {
        assert.match(
          warnings[0],
          new RegExp(`truncating ${cut} bytes of a torn last record at byte offset ${prefix.length} `),
        );
      }
      await rm(file);
      cases++;
    }
    assert.equal(cases, lastBytes.length + 1);
    console.log(
      `torn tail: ${cases} cuts of a ${lastBytes.length}-byte record (with multi-byte UTF-8), each kept the valid prefix`,
    );
  });

  const random = prng(42);
  const randomBytes = Uint8Array.from({ length: 4096 }, () => Math.floor(random() * 256));
  const tails: Array<[string, Uint8Array]> = [
    ["the last record without its newline", lastBytes.subarray(0, lastBytes.length - 1)],
    ["4 KiB of zeros", new Uint8Array(4096)],
    ["4 KiB of zeros ending in a newline", concat(new Uint8Array(4095), Uint8Array.of(0x0a))],
    ["4 KiB of random bytes (with newlines)", randomBytes],
    ["a partial record then 4 KiB of zeros", concat(lastBytes.subarray(0, 20), new Uint8Array(4096))],
    ["a lone newline", Uint8Array.of(0x0a)],
    ["an unterminated line of invalid UTF-8", Uint8Array.of(0x7b, 0xc3, 0x28, 0xff)],
    ["a damaged complete line then a partial record", concat(encoder.encode("{garbage}\n"), lastBytes.subarray(0, 30))],
  ];
  assert.ok(randomBytes.includes(0x0a), "the random tail must contain newlines to be a fair case");
  for (const [name, tail] of tails) {
    it(`keeps the valid prefix when followed by ${name}`, async () => {
      const file = tempFile();
      await writeFile(file, concat(prefix, tail));
      const warnings = await assertKeepsPrefix(file, good, true, name);
      assert.match(warnings[0], new RegExp(`truncating ${tail.length} bytes .* at byte offset ${prefix.length} `));
    });
  }

  const five = recs(1, 5);
  const lines = five.map((r) => encoder.encode(nl(r)));
  const offsetOf = (line: number) => lines.slice(0, line - 1).reduce((n, l) => n + l.length, 0);
  const flip = (bytes: Uint8Array, at: number, value: number) => {
    const copy = bytes.slice();
    copy[at] = value;
    return copy;
  };
  const middle: Array<[string, Uint8Array, number, RegExp]> = [
    [
      "a changed byte in line 2",
      concat(lines[0], flip(lines[1], 0, 0x21), ...lines.slice(2)),
      2,
      /JSON|Unexpected|token/i,
    ],
    [
      "invalid UTF-8 inside line 3",
      concat(lines[0], lines[1], flip(lines[2], 40, 0xff), ...lines.slice(3)),
      3,
      /not valid UTF-8/,
    ],
    ["the newline after line 2 lost", concat(lines[0], lines[1].subarray(0, -1), ...lines.slice(2)), 2, /./],
    [
      "a missing record (line 3 holds position 4)",
      concat(lines[0], lines[1], lines[3], lines[4]),
      3,
      /record has position 4 where 3 was expected/,
    ],
    [
      "a repeated record",
      concat(lines[0], lines[1], lines[1], lines[2]),
      3,
      /record has position 2 where 3 was expected/,
    ],
    [
      "4 KiB of zeros between records 3 and 4",
      concat(lines[0], lines[1], lines[2], new Uint8Array(4096), encoder.encode("\n"), lines[3], lines[4]),
      4,
      /./,
    ],
    [
      "4 KiB of random bytes between records 2 and 3",
      concat(lines[0], lines[1], randomBytes, encoder.encode("\n"), lines[2]),
      3,
      /./,
    ],
    [
      "damage in the second-to-last line",
      concat(...lines.slice(0, 3), encoder.encode('{"position":4}\n'), lines[4]),
      4,
      /id is not a string/,
    ],
    // Lines whose contract prefix is right but whose rest is not a record: the byte-level
    // start-up check must not take them, and the full parse names the problem.
    ...([
      ["data that is not valid JSON (a trailing comma)", '"data":{"n":3,}}', /./],
      ["an unterminated string in data", '"data":{"s":"abc}}', /./],
      ["a bad escape in data", '"data":{"s":"a\\qb"}}', /./],
      ["a raw control byte inside a string in data", '"data":{"s":"a\u0001b"}}', /./],
      ["no closing brace", '"data":{"n":3}', /./],
      ["bytes after the closing brace", '"data":{"n":3}}x', /./],
      ["a number with a leading zero", '"data":{"n":03}}', /./],
      ["a misspelt literal", '"data":{"b":ture}}', /./],
      ["no data member", '"type":"x"}', /data is missing/],
      ["a second position member", '"data":1,"position":9}', /record has position 9 where 3 was expected/],
    ] as Array<[string, string, RegExp]>).map(([what, rest, reason]): [string, Uint8Array, number, RegExp] => [
      `line 3 with the right prefix but ${what}`,
      concat(lines[0], lines[1], encoder.encode(`{"position":3,"id":"id-3","time":"${TIME}",${rest}\n`), lines[3]),
      3,
      reason,
    ]),
    [
      "line 3 with the contract prefix of position 5 (not dense)",
      concat(lines[0], lines[1], encoder.encode(nl(rec(5))), lines[3]),
      3,
      /record has position 5 where 3 was expected/,
    ],
    [
      "a complete record out of sequence as the last line",
      concat(...lines.slice(0, 4), bytesOf([rec(7)])),
      5,
      /record has position 7 where 5 was expected/,
    ],
  ];
  for (const [name, bytes, line, reason] of middle) {
    it(`refuses ${name} with CorruptLogError naming line ${line} and its byte offset, changing nothing`, async () => {
      const file = tempFile();
      await writeFile(file, bytes);
      const offset = offsetOf(line);
      await assert.rejects(openQuiet(file), (e: unknown) => {
        assert.ok(e instanceof CorruptLogError, `expected CorruptLogError, got ${e}`);
        assert.equal(e.line, line);
        assert.equal(e.offset, offset);
        assert.equal(e.path, file);
        assert.ok(
          e.message.startsWith(`Storage file ${file} is damaged at line ${line} (byte offset ${offset}): `),
          e.message,
        );
        assert.match(e.message, reason);
        return true;
      });
      assert.deepEqual(new Uint8Array(await readFile(file)), bytes, "a refused file is never repaired");
      const report = await verifyStorageFile(file);
      assert.equal(report.ok, false);
      assert.equal(report.records, line - 1);
      assert.match(report.problem ?? "", new RegExp(`line ${line} \\(byte offset ${offset}\\)`));
    });
  }

  it("reports the right line and offset for damage past the first 1 MiB read chunk", async () => {
    const file = tempFile();
    const many = recs(1, 30_000); // ~1 MB+
    const bytes = bytesOf(many);
    const lineNo = 25_000;
    const offset = encoder.encode(many.slice(0, lineNo - 1).map(nl).join("")).length;
    assert.ok(offset > 1 << 20, "the damage must lie beyond the first chunk");
    await writeFile(file, flip(bytes, offset + 1, 0x00));
    await assert.rejects(
      openQuiet(file),
      (e: unknown) => e instanceof CorruptLogError && e.line === lineNo && e.offset === offset,
    );
  });

  it("refuses 3 MiB of zeros in the middle (a line longer than the read chunk) naming its line and offset", async () => {
    const file = tempFile();
    const bytes = concat(lines[0], lines[1], new Uint8Array(3 << 20), encoder.encode("\n"), lines[2]);
    await writeFile(file, bytes);
    await assert.rejects(
      openQuiet(file),
      (e: unknown) => e instanceof CorruptLogError && e.line === 3 && e.offset === offsetOf(3),
    );
  });

  it("keeps the valid prefix when a last record larger than the read chunk is torn", async () => {
    const big = encoder.encode(nl(rec(3, `{"blob":"${"ü".repeat(1_200_000)}"}`))); // ~2.4 MB
    for (const cut of [1, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, big.length >> 1, big.length - 2, big.length - 1]) {
      const file = tempFile();
      await writeFile(file, concat(prefix, big.subarray(0, cut)));
      const warnings = await assertKeepsPrefix(file, good, true, `big record cut at ${cut}/${big.length}`);
      assert.match(warnings[0], new RegExp(`truncating ${cut} bytes .* at byte offset ${prefix.length} `));
      await rm(file);
    }
  });
});

describe("FileStorage keeps a batch group whole or not at all", () => {
  /** Record `p` in stream `order-<p % 3>` (version `v`), first of a group of `batchSize` when given. */
  function streamRec(p: number, v: number, batchSize?: number): AppendRecord {
    const stream = `order-${p % 3}`;
    const line = encodeRecordLine({
      position: p,
      id: `id-${p}`,
      time: TIME,
      stream,
      streamVersion: v,
      batchSize,
      data: p % 2 ? `{"n":${p},"s":"größe 🐇"}` : `{"n":${p}}`,
    });
    const record: AppendRecord = { position: p, id: `id-${p}`, line, stream, streamVersion: v };
    if (batchSize !== undefined) record.batchSize = batchSize;
    return record;
  }

  /** 40 records in 3 streams (a group of 4 at 21), then the last append: a group of 6 at 41. */
  function history(): { before: AppendRecord[]; group: AppendRecord[] } {
    const versions = [0, 0, 0];
    const make = (p: number, batchSize?: number) => streamRec(p, ++versions[p % 3], batchSize);
    const before = Array.from({ length: 40 }, (_, i) => make(i + 1, i + 1 === 21 ? 4 : undefined));
    const group = Array.from({ length: 6 }, (_, i) => make(41 + i, i === 0 ? 6 : undefined));
    return { before, group };
  }

  it("ids.streamBatch gets the names without escapes as bytes, ids.stream the others: the same index as scanIds", async () => {
    const file = tempFile();
    const storage = await FileStorage.open(file);
    await storage.append(streamRecords(1, 500));
    await storage.close();
    const index = new StreamIndex();
    let byBytes = 0;
    let byString = 0;
    const opened = await FileStorage.open(file, {
      ids: {
        id: () => {},
        stream: (p, stream, v) => (byString++, index.add(p, stream, v)),
        streamBatch: (bytes, batch) => (byBytes += batch.count, index.addBatch(bytes, batch)),
      },
    });
    const rebuilt = new StreamIndex();
    await opened.scanIds(1, { id: () => {}, stream: (p, stream, v) => rebuilt.add(p, stream, v) });
    for (const stream of ["order-1", "order-2", "größe-🐇", 'quote-"x"\\']) {
      assert.ok(rebuilt.version(stream) > 0, stream);
      assert.deepEqual(index.positions(stream), rebuilt.positions(stream), stream);
    }
    assert.deepEqual(index.categoryPositions("order"), rebuilt.categoryPositions("order"));
    assert.equal(index.size, rebuilt.size);
    assert.ok(byBytes > 300 && byString > 50, `bytes ${byBytes}, strings ${byString}`);
    await opened.close();
  });

  it("a last group cut at every byte: either all of it is there or none, the rest and the header untouched", async () => {
    const { before, group } = history();
    const source = tempFile();
    const storage = await FileStorage.open(source);
    await storage.append(before.slice(0, 20));
    await storage.append(before.slice(20, 24)); // the earlier group, whole
    await storage.append(before.slice(24));
    await storage.append(group);
    await storage.close();
    const whole = new Uint8Array(await readFile(source));
    const groupBytes = bytesOf(group).length;
    const groupStart = whole.length - groupBytes;
    const kept = whole.subarray(0, groupStart);
    let dropped = 0;
    let torn = 0;
    // Every byte near a line boundary of the group (where a cut leaves whole records), and every 9th between.
    const boundaries = [groupStart];
    for (const record of group) boundaries.push(boundaries[boundaries.length - 1] + bytesOf([record]).length);
    const cuts = new Set<number>();
    for (let cut = groupStart; cut <= whole.length; cut += 9) cuts.add(cut);
    for (const b of boundaries) {
      for (let d = -3; d <= 3; d++) if (b + d >= groupStart && b + d <= whole.length) cuts.add(b + d);
    }
    for (const cut of [...cuts].sort((a, b) => a - b)) {
      const file = tempFile();
      await writeFile(file, whole.subarray(0, cut));
      // The server's start-up: index every record the open visits, then forget what the open dropped.
      const index = new StreamIndex();
      const warnings: string[] = [];
      const opened = await FileStorage.open(file, {
        warn: (m) => warnings.push(m),
        ids: { id: () => {}, stream: (p, stream, v) => index.add(p, stream, v) },
      });
      if (index.lastPosition > opened.head) index.truncate(opened.head);
      const complete = cut === whole.length;
      assert.equal(opened.head, complete ? 46 : 40, `cut at ${cut}: head`);
      const onDisk = new Uint8Array(await readFile(file));
      assert.deepEqual(onDisk, complete ? whole : kept, `cut at ${cut}: the file is the records before the group`);
      const expected = complete ? [...before, ...group] : before;
      const scanned = [];
      for await (const record of opened.scan(1)) scanned.push(record);
      assert.deepEqual(scanned, expected, `cut at ${cut}: scan`);
      // The index is the one a fresh scan of what is kept builds.
      const rebuilt = new StreamIndex();
      await opened.scanIds(1, { id: () => {}, stream: (p, stream, v) => rebuilt.add(p, stream, v) });
      for (const stream of ["order-0", "order-1", "order-2"]) {
        assert.equal(index.version(stream), rebuilt.version(stream), `cut at ${cut}: version of ${stream}`);
        assert.deepEqual(index.positions(stream), rebuilt.positions(stream), `cut at ${cut}: ${stream}`);
      }
      assert.deepEqual(index.categoryPositions("order"), rebuilt.categoryPositions("order"));
      if (!complete && cut > groupStart) {
        assert.equal(warnings.length >= 1, true, `cut at ${cut}: warned ${JSON.stringify(warnings)}`);
        if (warnings.some((w) => w.includes("cut short by a crash"))) dropped++;
        else torn++;
      }
      // It goes on at 41 (or 47), and a reopen is clean.
      const next = streamRec(opened.head + 1, index.version(`order-${(opened.head + 1) % 3}`) + 1);
      await opened.append([next]);
      await opened.close();
      const again = await openQuiet(file);
      assert.equal(again.storage.head, opened.head, `cut at ${cut}: reopen`);
      assert.deepEqual(again.warnings, [], `cut at ${cut}: clean after reopen`);
      await again.storage.close();
      await rm(file);
    }
    // Cuts inside the first record only tear it; cuts after it leave whole records of a group to drop.
    assert.ok(dropped > (4 * groupBytes / 6) / 9, `group dropped at open in ${dropped} cases`);
    assert.ok(torn > 10, `torn first record in ${torn} cases`);
  });
});

describe("FileStorage on write and fsync errors", () => {
  async function prepared(disk: FaultyDisk) {
    const file = tempFile();
    const { storage } = await openQuiet(file, disk.open);
    await storage.append(recs(1, 10));
    const good = await readFile(file);
    return { file, storage, good };
  }

  /** After a failure: every later append fails the same way without touching the disk; reads still serve the durable prefix. */
  async function assertFailedForGood(storage: FileStorage, disk: FaultyDisk, failure: StorageFailedError) {
    const calls = { writes: disk.writes, datasyncs: disk.datasyncs };
    for (let i = 0; i < 3; i++) await assert.rejects(storage.append([rec(11)]), (e) => e === failure);
    assert.deepEqual({ writes: disk.writes, datasyncs: disk.datasyncs }, calls, "no write or fsync after a failure");
    assert.equal(storage.head, 10);
    assert.equal(await text(storage.read(10)), nl(rec(10)));
    await storage.close();
    assert.deepEqual({ writes: disk.writes, datasyncs: disk.datasyncs }, calls, "close does not fsync either");
  }

  async function captureFailure(promise: Promise<void>, code: string): Promise<StorageFailedError> {
    let failure: StorageFailedError | undefined;
    await assert.rejects(promise, (e: unknown) => {
      assert.ok(e instanceof StorageFailedError, `expected StorageFailedError, got ${e}`);
      assert.equal((e.cause as { code?: string })?.code, code);
      assert.match(
        e.message,
        new RegExp(
          `^Cannot append to storage file .*: ${code}: .*; the storage accepts nothing more — fix the disk and restart$`,
        ),
      );
      failure = e;
      return true;
    });
    return failure!;
  }

  it("an fsync error (EIO) fails the append, is never retried, and the unsynced bytes are cut off", async () => {
    const disk = new FaultyDisk();
    const { file, storage, good } = await prepared(disk);
    const syncsBefore = disk.datasyncs;
    disk.onDatasync = (n) => (n === syncsBefore + 1 ? ioError("EIO", "fdatasync") : undefined);
    const failure = await captureFailure(storage.append(recs(11, 20)), "EIO");
    assert.equal(disk.datasyncs, syncsBefore + 1, "exactly one fsync attempt for the failed append");
    assert.deepEqual(await readFile(file), good, "the failed batch is truncated away");
    await assertFailedForGood(storage, disk, failure);
    const again = await openQuiet(file);
    assert.equal(again.storage.head, 10);
    await again.storage.close();
  });

  for (const code of ["EIO", "ENOSPC"] as const) {
    it(`a write error (${code}) after half the batch reached the file leaves no record a restart keeps beyond the last good one`, async () => {
      const disk = new FaultyDisk();
      const { file, storage, good } = await prepared(disk);
      const batch = recs(11, 20);
      const half = Math.floor(bytesOf(batch).length / 2);
      const writesBefore = disk.writes;
      disk.onWrite = (
        n,
      ) => (n === writesBefore + 1 ? { error: ioError(code, "write"), writeFirst: () => half } : undefined);
      const syncsBefore = disk.datasyncs;
      const failure = await captureFailure(storage.append(batch), code);
      assert.equal(disk.datasyncs, syncsBefore, "no fsync after a failed write");
      assert.deepEqual(await readFile(file), good, "the half-written batch is truncated away");
      await assertFailedForGood(storage, disk, failure);
    });
  }

  it("when the cut-off fails too (dead disk), a restart drops the half record and keeps only complete ones", async () => {
    const disk = new FaultyDisk();
    const { file, storage, good } = await prepared(disk);
    const batch = recs(11, 20);
    const firstTwo = bytesOf(batch.slice(0, 2)).length;
    const writesBefore = disk.writes;
    disk.onWrite = (
      n,
    ) => (n === writesBefore + 1 ? { error: ioError("EIO", "write"), writeFirst: () => firstTwo + 7 } : undefined);
    disk.truncateFails = true;
    await captureFailure(storage.append(batch), "EIO");
    await storage.close();
    assert.equal((await stat(file)).size, good.length + firstTwo + 7, "the half batch is still on disk");
    const report = await verifyStorageFile(file);
    assert.equal(report.ok, false);
    assert.equal(report.records, 12);
    const { storage: reopened, warnings } = await openQuiet(file);
    // Records 11 and 12 are complete lines: kept, but they were never acknowledged, so the broker
    // redelivers them and the dedup window (rebuilt from the file) acknowledges them without a new position.
    assert.equal(reopened.head, 12);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /truncating 7 bytes/);
    assert.deepEqual(new Uint8Array(await readFile(file)), concat(new Uint8Array(good), bytesOf(batch.slice(0, 2))));
    await reopened.append([rec(13)]);
    await reopened.close();
  });

  it("short writes are continued until the whole batch is on disk", async () => {
    const disk = new FaultyDisk();
    disk.maxWrite = 37;
    const { file, storage } = await prepared(disk);
    await storage.append(recs(11, 30));
    await storage.close();
    assert.equal(await recordsText(file), recs(1, 30).map(nl).join(""));
    assert.ok(disk.writes > 30);
  });

  it("a write that reports 0 bytes written fails the append instead of spinning", async () => {
    const disk = new FaultyDisk();
    const { file, storage, good } = await prepared(disk);
    disk.maxWrite = 0;
    await assert.rejects(
      storage.append([rec(11)]),
      (e: unknown) => e instanceof StorageFailedError && /write returned 0 bytes/.test(e.message),
    );
    disk.maxWrite = Infinity;
    await assert.rejects(storage.append([rec(11)]), StorageFailedError);
    await storage.close();
    assert.deepEqual(await readFile(file), good);
  });
});

describe("FileStorage on a full disk (real ENOSPC on a 256 KiB tmpfs)", () => {
  it("fails the append with ENOSPC, keeps only whole records, and continues after the disk grows", async (t) => {
    const dir = join(root, "tmpfs");
    await mkdir(dir);
    const why = mountTmpfs(dir, "256k");
    if (why) {
      console.log(`skipped: cannot mount a tmpfs here (${why})`);
      t.skip(`cannot mount a tmpfs: ${why}`);
      return;
    }
    try {
      const file = join(dir, "storage");
      const storage = await FileStorage.open(file);
      const filler = "x".repeat(900);
      let position = 0;
      let failure: unknown;
      while (true) {
        const batch = Array.from({ length: 10 }, (_, i) => rec(position + 1 + i, `"${filler}"`));
        try {
          await storage.append(batch);
          position += batch.length;
        } catch (error) {
          failure = error;
          break;
        }
      }
      assert.ok(failure instanceof StorageFailedError, `expected StorageFailedError, got ${failure}`);
      assert.equal((failure.cause as { code?: string })?.code, "ENOSPC");
      assert.match(failure.message, /ENOSPC|no space/i);
      assert.ok(position > 0);
      assert.equal(storage.head, position);
      await assert.rejects(storage.append([rec(position + 1, '"small"')]), (e) => e === failure);
      await storage.close();
      assert.deepEqual(await verifyStorageFile(file), { ok: true, records: position });
      resizeTmpfs(dir, "4m");
      const { storage: reopened, warnings } = await openQuiet(file);
      assert.equal(reopened.head, position);
      assert.deepEqual(warnings, []);
      await reopened.append([rec(position + 1)]);
      await reopened.close();
      console.log(
        `full disk: ${position} records stored before ENOSPC, none torn, next append got ${
          position + 1
        }; the error said: ${failure.message}`,
      );
    } finally {
      unmount(dir);
    }
  });
});

describe("FileStorage refuses what is not a store, and never touches it", () => {
  const random = prng(7);
  const randomBytes = new Uint8Array(500).map(() => Math.floor(random() * 256));
  const header =
    '{"rabbitEventstore":1,"storeId":"5b0c2f9e-3a41-4c7e-9d2b-0f6a1e8c7b35","created":"2026-12-01T00:00:00.000Z"}\n';
  const foreign: Array<[string, Uint8Array, RegExp]> = [
    ["a package.json", encoder.encode('{\n  "name": "my-app",\n  "version": "1.0.0"\n}\n'), /begins with "\{"/],
    ["500 random bytes", randomBytes, /begins with bytes that are not text: [0-9a-f]{2} /],
    ["two lines of text", encoder.encode("hello\nworld\n"), /begins with "hello"/],
    ["one line of text without a newline", encoder.encode("just some notes"), /begins with "just some notes"/],
    ["zeros ending in a newline", concat(new Uint8Array(80), encoder.encode("\n")), /begins with/],
    ["a record at position 2 first", bytesOf([rec(2), rec(3)]), /begins with "\{\\"position\\":2/],
    [
      "a store header of a newer format",
      encoder.encode(header.replace('"rabbitEventstore":1', '"rabbitEventstore":2') + nl(rec(1))),
      /format 2 is newer/,
    ],
    ["a header without a valid storeId", encoder.encode('{"rabbitEventstore":1,"storeId":"x"}\n'), /no valid storeId/],
    ["a header line that is not JSON", encoder.encode('{"rabbitEventstore":1,,}\n'), /not valid JSON/],
  ];
  for (const [name, bytes, reason] of foreign) {
    it(`refuses ${name} with NotAStoreError, byte for byte untouched`, async () => {
      const file = tempFile();
      await writeFile(file, bytes);
      await assert.rejects(openQuiet(file), (e: unknown) => {
        assert.ok(e instanceof NotAStoreError, `expected NotAStoreError, got ${e}`);
        assert.equal(e.path, file);
        assert.match(e.reason, reason);
        return true;
      });
      assert.deepEqual(new Uint8Array(await readFile(file)), bytes);
      await assert.rejects(verifyStorageFile(file), NotAStoreError);
      assert.deepEqual(new Uint8Array(await readFile(file)), bytes);
    });
  }

  it("refuses a directory, a character device and a FIFO without opening them for writing", async () => {
    const dir = join(root, `dir-${++counter}`);
    await mkdir(dir);
    await assert.rejects(
      FileStorage.open(dir),
      (e: unknown) => e instanceof NotAStoreError && /a directory/.test(e.reason),
    );
    await assert.rejects(
      FileStorage.open("/dev/null"),
      (e: unknown) => e instanceof NotAStoreError && /a character device/.test(e.reason),
    );
    const fifo = join(root, `fifo-${++counter}`);
    const made = spawnSync("mkfifo", [fifo]);
    assert.equal(made.status, 0, "mkfifo");
    // Opening a FIFO for writing would block until a reader came: refused before any open.
    await assert.rejects(
      FileStorage.open(fifo),
      (e: unknown) => e instanceof NotAStoreError && /a FIFO/.test(e.reason),
    );
  });

  it("opens a store from before headers (records from byte 0): derived identity, stable, no header inserted", async () => {
    const file = tempFile();
    const legacy = bytesOf(recs(1, 5));
    await writeFile(file, legacy);
    const { storage, warnings } = await openQuiet(file);
    assert.equal(storage.head, 5);
    assert.deepEqual(warnings, []);
    assert.match(storage.storeId, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const id = storage.storeId;
    await storage.append([rec(6)]);
    await storage.close();
    assert.deepEqual(new Uint8Array(await readFile(file)), concat(legacy, bytesOf([rec(6)])));
    const again = await FileStorage.open(file);
    assert.equal(again.storeId, id, "the same across restarts");
    await again.close();
    const otherFile = tempFile();
    await writeFile(otherFile, bytesOf([rec(1, '{"other":true}')]));
    const other = await FileStorage.open(otherFile);
    assert.notEqual(other.storeId, id, "another store, another identity");
    await other.close();
  });

  it("recovers a store whose creation was cut at any byte of its header line", async () => {
    const bytes = encoder.encode(header);
    for (let cut = 1; cut < bytes.length - 1; cut++) {
      const file = tempFile();
      await writeFile(file, bytes.subarray(0, cut));
      const { storage, warnings } = await openQuiet(file);
      assert.equal(storage.head, 0, `cut ${cut}`);
      assert.equal(warnings.length, 1, `cut ${cut}: ${warnings}`);
      await storage.append([rec(1)]);
      await storage.close();
      assert.equal(await recordsText(file), nl(rec(1)), `cut ${cut}`);
    }
  });

  it("recovers a store whose very first record was cut (with or without a header before it)", async () => {
    const first = encoder.encode(nl(rec(1)));
    for (const prefix of [new Uint8Array(0), encoder.encode(header)]) {
      for (const cut of [1, 5, 14, 20, first.length - 1]) {
        const file = tempFile();
        await writeFile(file, concat(prefix, first.subarray(0, cut)));
        const { storage } = await openQuiet(file);
        assert.equal(storage.head, 0, `cut ${cut}`);
        await storage.append([rec(1)]);
        await storage.close();
        assert.equal(await recordsText(file), nl(rec(1)), `cut ${cut}`);
        if (prefix.length > 0) {
          const reopened = await FileStorage.open(file);
          await reopened.close();
          assert.equal(reopened.storeId, JSON.parse(header).storeId, "a header that was written is kept");
        }
      }
    }
  });
});

describe("FileStorage has one writer", () => {
  it("refuses a second opener with StoreLockedError naming the holder's pid, and the second writes nothing", async () => {
    const file = tempFile();
    const first = await FileStorage.open(file);
    await first.append(recs(1, 3));
    // The first server's next write, still in progress: a second opener must not take it for a torn tail.
    await writeFile(file, encoder.encode(rec(4).line.slice(0, 20)), { flag: "a" });
    const before = await readFile(file);
    await assert.rejects(FileStorage.open(file), (e: unknown) => {
      assert.ok(e instanceof StoreLockedError, `expected StoreLockedError, got ${e}`);
      assert.equal(e.path, file);
      if (process.platform === "linux") assert.equal(e.pid, process.pid);
      assert.match(e.message, /is in use by another server \(pid \d+\)/);
      return true;
    });
    assert.deepEqual(await readFile(file), before, "the second opener changed nothing");
    await first.close();
    const second = await openQuiet(file);
    assert.equal(second.storage.head, 3, "after the first closed, the second opens (and drops the torn tail)");
    await second.storage.close();
  });

  it("a read-only open (verify) takes no lock and works beside the writer", async () => {
    const file = tempFile();
    const writer = await FileStorage.open(file);
    await writer.append(recs(1, 2));
    const report = await verifyStorageFile(file);
    assert.deepEqual(report, { ok: true, records: 2 });
    await writer.close();
  });
});
