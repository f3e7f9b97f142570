/**
 * Fault scenarios shared by the fault tests (`*_int_test.ts`) and
 * `deno task torture`: the real server in a child process that can be
 * SIGKILLed and restarted, a publisher with pipelined confirms, a listener,
 * broker control through `rabbitmqctl`, and the Jepsen-style tally
 * (published, confirmed, stored, lost, duplicated, out of order).
 *
 * @module
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { connect } from "node:net";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { type Command, createCommand } from "../command.ts";
import { listen, type Listener } from "../listener.ts";
import type { BrokerSession } from "../lib/broker_session.ts";
import { parseRecord } from "../lib/record.ts";
import { AMQP_URL, delay, freePort, STORE_HEADER_START } from "./_helpers.ts";

export { freePort };

const SERVER = fileURLToPath(new URL("../server.ts", import.meta.url));

// ---------------------------------------------------------------------------
// The server as a child process

/** How to start a server child. */
export interface ServerChildOptions {
  storageFile: string;
  queueName: string;
  exchangeName: string;
  port: number;
  /** `RABBIT_EVENTSTORE_CRASH_AT` for this process (test-only crash point). */
  crashAt?: string;
  /** More environment variables. */
  env?: Record<string, string>;
  /**
   * Which runtime runs the server: `deno run -A server.ts`, or `node` on the
   * npm package's bin (built into npm/ by `npm run build`). @default {the runtime running the tests}
   */
  runtime?: "deno" | "node";
}

/** How a child process ended. */
export interface Exit {
  code: number | null;
  signal: string | null;
}

/** The server (`deno run -A server.ts`, or the npm bin on Node) with the settings in its environment, as in production. */
export class ServerChild {
  /** Resolves when the server printed its start-up line (storage open, consuming). */
  readonly ready: Promise<void>;
  /** Resolves when the process ended. */
  readonly exited: Promise<Exit>;
  readonly #child: ChildProcess;
  readonly #port: number;
  #output = "";

  /** Spawn the server. */
  constructor(options: ServerChildOptions) {
    this.#port = options.port;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
    delete env.RABBIT_EVENTSTORE_CRASH_AT;
    Object.assign(env, {
      PORT: String(options.port),
      HTTPHOST: "127.0.0.1",
      STORAGEFILE: options.storageFile,
      QUEUENAME: options.queueName,
      EXCHANGENAME: options.exchangeName,
      AMQPURL: AMQP_URL,
      DEBUG: "",
      ...options.env,
    });
    if (options.crashAt) env.RABBIT_EVENTSTORE_CRASH_AT = options.crashAt;
    const [command, args] = serverCommand(options.runtime);
    this.#child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    this.exited = new Promise((resolve) => this.#child.once("exit", (code, signal) => resolve({ code, signal })));
    this.ready = new Promise((resolve, reject) => {
      const keep = (chunk: Buffer) => {
        this.#output = (this.#output + chunk.toString()).slice(-4000);
        if (this.#output.includes("rabbit-eventstore: storing")) resolve();
      };
      this.#child.stdout!.on("data", keep);
      this.#child.stderr!.on("data", keep);
      this.exited.then((exit) =>
        reject(new Error(`server exited before it was ready (${describeExit(exit)}): ${this.#output}`))
      );
    });
    this.ready.catch(() => {});
  }

  /** The HTTP port it was told to use. */
  get port(): number {
    return this.#port;
  }

  /** The process id. */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** The last few KB of stdout and stderr. */
  get output(): string {
    return this.#output;
  }

  /** Whether the process is still running. */
  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** SIGKILL: no shutdown code runs, like a power cut for everything not fsync'd. */
  async kill(): Promise<Exit> {
    if (this.running) this.#child.kill("SIGKILL");
    return await this.exited;
  }

  /** SIGTERM: graceful stop; SIGKILL if it takes longer than `graceMs`. */
  async stop(graceMs = 10_000): Promise<Exit> {
    if (this.running) this.#child.kill("SIGTERM");
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

function describeExit(exit: Exit): string {
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}

/**
 * How to start the server on the runtime running the tests: `deno run -A
 * server.ts` on Deno; on Node (the compiled tests in npm/esm/tests) the npm
 * package's bin, so the fault tests also prove the Node build.
 */
function serverCommand(runtime?: "deno" | "node"): [string, string[]] {
  // deno-lint-ignore no-explicit-any
  const onDeno = Boolean((globalThis as any).Deno);
  if (onDeno && runtime !== "node") return [process.execPath, ["run", "-A", SERVER]];
  if (onDeno) return ["node", [NODE_BIN_FROM_SOURCE]];
  if (runtime === "deno") throw new Error("a Deno server child is started from the Deno test pass only");
  return [process.execPath, [fileURLToPath(new URL("../../bin/rabbit-eventstore.cjs", import.meta.url))]];
}

/** The npm package's bin as built by `npm run build`, seen from the source tests. */
export const NODE_BIN_FROM_SOURCE = fileURLToPath(new URL("../npm/bin/rabbit-eventstore.cjs", import.meta.url));

/** The server's head position from /health, or undefined while it is down. */
export async function serverHead(port: number): Promise<number | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) });
    const body = (await response.json()) as { head?: unknown };
    return typeof body.head === "number" ? body.head : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------
// The broker

/**
 * Run rabbitmqctl and return its stdout. While the RabbitMQ application is
 * stopped (by this run or by another test on the shared broker), commands
 * that need it are retried for up to two minutes.
 */
export async function rabbitmqctl(...args: string[]): Promise<string> {
  const deadline = Date.now() + 120_000;
  while (true) {
    try {
      return await rabbitmqctlOnce(args);
    } catch (error) {
      const appDown = /'rabbit' app to be running|nodedown|unable to perform an operation/i.test(
        (error as Error).message,
      );
      if (!appDown || args[0] === "stop_app" || args[0] === "start_app" || Date.now() > deadline) throw error;
      await delay(1000);
    }
  }
}

function rabbitmqctlOnce(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("rabbitmqctl", args, { timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`rabbitmqctl ${args.join(" ")} failed: ${stderr || error.message}`));
      else resolve(stdout);
    });
  });
}

/** Messages in a queue, ready plus unacknowledged; undefined if the queue does not exist. */
export async function queueDepth(name: string): Promise<number | undefined> {
  const out = await rabbitmqctl("list_queues", "-q", "--no-table-headers", "name", "messages");
  for (const line of out.split("\n")) {
    const [queue, messages] = line.trim().split(/\s+/);
    if (queue === name) return Number(messages);
  }
  return undefined;
}

/**
 * Publish to `queue` (vhost "/") from inside RabbitMQ with `rabbitmqctl eval`, where no AMQP frame
 * limits the headers (as the management UI, shovels and plugins publish): each header is a string of
 * the given length. An AMQP client could not send a header frame over the broker's 128 KiB frame_max.
 */
export async function publishInsideBroker(
  queue: string,
  body: string,
  headers: Record<string, number>,
  messageId: string,
): Promise<void> {
  const bin = (s: string) => `<<${new TextEncoder().encode(s).join(",")}>>`; // bytes: no quoting to get wrong
  const table = Object.entries(headers).map(([k, n]) => `{${bin(k)}, longstr, binary:copy(<<"x">>, ${n})}`);
  const out = await rabbitmqctl(
    "eval",
    `rabbit_basic:publish(rabbit_misc:r(<<"/">>, exchange, <<>>), ${bin(queue)}, ` +
      `[{headers, [${table.join(", ")}]}, {message_id, ${bin(messageId)}}], ${bin(body)}).`,
  );
  if (!/^ok\b/.test(out.trim())) throw new Error(`rabbitmqctl eval did not publish: ${out}`);
}

/** Drop every client connection (every engineer's on this broker: they all must reconnect). */
export async function closeAllConnections(): Promise<void> {
  await rabbitmqctl("close_all_connections", "test");
}

/** Wait until something accepts TCP connections on the broker's port. */
export async function waitForBrokerPort(timeoutMs = 60_000, port = 5672): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`RabbitMQ did not open port ${port} within ${timeoutMs} ms`);
    await delay(200);
  }
}

/** Stop the RabbitMQ application for `downMs`, then start it again; always leaves it running. */
export async function bounceBroker(downMs: number): Promise<void> {
  try {
    await rabbitmqctl("stop_app");
    await delay(downMs);
  } finally {
    await rabbitmqctl("start_app");
    await waitForBrokerPort();
  }
}

// ---------------------------------------------------------------------------
// Publishing

/** What a {@link pump} run published. */
export interface PumpResult {
  /** Every id a publish was attempted for. */
  published: Set<string>;
  /** Ids the broker confirmed. */
  confirmed: Set<string>;
  /** Publishes that failed for good (after the command's own retries). */
  failed: number;
  /** How often each failure message occurred. */
  errors: Map<string, number>;
}

/** Options for {@link pump}. */
export interface PumpOptions {
  /** Ids are `${prefix}-${i}`. */
  prefix: string;
  /** Publishes awaiting a confirm at once. @default {300} */
  window?: number;
  /** Bytes of padding in each event. @default {0} */
  payloadBytes?: number;
  /** Spread the publishes at about this rate (events/s). @default {Infinity} */
  ratePerSecond?: number;
  /** Stop early when this returns true. */
  stop?: () => boolean;
  /** The first event's index (ids and `i` continue from here). @default {0} */
  start?: number;
}

/** Publish `count` events with the command module, `window` confirms in flight at a time. */
export async function pump(command: Command, count: number, result: PumpResult, options: PumpOptions): Promise<void> {
  const window = options.window ?? 300;
  const pad = "x".repeat(options.payloadBytes ?? 0);
  const rate = options.ratePerSecond ?? Infinity;
  const start = Date.now();
  const first = options.start ?? 0;
  let next = first;
  const worker = async () => {
    while (next < first + count && !options.stop?.()) {
      const i = next++;
      if (Number.isFinite(rate)) {
        const due = start + ((i - first) * 1000) / rate;
        if (due > Date.now()) await delay(due - Date.now());
      }
      const id = `${options.prefix}-${i}`;
      result.published.add(id);
      try {
        await command.publish({ i, pad }, { id });
        result.confirmed.add(id);
      } catch (error) {
        result.failed++;
        const message = (error as Error)?.message?.replace(/[0-9a-f-]{36}|\b\w+-\d+\b/g, "<id>") ?? String(error);
        result.errors.set(message, (result.errors.get(message) ?? 0) + 1);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, worker));
}

/** An empty {@link PumpResult}. */
export function newPumpResult(): PumpResult {
  return { published: new Set(), confirmed: new Set(), failed: 0, errors: new Map() };
}

// ---------------------------------------------------------------------------
// Listening

/** A listener that records what it delivered. */
export interface RecordingListener {
  listener: Listener;
  /** The position it was started from (undefined: new events only). */
  from: number | undefined;
  /** Delivered positions and ids, in delivery order. */
  delivered: Array<{ position: number; id: string }>;
}

/** Start a listener that records every event it delivers. */
export function recordingListener(
  port: number,
  exchangeName: string,
  from: number | undefined,
  handlerDelayMs = 0,
): RecordingListener {
  const delivered: RecordingListener["delivered"] = [];
  const handler = async (event: { position: number; id: string }) => {
    delivered.push({ position: event.position, id: event.id });
    if (handlerDelayMs > 0) await delay(handlerDelayMs);
  };
  const options = { amqpUrl: AMQP_URL, exchangeName, historyUrl: `http://127.0.0.1:${port}/` };
  const listener = from === undefined ? listen(handler, options) : listen(from, handler, options);
  listener.closed.catch(() => {});
  return { listener, from, delivered };
}

// ---------------------------------------------------------------------------
// The tally

/** One row of the table every fault test prints. */
export interface Tally {
  name: string;
  published?: number;
  confirmed?: number;
  /** Records in the file (for a listener: events it delivered). */
  stored: number;
  /** Confirmed ids not stored (for a listener: stored positions in its range not delivered). */
  lost: number;
  /** Ids stored more than once (for a listener: positions delivered more than once). */
  duplicated: number;
  /** Records not at line number = position (for a listener: deliveries not at previous + 1). */
  outOfOrder: number;
  /** Stored ids nobody published (for a listener: deliveries whose id differs from the file's). */
  invented: number;
}

/** A storage file's records, every line parsed. */
export interface Store {
  positions: number[];
  ids: string[];
}

/** Read and parse a whole storage file; throws on the first line that does not parse. */
export async function readStore(path: string): Promise<Store> {
  const text = await readFile(path, "utf8");
  if (text.length > 0 && !text.endsWith("\n")) throw new Error(`Storage file ${path} does not end with a newline`);
  const positions: number[] = [];
  const ids: string[] = [];
  const lines = text.split("\n");
  lines.pop();
  if (lines[0]?.startsWith(STORE_HEADER_START)) lines.shift(); // the store's header line is not a record
  lines.forEach((line, i) => {
    let record;
    try {
      record = parseRecord(line);
    } catch (error) {
      throw new Error(`Storage file ${path} record line ${i + 1} does not parse: ${(error as Error).message}`);
    }
    positions.push(record.position);
    ids.push(record.id);
  });
  return { positions, ids };
}

/** Tally a storage file against what was published and confirmed. */
export function tallyStore(store: Store, pumped: PumpResult, name = "store"): Tally {
  const seen = new Map<string, number>();
  for (const id of store.ids) seen.set(id, (seen.get(id) ?? 0) + 1);
  let duplicated = 0;
  for (const n of seen.values()) duplicated += n - 1;
  let lost = 0;
  for (const id of pumped.confirmed) if (!seen.has(id)) lost++;
  let invented = 0;
  for (const id of seen.keys()) if (!pumped.published.has(id)) invented++;
  return {
    name,
    published: pumped.published.size,
    confirmed: pumped.confirmed.size,
    stored: store.ids.length,
    lost,
    duplicated,
    outOfOrder: store.positions.filter((p, i) => p !== i + 1).length,
    invented,
  };
}

/**
 * Tally what a listener delivered against the file: it must deliver every
 * position from `from` (or its first delivery, for new-only listeners) to the
 * end, once each, in order, with the file's ids.
 */
export function tallyListener(store: Store, recording: RecordingListener, name = "listener"): Tally {
  const { delivered } = recording;
  const first = recording.from === undefined
    ? (delivered[0]?.position ?? store.ids.length + 1)
    : Math.max(1, recording.from);
  const counts = new Map<number, number>();
  let outOfOrder = 0;
  let invented = 0;
  let expected = first;
  for (const { position, id } of delivered) {
    counts.set(position, (counts.get(position) ?? 0) + 1);
    if (position !== expected) outOfOrder++;
    expected = position + 1;
    if (store.ids[position - 1] !== id) invented++;
  }
  let duplicated = 0;
  for (const n of counts.values()) duplicated += n - 1;
  let lost = 0;
  for (let p = first; p <= store.ids.length; p++) if (!counts.has(p)) lost++;
  return { name, stored: delivered.length, lost, duplicated, outOfOrder, invented };
}

/** Format tallies as a table (one line per row). */
export function formatTable(rows: Tally[]): string {
  const head = ["", "published", "confirmed", "stored", "lost", "duplicated", "out of order", "invented"];
  const cells = rows.map((r) => [
    r.name,
    r.published === undefined ? "-" : String(r.published),
    r.confirmed === undefined ? "-" : String(r.confirmed),
    String(r.stored),
    String(r.lost),
    String(r.duplicated),
    String(r.outOfOrder),
    String(r.invented),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join("  ");
  return [line(head), ...cells.map(line)].join("\n");
}

/** The faults a tally counts, for `assert.deepEqual(faults(t), NO_FAULTS)`. */
export function faults(t: Tally): { lost: number; duplicated: number; outOfOrder: number; invented: number } {
  return { lost: t.lost, duplicated: t.duplicated, outOfOrder: t.outOfOrder, invented: t.invented };
}

/** What {@link faults} must be. */
export const NO_FAULTS = { lost: 0, duplicated: 0, outOfOrder: 0, invented: 0 } as const;

// ---------------------------------------------------------------------------
// A whole run: publish, disturb, drain, tally

/** Names and files of one run (a `TestContext` from `_helpers.ts` fits). */
export interface RunContext {
  storageFile: string;
  queueName: string;
  exchangeName: string;
}

/** What a disturbance can do to the run. */
export interface RunControl {
  /** The HTTP port every server of this run uses. */
  readonly port: number;
  /** Whether the publisher is still publishing. */
  readonly publishing: boolean;
  /** What was published so far. */
  readonly pumped: PumpResult;
  /** The running server, if any. */
  readonly server: ServerChild | undefined;
  /** Start a server (retrying until one is ready); kills none. */
  startServer(crashAt?: string): Promise<ServerChild>;
  /** SIGKILL the running server. */
  killServer(): Promise<void>;
  /** Progress and event lines. */
  log(message: string): void;
}

/** Options for {@link runScenario}. */
export interface RunOptions {
  /** Events to publish. */
  events: number;
  /** Publishes in flight. @default {300} */
  window?: number;
  /** Publish rate limit, events/s. @default {Infinity} */
  ratePerSecond?: number;
  /** Start a listener from 0 once this fraction of events is confirmed. @default {0.25} */
  listenerAt?: number;
  /** The fault, run concurrently with the publisher; a server runs after it unless it left one running. */
  disturb: (run: RunControl) => Promise<void>;
  /** Give up waiting for the queue to drain and the listener to catch up after this long. @default {120000} */
  drainTimeoutMs?: number;
  /** Progress lines. @default {none} */
  log?: (message: string) => void;
  /** More environment variables for every server process (e.g. `DEBUG`). */
  serverEnv?: Record<string, string>;
}

/** What {@link runScenario} found. */
export interface RunResult {
  store: Tally;
  listener: Tally;
  /** Every listener tally, then the store's, as printed. */
  table: string;
  /** Server processes started. */
  starts: number;
  /** Whether the input queue was empty at the end (everything acked). */
  drained: boolean;
}

/**
 * Publish `events` with pipelined confirms while `disturb` runs; a listener
 * from 0 joins during the run. Then keep one server up until the input queue
 * is empty and the listener reached the head, stop it gracefully, and tally
 * the file and the listener.
 */
export async function runScenario(ctx: RunContext, options: RunOptions): Promise<RunResult> {
  const log = options.log ?? (() => {});
  const port = await freePort();
  const pumped = newPumpResult();
  const command = createCommand({ amqpUrl: AMQP_URL, queueName: ctx.queueName, retryFor: 120_000 });
  let server: ServerChild | undefined;
  let starts = 0;
  let publishing = true;
  let recording: RecordingListener | undefined;
  const startListener = () => (recording ??= recordingListener(port, ctx.exchangeName, 0));

  const control: RunControl = {
    port,
    get publishing() {
      return publishing;
    },
    pumped,
    get server() {
      return server;
    },
    async startServer(crashAt?: string) {
      for (let attempt = 1;; attempt++) {
        const child = new ServerChild({ ...ctx, port, crashAt, env: options.serverEnv });
        starts++;
        server = child;
        try {
          await child.ready;
          return child;
        } catch (error) {
          if (attempt >= 30) throw error;
          log(`server start ${attempt} failed; retrying: ${(error as Error).message.slice(0, 300)}`);
          await delay(200);
        }
      }
    },
    async killServer() {
      await server?.kill();
      server = undefined;
    },
    log,
  };

  try {
    // The command declares the input queue itself, so publishing may start before any server runs.
    const publishingDone = pump(command, options.events, pumped, {
      prefix: `${ctx.queueName}-e`,
      window: options.window,
      ratePerSecond: options.ratePerSecond,
    }).finally(() => (publishing = false));
    const listenerAt = Math.max(1, Math.floor(options.events * (options.listenerAt ?? 0.25)));
    const watchListener = (async () => {
      while (publishing && pumped.confirmed.size < listenerAt) await delay(20);
      startListener();
      log(`listener from 0 started at ${pumped.confirmed.size} confirmed`);
    })();
    await options.disturb(control);
    await publishingDone;
    await watchListener;
    log(`published ${pumped.published.size}, confirmed ${pumped.confirmed.size}, failed ${pumped.failed}`);
    for (const [message, n] of pumped.errors) log(`  ${n} x ${message}`);

    if (!server?.running) await control.startServer();
    const drained = await drain(ctx.queueName, port, [recording!], options.drainTimeoutMs ?? 120_000, log);
    await server!.stop();
    server = undefined;
    await recording!.listener.close();

    const store = await readStore(ctx.storageFile);
    const storeTally = tallyStore(store, pumped);
    const listenerTally = tallyListener(store, recording!, "listener from 0");
    return {
      store: storeTally,
      listener: listenerTally,
      table: formatTable([storeTally, listenerTally]),
      starts,
      drained,
    };
  } finally {
    await server?.kill();
    await command.close().catch(() => {});
    await recording?.listener.close().catch(() => {});
  }
}

/**
 * Wait until the input queue is empty (everything acked), the server's head
 * is stable and every listener delivered up to it. Returns false on timeout.
 */
export async function drain(
  queueName: string,
  port: number,
  listeners: RecordingListener[],
  timeoutMs = 60_000,
  log: (message: string) => void = () => {},
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let drained = false;
  while (Date.now() < deadline) {
    const head = await serverHead(port);
    if (head !== undefined && head === last) {
      if (!drained) drained = (await queueDepth(queueName)) === 0;
      if (drained && listeners.every((r) => r.listener.position === head + 1)) return true;
    }
    if (head !== last) {
      log(`draining: head ${head}, listeners at ${listeners.map((r) => r.listener.position).join(", ")}`);
    }
    last = head ?? -1;
    await delay(drained ? 100 : 300);
  }
  log(`gave up draining after ${timeoutMs} ms`);
  return false;
}

/** Counters a disturbance fills in. */
export interface DisturbStats {
  /** Server processes SIGKILLed. */
  kills: number;
  /** Broker faults injected. */
  faults: number;
}

/**
 * The crash loop: start a server, let it run a random 50–500 ms after it is
 * ready, SIGKILL it, repeat while publishing and until `minKills` kills.
 */
export function crashLoop(
  minKills: number,
  stats: DisturbStats,
  range: [number, number] = [50, 500],
): (run: RunControl) => Promise<void> {
  return async (run) => {
    while (run.publishing || stats.kills < minKills) {
      await run.startServer();
      await delay(range[0] + Math.random() * (range[1] - range[0]));
      const head = await serverHead(run.port);
      await run.killServer();
      stats.kills++;
      run.log(`kill ${stats.kills}: ${run.pumped.confirmed.size} confirmed, head ${head}`);
    }
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
