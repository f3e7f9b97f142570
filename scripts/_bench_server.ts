/**
 * The bench's broker names and server children: the real server (Deno
 * source, or the npm build on Node) started on a storage file, its
 * start-up time, its `/health` memory figures, and cleaning up afterwards.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { AMQPClient } from "@cloudamqp/amqp-client";
import { AMQP_URL, type Child, ROOT, startChild } from "./_bench_util.ts";

/** This run's queue and exchange names (deleted by {@link cleanup}). */
const runId = `bench-${Date.now().toString(36)}`;
export const names = {
  queue: `${runId}-in`,
  exchange: `${runId}-x`,
  relayQueue: `${runId}-relay-in`,
  relayExchange: `${runId}-relay-x`,
  stream: `${runId}-stream`,
  streamsQueue: `${runId}-streams-in`,
  streamsExchange: `${runId}-streams-x`,
  peersQueue: `${runId}-peers-in`,
  peersExchange: `${runId}-peers-x`,
  /** Prefix of the peers bench's own streams, NATS streams and tables (each removed after its round). */
  peers: `${runId}-peers`,
};
const queuesToDelete = [
  names.queue,
  `${names.queue}.dead`,
  names.relayQueue,
  names.stream,
  names.streamsQueue,
  `${names.streamsQueue}.dead`,
  names.peersQueue,
  `${names.peersQueue}.dead`,
];
const exchangesToDelete = [names.exchange, names.relayExchange, names.streamsExchange, names.peersExchange];

/**
 * The built npm package's server and listener, when `scripts/build_npm.ts` has run (`.`: this script is itself
 * the compiled one in npm/esm, as in the tests on Node).
 */
export function npmBuild(): { server: string; listener: string } | undefined {
  for (const dir of ["npm/esm", "npm/script", "npm", "."]) {
    const server = join(ROOT, dir, "server.js");
    const listener = join(ROOT, dir, "listener.js");
    if (existsSync(server) && existsSync(listener)) return { server, listener };
  }
  return undefined;
}

/** A server child and how long it took to start. */
export interface BenchServer {
  child: Child;
  port: number;
  startupMs: number;
  historyUrl: string;
}

/** Start the real server as a child process on `storageFile`; start-up time is until it prints its ready line. */
export async function startServerChild(
  runtime: string,
  storageFile: string,
  queue = names.queue,
  exchange = names.exchange,
): Promise<BenchServer> {
  const env = {
    AMQPURL: AMQP_URL,
    QUEUENAME: queue,
    EXCHANGENAME: exchange,
    STORAGEFILE: storageFile,
    PORT: "0",
    HTTPHOST: "127.0.0.1",
    DEBUG: "",
  };
  let command: string;
  let args: string[];
  if (runtime === "deno") {
    // deno-lint-ignore no-explicit-any
    command = (globalThis as any).Deno.execPath();
    args = [
      "run",
      "-A",
      ...(process.env.BENCH_SERVER_FLAGS?.split(" ").filter(Boolean) ?? []),
      join(ROOT, "server.ts"),
    ];
  } else {
    const build = npmBuild()!;
    command = "node";
    args = [
      ...(process.env.BENCH_NODE_FLAGS?.split(" ").filter(Boolean) ?? []),
      "--input-type=module",
      "-e",
      `const m = await import(${JSON.stringify(pathToFileURL(build.server).href)}); await m.main();`,
    ];
  }
  const started = performance.now();
  const child = startChild(command, args, env, ROOT);
  const match = await child.waitFor(/history on port (\d+)/);
  const startupMs = performance.now() - started;
  const port = Number(match[1]);
  return { child, port, startupMs, historyUrl: `http://127.0.0.1:${port}/` };
}

/** The server's own memory figures from `/health` (heap, external), to tell live data from RSS. */
export async function healthMemory(server: BenchServer): Promise<Record<string, number> | undefined> {
  try {
    const response = await fetch(`${server.historyUrl}health`);
    return ((await response.json()) as { memory?: Record<string, number> }).memory;
  } catch {
    return undefined;
  }
}

/** Delete this run's queues and exchanges, and `dir`. */
export async function cleanup(dir: string | undefined): Promise<void> {
  try {
    const client = new AMQPClient(AMQP_URL);
    await client.connect();
    let channel = await client.channel();
    for (const queue of queuesToDelete) {
      await channel.queueDelete(queue).catch(async () => (channel = await client.channel()));
    }
    for (const exchange of exchangesToDelete) {
      await channel.exchangeDelete(exchange).catch(async () => (channel = await client.channel()));
    }
    await client.close();
  } catch (error) {
    console.error(`bench: cleaning up the broker failed: ${(error as Error).message}`);
  }
  if (dir) await rm(dir, { recursive: true, force: true });
}
