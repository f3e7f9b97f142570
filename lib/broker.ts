/**
 * The only module that imports the AMQP client. Everything else sees the
 * small {@link BrokerSession} interface, so unit tests can use fakes while
 * production and integration tests use the real RabbitMQ.
 *
 * `@cloudamqp/amqp-client`'s `AMQPSession` reconnects but does not re-declare
 * topology, and it recovers consumers on channels we do not control. The
 * server needs the opposite (declare, then republish the unconfirmed tail,
 * then consume), so {@link BrokerLink} runs its own reconnect loop and calls a
 * setup function on every connection.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { type AMQPChannel, AMQPClient, type AMQPMessage } from "@cloudamqp/amqp-client";
import { BrokerRefusedError, describe, PublishNackedError, QueueInUseError } from "./errors.ts";
import { redact } from "./config.ts";

/** A message delivered to a consumer. */
export interface Delivery {
  /** Raw body bytes. */
  body: Uint8Array;
  /** AMQP messageId property, if set. */
  messageId?: string;
  /** AMQP type property, if set. */
  type?: string;
  /** AMQP headers, if any. */
  headers?: Record<string, unknown>;
  /** Delivery tag on the consuming channel. */
  tag: number;
  /** Whether the broker delivered this message before. */
  redelivered: boolean;
}

/** Properties for a published message. */
export interface PublishProperties {
  /** AMQP messageId. */
  messageId?: string;
  /** AMQP type. */
  type?: string;
  /** AMQP headers. */
  headers?: Record<string, unknown>;
  /** @default {"application/json"} */
  contentType?: string;
  /** Persistent (delivery mode 2). @default {true} */
  persistent?: boolean;
}

/** Queue declaration options. */
export interface QueueOptions {
  /** @default {true} */
  durable?: boolean;
  /** @default {false} */
  exclusive?: boolean;
  /** @default {false} */
  autoDelete?: boolean;
  /** Queue arguments such as `x-queue-type`. */
  arguments?: Record<string, unknown>;
}

/**
 * Options for {@link BrokerSession.consume}.
 *
 * @example Consume a queue no other consumer may share
 * ```ts
 * import { openSession } from "./broker.ts";
 * const session = await openSession("amqp://guest:guest@127.0.0.1");
 * await session.declareQueue("work");
 * await session.consume("work", 10, (d) => session.ack(d.tag), { exclusive: true });
 * await session.close();
 * ```
 */
export interface ConsumeOptions {
  /**
   * Consume exclusively: RabbitMQ refuses it while the queue has another
   * consumer, and refuses every other consumer while this one lasts
   * ({@link QueueInUseError}). @default {false}
   */
  exclusive?: boolean;
  /** Consumer arguments such as `x-stream-offset`. */
  arguments?: Record<string, unknown>;
}

/** A consumer started with {@link BrokerSession.consume}. */
export interface Consumer {
  /** Stop deliveries to this consumer. */
  cancel(): Promise<void>;
}

/** One live connection to the broker. Unusable after it closes. */
export interface BrokerSession {
  /** Declare a queue; "" lets the broker name it. Returns the name. */
  declareQueue(name: string, options?: QueueOptions): Promise<string>;
  /** Declare a durable fanout exchange. */
  declareFanout(name: string): Promise<void>;
  /** Bind a queue to an exchange. */
  bind(queue: string, exchange: string): Promise<void>;
  /**
   * Consume with manual ack and the given prefetch.
   * @throws {QueueInUseError} When `exclusive` is set and another consumer holds the queue (or the reverse).
   */
  consume(
    queue: string,
    prefetch: number,
    onDelivery: (delivery: Delivery) => void,
    options?: ConsumeOptions,
  ): Promise<Consumer>;
  /** Acknowledge a delivery (and, with multiple, every earlier one). */
  ack(tag: number, multiple?: boolean): Promise<void>;
  /** Reject a delivery without requeue (dead-letters it if configured). */
  reject(tag: number): Promise<void>;
  /**
   * Publish with publisher confirms; resolves when the broker confirmed.
   * @throws {PublishNackedError} When the broker answered with basic.nack.
   * @throws {RangeError} When the properties and headers do not fit in one frame (about 8 KiB); nothing was sent.
   */
  publish(
    exchange: string,
    routingKey: string,
    body: string | Uint8Array,
    properties?: PublishProperties,
  ): Promise<void>;
  /** Delete a queue (tests and temporary queues). */
  deleteQueue(name: string): Promise<void>;
  /** Delete an exchange (tests). */
  deleteExchange(name: string): Promise<void>;
  /** Whether the connection is gone. */
  readonly closed: boolean;
  /** Close the connection. */
  close(): Promise<void>;
}

/** Options for {@link openSession}. */
export interface SessionOptions {
  /** Connection name shown in the RabbitMQ management UI. */
  name?: string;
  /** Called once when the connection drops unexpectedly. */
  onClose?: (error?: Error) => void;
}

/**
 * Open one connection with a consume channel and a confirm-mode publish channel.
 *
 * @example Publish one message
 * ```ts
 * import { openSession } from "./broker.ts";
 * const session = await openSession("amqp://guest:guest@127.0.0.1");
 * await session.publish("", "events", JSON.stringify({ hello: "world" }));
 * await session.close();
 * ```
 */
export async function openSession(url: string, options: SessionOptions = {}): Promise<BrokerSession> {
  const client = new AMQPClient(tuneUrl(url, options.name), undefined, null);
  let closedByUs = false;
  let notified = false;
  const notify = (error?: Error) => {
    if (closedByUs || notified) return;
    notified = true;
    options.onClose?.(error);
  };
  client.ondisconnect = (error) => notify(error);
  client.onerror = (error) => {
    if (client.closed) notify(error);
  };
  readWholeFrames(client);
  await client.connect();
  try {
    const ops = await client.channel();
    const pub = await client.channel();
    await pub.confirmSelect();
    // A channel or consumer the broker closes makes this session unusable:
    // close it and tell the owner, who reconnects and sets everything up again.
    const fail = (error: Error) => {
      if (!client.closed) client.close(error.message).catch(() => {});
      notify(error);
    };
    pub.onerror = (reason) => fail(new Error(`publish channel closed by the broker: ${reason}`));
    return new Session(client, ops, pub, () => (closedByUs = true), fail, () => notified);
  } catch (error) {
    closedByUs = true;
    await client.close().catch(() => {});
    throw error;
  }
}

/**
 * AMQP frame size asked for: the protocol's minimum. amqp-client 4.1 writes
 * every publish into a buffer of this size (bigger bodies are split into
 * frames, or get a buffer of their own), so each publish awaiting its confirm
 * costs this much memory: 8 KiB rather than the broker's 128 KiB default.
 */
const FRAME_MAX = 8_192;
/**
 * Largest frame taken from the broker: RabbitMQ's ceiling for
 * `max_message_size` (512 MiB). A frame that claims more means the stream is
 * corrupt, and the connection is dropped.
 */
const LARGEST_FRAME = 512 * 1024 * 1024;

/**
 * Let the client read frames bigger than the frame size it negotiated.
 *
 * RabbitMQ sends a message's header frame whole even when it is bigger than
 * the connection's frame size: a header frame cannot be split, so a message
 * with 120 KB of AMQP headers (any client on a 128 KiB connection may publish
 * one; the management UI, shovels and plugins, which do not use frames, any
 * size) arrives as one 120 KB frame on this 8 KiB connection. amqp-client 4.1
 * collects a frame that spans socket reads in a buffer of the frame size and
 * throws ("Copied 0 bytes") from the socket's data handler when it does not
 * fit: the process dies, and again on every restart, since the message stays
 * queued. So its reader is only given whole frames, which it parses in place:
 * a frame that spans reads is collected here, in the client's own buffer or,
 * when bigger, in a buffer of its own size that is dropped once the frame is
 * parsed. Publishing is untouched (its buffers stay at the frame size).
 *
 * Wraps amqp-client 4.1's private `onRead`, which `connect()` binds as the
 * socket's data handler; the broker tests fail if that changes.
 */
function readWholeFrames(client: AMQPClient): void {
  const reader = client as unknown as { onRead?: (bytes: Buffer) => boolean; frameBuffer?: unknown };
  const parse = reader.onRead;
  if (typeof parse !== "function") throw new Error("amqp-client has no onRead: cannot read oversized frames");
  const small = reader.frameBuffer instanceof Buffer ? reader.frameBuffer : Buffer.allocUnsafe(FRAME_MAX);
  const head = Buffer.alloc(7); // type, channel, size: the frame header
  let headLength = 0;
  let frame: Buffer | undefined; // the frame being collected
  let filled = 0;
  const hand = (bytes: Buffer): boolean => {
    try {
      parse.call(client, bytes);
      return true;
    } catch (error) {
      // Thrown from a socket data handler it would end the process: drop the connection instead.
      client.socket?.destroy(error instanceof Error ? error : new Error(describe(error)));
      return false;
    }
  };
  reader.onRead = (bytes: Buffer): boolean => {
    for (let at = 0; at < bytes.length;) {
      if (!frame) {
        if (headLength === 0) {
          let end = at; // whole frames from here on go to the client without a copy
          while (bytes.length - end >= 7 && bytes.length - end >= bytes.readUInt32BE(end + 3) + 8) {
            end += bytes.readUInt32BE(end + 3) + 8;
          }
          if (end > at) {
            if (!hand(bytes.subarray(at, end))) return false;
            at = end;
            continue;
          }
        }
        const n = Math.min(7 - headLength, bytes.length - at);
        bytes.copy(head, headLength, at, at + n);
        headLength += n;
        at += n;
        if (headLength < 7) break;
        headLength = 0;
        const size = head.readUInt32BE(3) + 8;
        if (size > LARGEST_FRAME) {
          client.socket?.destroy(new Error(`AMQP frame of ${size} bytes is larger than ${LARGEST_FRAME}`));
          return false;
        }
        frame = size <= small.length ? small.subarray(0, size) : Buffer.allocUnsafe(size);
        head.copy(frame, 0);
        filled = 7;
      }
      const n = Math.min(frame.length - filled, bytes.length - at);
      bytes.copy(frame, filled, at, at + n);
      filled += n;
      at += n;
      if (filled === frame.length) {
        const whole = frame;
        frame = undefined;
        if (!hand(whole)) return false;
      }
    }
    return true;
  };
}

/**
 * Publish buffers kept for reuse after their confirm; the rest are left to
 * the GC. Enough for the publishes in flight while ingesting at the default
 * prefetch, so the steady state allocates none (16 MiB at most); a bigger
 * burst (a catch-up) is given back afterwards.
 */
const BUFFER_POOL_KEEP = 2_048;

/**
 * Cap amqp-client's pool of publish buffers (a field of amqp-client 4.1). It
 * returns each publish's buffer to the pool after the confirm and never
 * shrinks the pool, so without a cap the memory of the most publishes ever in
 * flight (e.g. a 1,000,000-record republish: 10,000 × frame size) stays
 * resident for the life of the connection.
 */
function trimBufferPool(client: AMQPClient): void {
  const pool = (client as unknown as { bufferPool?: unknown }).bufferPool;
  if (!Array.isArray(pool) || pool.length <= BUFFER_POOL_KEEP) return;
  pool.length = BUFFER_POOL_KEEP;
}

/** A confirm the client waits for: [delivery tag, resolve, reject]. */
type PendingConfirm = [number, (tag: number) => void, (error?: Error) => void];

/** The client's queue of unconfirmed publishes (a private field of amqp-client 4.1), if it has one. */
function unconfirmedPublishes(channel: AMQPChannel): PendingConfirm[] | undefined {
  const queue = (channel as unknown as { unconfirmedPublishes?: unknown }).unconfirmedPublishes;
  return Array.isArray(queue) ? queue as PendingConfirm[] : undefined;
}

class Session implements BrokerSession {
  readonly #client: AMQPClient;
  readonly #ops: AMQPChannel;
  readonly #pub: AMQPChannel;
  readonly #markClosing: () => void;
  readonly #fail: (error: Error) => void;
  readonly #lost: () => boolean;
  #consume: AMQPChannel | undefined;

  constructor(
    client: AMQPClient,
    ops: AMQPChannel,
    pub: AMQPChannel,
    markClosing: () => void,
    fail: (error: Error) => void,
    lost: () => boolean,
  ) {
    this.#client = client;
    this.#ops = ops;
    this.#pub = pub;
    this.#markClosing = markClosing;
    this.#fail = fail;
    this.#lost = lost;
  }

  get closed(): boolean {
    // When the broker closes the connection (CONNECTION_FORCED on stop_app) the client rejects
    // pending confirms before its socket closes; the lost flag is already set by then, so
    // callers see the session as closed and retry instead of failing for good.
    return this.#client.closed || this.#lost();
  }

  async declareQueue(name: string, options: QueueOptions = {}): Promise<string> {
    const ok = await this.#ops.queueDeclare(name, {
      durable: options.durable ?? true,
      exclusive: options.exclusive ?? false,
      autoDelete: options.autoDelete ?? false,
    }, options.arguments ?? {});
    return ok.name;
  }

  async declareFanout(name: string): Promise<void> {
    await this.#ops.exchangeDeclare(name, "fanout", { durable: true });
  }

  async bind(queue: string, exchange: string): Promise<void> {
    await this.#ops.queueBind(queue, exchange, "");
  }

  async consume(
    queue: string,
    prefetch: number,
    onDelivery: (delivery: Delivery) => void,
    options: ConsumeOptions = {},
  ): Promise<Consumer> {
    if (this.#consume) throw new Error("Cannot consume twice on one broker session");
    const ch = await this.#client.channel();
    this.#consume = ch;
    await ch.basicQos(prefetch);
    const params = { noAck: false, exclusive: options.exclusive ?? false, args: options.arguments ?? {} };
    const consumer = await ch.basicConsume(queue, params, (msg: AMQPMessage) => {
      onDelivery({
        body: msg.body ?? new Uint8Array(0),
        messageId: msg.properties.messageId,
        type: msg.properties.type,
        headers: msg.properties.headers as Record<string, unknown> | undefined,
        tag: msg.deliveryTag,
        redelivered: msg.redelivered,
      });
    }).catch((error: Error) => {
      this.#consume = undefined;
      // RabbitMQ closes the channel: "ACCESS_REFUSED - queue 'q' in vhost '/' in exclusive use".
      throw /ACCESS_REFUSED.* in exclusive use/.test(describe(error)) ? new QueueInUseError(queue, error) : error;
    });
    ch.onerror = (reason) => this.#fail(new Error(`consume channel closed by the broker: ${reason}`));
    let cancelling = false;
    // The broker cancels a consumer when its queue is deleted: without this the
    // session would stay up and silently consume nothing.
    consumer.wait().catch((error: Error) => {
      if (!cancelling && !this.#client.closed) {
        this.#fail(new Error(`consumer of ${queue} cancelled by the broker: ${error.message}`));
      }
    });
    return {
      cancel: () => {
        cancelling = true;
        return consumer.cancel().then(() => {});
      },
    };
  }

  ack(tag: number, multiple = false): Promise<void> {
    if (!this.#consume) return Promise.reject(new Error("Cannot ack: not consuming"));
    return this.#consume.basicAck(tag, multiple);
  }

  reject(tag: number): Promise<void> {
    if (!this.#consume) return Promise.reject(new Error("Cannot reject: not consuming"));
    return this.#consume.basicReject(tag, false);
  }

  async publish(
    exchange: string,
    routingKey: string,
    body: string | Uint8Array,
    properties: PublishProperties = {},
  ): Promise<void> {
    const pending = unconfirmedPublishes(this.#pub);
    const before = pending?.length;
    const sent = this.#pub.basicPublish(exchange, routingKey, body, {
      contentType: properties.contentType ?? "application/json",
      deliveryMode: properties.persistent === false ? 1 : 2,
      messageId: properties.messageId,
      type: properties.type,
      headers: properties.headers as Record<string, never> | undefined,
    });
    if (!pending || pending.length !== before! + 1) {
      await this.#unlessWriteFails(sent); // not queued for a confirm (channel closed, or not in confirm mode)
      return;
    }
    // amqp-client 4.1 returns send(frames).then(() => confirm) and queues the confirm's
    // reject here. When the channel closes while the write is pending (or the write fails),
    // the confirm is rejected before anything is chained to it: an unhandled rejection,
    // which ends the whole process (server, or an application using the command module).
    // So the reject goes to a promise raced right now instead, and the confirm only resolves.
    // A basic.nack rejects with a plain "Message rejected" while the connection stays up;
    // it becomes a PublishNackedError so callers know to publish again.
    const entry = pending[pending.length - 1];
    const failed = new Promise<never>((_, reject) =>
      entry[2] = (error) => {
        if (error?.message === "Message rejected") reject(new PublishNackedError(properties.messageId));
        else reject(error ?? new Error("Publish not confirmed"));
      }
    );
    try {
      await this.#unlessWriteFails(Promise.race([sent, failed]));
    } finally {
      trimBufferPool(this.#client);
    }
  }

  /**
   * A socket write that fails (ECONNRESET, "write after destroyed") means the connection is gone,
   * but the client only notices on the socket's close event, a turn of the event loop later. Until
   * then every publish would fail at once while the session still read as open, and publishers
   * that retry would spin in microtasks and starve that very event. So the session closes now.
   */
  async #unlessWriteFails(sent: Promise<unknown>): Promise<void> {
    try {
      await sent;
    } catch (error) {
      if (error instanceof RangeError) {
        // amqp-client writes the method and header frames into one buffer of the frame size; nothing was sent.
        throw new RangeError(
          `Cannot publish: the message's properties and headers do not fit in one frame of ${FRAME_MAX} bytes`,
          { cause: error },
        );
      }
      if (!(error instanceof PublishNackedError) && !this.closed) {
        this.#fail(new Error(`connection failed while publishing: ${describe(error)}`));
      }
      throw error;
    }
  }

  async deleteQueue(name: string): Promise<void> {
    await this.#ops.queueDelete(name);
  }

  async deleteExchange(name: string): Promise<void> {
    await this.#ops.exchangeDelete(name);
  }

  async close(): Promise<void> {
    this.#markClosing();
    if (!this.#client.closed) await this.#client.close().catch(() => {});
  }
}

/** Options for {@link BrokerLink}. */
export interface BrokerLinkOptions {
  /** Connection name shown in the management UI. */
  name?: string;
  /** Run on every new connection: declare topology, start consuming. */
  setup: (session: BrokerSession) => Promise<void>;
  /** Called when a connection is lost (before reconnecting). */
  onDisconnect?: (error?: Error) => void;
  /** Log lines about reconnects. */
  log?: (message: string) => void;
  /** Lines an operator must see: the queue is held by another consumer, the broker refuses the login. */
  warn?: (message: string) => void;
  /**
   * Called when reconnecting stops for good: another consumer still held the
   * queue ({@link QueueInUseError}) after `inUseGrace`. The link is closed
   * then. Without it the link keeps retrying.
   */
  onFatal?: (error: Error) => void;
  /**
   * After a reconnect, how long to wait for a queue another consumer holds
   * before `onFatal`: long enough for RabbitMQ to drop this process's own
   * lost connection (two missed 10 s heartbeats), never taking the queue
   * from a live consumer. @default {60000}
   */
  inUseGrace?: number;
  /** First reconnect delay in ms. @default {100} */
  minDelay?: number;
  /** Largest reconnect delay in ms. @default {5000} */
  maxDelay?: number;
  /** Give up on the very first connection after this many ms. @default {10000} */
  startTimeout?: number;
}

/**
 * Keeps one session to the broker alive: connects, runs `setup`, and when the
 * connection drops reconnects with exponential backoff and runs `setup` again.
 *
 * @example Keep a consumer alive across broker restarts
 * ```ts
 * import { BrokerLink } from "./broker.ts";
 * const link = new BrokerLink("amqp://guest:guest@127.0.0.1", {
 *   setup: async (session) => {
 *     await session.declareQueue("work");
 *     await session.consume("work", 10, (d) => session.ack(d.tag));
 *   },
 * });
 * await link.start();
 * await link.close();
 * ```
 */
export class BrokerLink {
  readonly #url: string;
  readonly #options: BrokerLinkOptions;
  #session: BrokerSession | undefined;
  #closed = false;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;

  /**
   * @param url Broker URL (amqp:// or amqps://).
   * @param options Setup function and reconnect tuning.
   */
  constructor(url: string, options: BrokerLinkOptions) {
    this.#url = url;
    this.#options = options;
  }

  /** The current session, if connected. */
  get session(): BrokerSession | undefined {
    return this.#session && !this.#session.closed ? this.#session : undefined;
  }

  /**
   * Connect and run setup, retrying until `startTimeout`; afterwards keep
   * reconnecting in the background for as long as the link is open.
   */
  async start(): Promise<void> {
    const deadline = Date.now() + (this.#options.startTimeout ?? 10_000);
    let delay = this.#options.minDelay ?? 100;
    while (true) {
      try {
        await this.#connectOnce();
        return;
      } catch (error) {
        if (this.#closed) throw error;
        const refused = refusal(error, this.#url);
        if (refused) throw refused;
        if (Date.now() + delay > deadline || isFatal(error)) {
          throw new Error(
            `Cannot connect to RabbitMQ at ${redact(this.#url)}: ${describe(error)}; ` +
              `check AMQPHOST or AMQPURL and that RabbitMQ is running`,
            { cause: error },
          );
        }
        this.#options.log?.(`Broker not reachable (${describe(error)}); retrying in ${delay} ms`);
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, this.#options.maxDelay ?? 5000);
      }
    }
  }

  async #connectOnce(): Promise<void> {
    let current = false;
    const session = await openSession(this.#url, {
      name: this.#options.name,
      onClose: (error) => {
        if (current) this.#lost(error);
      },
    });
    try {
      await this.#options.setup(session);
    } catch (error) {
      await session.close();
      throw error;
    }
    if (this.#closed) {
      await session.close();
      return;
    }
    if (session.closed) throw new Error("connection closed during setup");
    this.#session = session;
    current = true;
  }

  #lost(error?: Error): void {
    if (this.#closed) return;
    this.#session = undefined;
    this.#options.onDisconnect?.(error);
    this.#options.log?.(`Broker connection lost (${error ? describe(error) : "closed"}); reconnecting`);
    if (!this.#loop) this.#loop = this.#reconnect().finally(() => (this.#loop = undefined));
  }

  async #reconnect(): Promise<void> {
    let delay = this.#options.minDelay ?? 100;
    let inUseSince: number | undefined;
    const warned = new Set<string>();
    while (!this.#closed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
      if (this.#closed) return;
      try {
        await this.#connectOnce();
        this.#options.log?.("Broker connection restored");
        return;
      } catch (caught) {
        const error = refusal(caught, this.#url) ?? caught;
        if (error instanceof QueueInUseError) {
          // Never taken from a live consumer; but it may be this process's own lost connection.
          const grace = this.#options.inUseGrace ?? 60_000;
          inUseSince ??= Date.now();
          if (Date.now() - inUseSince >= grace && this.#options.onFatal) {
            this.#options.warn?.(`${error.message}; gave up reconnecting after ${grace} ms`);
            this.#closed = true;
            this.#options.onFatal(error);
            return;
          }
          if (!warned.has(error.message)) {
            this.#options.warn?.(`${error.message}; not consuming, retrying for up to ${grace} ms`);
          }
          warned.add(error.message);
        } else if (error instanceof BrokerRefusedError) {
          if (!warned.has(error.message)) this.#options.warn?.(`${error.message}; still retrying`);
          warned.add(error.message);
        } else {
          inUseSince = undefined;
        }
        this.#options.log?.(`Reconnect failed (${describe(error)}); retrying in ${delay} ms`);
        delay = Math.min(delay * 2, this.#options.maxDelay ?? 5000);
      }
    }
  }

  /** Stop reconnecting and close the current session. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    const session = this.#session;
    this.#session = undefined;
    await session?.close();
  }
}

/** Errors that retrying cannot fix but that are not the broker's refusal (a host name that does not resolve). */
function isFatal(error: unknown): boolean {
  return /ENOTFOUND|EAI_AGAIN|Invalid URL/i.test(describe(error));
}

/**
 * The broker's refusal in `error`, as one line that says what to change, or
 * undefined when the error is something else (the broker is down, the
 * connection dropped). RabbitMQ's texts are stable:
 * `NOT_ALLOWED - vhost v not found`, `NOT_ALLOWED - access to vhost 'v' refused for user 'u'`,
 * `ACCESS_REFUSED - Login was refused …`, `ACCESS_REFUSED - access to queue 'q' in vhost 'v' refused for user 'u'`,
 * `PRECONDITION_FAILED - inequivalent arg …`.
 */
function refusal(error: unknown, url: string): Error | undefined {
  if (error instanceof QueueInUseError || error instanceof BrokerRefusedError) return error;
  const text = describe(error);
  const at = `RabbitMQ at ${redact(url)}`;
  const user = userOf(url);
  let m = /NOT_ALLOWED - vhost (.*) not found/.exec(text);
  if (m) {
    return new BrokerRefusedError(
      `${at} has no vhost "${m[1]}"; create it (rabbitmqctl add_vhost ${m[1]}) or correct the vhost in AMQPURL`,
      "NOT_ALLOWED",
      error,
    );
  }
  m = /NOT_ALLOWED - access to vhost '(.*)' refused for user '(.*)'/.exec(text);
  if (m) {
    return new BrokerRefusedError(
      `${at} refused user "${m[2]}" access to vhost "${m[1]}"; grant it ` +
        `(rabbitmqctl set_permissions -p ${m[1]} ${m[2]} ".*" ".*" ".*") or change the user or vhost in AMQPURL`,
      "NOT_ALLOWED",
      error,
    );
  }
  if (/ACCESS_REFUSED - Login was refused/.test(text)) {
    return new BrokerRefusedError(
      `${at} refused the login of user "${user}": wrong user name or password ` +
        `(user guest may log in from localhost only); set AMQPURL with credentials RabbitMQ accepts`,
      "ACCESS_REFUSED",
      error,
    );
  }
  m = /ACCESS_REFUSED - access to (queue|exchange) '(.*)' in vhost '(.*)' refused for user '(.*)'/.exec(text);
  if (m) {
    return new BrokerRefusedError(
      `${at} refused user "${m[4]}" access to ${m[1]} "${m[2]}" in vhost "${m[3]}"; grant the user configure, ` +
        `write and read permissions on it (rabbitmqctl set_permissions) or change AMQPURL`,
      "ACCESS_REFUSED",
      error,
    );
  }
  m = /(ACCESS_REFUSED|NOT_ALLOWED|PRECONDITION_FAILED) - (.*?)(?: \(\d+\))?$/.exec(text);
  if (m) {
    const hint = m[1] === "PRECONDITION_FAILED"
      ? "it exists with other settings: delete it, or choose another QUEUENAME or EXCHANGENAME"
      : "change AMQPURL, QUEUENAME or EXCHANGENAME, or the user's permissions";
    return new BrokerRefusedError(`${at} refused: ${m[1]} - ${m[2]}; ${hint}`, m[1], error);
  }
  return undefined;
}

function userOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).username) || "guest";
  } catch {
    return "guest";
  }
}

function tuneUrl(url: string, name?: string): string {
  const u = new URL(url);
  if (!u.searchParams.has("frameMax")) u.searchParams.set("frameMax", String(FRAME_MAX));
  if (!u.searchParams.has("heartbeat")) u.searchParams.set("heartbeat", "10");
  if (name && !u.searchParams.has("name")) u.searchParams.set("name", name);
  return u.toString();
}
