/**
 * The records at chosen positions, read as a few sequential ranges.
 *
 * A stream or category read wants scattered positions. Finding each record
 * on its own costs a seek from the storage's sparse index (up to a thousand
 * lines skipped, a 64 KiB read), which for a category of one event in ten
 * made a filtered catch-up 20–50× slower than reading everything. Instead,
 * positions closer than `maxGap` are read as one range with
 * `EventStorage.read` and the lines in between are dropped by counting
 * newlines (records are dense: the n-th line of a range starting at s is
 * position s + n - 1), so no line is parsed. A read then costs at most
 * `maxGap` lines per wanted record, and never more than the range it spans.
 *
 * @module
 */

/** What {@link readSelected} reads: ranges of durable records as NDJSON bytes. */
export interface RangeSource {
  /** Records from `from` (inclusive), at most `limit` of them, as NDJSON bytes. */
  read(from: number, options?: { limit?: number }): ReadableStream<Uint8Array>;
}

/**
 * Options of {@link readSelected}.
 *
 * @example Never read more than 100 unwanted lines in a row
 * ```ts
 * import type { ReadSelectedOptions } from "./selected_records.ts";
 * const options: ReadSelectedOptions = { maxGap: 100 };
 * ```
 */
export interface ReadSelectedOptions {
  /**
   * Wanted positions at most this many unwanted positions apart are read as one range; farther apart,
   * a new range starts (one seek). The file store's sparse index keeps every 1024th offset, so a seek
   * skips about as many lines as this default.
   * @default {1024}
   */
  maxGap?: number;
}

const NEWLINE = 0x0a;

/**
 * NDJSON bytes of the records at `positions` (ascending, each at most the head), in that order.
 *
 * @param source The storage.
 * @param positions Ascending positions, none above the storage's head.
 * @param options How far apart positions may be and still be read as one range.
 * @returns The records' lines, each with its newline; errors when the storage ends before a position.
 * @example Two records of a memory store
 * ```ts
 * import { readSelected } from "./selected_records.ts";
 * import { MemoryStorage } from "./memory_storage.ts";
 * import { encodeRecord } from "./record.ts";
 * const storage = new MemoryStorage();
 * await storage.append([1, 2, 3].map((p) => ({ position: p, id: `e${p}`, line: encodeRecord(p, `e${p}`, "t", "1") })));
 * console.log(await new Response(readSelected(storage, [1, 3])).text()); // lines 1 and 3
 * ```
 */
export function readSelected(
  source: RangeSource,
  positions: readonly number[],
  options: ReadSelectedOptions = {},
): ReadableStream<Uint8Array> {
  const maxGap = options.maxGap ?? 1024;
  let next = 0; // index in positions of the next wanted record
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let position = 0; // position of the line that starts at the current byte of the range
  let end = 0; // last position of the current range
  let partial: Uint8Array[] = []; // a wanted line's bytes from earlier chunks
  return new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      while (true) {
        if (!reader) {
          if (next >= positions.length) return controller.close();
          // The range: from the next wanted position while the following one is near enough.
          let last = next;
          while (last + 1 < positions.length && positions[last + 1] - positions[last] - 1 <= maxGap) last++;
          position = positions[next];
          end = positions[last];
          reader = source.read(position, { limit: end - position + 1 }).getReader();
        }
        const { done, value } = await reader.read();
        if (done) {
          reader = undefined;
          if (position <= end) {
            return controller.error(new RangeError(`Cannot read position ${position}: the storage ended before it`));
          }
          continue;
        }
        const out: Uint8Array[] = [];
        let start = 0;
        while (start < value.length) {
          const nl = value.indexOf(NEWLINE, start);
          const stop = nl === -1 ? value.length : nl + 1;
          if (position === positions[next]) {
            if (nl === -1) partial.push(value.slice(start)); // the rest comes with the next chunk
            else {
              for (const piece of partial) out.push(piece);
              partial = [];
              out.push(value.subarray(start, stop));
            }
          }
          if (nl === -1) break;
          if (position === positions[next]) next++;
          position++;
          start = stop;
        }
        if (out.length > 0) return controller.enqueue(concat(out));
      }
    },
    cancel: async (reason) => {
      await reader?.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** One fresh array holding `pieces` (the storage may reuse its buffers once a chunk is passed on). */
function concat(pieces: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const piece of pieces) length += piece.length;
  const bytes = new Uint8Array(length);
  let at = 0;
  for (const piece of pieces) {
    bytes.set(piece, at);
    at += piece.length;
  }
  return bytes;
}
