/**
 * The only module that imports the AMQP client: {@link openSession} opens one
 * connection as a {@link BrokerSession}. Everything else sees that interface
 * (`lib/broker_session.ts`), so unit tests use fakes while production and the
 * integration tests use the real RabbitMQ.
 *
 * Five patches on amqp-client 4.1's private fields sit in one labelled block
 * below ("Patches on amqp-client's private fields"); {@link clientInternalsProblems}
 * checks that the fields they need are still there, and
 * `tests/amqp_session_test.ts` fails when they are not. The dependency is
 * pinned to one exact version in package.json for the same reason.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { AMQPChannel, AMQPClient, type AMQPMessage, type AMQPProperties } from "@cloudamqp/amqp-client";
import { AMQPView } from "@cloudamqp/amqp-client/amqp-view";
import type {
  BrokerSession,
  ConsumeOptions,
  Consumer,
  Delivery,
  OutgoingMessage,
  PublishProperties,
  QueueOptions,
  Reply,
  ReplyChannel,
  SessionOptions,
} from "./broker_session.ts";
import { DEFAULTS } from "./defaults.ts";
import { describe, PublishNackedError, QueueInUseError } from "./errors.ts";
import { utf8Length } from "./utf8_length.ts";

/**
 * Open one connection with a consume channel and a confirm-mode publish channel.
 *
 * @example Publish one message
 * ```ts
 * import { openSession } from "./amqp_session.ts";
 * const session = await openSession("amqp://guest:guest@127.0.0.1");
 * await session.publish("", "events", JSON.stringify({ hello: "world" }));
 * await session.close();
 * ```
 */
export async function openSession(url: string, options: SessionOptions = {}): Promise<BrokerSession> {
  // amqp-client hands its TLS options to node:tls's connect (Deno's node:tls takes `ca` too).
  const tls = options.ca === undefined ? undefined : { ca: options.ca };
  const client = new AMQPClient(tuneUrl(url, options.name), tls, null);
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
  readWholeFrames(internalsOf(client));
  noDelayFromTheStart(internalsOf(client));
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
    const socket = internalsOf(client).socket;
    return new AmqpSession({
      keepAlive: (on) => void (on ? socket?.ref?.() : socket?.unref?.()),
      client,
      ops,
      pub,
      markClosing: () => (closedByUs = true),
      fail,
      lost: () => notified,
    });
  } catch (error) {
    closedByUs = true;
    await client.close().catch(() => {});
    throw error;
  }
}

/** What an {@link AmqpSession} is made of. */
interface AmqpSessionParts {
  /** The connection. */
  client: AMQPClient;
  /** The channel for declarations and deletions. */
  ops: AMQPChannel;
  /** The confirm-mode channel for publishes. */
  pub: AMQPChannel;
  /** Called first by close(): the drop that follows is ours, not a loss. */
  markClosing: () => void;
  /** Close the connection for good and tell the owner (a channel or consumer the broker closed). */
  fail: (error: Error) => void;
  /** Whether the owner was already told the connection is lost. */
  lost: () => boolean;
  /** Let the socket keep the process alive (true) or not (false). */
  keepAlive: (on: boolean) => void;
}

class AmqpSession implements BrokerSession {
  readonly #client: AMQPClient;
  readonly #ops: AMQPChannel;
  readonly #pub: AMQPChannel;
  readonly #markClosing: () => void;
  readonly #fail: (error: Error) => void;
  readonly #lost: () => boolean;
  #consume: AMQPChannel | undefined;
  /** Encodes publishBatch's frames. */
  readonly #frames = new PublishFrames(DEFAULTS.amqp.frameMax);
  /** The channel for publishes without a confirm (`confirm: false`), opened on first use. */
  #unconfirmed: Promise<AMQPChannel> | undefined;
  readonly #keepAlive: (on: boolean) => void;
  /** Calls in flight and consumers not cancelled: while there are none, the socket does not keep the process alive. */
  #busy = 0;

  constructor(parts: AmqpSessionParts) {
    this.#client = parts.client;
    this.#ops = parts.ops;
    this.#pub = parts.pub;
    this.#markClosing = parts.markClosing;
    this.#fail = parts.fail;
    this.#lost = parts.lost;
    this.#keepAlive = parts.keepAlive;
    this.#keepAlive(false); // idle until the first call: a program that only published may end without close()
  }

  /**
   * Keep the process alive while `work` is in flight (a confirm, a reply to a declaration); with
   * nothing in flight and no consumer, an idle connection lets a Node or Deno program end by itself.
   * Replies awaited on a reply channel keep it alive by their own timers (lib/stream_appender.ts).
   */
  async #held<T>(work: () => Promise<T>): Promise<T> {
    this.#hold();
    try {
      return await work();
    } finally {
      this.#release();
    }
  }

  #hold(): void {
    if (this.#busy++ === 0) this.#keepAlive(true);
  }

  #release(): void {
    if (--this.#busy === 0) this.#keepAlive(false);
  }

  get closed(): boolean {
    // When the broker closes the connection (CONNECTION_FORCED on stop_app) the client rejects
    // pending confirms before its socket closes; the lost flag is already set by then, so
    // callers see the session as closed and retry instead of failing for good.
    return this.#client.closed || this.#lost();
  }

  declareQueue(name: string, options: QueueOptions = {}): Promise<string> {
    return this.#held(async () => {
      const ok = await this.#ops.queueDeclare(name, {
        durable: options.durable ?? true,
        exclusive: options.exclusive ?? false,
        autoDelete: options.autoDelete ?? false,
      }, options.arguments ?? {});
      return ok.name;
    });
  }

  declareFanout(name: string): Promise<void> {
    return this.#held(() => this.#ops.exchangeDeclare(name, "fanout", { durable: true }));
  }

  bind(queue: string, exchange: string): Promise<void> {
    return this.#held(() => this.#ops.queueBind(queue, exchange, ""));
  }

  async consume(
    queue: string,
    prefetch: number,
    onDelivery: (delivery: Delivery) => void,
    options: ConsumeOptions = {},
  ): Promise<Consumer> {
    if (this.#consume) throw new Error("Cannot consume twice on one broker session");
    // A consumer keeps the process alive until it is cancelled (a server, a listener).
    this.#hold();
    let held = true;
    const release = () => {
      if (held) this.#release();
      held = false;
    };
    try {
      return await this.#consumeHeld(queue, prefetch, onDelivery, options, release);
    } catch (error) {
      release();
      throw error;
    }
  }

  async #consumeHeld(
    queue: string,
    prefetch: number,
    onDelivery: (delivery: Delivery) => void,
    options: ConsumeOptions,
    release: () => void,
  ): Promise<Consumer> {
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
        replyTo: msg.properties.replyTo,
        correlationId: msg.properties.correlationId,
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
        return consumer.cancel().then(release, (error) => {
          release();
          throw error;
        });
      },
    };
  }

  ack(tag: number, multiple = false): Promise<void> {
    if (!this.#consume) return Promise.reject(new Error("Cannot ack: not consuming"));
    return this.#consume.basicAck(tag, multiple); // only while consuming, which keeps the process alive
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
    this.#hold();
    try {
      await this.#publish(exchange, routingKey, body, properties);
    } finally {
      this.#release();
    }
  }

  async #publish(
    exchange: string,
    routingKey: string,
    body: string | Uint8Array,
    properties: PublishProperties,
  ): Promise<void> {
    if (properties.confirm === false) {
      // Fire and forget (a reply): its own channel, not in confirm mode, so the broker confirms nothing.
      this.#unconfirmed ??= this.#client.channel().then((ch) => {
        ch.onerror = (reason) => this.#fail(new Error(`reply channel closed by the broker: ${reason}`));
        return ch;
      });
      const ch = await this.#unconfirmed;
      await this.#unlessWriteFails(ch.basicPublish(exchange, routingKey, body, amqpProperties(properties)));
      return;
    }
    const pending = unconfirmedPublishes(this.#pub);
    const before = pending?.length;
    const sent = this.#pub.basicPublish(exchange, routingKey, body, amqpProperties(properties));
    if (!pending || pending.length !== before! + 1) {
      await this.#unlessWriteFails(sent); // not queued for a confirm (channel closed, or not in confirm mode)
      return;
    }
    const failed = takeConfirmRejection(pending[pending.length - 1], properties.messageId);
    try {
      await this.#unlessWriteFails(Promise.race([sent, failed]));
    } finally {
      trimBufferPool(internalsOf(this.#client));
    }
  }

  /**
   * Every message's frames in one buffer and one socket write (one `sendto` for a batch, not one
   * per message), and one promise for all their confirms: the confirm queue gets an entry per
   * message, as basicPublish would queue, but they share one resolve and one reject.
   */
  publishBatch(exchange: string, routingKey: string, messages: readonly OutgoingMessage[]): Promise<void> {
    return this.#held(() => this.#publishBatch(exchange, routingKey, messages));
  }

  async #publishBatch(exchange: string, routingKey: string, messages: readonly OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const channel = this.#pub;
    const pending = unconfirmedPublishes(channel);
    const internals = channelInternalsOf(channel);
    if (channel.closed || !pending || !internals.confirmId) {
      // Closed (the client rejects), or not in confirm mode (only a client this module was not written for).
      await Promise.all(messages.map((m) => this.publish(exchange, routingKey, m.body, m.properties)));
      return;
    }
    if (this.#client.blocked) {
      throw new Error(`Cannot publish: the broker blocked the connection (${this.#client.blocked})`);
    }
    let writes: Uint8Array[];
    try {
      writes = this.#frames.encode(channel.id, exchange, routingKey, messages);
    } catch (error) {
      throw error instanceof RangeError ? headerTooBig(error) : error;
    }
    let left = messages.length;
    let confirmed!: () => void;
    let failed!: (error: Error) => void;
    const all = new Promise<void>((resolve, reject) => {
      confirmed = resolve;
      failed = reject;
    });
    const resolveOne = () => {
      if (--left === 0) confirmed();
    };
    // As takeConfirmRejection: a channel that closes rejects these entries; the reject lands here, handled.
    const rejectOne = (error?: Error) => {
      if (error?.message === "Message rejected") failed(new PublishNackedError(messages[0].properties?.messageId));
      else failed(error ?? new Error("Publish not confirmed"));
    };
    let tag = internals.confirmId;
    for (let i = 0; i < messages.length; i++) pending.push([tag++, resolveOne, rejectOne]);
    internals.confirmId = tag;
    for (const bytes of writes) this.#client.send(bytes).catch(failed);
    await this.#unlessWriteFails(all);
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
      // amqp-client writes the method and header frames into one buffer of the frame size; nothing was sent.
      if (error instanceof RangeError) throw headerTooBig(error);
      if (!(error instanceof PublishNackedError) && !this.closed) {
        this.#fail(new Error(`connection failed while publishing: ${describe(error)}`));
      }
      throw error;
    }
  }

  async openReplyChannel(onReply: (reply: Reply) => void): Promise<ReplyChannel> {
    const ch = await this.#held(() => this.#client.channel());
    // Direct reply-to: consume the pseudo-queue without acks, then publish requests on this same channel.
    await this.#held(() =>
      ch.basicConsume(DIRECT_REPLY_TO, { noAck: true }, (msg: AMQPMessage) => {
        onReply({ correlationId: msg.properties.correlationId, body: msg.body ?? new Uint8Array(0) });
      })
    );
    ch.onerror = (reason) => this.#fail(new Error(`reply channel closed by the broker: ${reason}`));
    const client = this.#client;
    return {
      get closed() {
        return ch.closed || client.closed;
      },
      publish: (exchange, routingKey, body, properties = {}) =>
        this.#held(() =>
          this.#unlessWriteFails(
            ch.basicPublish(exchange, routingKey, body, amqpProperties({ ...properties, replyTo: DIRECT_REPLY_TO })),
          )
        ),
    };
  }

  async deleteQueue(name: string): Promise<void> {
    await this.#held(() => this.#ops.queueDelete(name));
  }

  async deleteExchange(name: string): Promise<void> {
    await this.#held(() => this.#ops.exchangeDelete(name));
  }

  async close(): Promise<void> {
    this.#markClosing();
    if (!this.#client.closed) await this.#held(() => this.#client.close().catch(() => {}));
  }
}

/**
 * The frames of basic.publish (method, content header, body frames), as
 * amqp-client 4.1's `basicPublish` lays them out, for many messages into one
 * buffer. The properties are written by the client's own `AMQPView` into a
 * scratch frame, so a header too big for one frame throws the same RangeError.
 */
class PublishFrames {
  readonly #frameMax: number;
  readonly #scratch: AMQPView;
  readonly #scratchBytes: Uint8Array;
  readonly #encoder = new TextEncoder();
  #out = new Uint8Array(WRITE_BYTES);

  constructor(frameMax: number) {
    this.#frameMax = frameMax;
    this.#scratch = new AMQPView(new ArrayBuffer(frameMax));
    this.#scratchBytes = new Uint8Array(this.#scratch.buffer);
  }

  /**
   * The frames of `messages`, in order, in buffers of their own (the socket may hold them until
   * written): one, unless they pass WRITE_BYTES (then one buffer per WRITE_BYTES or so, so a batch
   * of big events never needs one buffer of their sum).
   */
  encode(channel: number, exchange: string, routingKey: string, messages: readonly OutgoingMessage[]): Uint8Array[] {
    const bodyRoom = this.#frameMax - FRAME_OVERHEAD;
    const writes: Uint8Array[] = [];
    let at = 0;
    for (const message of messages) {
      if (at >= WRITE_BYTES) {
        writes.push(this.#out.slice(0, at));
        at = 0;
      }
      const body = message.body;
      const size = typeof body === "string" ? utf8Length(body) : body.byteLength;
      const head = this.#head(channel, exchange, routingKey, message.properties, size);
      const frames = Math.max(1, Math.ceil(size / bodyRoom));
      this.#reserve(at, head + size + frames * FRAME_OVERHEAD);
      const out = this.#out;
      out.set(this.#scratchBytes.subarray(0, head), at);
      at += head;
      const bytes = typeof body === "string" ? (size <= bodyRoom ? undefined : this.#encoder.encode(body)) : body;
      if (size === 0) continue; // no body frame, as amqp-client
      if (!bytes) {
        // One body frame (nearly every record): the text is encoded straight into place.
        at = bodyFrameHeader(out, at, channel, size);
        this.#encoder.encodeInto(body as string, out.subarray(at, at + size));
        at += size;
        out[at++] = FRAME_END;
        continue;
      }
      for (let from = 0; from < size; from += bodyRoom) {
        const chunk = bytes.subarray(from, Math.min(size, from + bodyRoom));
        at = bodyFrameHeader(out, at, channel, chunk.byteLength);
        out.set(chunk, at);
        at += chunk.byteLength;
        out[at++] = FRAME_END;
      }
    }
    if (at > 0) writes.push(this.#out.slice(0, at));
    if (this.#out.length > WRITE_BYTES * 2) this.#out = new Uint8Array(WRITE_BYTES); // after a big event
    return writes;
  }

  /** The method and content-header frames of one message into the scratch frame: their length. */
  #head(
    channel: number,
    exchange: string,
    routingKey: string,
    properties: PublishProperties = {},
    size: number,
  ): number {
    const v = this.#scratch;
    let j = 0;
    v.setUint8(j, FRAME_METHOD);
    v.setUint16(j + 1, channel);
    j += 7; // type, channel, size (set below)
    v.setUint16(j, CLASS_BASIC);
    v.setUint16(j + 2, METHOD_PUBLISH);
    v.setUint16(j + 4, 0); // reserved
    j += 6;
    j += v.setShortString(j, exchange);
    j += v.setShortString(j, routingKey);
    v.setUint8(j++, 0); // mandatory, immediate: off
    v.setUint8(j++, FRAME_END);
    v.setUint32(3, j - 8);
    const header = j;
    v.setUint8(j, FRAME_HEADER);
    v.setUint16(j + 1, channel);
    j += 7;
    v.setUint16(j, CLASS_BASIC);
    v.setUint16(j + 2, 0); // weight
    v.setUint32(j + 4, 0); // body size, high 32 bits
    v.setUint32(j + 8, size);
    j += 12;
    j += v.setProperties(j, amqpProperties(properties));
    v.setUint8(j++, FRAME_END);
    v.setUint32(header + 3, j - header - 8);
    return j;
  }

  /** Room for `more` bytes after `at` (the buffer grows by doubling, keeping what is written). */
  #reserve(at: number, more: number): void {
    if (at + more <= this.#out.length) return;
    let length = this.#out.length * 2;
    while (length < at + more) length *= 2;
    const grown = new Uint8Array(length);
    grown.set(this.#out.subarray(0, at));
    this.#out = grown;
  }
}

/** A body frame's header (type, channel, size) at `at`: the index after it. */
function bodyFrameHeader(out: Uint8Array, at: number, channel: number, size: number): number {
  out[at] = FRAME_BODY;
  out[at + 1] = channel >> 8;
  out[at + 2] = channel & 0xff;
  out[at + 3] = size >>> 24;
  out[at + 4] = (size >>> 16) & 0xff;
  out[at + 5] = (size >>> 8) & 0xff;
  out[at + 6] = size & 0xff;
  return at + 7;
}

/** Bytes of frames gathered before a socket write of their own is started. */
const WRITE_BYTES = 256 * 1024;
const FRAME_METHOD = 1;
const FRAME_HEADER = 2;
const FRAME_BODY = 3;
const FRAME_END = 0xce;
/** A frame's type, channel and size before its payload, and its end byte after. */
const FRAME_OVERHEAD = 8;
const CLASS_BASIC = 60;
const METHOD_PUBLISH = 40;

/** Our publish properties as amqp-client's (content type JSON and persistent unless said otherwise). */
function amqpProperties(properties: PublishProperties): AMQPProperties {
  return {
    contentType: properties.contentType ?? "application/json",
    deliveryMode: properties.persistent === false ? 1 : 2,
    messageId: properties.messageId,
    type: properties.type,
    correlationId: properties.correlationId,
    replyTo: properties.replyTo,
    headers: properties.headers as AMQPProperties["headers"],
  };
}

/** The error for a message whose method and header frames do not fit in one frame (`cause`: the encoder's). */
function headerTooBig(cause: RangeError): RangeError {
  return new RangeError(
    `Cannot publish: the message's properties and headers do not fit in one frame of ${DEFAULTS.amqp.frameMax} bytes`,
    { cause },
  );
}

/** RabbitMQ's direct reply-to pseudo-queue. */
const DIRECT_REPLY_TO = "amq.rabbitmq.reply-to";

function tuneUrl(url: string, name?: string): string {
  const u = new URL(url);
  if (!u.searchParams.has("frameMax")) u.searchParams.set("frameMax", String(DEFAULTS.amqp.frameMax));
  if (!u.searchParams.has("heartbeat")) u.searchParams.set("heartbeat", String(DEFAULTS.amqp.heartbeatSeconds));
  if (name && !u.searchParams.has("name")) u.searchParams.set("name", name);
  return u.toString();
}

// ---------------------------------------------------------------------------
// Patches on amqp-client's private fields (amqp-client 4.1.1, pinned exactly).
//
// 1. `AMQPChannel.unconfirmedPublishes`, the reject slot: a confirm's reject is
//    taken over before it can become an unhandled rejection (takeConfirmRejection).
// 2. `AMQPBaseClient.bufferPool`: capped after each confirm (trimBufferPool).
// 3. `AMQPClient.onRead` and `frameBuffer`: the socket reader is given whole
//    frames only, so header frames bigger than the frame size are read (readWholeFrames).
// 4. `AMQPClient.connectSocket`: wrapped so that TCP_NODELAY is set on the socket
//    it creates, before the handshake (noDelayFromTheStart); the client never sets
//    it, and Nagle held small frames up to 40 ms: in the streams bench, and in
//    every connection's handshake (tune-ok and open wait for the ACK of start-ok).
// 5. `AMQPChannel.unconfirmedPublishes` and `confirmId`, the queue and the next
//    delivery tag: publishBatch queues its messages' confirms there itself
//    (PublishFrames writes their frames with the client's AMQPView).
//
// clientInternalsProblems() names what is missing; tests/amqp_session_test.ts
// fails on any problem, so an upgrade that moves these fields cannot pass CI.
// ---------------------------------------------------------------------------

/** A confirm the client waits for: [delivery tag, resolve, reject]. */
type PendingConfirm = [number, (tag: number) => void, (error?: Error) => void];

/** The private fields of amqp-client 4.1's `AMQPClient` this module uses. */
export interface ClientInternalsLike {
  /** The socket's data handler; `connect()` binds it, so it must be replaced before. */
  onRead?: (bytes: Buffer) => boolean;
  /** The buffer (of the frame size) that collects a frame spanning socket reads. */
  frameBuffer?: unknown;
  /** Publish buffers returned after their confirm, for reuse; never shrunk by the client. */
  bufferPool?: unknown;
  /** The connection's socket, destroyed here when a frame cannot be read. */
  socket?: {
    destroy(error?: Error): void;
    setNoDelay?(noDelay?: boolean): unknown;
    ref?(): unknown;
    unref?(): unknown;
  };
  /** Creates the socket (and sends the protocol header) when `connect()` runs. */
  connectSocket?: () => { setNoDelay?(noDelay?: boolean): unknown };
}

/** The one place the client's private fields are reached. */
function internalsOf(client: AMQPClient): ClientInternalsLike {
  return client as unknown as ClientInternalsLike;
}

/** The private fields of amqp-client 4.1's `AMQPChannel` this module uses. */
interface ChannelInternalsLike {
  /** Confirms awaited, oldest first: [delivery tag, resolve, reject]. */
  unconfirmedPublishes?: unknown;
  /** The next publish's delivery tag; 0 while not in confirm mode. */
  confirmId?: number;
}

/** The one place a channel's private fields are reached. */
function channelInternalsOf(channel: AMQPChannel): ChannelInternalsLike {
  return channel as unknown as ChannelInternalsLike;
}

/** The channel's queue of unconfirmed publishes, if it has one. */
function unconfirmedPublishes(channel: AMQPChannel): PendingConfirm[] | undefined {
  const queue = (channel as unknown as ChannelInternalsLike).unconfirmedPublishes;
  return Array.isArray(queue) ? queue as PendingConfirm[] : undefined;
}

/**
 * Take over the reject of the confirm `entry` just queued, and return a
 * promise that rejects in its place.
 *
 * amqp-client 4.1 returns send(frames).then(() => confirm) and queues the
 * confirm's reject here. When the channel closes while the write is pending
 * (or the write fails), the confirm is rejected before anything is chained to
 * it: an unhandled rejection, which ends the whole process (server, or an
 * application using the command module). So the reject goes to a promise raced
 * right now instead, and the confirm only resolves. A basic.nack rejects with
 * a plain "Message rejected" while the connection stays up; it becomes a
 * PublishNackedError so callers know to publish again.
 */
function takeConfirmRejection(entry: PendingConfirm, messageId: string | undefined): Promise<never> {
  return new Promise<never>((_, reject) =>
    entry[2] = (error) => {
      if (error?.message === "Message rejected") reject(new PublishNackedError(messageId));
      else reject(error ?? new Error("Publish not confirmed"));
    }
  );
}

/**
 * Cap amqp-client's pool of publish buffers. It returns each publish's buffer
 * to the pool after the confirm and never shrinks the pool, so without a cap
 * the memory of the most publishes ever in flight (e.g. a 1,000,000-record
 * republish: 10,000 × frame size) stays resident for the life of the connection.
 */
function trimBufferPool(client: ClientInternalsLike): void {
  const pool = client.bufferPool;
  if (!Array.isArray(pool) || pool.length <= DEFAULTS.amqp.bufferPoolKeep) return;
  pool.length = DEFAULTS.amqp.bufferPoolKeep;
}

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
 * Wraps `onRead`, which `connect()` binds as the socket's data handler.
 *
 * @throws {Error} When the client has no `onRead` (an amqp-client this module was not written for).
 * @example Whole frames reach the client's reader, however the socket splits them
 * ```ts
 * import { Buffer } from "node:buffer";
 * import { readWholeFrames } from "./amqp_session.ts";
 * const frames: number[] = [];
 * const client = { onRead: (bytes: Buffer) => frames.push(bytes.length) > 0 };
 * readWholeFrames(client);
 * const frame = Buffer.from([1, 0, 1, 0, 0, 0, 2, 7, 7, 0xce]); // type, channel, size 2, payload, end
 * client.onRead!(frame.subarray(0, 4));
 * client.onRead!(frame.subarray(4));
 * console.log(frames); // [10]
 * ```
 */
export function readWholeFrames(client: ClientInternalsLike): void {
  const parse = client.onRead;
  if (typeof parse !== "function") throw new Error("amqp-client has no onRead: cannot read oversized frames");
  const small = client.frameBuffer instanceof Buffer ? client.frameBuffer : Buffer.allocUnsafe(DEFAULTS.amqp.frameMax);
  const largest = DEFAULTS.amqp.largestFrame;
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
  client.onRead = (bytes: Buffer): boolean => {
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
        if (size > largest) {
          client.socket?.destroy(new Error(`AMQP frame of ${size} bytes is larger than ${largest}`));
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
 * Set TCP_NODELAY on the client's socket as soon as it exists, so that no frame waits for the
 * peer's ACK of the last (Nagle), the handshake's included: connect took 50-60 ms here with Nagle
 * (tune-ok and connection.open held back until the broker's delayed ACK of start-ok, 40 ms) and
 * 20-25 ms without, on a loaded 2-core box.
 *
 * @param client The client, before `connect()`.
 * @example Before connecting
 * ```ts ignore
 * noDelayFromTheStart(internalsOf(client));
 * await client.connect();
 * ```
 */
function noDelayFromTheStart(client: ClientInternalsLike): void {
  const connectSocket = client.connectSocket;
  if (typeof connectSocket !== "function") throw new Error("amqp-client has no connectSocket: cannot set TCP_NODELAY");
  client.connectSocket = () => {
    const socket = connectSocket.call(client);
    socket.setNoDelay?.(true);
    return socket;
  };
}

/**
 * What is missing, in the installed amqp-client, of the private fields the
 * patches above rely on: one line per problem, none when all is as expected.
 * Builds a client and a channel without connecting, and publishes once into
 * the void to see the confirm queued and the buffer returned to the pool.
 *
 * @example Refuse to run on an amqp-client the patches do not fit
 * ```ts
 * import { clientInternalsProblems } from "./amqp_session.ts";
 * const problems = await clientInternalsProblems();
 * if (problems.length > 0) throw new Error(`amqp-client changed: ${problems.join("; ")}`);
 * ```
 */
export async function clientInternalsProblems(): Promise<string[]> {
  const problems: string[] = [];
  const client = new AMQPClient(tuneUrl("amqp://guest:guest@127.0.0.1"), undefined, null);
  const internals = internalsOf(client);
  if (typeof internals.onRead !== "function") problems.push("AMQPClient has no onRead method");
  if (typeof internals.connectSocket !== "function") problems.push("AMQPClient has no connectSocket method");
  if (!(internals.frameBuffer instanceof Buffer)) {
    problems.push("AMQPClient.frameBuffer is not a Buffer");
  } else if (internals.frameBuffer.length !== DEFAULTS.amqp.frameMax) {
    problems.push(`AMQPClient.frameBuffer is ${internals.frameBuffer.length} bytes, not the frame size`);
  }
  if (!Array.isArray(internals.bufferPool)) problems.push("AMQPClient.bufferPool is not an array");
  const channel = new AMQPChannel(client, 1);
  const pending = unconfirmedPublishes(channel);
  if (!pending) {
    problems.push("AMQPChannel.unconfirmedPublishes is not an array");
    return problems;
  }
  channelInternalsOf(channel).confirmId = 1; // as confirmSelect() leaves it
  const sent = channel.basicPublish("", "nowhere", "{}");
  const entry = pending.at(-1);
  if (pending.length !== 1) {
    problems.push(`AMQPChannel.basicPublish queued ${pending.length} confirms synchronously, not 1`);
  } else if (
    !Array.isArray(entry) || typeof entry[0] !== "number" || typeof entry[1] !== "function" ||
    typeof entry[2] !== "function"
  ) {
    problems.push("AMQPChannel.unconfirmedPublishes entries are not [tag, resolve, reject]");
  }
  const tag = channelInternalsOf(channel).confirmId;
  if (tag !== 2) problems.push(`AMQPChannel.confirmId is ${tag} after one publish from 1, not 2`);
  await sent.catch(() => {}); // "Socket not connected": nothing was written
  const pool = internals.bufferPool;
  if (Array.isArray(pool) && pool.length !== 1) {
    problems.push(`AMQPClient.bufferPool holds ${pool.length} buffers after one publish, not 1`);
  }
  pending.length = 0;
  return problems;
}
