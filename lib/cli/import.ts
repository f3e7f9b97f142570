/**
 * `rabbit-eventstore import [--file STORAGEFILE] < records.ndjson`: load an
 * export into a new or empty store file, offline, keeping every record's
 * bytes, position, id, stream version and batch.
 *
 * It checks as it goes (each line a record, positions dense from 1, each
 * stream's versions dense, each batch whole), writes to a temporary file
 * beside the store and, once all of it was written, fsync'd and verified as
 * the server would open it, renames it over the store: a failed import leaves
 * the store as it was (and the input untouched). It refuses a store that is
 * not empty and one a running server holds (its lock). The store gets a new
 * store id (listeners of the old one notice) and its publish watermark at the
 * head, so a server started on it does not republish the history to the fanout.
 *
 * @module
 */
import { rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { DEFAULTS as CONFIG_DEFAULTS } from "../config.ts";
import { DEFAULTS } from "../defaults.ts";
import { describe, NotAStoreError, StoreLockedError } from "../errors.ts";
import { FileStorage } from "../file_storage.ts";
import { parseRecord } from "../record.ts";
import { env } from "../runtime/env.ts";
import type { StoredRecord } from "../storage.ts";
import { StreamIndex } from "../stream_index.ts";
import { syncDirectory } from "../sync_directory.ts";
import { verifyStorageFile } from "../verify.ts";
import { type CliCommand, EXIT, stringOption } from "./command_line.ts";
import { inputLines } from "./input_lines.ts";
import { Progress } from "./progress.ts";

/**
 * The `import` command.
 *
 * @example Import stdin into a new store file
 * ```ts
 * import { processIo } from "./cli_io.ts";
 * import { parseCommandLine } from "./command_line.ts";
 * import { importCommand } from "./import.ts";
 * const code = await importCommand.run(parseCommandLine(importCommand.spec, ["--file", "./new-store"]), processIo());
 * console.log(code);
 * ```
 */
export const importCommand: CliCommand = {
  spec: {
    name: "import",
    synopsis: "import [--file STORAGEFILE] < records.ndjson",
    summary: "load an export into a new or empty store file (offline), checking it as it goes",
    description: [
      "Loads the records on stdin (what export writes) into a new or empty store file, keeping each",
      "record's bytes, position, id, stream version and batch. Checks every line as it goes (a record,",
      "positions dense from 1, stream versions dense, batches whole) and, at the end, the whole file as",
      "the server opens it; only then does the store take its place. A failed import leaves the store",
      "as it was. Refuses a store that is not empty, or that a running server holds. The store gets a",
      "new store id, and its publish watermark at the head (a server started on it does not republish",
      "the history to the fanout). Progress on stderr.",
    ],
    options: {
      file: { type: "string", value: "STORAGEFILE", description: "the store to create (default: env STORAGEFILE)" },
    },
    environment: ["STORAGEFILE   the store file, without --file (default ./storage)"],
  },
  async run(parsed, io) {
    const path = stringOption(parsed, "file") ?? (env().STORAGEFILE || CONFIG_DEFAULTS.storageFile);
    const existed = await stat(path).then(() => true, () => false);
    let target: FileStorage;
    try {
      target = await FileStorage.open(path, { warn: () => {} });
    } catch (error) {
      await io.err.write(`rabbit-eventstore import: ${refusal(path, error)}\n`);
      return EXIT.failure;
    }
    const temp = join(dirname(path), `.${basename(path)}.import-${crypto.randomUUID().slice(0, 8)}`);
    let imported: { records: number; streams: number; storeId: string } | undefined;
    try {
      if (target.head > 0) {
        throw new Error(
          `Cannot import into ${path}: it is not empty (head ${target.head}); import into a new or empty store file`,
        );
      }
      imported = await load(io, temp);
      const report = await verifyStorageFile(temp);
      if (!report.ok) throw new Error(`Cannot import: the written store failed its check: ${report.problem}`);
      // The store takes its place whole; the lock on the empty one is held until then.
      // A store made now keeps its watermark in its header; one beside an old store's side file moves it along.
      await rename(`${temp}.published`, `${path}.published`).catch((error) => {
        if (error?.code !== "ENOENT") throw error;
      });
      await rename(temp, path);
      await syncDirectory(dirname(path)); // the renames survive a power loss
    } catch (error) {
      await rm(temp, { force: true });
      await rm(`${temp}.published`, { force: true });
      await target.close();
      if (!existed) await rm(path, { force: true });
      await io.err.write(
        `rabbit-eventstore import: ${describe(error)}; nothing was imported: ${path} is as it was ` +
          `and the input is untouched\n`,
      );
      return EXIT.failure;
    }
    await target.close();
    await io.out.write(
      `imported ${imported.records} record${imported.records === 1 ? "" : "s"} (${imported.streams} stream${
        imported.streams === 1 ? "" : "s"
      }) into ${path}, store id ${imported.storeId}; verified\n`,
    );
    return EXIT.ok;
  },
};

/** Why the store cannot be opened, in one line. */
function refusal(path: string, error: unknown): string {
  if (error instanceof StoreLockedError) {
    return `Cannot import into ${path}: it is in use by a running server (pid ${error.pid ?? "unknown"}); ` +
      `stop it, or import into another file`;
  }
  if (error instanceof NotAStoreError) {
    return `Cannot import into ${path}: it is not a rabbit-eventstore store (${error.reason}); it was left untouched`;
  }
  return `Cannot import into ${path}: ${describe(error)}`;
}

/** Append stdin's records to a new store at `temp`, checking each; returns what was loaded. */
async function load(
  io: Parameters<CliCommand["run"]>[1],
  temp: string,
): Promise<{ records: number; streams: number; storeId: string }> {
  const storage = await FileStorage.open(temp, { warn: () => {} });
  const size = io.inputSize();
  const progress = new Progress({
    label: "import",
    unit: size === undefined ? "records" : "bytes",
    total: size,
    output: io.err,
  });
  const index = new StreamIndex();
  let batch: StoredRecord[] = [];
  /** Records still to come of the batch (`batchSize`) being read. */
  let groupLeft = 0;
  let group: { position: number; size: number; line: number } | undefined;
  let next = 1;
  let bytes = 0;
  try {
    for await (const lines of inputLines(io.input())) {
      for (const line of lines) {
        bytes = line.end;
        if (line.text.trim() === "") continue;
        const at = `line ${line.number}`;
        let record;
        try {
          record = parseRecord(line.text);
        } catch (error) {
          throw new Error(`${at}: not a record (${describe(error)})`);
        }
        if (record.position !== next) {
          throw new Error(
            `${at}: position ${record.position}, expected ${next}` +
              (next === 1 ? " (an import starts at position 1: export without --from)" : " (positions must be dense)"),
          );
        }
        if (record.stream !== undefined) {
          try {
            index.add(record.position, record.stream, record.streamVersion!);
          } catch (error) {
            throw new Error(`${at}: ${describe(error)}`);
          }
        }
        const batchSize = record.batchSize;
        if (batchSize !== undefined) {
          if (groupLeft > 0) {
            throw new Error(`${at}: a batch begins inside the batch of ${group!.size} from line ${group!.line}`);
          }
          if (!Number.isSafeInteger(batchSize) || batchSize < 2) {
            throw new Error(`${at}: batchSize must be an integer of at least 2, got ${String(batchSize)}`);
          }
          group = { position: record.position, size: batchSize, line: line.number };
          groupLeft = batchSize;
        }
        if (groupLeft > 0) groupLeft--;
        batch.push({
          position: record.position,
          id: record.id,
          type: record.type,
          stream: record.stream,
          streamVersion: record.streamVersion,
          batchSize,
          line: line.text,
        });
        next++;
        // A batch's records go in one append: the store keeps a group whole or not at all.
        if (groupLeft === 0 && batch.length >= DEFAULTS.cli.importBatch) {
          await storage.append(batch);
          batch = [];
          if (size === undefined) progress.update(next - 1);
          else progress.update(bytes, `${(next - 1).toLocaleString("en-US")} records`);
        }
      }
    }
    if (groupLeft > 0) {
      throw new Error(
        `the input ends inside the batch of ${group!.size} records from line ${group!.line} ` +
          `(position ${group!.position}): ${groupLeft} of them missing`,
      );
    }
    await storage.append(batch);
    await storage.publishedMark.save(storage.head);
    await storage.publishedMark.sync?.();
    if (size === undefined) progress.update(storage.head);
    else progress.update(size, `${storage.head.toLocaleString("en-US")} records`);
    await progress.finish();
    return { records: storage.head, streams: index.size, storeId: storage.storeId };
  } finally {
    await storage.close();
  }
}
