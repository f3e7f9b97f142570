/**
 * Shared set-up for tests: unique broker names, temporary storage files, an
 * in-process server, a raw broker session, and polling helpers.
 *
 * @module
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { openSession } from "../lib/amqp_session.ts";
import type { BrokerSession } from "../lib/broker_session.ts";
import { type EventStoreServer, type ServerOptions, startServer } from "../server.ts";
import { AMQP_URL } from "../scripts/_broker_admin.ts";
import { freePort } from "../scripts/_server_child.ts";
import { STORE_HEADER_START } from "../scripts/_tally.ts";

// One definition each, in the fault harness (scripts/), which the tests share with `deno task torture`.
export { AMQP_URL, freePort, STORE_HEADER_START };

/** A unique suffix for queue/exchange names and files. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Everything one test needs; call `cleanup()` in `after`/`finally`. */
export interface TestContext {
  /** Temporary directory, removed by cleanup. */
  dir: string;
  /** Storage file path inside dir. */
  storageFile: string;
  /** Unique input queue name. */
  queueName: string;
  /** Unique fanout exchange name. */
  exchangeName: string;
  /** A raw session for publishing or inspecting. */
  broker: BrokerSession;
  /** Server options for this context (merge your own over them). */
  serverOptions(extra?: ServerOptions): ServerOptions;
  /** Start an in-process server on a free port. */
  startServer(extra?: ServerOptions): Promise<EventStoreServer>;
  /** Delete queues, exchange, files; close servers and the session. */
  cleanup(): Promise<void>;
}

/** Create a test context with unique names and a temporary directory. */
export async function setup(prefix = "t"): Promise<TestContext> {
  const dir = await mkdtemp(join(tmpdir(), `res-${prefix}-`));
  const queueName = uniqueName(`${prefix}-q`);
  const exchangeName = uniqueName(`${prefix}-x`);
  const broker = await openSession(AMQP_URL);
  const servers: EventStoreServer[] = [];
  const ctx: TestContext = {
    dir,
    storageFile: join(dir, "storage"),
    queueName,
    exchangeName,
    broker,
    serverOptions: (extra = {}) => ({
      amqpUrl: AMQP_URL,
      queueName,
      exchangeName,
      storageFile: join(dir, "storage"),
      port: 0,
      hostname: "127.0.0.1",
      ...extra,
    }),
    async startServer(extra = {}) {
      const server = await startServer(ctx.serverOptions(extra));
      servers.push(server);
      return server;
    },
    async cleanup() {
      for (const server of servers) await server.close().catch(() => {});
      await broker.close();
      // A fresh session: the test's own may hold consumers whose cancellation would close it midway.
      // Tried twice: a fault test elsewhere on this broker may close every connection meanwhile.
      for (let attempt = 1;; attempt++) {
        const session = await openSession(AMQP_URL);
        try {
          for (const q of [queueName, `${queueName}.dead`]) await session.deleteQueue(q);
          await session.deleteExchange(exchangeName);
          break;
        } catch (error) {
          if (attempt === 2) throw error;
        } finally {
          await session.close();
        }
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
  return ctx;
}

/** Poll `check` until it returns true or `timeoutMs` passes (then throw with `what`). */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Fetch the server's whole history as parsed records. */
export async function history(port: number, query = ""): Promise<Array<Record<string, unknown>>> {
  const response = await fetch(`http://127.0.0.1:${port}/${query}`);
  const text = await response.text();
  return text.split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l));
}

/** A storage file's record lines (without newlines), its header line left out. */
export async function recordLines(path: string): Promise<string[]> {
  const lines = (await readFile(path, "utf8")).split("\n").filter(Boolean);
  return lines[0]?.startsWith(STORE_HEADER_START) ? lines.slice(1) : lines;
}

/** Sleep. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A deterministic PRNG (mulberry32), so a failing random case reproduces. */
export function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Bind a fresh queue to the fanout on `session` and collect the positions that arrive. */
export async function tapFanout(session: BrokerSession, exchangeName: string): Promise<number[]> {
  const positions: number[] = [];
  await session.declareFanout(exchangeName);
  const queue = await session.declareQueue("", { durable: false, exclusive: true, autoDelete: true });
  await session.bind(queue, exchangeName);
  await session.consume(queue, 1000, (d) => {
    positions.push(Number(d.headers?.position));
    void session.ack(d.tag).catch(() => {});
  });
  return positions;
}

const root = fileURLToPath(new URL("..", import.meta.url));

/** Newest modification time of the npm package's inputs (library source, build script, manifests). */
function newestInput(): number {
  const files = [
    "mod.ts",
    "server.ts",
    "listener.ts",
    "command.ts",
    "cli.ts",
    "deno.json",
    "package.json",
    "scripts/build_npm.ts",
  ];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".ts")) files.push(path);
    }
  };
  walk("lib");
  return Math.max(...files.map((f) => statSync(join(root, f)).mtimeMs));
}

/**
 * Build the npm package in npm/ (scripts/build_npm.ts) when it is missing or older than its inputs
 * (`npm test` builds first; a lone `deno test` may not have). Deno only: it runs `deno run`.
 */
export async function ensureNpmBuild(): Promise<void> {
  const built = join(root, "npm", "package.json");
  if (existsSync(built) && statSync(built).mtimeMs >= newestInput()) return;
  await new Promise<void>((resolve, reject) => {
    execFile(
      process.execPath,
      ["run", "-A", join(root, "scripts", "build_npm.ts")],
      { cwd: root },
      (error, _o, err) => {
        if (error) reject(new Error(`npm build failed: ${error.message}\n${err}`));
        else resolve();
      },
    );
  });
}
