/**
 * The storage contract: what every {@link EventStorage} backend must do, as
 * node:test cases. A backend passes it by calling {@link storageContract}
 * from its own test file with a factory for fresh stores:
 *
 * ```ts ignore
 * storageContract("MemoryStorage", async () => { ... return { storage, failNextAppend, reopen }; });
 * ```
 *
 * It checks the rules `lib/storage.ts` states: dense positions
 * (`OutOfOrderError`), one line per record without a newline (`TypeError`),
 * durable before the append resolves (a reopened store has it), reads from
 * any position are whole records up to the head at the time of the call,
 * scan ranges clamp to the head and carry the metadata (type, stream,
 * stream version, batch size), `scanIds` with the streams, `readPositions`
 * (the records asked for, in the order given; `RangeError` past the head),
 * the publish watermark, a failed append stops the storage for good
 * (`StorageFailedError`), appends after close fail, and the store's identity
 * survives a reopen.
 *
 * @module
 */
import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { OutOfOrderError, StorageFailedError } from "../lib/errors.ts";
import { encodeRecord, encodeRecordLine, parseRecord } from "../lib/record.ts";
import type { AppendRecord, EventStorage, StoredRecord } from "../lib/storage.ts";

/** A fresh, empty store of the backend under test, with the two things the contract must be able to do to it. */
export interface ContractSubject {
  /** The open, empty store. */
  storage: EventStorage;
  /** Make the backend's next append fail inside it (a disk error, a lost quorum …). */
  failNextAppend(): void;
  /** Close the current storage (if still open) and open the same store again, as a restart would. */
  reopen(): Promise<EventStorage>;
}

const TIME = "2026-12-01T12:00:00.000Z";

/** Record `p`: every third has a type, every fifth multi-byte UTF-8 (so bytes and characters differ). */
export function contractRecord(p: number): AppendRecord {
  const id = `id-${p}`;
  const type = p % 3 === 0 ? `Type${p}` : undefined;
  const data = p % 5 === 0 ? `{"n":${p},"s":"größe 🐇"}` : `{"n":${p}}`;
  const record: AppendRecord = { position: p, id, line: encodeRecord(p, id, TIME, data, type) };
  if (type !== undefined) record.type = type;
  return record;
}

/**
 * Records `from..to` where most are in one of a few streams (names plain, UTF-8 and escaped), some carry
 * metadata, and a group of three (`batchSize` 3) starts at every position divisible by 10 (whole within
 * `from..to` when `to` is a multiple of 10 plus 2 or more).
 */
export function streamRecords(from: number, to: number, versions = new Map<string, number>()): AppendRecord[] {
  const names = ["order-1", "order-2", "größe-🐇", 'quote-"x"\\'];
  const out: AppendRecord[] = [];
  for (let p = from; p <= to; p++) {
    const id = `id-${p}`;
    const stream = p % 7 === 3 ? undefined : names[p % names.length];
    const streamVersion = stream === undefined ? undefined : (versions.get(stream) ?? 0) + 1;
    if (stream !== undefined) versions.set(stream, streamVersion!);
    const batchSize = p % 10 === 0 && p + 2 <= to ? 3 : undefined;
    const type = p % 3 === 0 ? `Type${p}` : undefined;
    const metadata = p % 4 === 0 ? `{"correlationId":"c-${p}"}` : undefined;
    const line = encodeRecordLine({
      position: p,
      id,
      time: TIME,
      stream,
      streamVersion,
      batchSize,
      type,
      metadata,
      data: `{"n":${p}}`,
    });
    const record: AppendRecord = { position: p, id, line };
    if (type !== undefined) record.type = type;
    if (stream !== undefined) Object.assign(record, { stream, streamVersion });
    if (batchSize !== undefined) record.batchSize = batchSize;
    out.push(record);
  }
  return out;
}

/** Every chunk of `stream`, or the error it ended with. */
async function bytesOrError(stream: ReadableStream<Uint8Array>): Promise<string | Error> {
  try {
    return await text(stream);
  } catch (error) {
    return error as Error;
  }
}

function range(from: number, to: number): AppendRecord[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => contractRecord(from + i));
}

async function text(stream: ReadableStream<Uint8Array>): Promise<string> {
  return await new Response(stream).text();
}

async function scanAll(storage: EventStorage, from: number, to?: number): Promise<StoredRecord[]> {
  const out: StoredRecord[] = [];
  for await (const record of storage.scan(from, to)) out.push(record);
  return out;
}

/** What scan must return for these records: position, id, type when set, and the line. */
function expected(records: AppendRecord[]): StoredRecord[] {
  return records.map((r) => (r.type === undefined ? { position: r.position, id: r.id, line: r.line } : { ...r }));
}

/** Register the contract's cases for one backend. */
export function storageContract(name: string, make: () => ContractSubject | Promise<ContractSubject>): void {
  describe(`storage contract: ${name}`, () => {
    const open: EventStorage[] = [];
    const fresh = async (): Promise<ContractSubject> => {
      const subject = await make();
      open.push(subject.storage);
      const reopen = subject.reopen;
      return {
        ...subject,
        reopen: async () => {
          const again = await reopen();
          open.push(again);
          return again;
        },
      };
    };
    afterEach(async () => {
      for (const storage of open.splice(0)) await storage.close().catch(() => {});
    });

    it("starts empty, with an identity", async () => {
      const { storage } = await fresh();
      assert.equal(storage.head, 0);
      assert.equal(typeof storage.storeId, "string");
      assert.ok(storage.storeId.length > 0, "storeId is not empty");
      assert.equal(await text(storage.read(1)), "");
      assert.deepEqual(await scanAll(storage, 1), []);
      assert.equal(await storage.publishedMark.load(), 0, "nothing published yet");
    });

    it("appends batches at dense positions and returns them with their metadata", async () => {
      const { storage } = await fresh();
      await storage.append(range(1, 3));
      await storage.append(range(4, 4));
      await storage.append([]);
      await storage.append(range(5, 40));
      assert.equal(storage.head, 40);
      assert.deepEqual(await scanAll(storage, 1), expected(range(1, 40)));
      assert.equal(await text(storage.read(1)), range(1, 40).map((r) => r.line + "\n").join(""));
    });

    it("refuses positions that do not continue the head (OutOfOrderError) and lines with a newline (TypeError), storing nothing of that batch", async () => {
      const { storage } = await fresh();
      await storage.append(range(1, 5));
      for (const [batch, exp, act] of [[[6, 8], 7, 8], [[7], 6, 7], [[5], 6, 5], [[1], 6, 1]] as const) {
        await assert.rejects(storage.append(batch.map(contractRecord)), (e: unknown) => {
          assert.ok(e instanceof OutOfOrderError, `expected OutOfOrderError, got ${e}`);
          assert.equal(e.expected, exp);
          assert.equal(e.actual, act);
          return true;
        });
      }
      await assert.rejects(storage.append([contractRecord(6), { ...contractRecord(7), line: "{}\n{}" }]), TypeError);
      await assert.rejects(storage.append([{ ...contractRecord(6), line: contractRecord(6).line + "\n" }]), TypeError);
      assert.equal(storage.head, 5);
      assert.deepEqual(await scanAll(storage, 1), expected(range(1, 5)));
      await storage.append(range(6, 7)); // a refused batch is not a storage failure
      assert.equal(storage.head, 7);
    });

    it("is durable when append resolves: a reopened store has every record, the same identity and its watermark", async () => {
      const subject = await fresh();
      const { storage } = subject;
      const storeId = storage.storeId;
      await storage.append(range(1, 10));
      await storage.publishedMark.save(7);
      const again = await subject.reopen();
      assert.equal(again.head, 10);
      assert.equal(again.storeId, storeId, "the identity survives a reopen");
      assert.deepEqual(await scanAll(again, 1), expected(range(1, 10)));
      assert.equal(await again.publishedMark.load(), 7);
      await again.append(range(11, 12));
      assert.equal(again.head, 12);
    });

    it("reads whole records from any position, with a limit, up to the head at the time of the call", async () => {
      const { storage } = await fresh();
      const all = range(1, 30);
      await storage.append(all);
      const lines = all.map((r) => r.line + "\n");
      for (let from = -1; from <= 32; from++) {
        const first = Math.max(1, from);
        assert.equal(await text(storage.read(from)), lines.slice(first - 1).join(""), `read(${from})`);
        for (const limit of [1, 2, 7]) {
          assert.equal(
            await text(storage.read(from, { limit })),
            lines.slice(first - 1, first - 1 + limit).join(""),
            `read(${from}, { limit: ${limit} })`,
          );
        }
      }
      // A read taken before an append does not see it, and is whole records only.
      const before = storage.read(25);
      await storage.append(range(31, 33));
      const body = await text(before);
      assert.equal(body, lines.slice(24).join(""));
      for (const line of body.split("\n").slice(0, -1)) parseRecord(line);
      assert.equal(await text(storage.read(31)), range(31, 33).map((r) => r.line + "\n").join(""));
    });

    it("scans ranges clamped to the head, and scanIds gives the ids from a position", async () => {
      const { storage } = await fresh();
      const all = range(1, 20);
      await storage.append(all);
      for (const [from, to] of [[1, 1], [0, 3], [5, 9], [18, 99], [21, 30], [9, 5], [1, undefined], [15, undefined]]) {
        const first = Math.max(1, from!);
        const last = Math.min(to ?? 20, 20);
        assert.deepEqual(
          await scanAll(storage, from!, to),
          expected(all.slice(first - 1, Math.max(first - 1, last))),
          `scan(${from}, ${to})`,
        );
      }
      for (const from of [0, 1, 12, 20, 21]) {
        const seen: Array<[number, string]> = [];
        await storage.scanIds(from, {
          id: (p, id) => seen.push([p, id]),
          ascii: (p, bytes, start, end) => seen.push([p, new TextDecoder().decode(bytes.subarray(start, end))]),
        });
        assert.deepEqual(seen, all.slice(Math.max(1, from) - 1).map((r) => [r.position, r.id]), `scanIds(${from})`);
      }
    });

    it("stops for good after a failed append (StorageFailedError), keeping what it had; a reopen works again", async () => {
      const subject = await fresh();
      const { storage } = subject;
      await storage.append(range(1, 4));
      subject.failNextAppend();
      const failure = await storage.append(range(5, 6)).then(() => undefined, (e: unknown) => e);
      assert.ok(failure instanceof StorageFailedError, `expected StorageFailedError, got ${failure}`);
      assert.equal(storage.head, 4);
      for (const batch of [range(5, 5), range(5, 8)]) {
        await assert.rejects(storage.append(batch), (e: unknown) => e instanceof StorageFailedError);
      }
      assert.equal(storage.head, 4);
      assert.deepEqual(await scanAll(storage, 1), expected(range(1, 4)), "what it had is still readable");
      const again = await subject.reopen();
      assert.equal(again.head, 4, "nothing of the failed batch survives");
      await again.append(range(5, 6));
      assert.deepEqual(await scanAll(again, 1), expected(range(1, 6)));
    });

    it("refuses appends after close (StorageFailedError); close twice is fine", async () => {
      const { storage } = await fresh();
      await storage.append(range(1, 2));
      await storage.close();
      await storage.close();
      await assert.rejects(storage.append(range(3, 3)), (e: unknown) => e instanceof StorageFailedError);
      assert.equal(storage.head, 2);
    });

    it("saves and loads the publish watermark, which is no record: history, appends and a reopen are as before", async () => {
      const subject = await fresh();
      const { storage } = subject;
      await storage.append(range(1, 3));
      const before = await new Response(storage.read(1)).text();
      await storage.publishedMark.save(2);
      assert.equal(await storage.publishedMark.load(), 2);
      await storage.publishedMark.save(3);
      assert.equal(await storage.publishedMark.load(), 3);
      assert.equal(await new Response(storage.read(1)).text(), before, "saving the watermark changes no record");
      await storage.append(range(4, 5));
      await storage.publishedMark.save(5);
      const again = await subject.reopen();
      assert.equal(again.head, 5);
      assert.deepEqual(await scanAll(again, 1), expected(range(1, 5)));
      assert.equal(await again.publishedMark.load(), 5);
    });

    it("keeps stream, streamVersion, batchSize and type, and gives the streams to scanIds, across a reopen", async () => {
      const subject = await fresh();
      const versions = new Map<string, number>();
      const first = streamRecords(1, 22, versions);
      const second = streamRecords(23, 42, versions);
      await subject.storage.append(first);
      await subject.storage.append(second);
      const all = [...first, ...second];
      for (const reopened of [false, true]) {
        const storage = reopened ? await subject.reopen() : subject.storage;
        assert.deepEqual(await scanAll(storage, 1), all, "scan carries the metadata");
        assert.equal(await text(storage.read(1)), all.map((r) => r.line + "\n").join(""));
        for (const line of (await text(storage.read(1))).split("\n").slice(0, -1)) {
          const record = parseRecord(line);
          if (record.position % 4 === 0) {
            assert.equal((record.metadata as { correlationId: string }).correlationId, `c-${record.position}`);
          }
        }
        const seen: Array<[number, string, number]> = [];
        await storage.scanIds(5, { id: () => {}, stream: (p, stream, version) => seen.push([p, stream, version]) });
        assert.deepEqual(
          seen,
          all.filter((r) => r.position >= 5 && r.stream !== undefined).map((
            r,
          ) => [r.position, r.stream!, r.streamVersion!]),
        );
      }
    });

    it("readPositions returns the records asked for, in the order given, and RangeError for a position not stored", async () => {
      const { storage } = await fresh();
      const all = streamRecords(1, 60);
      await storage.append(all);
      const lines = (positions: number[]) => positions.map((p) => all[p - 1].line + "\n").join("");
      const cases = [[], [1], [60], [3, 1, 2], [5, 6, 7, 8], [60, 59, 1, 2, 3], [9, 9, 9], [2, 4, 8, 16, 32], [
        1,
        2,
        3,
        4,
        5,
        6,
        7,
        8,
        9,
        10,
        11,
      ]];
      for (const positions of cases) {
        assert.equal(await text(storage.readPositions(positions)), lines(positions), `readPositions(${positions})`);
      }
      const order1 = all.filter((r) => r.stream === "order-1").map((r) => r.position);
      assert.equal(await text(storage.readPositions(order1)), lines(order1), "a stream's positions");
      // Asked for before an append, read after it: still only what was durable at the call.
      const before = storage.readPositions([61]);
      await storage.append(streamRecords(61, 61).map((r) => ({ ...r, line: r.line })));
      for (
        const [positions, stream] of [[[0], storage.readPositions([0])], [[1, 62], storage.readPositions([1, 62])], [[
          1.5,
        ], storage.readPositions([1.5])], [[61], before]] as const
      ) {
        const result = await bytesOrError(stream);
        assert.ok(result instanceof RangeError, `readPositions(${positions}) fails with RangeError, got ${result}`);
      }
    });
  });
}
