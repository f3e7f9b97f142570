/**
 * `rabbit-eventstore stats [--file STORAGEFILE] [--json]`: the store's
 * figures: from the running server's `/health` (head, published watermark,
 * streams, broker, memory), or with `--file` from a store file read-only
 * (head, streams, size, published watermark).
 *
 * @module
 */
import { stat } from "node:fs/promises";
import { historyUrlSetting, tokenSetting } from "../config.ts";
import { describe } from "../errors.ts";
import { FileStorage } from "../file_storage.ts";
import { StreamIndex } from "../stream_index.ts";
import { type CliCommand, EXIT, stringOption } from "./command_line.ts";
import type { CliIo } from "./cli_io.ts";

/**
 * The `stats` command.
 *
 * @example Print a store file's figures as JSON
 * ```ts
 * import { processIo } from "./cli_io.ts";
 * import { parseCommandLine } from "./command_line.ts";
 * import { statsCommand } from "./stats.ts";
 * await statsCommand.run(parseCommandLine(statsCommand.spec, ["--file", "./storage", "--json"]), processIo());
 * ```
 */
export const statsCommand: CliCommand = {
  spec: {
    name: "stats",
    synopsis: "stats [--file STORAGEFILE] [--json]",
    summary: "print the store's head, streams, published watermark and more",
    description: [
      "Prints the figures of the running server (its /health under HISTORYURL): store id, head, published",
      "watermark, streams, broker, memory; or with --file those of a store file, read-only: store id,",
      "head, streams, size, published watermark. --json prints one JSON object instead.",
    ],
    options: {
      file: { type: "string", value: "STORAGEFILE", description: "read this store file instead of the server" },
      json: { type: "boolean", description: "print one JSON object" },
    },
    environment: [
      "HISTORYURL    the server's HTTP interface, without --file (default http://localhost/)",
      "HISTORYTOKEN  bearer token for a server with HTTPTOKEN",
    ],
  },
  async run(parsed, io) {
    const file = stringOption(parsed, "file");
    let figures: Record<string, unknown>;
    try {
      figures = file === undefined ? await fromServer() : await fromFile(io, file);
    } catch (error) {
      await io.err.write(`rabbit-eventstore stats: ${describe(error)}\n`);
      return EXIT.failure;
    }
    if (parsed.values.json) {
      await io.out.write(JSON.stringify(figures) + "\n");
      return EXIT.ok;
    }
    const rows = Object.entries(figures).map(([name, value]) => [name, show(name, value)]);
    const width = Math.max(...rows.map(([name]) => name.length)) + 2;
    await io.out.write(rows.map(([name, value]) => `${name.padEnd(width)}${value}\n`).join(""));
    return EXIT.ok;
  },
};

function show(name: string, value: unknown): string {
  if (name === "bytes" && typeof value === "number") return `${value.toLocaleString("en-US")} (${mib(value)} MiB)`;
  if (typeof value === "number") return value.toLocaleString("en-US");
  if (value !== null && typeof value === "object") {
    return Object.entries(value).map(([k, v]) => `${k} ${typeof v === "number" ? v : JSON.stringify(v)}`).join(", ");
  }
  return String(value);
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

async function fromServer(): Promise<Record<string, unknown>> {
  const url = new URL("/health", historyUrlSetting(undefined));
  const token = tokenSetting("HISTORYTOKEN", undefined);
  const response = await fetch(url, {
    signal: AbortSignal.timeout(30_000),
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  const text = await response.text();
  let health: Record<string, unknown>;
  try {
    health = JSON.parse(text);
  } catch {
    throw new Error(`${url} answered HTTP ${response.status}, not JSON: ${text.slice(0, 80)}`);
  }
  if (!response.ok) throw new Error(`${url} answered HTTP ${response.status}: ${text.slice(0, 120)}`);
  const { storeId, head, published, streams, status, broker, ...rest } = health;
  return { source: String(url), storeId, head, published, streams, status, broker, ...rest };
}

async function fromFile(io: CliIo, path: string): Promise<Record<string, unknown>> {
  const { size } = await stat(path);
  const index = new StreamIndex();
  const warnings: string[] = [];
  const storage = await FileStorage.open(path, {
    readOnly: true,
    warn: (message) => warnings.push(message),
    ids: { id: () => {}, stream: (position, stream, version) => index.add(position, stream, version) },
  });
  try {
    for (const warning of warnings) await io.err.write(`rabbit-eventstore stats: ${warning}\n`);
    return {
      source: path,
      storeId: storage.storeId,
      head: storage.head,
      published: await storage.publishedMark.load(),
      streams: index.size,
      bytes: size,
    };
  } finally {
    await storage.close();
  }
}
