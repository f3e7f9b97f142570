/**
 * A whole fault run: publish with pipelined confirms while a disturbance
 * (SIGKILLs, broker faults) runs, drain, then tally the file and a listener.
 * `tests/crash_loop_int_test.ts` and `tests/broker_faults_int_test.ts` run it
 * at CI size, `deno task torture` at full size.
 *
 * @module
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { createCommand } from "../command.ts";
import { openSession } from "../lib/amqp_session.ts";
import { AMQP_URL, queueDepth } from "./_broker_admin.ts";
import { newPumpResult, pump, type PumpResult } from "./_pump.ts";
import { type RecordingListener, recordingListener } from "./_recording_listener.ts";
import { freePort, ServerChild, serverHead } from "./_server_child.ts";
import { formatTable, readStore, type Tally, tallyListener, tallyStore } from "./_tally.ts";

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

/** A {@link RunContext} with unique names and a temporary directory; `cleanup` deletes them. */
export interface ScenarioContext extends RunContext {
  /** Delete the run's queues, exchange and directory. */
  cleanup(): Promise<void>;
}

/**
 * Unique queue and exchange names and a storage file in a fresh temporary
 * directory, for a run outside the test suite (`deno task torture`); the
 * tests use `setup()` from `tests/_helpers.ts`, which gives the same fields.
 */
export async function scenarioContext(prefix: string): Promise<ScenarioContext> {
  const dir = await mkdtemp(join(tmpdir(), `res-${prefix}-`));
  const unique = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const queueName = `${prefix}-q-${unique}`;
  const exchangeName = `${prefix}-x-${unique}`;
  return {
    storageFile: join(dir, "storage"),
    queueName,
    exchangeName,
    async cleanup() {
      const session = await openSession(AMQP_URL);
      try {
        for (const q of [queueName, `${queueName}.dead`]) await session.deleteQueue(q);
        await session.deleteExchange(exchangeName);
      } finally {
        await session.close();
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
