/**
 * The rules every storage backend checks before it writes a batch, in one
 * place so that all backends refuse the same batches with the same errors.
 *
 * @module
 */
import { OutOfOrderError } from "./errors.ts";
import type { AppendRecord } from "./storage.ts";

/** Most records in one group (`batchSize`): a batch message's limit. */
export const MAX_GROUP = 1000;

/**
 * Check a batch against the head it would continue: positions must be
 * `head + 1`, `head + 2`, … (else {@link OutOfOrderError}), no line may
 * hold a newline (else `TypeError`), and a group (a record with `batchSize`
 * K, 2 ≤ K ≤ {@link MAX_GROUP}) must have all its K records in this append
 * (else `RangeError`), so a backend can keep it whole. Nothing is written
 * when it throws.
 *
 * @param head The storage's last durable position.
 * @param records The batch to append.
 * @throws {OutOfOrderError} When a position does not continue the head densely.
 * @throws {TypeError} When a line contains a newline.
 * @example Refuse a batch that skips a position
 * ```ts
 * import { checkBatch } from "./append_rules.ts";
 * checkBatch(2, [{ position: 3, id: "a", line: "{}" }]); // fine
 * try {
 *   checkBatch(2, [{ position: 4, id: "b", line: "{}" }]);
 * } catch (error) {
 *   console.log((error as Error).name); // OutOfOrderError
 * }
 * ```
 */
export function checkBatch(head: number, records: readonly AppendRecord[]): void {
  let expected = head + 1;
  for (const record of records) {
    if (record.position !== expected) throw new OutOfOrderError(expected, record.position);
    if (record.line.includes("\n")) {
      throw new TypeError(`Cannot append record at position ${record.position}: line must not contain a newline`);
    }
    const size = record.batchSize;
    if (size !== undefined) {
      const last = records[records.length - 1].position;
      if (!Number.isSafeInteger(size) || size < 2 || size > MAX_GROUP || record.position + size - 1 > last) {
        throw new RangeError(
          `Cannot append record at position ${record.position}: its group of ${size} must be 2 to ${MAX_GROUP} ` +
            `records, all in this append (it ends at ${last})`,
        );
      }
    }
    expected++;
  }
}
