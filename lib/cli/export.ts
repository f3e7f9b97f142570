/**
 * `rabbit-eventstore export [--from N] [--file STORAGEFILE] > records.ndjson`:
 * write the stored records, byte for byte, as NDJSON on stdout: from the
 * running server's HTTP history (`HISTORYURL`), or with `--file` from a store
 * file read-only (offline; a running server's file may be read too). What
 * `import` loads.
 *
 * @module
 */
import { historyUrlSetting, tokenSetting } from "../config.ts";
import { DEFAULTS } from "../defaults.ts";
import { describe, HistoryTimeoutError } from "../errors.ts";
import { FileStorage } from "../file_storage.ts";
import { settleWithin } from "../settle_within.ts";
import { type CliCommand, EXIT, integerOption, stringOption } from "./command_line.ts";
import type { CliIo } from "./cli_io.ts";
import { Progress } from "./progress.ts";

const NEWLINE = 0x0a;

/**
 * The `export` command.
 *
 * @example Export a store file from position 1
 * ```ts
 * import { processIo } from "./cli_io.ts";
 * import { parseCommandLine } from "./command_line.ts";
 * import { exportCommand } from "./export.ts";
 * await exportCommand.run(parseCommandLine(exportCommand.spec, ["--file", "./storage"]), processIo());
 * ```
 */
export const exportCommand: CliCommand = {
  spec: {
    name: "export",
    synopsis: "export [--from N] [--file STORAGEFILE] > records.ndjson",
    summary: "write the stored records, byte for byte, as NDJSON (from the server, or a store file)",
    description: [
      "Writes the records from position N (default 1) to the head, exactly as stored, one a line, on",
      "stdout: from the server's HTTP history (HISTORYURL), or with --file from a store file read",
      "read-only, without a server. The output is what import loads. Progress on stderr.",
    ],
    options: {
      from: { type: "string", value: "N", description: "start at position N (default 1)" },
      file: { type: "string", value: "STORAGEFILE", description: "read this store file instead of the server" },
    },
    environment: [
      "HISTORYURL    the server's HTTP interface, without --file (default http://localhost/)",
      "HISTORYTOKEN  bearer token for a server with HTTPTOKEN",
    ],
  },
  async run(parsed, io) {
    const from = Math.max(1, integerOption(parsed, "from", 1));
    const file = stringOption(parsed, "file");
    try {
      const written = file === undefined ? await fromServer(io, from) : await fromFile(io, file, from);
      await io.err.write(`exported ${written} record${written === 1 ? "" : "s"}\n`);
      return EXIT.ok;
    } catch (error) {
      await io.err.write(`rabbit-eventstore export: ${describe(error)}\n`);
      return EXIT.failure;
    }
  },
};

/** Copy `body` to stdout until `count` lines went by; returns the lines copied. */
async function copyLines(
  io: CliIo,
  body: ReadableStream<Uint8Array>,
  count: number,
  options: { idleTimeout?: number; what: string },
): Promise<number> {
  const progress = new Progress({ label: "export", unit: "records", total: count, output: io.err });
  const reader = body.getReader();
  let lines = 0;
  const idle = options.idleTimeout;
  try {
    while (lines < count) {
      const read = reader.read();
      const { done, value } = idle === undefined ? await read : await settleWithin(read, idle, () => {
        throw new HistoryTimeoutError(options.what, idle);
      });
      if (done) break;
      let end = value.length;
      for (let i = value.indexOf(NEWLINE); i !== -1; i = value.indexOf(NEWLINE, i + 1)) {
        if (++lines === count) {
          end = i + 1;
          break;
        }
      }
      await io.out.write(end === value.length ? value : value.subarray(0, end));
      progress.update(lines);
    }
  } finally {
    void reader.cancel().catch(() => {}); // never awaited: a fetch body's cancel can hang
  }
  await progress.finish();
  if (lines < count) throw new Error(`Cannot export: ${options.what} ended after ${lines} of ${count} records`);
  return lines;
}

async function fromServer(io: CliIo, from: number): Promise<number> {
  const url = new URL(historyUrlSetting(undefined));
  url.searchParams.set("from", String(from));
  const token = tokenSetting("HISTORYTOKEN", undefined);
  const response = await fetch(url, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  const head = Number(response.headers.get("x-head-position"));
  if (!response.ok || !response.body || !response.headers.has("x-head-position") || !Number.isSafeInteger(head)) {
    void response.body?.cancel().catch(() => {});
    throw new Error(`History request ${url} failed: HTTP ${response.status}, no x-head-position header`);
  }
  return await copyLines(io, response.body, Math.max(0, head - from + 1), {
    idleTimeout: DEFAULTS.listener.historyIdleTimeout,
    what: String(url),
  });
}

async function fromFile(io: CliIo, path: string, from: number): Promise<number> {
  const warnings: string[] = [];
  const storage = await FileStorage.open(path, { readOnly: true, warn: (message) => warnings.push(message) });
  try {
    for (const warning of warnings) await io.err.write(`rabbit-eventstore export: ${warning}\n`);
    return await copyLines(io, storage.read(from), Math.max(0, storage.head - from + 1), {
      what: `Store file ${path}`,
    });
  } finally {
    await storage.close();
  }
}
