/**
 * The rabbit-eventstore server: consumes JSON events from a RabbitMQ queue,
 * gives each the next dense position, appends it durably to the storage file,
 * republishes it to a fanout exchange, and serves the history over HTTP.
 *
 * Run it with `deno run -A server.ts` (or `deno task start`), or on Node with
 * the package's `rabbit-eventstore` bin. Configure it with the environment
 * variables in the README, or start it from code with {@link startServer}.
 *
 * @example Start a server from code
 * ```ts
 * import { startServer } from "rabbit-eventstore/server";
 * const server = await startServer({ port: 8080, storageFile: "./events.ndjson" });
 * console.log(`history on http://localhost:${server.port}/, head ${server.head}`);
 * await server.close();
 * ```
 *
 * @module
 */
import process from "node:process";
import { BrokerLink } from "./lib/broker_link.ts";
import type { Consumer } from "./lib/broker_session.ts";
import { FANOUT_BROKER, redact, type ServerSettings, serverSettings, tokenSetting } from "./lib/config.ts";
import { DeadLetterQueue } from "./lib/dead_letter.ts";
import { DedupWindow } from "./lib/dedup_window.ts";
import { ConfigError, describe, NotAStoreError, StoreLockedError } from "./lib/errors.ts";
import { FanoutPublisher } from "./lib/fanout_publisher.ts";
import { FileStorage, type FileStorageOptions } from "./lib/file_storage.ts";
import type { EventStorage, IdVisitor } from "./lib/storage.ts";
import { historyHandler } from "./lib/history_handler.ts";
import { followHandler } from "./lib/follow_handler.ts";
import { LiveFeed } from "./lib/live_feed.ts";
import { debugLog, warnLog } from "./lib/log.ts";
import { operationsHandler } from "./lib/operations_handler.ts";
import { PublishWatermark } from "./lib/publish_watermark.ts";
import { type HttpServer, serve } from "./lib/runtime/serve.ts";
import { exit, onShutdownSignal } from "./lib/runtime/signals.ts";
import { Sequencer } from "./lib/sequencer.ts";
import { ServerMetrics } from "./lib/server_metrics.ts";
import { StreamIndex } from "./lib/stream_index.ts";
import { parseServerArgs, serverHelp } from "./lib/server_cli.ts";
import { VERSION } from "./lib/version.ts";
import { isDenoMainModule } from "./lib/runtime/main_module.ts";

export type { BrokerSettings, ServerSettings } from "./lib/config.ts";
export type { EventStorage } from "./lib/storage.ts";
export { deadLetterQueueName } from "./lib/dead_letter.ts";

/**
 * Options for {@link startServer}; each overrides its environment variable.
 * The fields of {@link ServerSettings} (`port`, `storageFile`, `queueName`,
 * `prefetch`, …, with their defaults) may be given too.
 *
 * @example A server for one service's events, on a port of its own
 * ```ts
 * import { type ServerOptions, startServer } from "rabbit-eventstore/server";
 * const options: ServerOptions = {
 *   amqpUrl: "amqp://app:secret@rabbit/prod",
 *   queueName: "orders",
 *   exchangeName: "orders.stored",
 *   storageFile: "/var/lib/orders/events.ndjson",
 *   port: 8080,
 * };
 * const server = await startServer(options);
 * await server.close();
 * ```
 *
 * @example Keep the events in memory (a unit test)
 * ```ts
 * import { MemoryStorage } from "rabbit-eventstore";
 * import { startServer } from "rabbit-eventstore/server";
 * const server = await startServer({ storage: new MemoryStorage(), port: 0, brokerStartTimeout: 2_000 });
 * console.log(`history on http://localhost:${server.port}/`);
 * await server.close();
 * ```
 */
export interface ServerOptions extends Partial<ServerSettings> {
  /** Broker host (env `AMQPHOST`), used when no `amqpUrl` is given. @default {"localhost"} */
  amqpHost?: string;
  /** The fanout broker's host (env `FANOUTHOST`), used when no `fanoutUrl` is given. @default {the queue's broker} */
  fanoutHost?: string;
  /** Give up connecting to the broker at start-up after this many ms. @default {10000} */
  brokerStartTimeout?: number;
  /** Publish to the fanout again when the broker has not confirmed a batch within this many ms. @default {15000} */
  confirmTimeout?: number;
  /**
   * Where events are kept, instead of the file store built from
   * `storageFile` (env `STORAGEFILE`), which is then not used. Any
   * {@link EventStorage} that passes the storage contract suite will do,
   * e.g. a `MemoryStorage` in tests. The server takes it over: it rebuilds
   * its dedup window with `scanIds` and closes it when it stops.
   * @default {the file store at `storageFile`}
   */
  storage?: EventStorage;
  /**
   * Bearer token HTTP clients must send (`Authorization: Bearer <token>`) for the history and `/metrics`;
   * the probes `/health`, `/health/live` and `/health/ready` stay open. Env `HTTPTOKEN`; kept out of
   * `settings` and never logged. @default {undefined} (no auth)
   */
  httpToken?: string;
}

/**
 * A running server, as {@link startServer} returns it.
 *
 * @example Stop on SIGTERM, and report how it ended
 * ```ts
 * import process from "node:process";
 * import { startServer } from "rabbit-eventstore/server";
 * const server = await startServer();
 * console.log(`serving ${server.settings.storageFile} at head ${server.head} on port ${server.port}`);
 * process.once("SIGTERM", () => void server.close());
 * server.closed.then(
 *   () => console.log("stopped"),
 *   (error) => console.error("failed:", error),
 * );
 * ```
 */
export interface EventStoreServer {
  /** The HTTP port actually bound. */
  readonly port: number;
  /** The last durable position. */
  readonly head: number;
  /** The settings in force. */
  readonly settings: ServerSettings;
  /**
   * Settles when the server has ended: resolves after close(); rejects with the fatal error that stopped it
   * (e.g. a disk error). The one name for "has ended" across the API, as `Listener.closed` (and a web
   * stream reader's `closed`).
   */
  readonly closed: Promise<void>;
  /** @deprecated Use {@link EventStoreServer.closed}: the same promise under its former name. */
  readonly stopped: Promise<void>;
  /** Stop consuming, store and publish what is in flight, and close everything. */
  close(): Promise<void>;
}

/**
 * Start the server: open and check the storage file, bind HTTP, connect to
 * the broker, declare the topology and start consuming.
 *
 * @param options Settings that win over the environment, and optionally the storage to use.
 * @returns The running server, once it consumes from the queue.
 * @throws {ConfigError} On an invalid setting.
 * @throws {CorruptLogError} When the storage file is damaged before its last line.
 * @example Serve a store's history and consume its queue
 * ```ts
 * import { startServer } from "rabbit-eventstore/server";
 * const server = await startServer({ storageFile: "./events.ndjson", port: 8080 });
 * const response = await fetch(`http://localhost:${server.port}/?from=1`);
 * console.log(await response.text()); // the stored records, one JSON line each
 * await server.close();
 * ```
 */
export async function startServer(options: ServerOptions = {}): Promise<EventStoreServer> {
  const settings = serverSettings(options);
  const httpToken = tokenSetting("HTTPTOKEN", options.httpToken);
  const log = debugLog(settings.debug, "server");
  const warn = warnLog("server");
  const window = new DedupWindow(settings.dedupWindow);
  const index = new StreamIndex();
  const ids: IdVisitor = {
    id: (position, id) => window.add(id, position),
    ascii: (position, bytes, start, end) => window.addAscii(bytes, start, end, position),
    stream: (position, stream, version) => index.add(position, stream, version),
    streamBatch: (bytes, batch) => index.addBatch(bytes, batch),
  };
  let storage: EventStorage;
  if (options.storage) {
    storage = options.storage;
    // Every record, for the stream index (the window keeps only its last `dedupWindow` ids).
    await storage.scanIds(1, ids);
    log(`Storage given (store ${storage.storeId}) at head ${storage.head}`);
  } else {
    // The file store visits every id in the scan that checks it at start-up: no second read.
    storage = await openStorage(settings.storageFile, { ids, warn });
    log(`Storage ${settings.storageFile} opened at head ${storage.head}`);
  }
  // The storage dropped records it had visited (a group cut short by a crash): forget them too, without a
  // second read of the store. The dedup window may keep their ids: harmless, as the sequencer confirms every
  // window hit against the stored record, and those positions are gone (or hold other ids later).
  if (index.lastPosition > storage.head) index.truncate(storage.head);
  const watermark = await PublishWatermark.open(storage);
  const publisher = new FanoutPublisher(storage, watermark, settings.exchangeName, log, options.confirmTimeout, {
    republishRate: settings.republishRate,
  });
  const deadLetters = new DeadLetterQueue(settings.queueName, { confirmTimeout: options.confirmTimeout });
  const feed = new LiveFeed({ maxClients: settings.httpLiveClients, bufferBytes: settings.httpLiveBuffer });

  let resolveStopped!: () => void;
  let rejectStopped!: (error: Error) => void;
  const stopped = new Promise<void>((resolve, reject) => {
    resolveStopped = resolve;
    rejectStopped = reject;
  });
  let closing: Promise<void> | undefined;
  let consumer: Consumer | undefined;
  let http: HttpServer | undefined;
  let link: BrokerLink | undefined;
  /** The fanout broker's own link, when it is not the queue's broker (`FANOUTURL`); else `link` does both. */
  let fanoutLink: BrokerLink | undefined;
  const separate = settings.fanoutUrl !== settings.amqpUrl || settings.fanoutCaFile !== settings.amqpCaFile;
  /** Set once this server consumes the queue: a server that does not own it publishes nothing. */
  let owner = false;
  /** Why the storage took no more appends, once it failed. */
  let storageFailure: Error | undefined;
  const metrics = new ServerMetrics({
    head: () => storage.head,
    published: () => watermark.value,
    unconfirmed: () => publisher.inFlight,
    republished: () => publisher.republished,
    httpConnections: () => http?.connections ?? 0,
    brokerConnected: () => link?.session !== undefined && (!separate || fanoutLink?.session !== undefined),
    consuming: () => consumer !== undefined,
    liveClients: () => feed.byKind(),
  }, { version: VERSION, storeId: storage.storeId });

  const sequencer = new Sequencer({
    storage,
    window,
    index,
    publisher,
    maxEventBytes: settings.maxEventBytes,
    log,
    warn,
    deadLetter: async (session, delivery, reason) => {
      await deadLetters.send(session, delivery, reason);
      metrics.deadLettered(reason);
    },
    observer: metrics,
    onStored: (records) => feed.publish(records),
    onFatal: (error) => {
      storageFailure = error;
      warn(`Fatal: ${describe(error)}`);
      void shutdown(error);
    },
  });

  /** What keeps the server from being ready, for `/health/ready` (empty: ready). */
  const notReady = (): string[] => {
    const reasons: string[] = [];
    if (storageFailure) reasons.push(`storage failed: ${describe(storageFailure)}`);
    else if (closing) reasons.push("the server is stopping");
    if (!link?.session) reasons.push("broker not connected");
    if (!consumer) reasons.push(`not consuming queue "${settings.queueName}"`);
    return reasons;
  };

  const shutdown = (error?: Error): Promise<void> => {
    closing ??= (async () => {
      await consumer?.cancel().catch(() => {});
      if (!error) await sequencer.drain();
      await publisher.close(); // a catch-up stops where it is; the next start goes on from the watermark
      await watermark.flush();
      await link?.close();
      await feed.close(error ? `the server stopped: ${describe(error)}` : "the server is closing");
      await fanoutLink?.close();
      await http?.close();
      await storage.close();
      if (error) rejectStopped(error);
      else resolveStopped();
    })();
    return closing;
  };

  try {
    const history = historyHandler(storage, () => ({
      published: watermark.value,
      broker: link?.session && (!separate || fanoutLink?.session) ? "up" : "down",
      ...(separate
        ? { brokers: { queue: link?.session ? "up" : "down", fanout: fanoutLink?.session ? "up" : "down" } }
        : {}),
      memory: memoryFigures(),
      streams: index.size,
    }), { streams: index });
    http = await serve(
      operationsHandler(followHandler(history, { feed, heartbeat: settings.httpHeartbeat }), {
        notReady,
        metrics,
        token: httpToken,
      }),
      {
        port: settings.port,
        hostname: settings.hostname,
        headerTimeout: settings.httpHeaderTimeout,
        maxConnections: settings.httpMaxConnections,
        writeTimeout: settings.httpWriteTimeout,
      },
    );
    if (separate) {
      // The fanout on a broker of its own: losing either broker leaves the other's work going. The
      // publisher catches up from the published watermark on every fanout connection, whatever the
      // queue's broker does, and stored events wait in storage while the fanout broker is away.
      fanoutLink = new BrokerLink(settings.fanoutUrl, {
        name: "rabbit-eventstore server fanout",
        log,
        warn,
        caFile: settings.fanoutCaFile,
        settings: FANOUT_BROKER,
        startTimeout: options.brokerStartTimeout,
        onDisconnect: () => {
          publisher.detach();
          warn("Fanout broker connection lost; reconnecting (events are still stored)");
        },
        setup: async (session) => {
          await session.declareFanout(settings.exchangeName);
          if (owner) void publisher.attach(session);
        },
      });
      await fanoutLink.start();
    }
    link = new BrokerLink(settings.amqpUrl, {
      name: "rabbit-eventstore server",
      log,
      warn,
      caFile: settings.amqpCaFile,
      startTimeout: options.brokerStartTimeout,
      onDisconnect: () => {
        consumer = undefined;
        if (!separate) publisher.detach();
        warn(separate ? "Queue broker connection lost; reconnecting" : "Broker connection lost; reconnecting");
      },
      onFatal: (error) => {
        warn(`Fatal: ${describe(error)}`);
        void shutdown(error);
      },
      setup: async (session) => {
        if (!separate) await session.declareFanout(settings.exchangeName);
        await session.declareQueue(settings.queueName);
        await session.declareQueue(deadLetters.name);
        // Exclusive: two servers must never number one queue (QueueInUseError). Consume first, so a
        // server that does not own the queue publishes nothing; the publisher catches up from storage.
        consumer = await session.consume(settings.queueName, settings.prefetch, (d) => sequencer.accept(session, d), {
          exclusive: true,
        });
        if (!separate) void publisher.attach(session);
      },
    });
    await link.start();
    owner = true;
    const fanout = fanoutLink?.session;
    if (fanout) void publisher.attach(fanout);
  } catch (error) {
    await link?.close();
    await fanoutLink?.close();
    await feed.close("the server did not start", 0);
    await http?.close();
    await storage.close();
    throw error;
  }
  stopped.catch(() => {}); // observed through `closed`; never an unhandled rejection here
  return {
    get port() {
      return http!.port;
    },
    get head() {
      return storage.head;
    },
    settings,
    closed: stopped,
    stopped,
    close: () => shutdown(),
  };
}

async function openStorage(path: string, options: FileStorageOptions): Promise<FileStorage> {
  const refuse = (why: string, what: string) => new ConfigError(`Cannot open STORAGEFILE "${path}": ${why}; ${what}`);
  try {
    return await FileStorage.open(path, options);
  } catch (error) {
    if (error instanceof StoreLockedError) {
      throw new ConfigError(
        `STORAGEFILE "${path}" is in use by another server (pid ${error.pid ?? "unknown"}); ` +
          `stop it first, or give this server its own STORAGEFILE and QUEUENAME`,
      );
    }
    if (error instanceof NotAStoreError) {
      throw new ConfigError(
        `STORAGEFILE "${path}" is not a rabbit-eventstore store (${error.reason}); ` +
          `it was left untouched — point STORAGEFILE at a store or at a new file`,
      );
    }
    const code = (error as { code?: string })?.code;
    if (code === "ENOENT") {
      throw refuse("its directory does not exist", "create it or point STORAGEFILE elsewhere");
    }
    if (code === "EACCES" || code === "EPERM") {
      throw refuse("permission denied", "point STORAGEFILE at a writable path");
    }
    if (code === "EROFS") {
      throw refuse("the file system is read-only", "point STORAGEFILE at a writable file system");
    }
    if (code === "EISDIR") {
      throw refuse("it is a directory", "point STORAGEFILE at a file");
    }
    throw error;
  }
}

/**
 * Run the server as a program: configuration from the environment, one clear
 * line on error, exit code 0 after SIGINT/SIGTERM and 1 on failure.
 * `--help` and `--version` print and exit 0; any other argument exits 2.
 *
 * @param args The command line after the runtime and script. @default {process.argv.slice(2)}
 * @example A bin script of your own
 * ```ts
 * // bin.ts, the whole program: `deno run -A bin.ts`, `deno run -A bin.ts --help`
 * import { main } from "rabbit-eventstore/server";
 * await main(); // exits the process when the server stops
 * ```
 */
export async function main(args: string[] = process.argv.slice(2)): Promise<void> {
  const command = parseServerArgs(args);
  if (command.kind === "help") {
    console.log(serverHelp());
    exit(0);
  }
  if (command.kind === "version") {
    console.log(`rabbit-eventstore ${VERSION}`);
    exit(0);
  }
  if (command.kind === "error") {
    console.error(`rabbit-eventstore: ${command.message}`);
    exit(2);
  }
  let server: EventStoreServer;
  try {
    server = await startServer();
  } catch (error) {
    console.error(`rabbit-eventstore: ${describe(error)}`);
    exit(1);
  }
  console.log(
    `rabbit-eventstore: storing ${server.settings.storageFile} (head ${server.head}), ` +
      `consuming "${server.settings.queueName}", publishing to "${server.settings.exchangeName}"` +
      (server.settings.fanoutUrl === server.settings.amqpUrl ? "" : ` at ${redact(server.settings.fanoutUrl)}`) +
      `, history on port ${server.port}`,
  );
  onShutdownSignal((signal) => {
    console.log(`rabbit-eventstore: ${signal} received; finishing in-flight events`);
    void server.close();
  });
  try {
    await server.closed;
    exit(0);
  } catch (error) {
    console.error(`rabbit-eventstore: stopped: ${describe(error)}`);
    exit(1);
  }
}

if (isDenoMainModule("server.ts")) void main();

/** Resident set and heap sizes in MiB, for `/health` (the bench and operators read them). */
function memoryFigures(): Record<string, number> {
  const usage = process.memoryUsage();
  const mib = (bytes: number) => Math.round(bytes / 2 ** 20 * 10) / 10;
  return {
    rssMiB: mib(usage.rss),
    heapUsedMiB: mib(usage.heapUsed),
    heapTotalMiB: mib(usage.heapTotal),
    externalMiB: mib(usage.external),
  };
}
