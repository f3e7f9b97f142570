/**
 * Check a storage file without changing it.
 *
 * @module
 */
import { CorruptLogError, StreamVersionError } from "./errors.ts";
import { FileStorage } from "./file_storage.ts";
import { StreamIndex } from "./stream_index.ts";

/**
 * What {@link verifyStorageFile} found.
 *
 * @example Print a report
 * ```ts
 * import { type VerifyReport, verifyStorageFile } from "rabbit-eventstore";
 * const report: VerifyReport = await verifyStorageFile("./storage");
 * console.log(report.ok ? `${report.records} records` : report.problem);
 * ```
 */
export interface VerifyReport {
  /** True when every line is a record at the expected position, and every stream's versions are dense. */
  ok: boolean;
  /** Records in the valid prefix. */
  records: number;
  /** The first problem, with its line and byte offset, if any. */
  problem?: string;
}

/**
 * Options for {@link verifyStorageFile}.
 *
 * @example Print how far the check is
 * ```ts
 * import { type VerifyOptions, verifyStorageFile } from "rabbit-eventstore";
 * const options: VerifyOptions = { onProgress: (bytes) => console.error(`${bytes} bytes checked`) };
 * await verifyStorageFile("./storage", options);
 * ```
 */
export interface VerifyOptions {
  /** Called as the file is read, with the bytes read so far. @default {undefined} */
  onProgress?: (bytes: number) => void;
}

/**
 * Verify a storage file read-only: every line must be a complete record at
 * the next position, and each stream's versions must run 1, 2, 3 … in global
 * order. Reports the first problem (a torn tail or an incomplete batch that
 * the server would truncate, or damage it would refuse).
 *
 * @param path The storage file.
 * @param options `onProgress`, called with the bytes read so far as the check goes.
 * @returns The report; a missing or unreadable file rejects instead.
 * @example Check a store before starting a server on it
 * ```ts
 * import { verifyStorageFile } from "rabbit-eventstore";
 * const report = await verifyStorageFile("./storage");
 * if (!report.ok) console.error(report.problem);
 * ```
 */
export async function verifyStorageFile(path: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  let torn: string | undefined;
  let records = 0;
  const index = new StreamIndex();
  try {
    const storage = await FileStorage.open(path, {
      // FileStorage words it as what it does; this check changes nothing, so say what the server would do.
      warn: (
        message,
      ) => (torn = message.replace(": truncating ", ": the server would truncate ").replace(
        ": would drop ",
        ": the server would drop ",
      )),
      ids: { id: () => records++, stream: (position, stream, version) => index.add(position, stream, version) },
      // The thorough check: a full JSON.parse of every line, not the byte-level start-up check.
      fullParse: true,
      // Read-only: no lock, and a torn tail is reported, never truncated.
      readOnly: true,
      onProgress: options.onProgress,
    });
    records = storage.head;
    await storage.close();
  } catch (error) {
    if (error instanceof CorruptLogError) return { ok: false, records: error.position - 1, problem: error.message };
    if (error instanceof StreamVersionError) {
      return { ok: false, records: error.position - 1, problem: `Storage file ${path}: ${error.message}` };
    }
    throw error;
  }
  return torn ? { ok: false, records, problem: torn } : { ok: true, records };
}
