/**
 * Every timing and limit of the store, in one commented object: the
 * defaults behind the documented options and the fixed figures modules use
 * internally. Modules read them from here instead of keeping numbers of their
 * own, so one value (15 000 ms to wait for a confirm, say) has one home.
 *
 * Settings an operator sets through the environment (port, names, paths)
 * keep their defaults in `lib/config.ts`, which takes the numeric ones from
 * here. All times are milliseconds unless a name says otherwise.
 *
 * @module
 */
import type { BackoffOptions } from "./backoff.ts";

/**
 * The defaults, grouped by the module that uses them.
 *
 * @example Read a default
 * ```ts
 * import { DEFAULTS } from "./defaults.ts";
 * console.log(DEFAULTS.fanout.confirmTimeout); // 15000
 * ```
 */
export const DEFAULTS = {
  /** The AMQP connection (`lib/amqp_session.ts`). */
  amqp: {
    /**
     * AMQP frame size asked for: the protocol's minimum. amqp-client 4.1
     * writes every publish into a buffer of this size (bigger bodies are split
     * into frames, or get a buffer of their own), so each publish awaiting its
     * confirm costs this much memory: 8 KiB rather than the broker's 128 KiB.
     */
    frameMax: 8_192,
    /** Heartbeat asked for, in seconds: a dead peer is noticed after two missed ones. */
    heartbeatSeconds: 10,
    /**
     * Largest frame taken from the broker: RabbitMQ's ceiling for
     * `max_message_size` (512 MiB). A frame that claims more means the stream
     * is corrupt, and the connection is dropped.
     */
    largestFrame: 512 * 1024 * 1024,
    /**
     * Publish buffers kept for reuse after their confirm; the rest are left to
     * the GC. Enough for the publishes in flight while ingesting at the
     * default prefetch, so the steady state allocates none (16 MiB at most);
     * a bigger burst (a catch-up) is given back afterwards.
     */
    bufferPoolKeep: 2_048,
  },
  /** The reconnect link (`lib/broker_link.ts`). */
  link: {
    /** Give up on the very first connection after this long (the server's `brokerStartTimeout`). */
    startTimeout: 10_000,
    /** Delays between (re)connect attempts: 100 ms, doubling up to 5 s. */
    reconnect: { first: 100, max: 5_000 } satisfies BackoffOptions,
    /**
     * After a reconnect, how long a queue another consumer holds is waited
     * for before giving up: long enough for RabbitMQ to drop this process's
     * own lost connection (two missed 10 s heartbeats).
     */
    inUseGrace: 60_000,
  },
  /** The server's ingest path (`server.ts`, `lib/sequencer.ts`). */
  server: {
    /** Unacknowledged messages taken at once, the batch bound (env `PREFETCH`). */
    prefetch: 1_000,
    /** Largest accepted event body in bytes; larger ones are dead-lettered (env `MAXEVENTBYTES`). */
    maxEventBytes: 1024 * 1024,
    /** Ids remembered for idempotent append (env `DEDUPWINDOW`). */
    dedupWindow: 1_000_000,
    /** Stop taking new batches while this many fanout publishes await a confirm. */
    maxUnconfirmed: 20_000,
  },
  /** The dead-letter queue (`lib/dead_letter.ts`). */
  deadLetter: {
    /** A dead-letter publish the broker has not confirmed after this long fails (the message is redelivered later). */
    confirmTimeout: 15_000,
    /** Publishes tried while the broker nacks, before the message is left unacknowledged. */
    attempts: 5,
    /** Pause after the n-th nack: 50 ms × n. */
    retry: { first: 50, max: 200, growth: "linear" } satisfies BackoffOptions,
  },
  /** The fanout publisher (`lib/fanout_publisher.ts`). */
  fanout: {
    /** Publish a batch again when the broker has not confirmed it after this long. */
    confirmTimeout: 15_000,
    /** Pause before publishing again on a live connection: 50 ms, doubling up to 2 s while resends fail. */
    resend: { first: 50, max: 2_000 } satisfies BackoffOptions,
    /**
     * Most republished records awaiting a confirm during a catch-up. Each
     * costs a publish buffer in the AMQP client; the catch-up reads from disk
     * whenever it likes, so a deeper window buys nothing.
     */
    catchUpInFlight: 2_000,
    /**
     * Records republished per second at most while catching up (env `REPUBLISHRATE`): a restored store
     * whose watermark is unknown republishes its whole history, and live events and history reads must not
     * starve meanwhile (live events are published at once, beside the catch-up). `0`: no pacing.
     */
    republishRate: 2_000,
    /**
     * Records republished per second at most while the storage has history reads open (a listener
     * replaying over HTTP): a paced catch-up yields to them, and still moves on.
     */
    republishRateWhileReading: 100,
    /**
     * Save the published watermark at most this often (and on shutdown): a crash costs republishing at most
     * this long's worth of records. Every 50 ms it was 3% of the server's CPU.
     */
    watermarkInterval: 1_000,
  },
  /** The HTTP server (`lib/runtime/serve.ts`, via `lib/config.ts`). */
  http: {
    /** How long readiness reuses the storage's writability check (an access and a statfs), in ms. */
    writableCheckTtl: 1_000,
    /** Time a client may take to send a complete request head (env `HTTPHEADERTIMEOUT`). */
    headerTimeout: 30_000,
    /** Connections open at once; one more is answered 503 (env `HTTPMAXCONNECTIONS`). */
    maxConnections: 1_000,
    /** Time a response may wait for its client to take the chunk being written (env `HTTPWRITETIMEOUT`). */
    writeTimeout: 60_000,
    /**
     * Bytes per write of a byte-stream body (the history), from one buffer per response reused once the socket
     * took it: what a stalled reader holds. 256 KiB: 200 stalled readers cost +222 MiB on Deno 2.9 (512 KiB:
     * +253 MiB and about 2% faster; 1 MiB: over the 300 MiB bound of serve_test).
     */
    writeChunk: 256 * 1024,
    /** Connections being answered 503 at once; beyond this they are closed without an answer. */
    maxRejecting: 64,
    /** How long a rejected connection may take to read its 503. */
    rejectLinger: 1_000,
    /** File descriptors kept free for the storage, the broker and the runtime when fitting the connection cap. */
    reservedFds: 128,
  },
  /** Live HTTP clients: SSE and `?follow=1` (`lib/live_feed.ts`, `lib/follow_handler.ts`). */
  live: {
    /** Live clients at once; one more is answered 503 (env `HTTPLIVECLIENTS`). */
    maxClients: 100,
    /**
     * Bytes of events one live client may let wait (env `HTTPLIVEBUFFER`); a client further behind is closed
     * and resumes from its last position. 100 clients at the bound hold 100 MiB.
     */
    bufferBytes: 1024 * 1024,
    /** A live response that sent nothing for this long sends a heartbeat (env `HTTPHEARTBEAT`). */
    heartbeat: 15_000,
    /** The SSE `retry:` hint: how long a browser's EventSource waits before it reconnects. */
    retry: 1_000,
    /** On close, how long the server waits for live clients to take their last line. */
    closeGrace: 1_000,
  },
  /** The command module (`command.ts`). */
  command: {
    /** Keep retrying one publish across reconnects and nacks for this long. */
    retryFor: 30_000,
    /** Publish again (same id) when the broker has not confirmed after this long. */
    confirmTimeout: 10_000,
    /** Pause after a failed publish: 20 ms, doubling up to 1 s. */
    retry: { first: 20, max: 1_000 } satisfies BackoffOptions,
    /** While disconnected, look for a new session at least this often (and for a lost reply channel). */
    sessionPoll: 100,
    /** Send an append again (same id) when its reply has not come after this long. */
    replyTimeout: 10_000,
    /** `handleCommand`: read, decide and append again this many times after a conflict. */
    conflictRetries: 10,
    /** `handleCommand`: pause before retrying after a conflict, a random part of 10 ms doubling up to 1 s. */
    conflictRetry: { first: 10, max: 1_000 } satisfies BackoffOptions,
    /** A stream read (`readStream`) that has not finished after this long fails. */
    readTimeout: 30_000,
  },
  /** The listener (`listener.ts`, `lib/event_feed.ts`, `lib/history_client.ts`). */
  listener: {
    /** Live events the broker buffers for one listener. */
    prefetch: 256,
    /** Least time between two warnings of one kind (history unreachable, stray messages). */
    warnInterval: 30_000,
    /** Delays between history reads that failed or came up short: 100 ms, doubling up to 5 s. */
    historyRetry: { first: 100, max: 5_000 } satisfies BackoffOptions,
    /** A history body streams from a file; this long without a byte means the connection is dead. */
    historyIdleTimeout: 30_000,
  },
  /** The command line (`cli.ts`, `lib/cli/`). */
  cli: {
    /** A progress bar on a terminal is redrawn at most this often. */
    progressRedraw: 100,
    /** Without a terminal, one plain progress line this often. */
    progressInterval: 5_000,
    /** `publish`: events awaiting their broker confirm at once (pipelined, in file order). */
    publishWindow: 256,
    /** `publish --stream`: consecutive lines appended as one message (stored whole, in order), at most. */
    streamBatch: 100,
    /** `publish --stream`: bytes of events in one such message, at most (below MAXEVENTBYTES' default). */
    streamBatchBytes: 256 * 1024,
    /** `import`: records appended (and fsync'd) together. */
    importBatch: 1_000,
  },
} as const;
