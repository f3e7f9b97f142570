/**
 * The broker as the rest of the store sees it: a few plain interfaces. Only
 * `lib/amqp_session.ts` implements {@link BrokerSession} with the AMQP client;
 * `lib/broker_link.ts` keeps one alive; unit tests implement the small
 * `…Like` interfaces with fakes.
 *
 * @module
 */

/**
 * A message delivered to a consumer.
 *
 * @example A delivery as a test hands it to the sequencer
 * ```ts
 * import type { Delivery } from "./broker_session.ts";
 * const delivery: Delivery = {
 *   body: new TextEncoder().encode('{"orderId":42}'),
 *   messageId: "order-42",
 *   type: "OrderPlaced",
 *   tag: 1,
 *   redelivered: false,
 * };
 * ```
 */
export interface Delivery {
  /** Raw body bytes. */
  body: Uint8Array;
  /** AMQP messageId property, if set. */
  messageId?: string;
  /** AMQP type property, if set. */
  type?: string;
  /** AMQP headers, if any. */
  headers?: Record<string, unknown>;
  /** AMQP replyTo property: where the server sends the append's result (e.g. `amq.rabbitmq.reply-to.…`). */
  replyTo?: string;
  /** AMQP correlationId property, copied onto the reply. */
  correlationId?: string;
  /** Delivery tag on the consuming channel. */
  tag: number;
  /** Whether the broker delivered this message before. */
  redelivered: boolean;
}

/**
 * Properties for a published message.
 *
 * @example Publish a record with its id, type and store id
 * ```ts
 * import type { PublishingSessionLike, PublishProperties } from "./broker_session.ts";
 * declare const session: PublishingSessionLike;
 * const properties: PublishProperties = { messageId: "order-42", type: "OrderPlaced", headers: { "store-id": "s1" } };
 * await session.publish("events", "", '{"orderId":42}', properties);
 * ```
 */
export interface PublishProperties {
  /** AMQP messageId. @default {undefined} */
  messageId?: string;
  /** AMQP type. @default {undefined} */
  type?: string;
  /** AMQP headers. @default {undefined} */
  headers?: Record<string, unknown>;
  /** AMQP correlationId (a reply carries its request's). @default {undefined} */
  correlationId?: string;
  /** AMQP replyTo (a request names where its reply goes). @default {undefined} */
  replyTo?: string;
  /** AMQP content type. @default {"application/json"} */
  contentType?: string;
  /** Persistent (delivery mode 2). @default {true} */
  persistent?: boolean;
  /**
   * Wait for the broker's confirm. `false`: resolve once written, on a channel without confirms (a
   * reply, whose loss the requester recovers from by asking again). @default {true}
   */
  confirm?: boolean;
}

/**
 * Queue declaration options.
 *
 * @example A temporary queue the broker names
 * ```ts
 * import type { BrokerSession, QueueOptions } from "./broker_session.ts";
 * declare const session: BrokerSession;
 * const options: QueueOptions = { durable: false, exclusive: true, autoDelete: true };
 * const name = await session.declareQueue("", options);
 * await session.bind(name, "events");
 * ```
 */
export interface QueueOptions {
  /** Survives a broker restart. @default {true} */
  durable?: boolean;
  /** Used by this connection only, and deleted when it closes. @default {false} */
  exclusive?: boolean;
  /** Deleted when its last consumer is cancelled. @default {false} */
  autoDelete?: boolean;
  /** Queue arguments such as `x-queue-type`. */
  arguments?: Record<string, unknown>;
}

/**
 * Options for {@link BrokerSession.consume}.
 *
 * @example Consume a queue no other consumer may share
 * ```ts
 * import { openSession } from "./amqp_session.ts";
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
   * (`QueueInUseError`). @default {false}
   */
  exclusive?: boolean;
  /** Consumer arguments such as `x-stream-offset`. */
  arguments?: Record<string, unknown>;
}

/**
 * A consumer started with {@link BrokerSession.consume}.
 *
 * @example Stop consuming before closing
 * ```ts
 * import type { BrokerSession, Consumer } from "./broker_session.ts";
 * declare const session: BrokerSession;
 * const consumer: Consumer = await session.consume("events", 10, (d) => void session.ack(d.tag));
 * await consumer.cancel();
 * await session.close();
 * ```
 */
export interface Consumer {
  /** Stop deliveries to this consumer. */
  cancel(): Promise<void>;
}

/**
 * One live connection to the broker. Unusable after it closes.
 *
 * @example Publish and consume through a session
 * ```ts
 * import { openSession } from "./amqp_session.ts";
 * import type { BrokerSession } from "./broker_session.ts";
 * const session: BrokerSession = await openSession("amqp://guest:guest@127.0.0.1");
 * const queue = await session.declareQueue("", { durable: false, exclusive: true });
 * await session.consume(queue, 10, (d) => void session.ack(d.tag));
 * await session.publish("", queue, JSON.stringify({ hello: "world" }));
 * await session.close();
 * ```
 */
export interface BrokerSession extends PublishingSessionLike {
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
   * Open a channel for requests with RabbitMQ's direct reply-to: it consumes
   * `amq.rabbitmq.reply-to` (no ack) and publishes requests (without
   * confirms: the reply is the confirmation) whose `replyTo` is that
   * pseudo-queue, so each reply comes back to `onReply` on this channel.
   */
  openReplyChannel(onReply: (reply: Reply) => void): Promise<ReplyChannel>;
  /** Delete a queue (tests and temporary queues). */
  deleteQueue(name: string): Promise<void>;
  /** Delete an exchange (tests). */
  deleteExchange(name: string): Promise<void>;
  /** Close the connection. */
  close(): Promise<void>;
}

/**
 * A reply received on a {@link ReplyChannel}.
 *
 * @example Match a reply to its request
 * ```ts
 * import type { Reply } from "./broker_session.ts";
 * const waiting = new Map<string, (body: Uint8Array) => void>();
 * const onReply = (reply: Reply) => waiting.get(reply.correlationId ?? "")?.(reply.body);
 * ```
 */
export interface Reply {
  /** The correlationId the replier copied from the request. */
  correlationId?: string;
  /** The reply's body. */
  body: Uint8Array;
}

/**
 * A channel whose requests get replies by direct reply-to ({@link BrokerSession.openReplyChannel}).
 *
 * @example Send a request whose reply comes back to this channel
 * ```ts
 * import type { BrokerSession } from "./broker_session.ts";
 * declare const session: BrokerSession;
 * const channel = await session.openReplyChannel((reply) => console.log(new TextDecoder().decode(reply.body)));
 * await channel.publish("", "events", '{"x":1}', { messageId: "m1", correlationId: "m1" });
 * ```
 */
export interface ReplyChannel {
  /**
   * Publish a request whose `replyTo` is set to this channel's reply
   * pseudo-queue. Resolves once written (no confirm).
   */
  publish(
    exchange: string,
    routingKey: string,
    body: string | Uint8Array,
    properties?: PublishProperties,
  ): Promise<void>;
  /** Whether the channel (or its connection) is gone; replies to requests sent on it are lost. */
  readonly closed: boolean;
}

/**
 * What publishing needs of a session: the fanout publisher and the
 * dead-letter queue take this, so a test's fake implements two members.
 *
 * @example A fake that confirms every publish
 * ```ts
 * import type { PublishingSessionLike } from "./broker_session.ts";
 * const fake: PublishingSessionLike = { closed: false, publish: () => Promise.resolve() };
 * ```
 */
export interface PublishingSessionLike {
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
  /**
   * Publish `messages` in this order with publisher confirms, written to the
   * socket as one buffer; resolves when the broker confirmed every one of
   * them. Optional: without it, callers publish one by one.
   * @throws {PublishNackedError} When the broker answered any of them with basic.nack.
   * @throws {RangeError} When one's properties and headers do not fit in one frame; nothing was sent.
   */
  publishBatch?(exchange: string, routingKey: string, messages: readonly OutgoingMessage[]): Promise<void>;
  /** Whether the connection is gone. */
  readonly closed: boolean;
}

/**
 * One message of {@link PublishingSessionLike.publishBatch}.
 *
 * @example A stored record as a fanout message
 * ```ts
 * import type { OutgoingMessage } from "./broker_session.ts";
 * const message: OutgoingMessage = { body: '{"position":1}', properties: { messageId: "a", headers: { position: 1 } } };
 * ```
 */
export interface OutgoingMessage {
  /** The message body. */
  body: string | Uint8Array;
  /** Its properties. @default {{}} */
  properties?: PublishProperties;
}

/**
 * Options for opening a session ({@link OpenSession}).
 *
 * @example Learn when the connection drops
 * ```ts
 * import type { SessionOptions } from "./broker_session.ts";
 * const options: SessionOptions = { name: "my service", onClose: (error) => console.log("lost", error) };
 * ```
 */
export interface SessionOptions {
  /** Connection name shown in the RabbitMQ management UI. */
  name?: string;
  /** Called once when the connection drops unexpectedly. */
  onClose?: (error?: Error) => void;
  /**
   * The CA certificates (PEM) to trust for an `amqps://` URL, instead of the runtime's built-in ones.
   * @default {undefined} (the built-in ones)
   */
  ca?: string;
}

/**
 * Opens one session: `lib/amqp_session.ts`'s `openSession` in production, a
 * fake in unit tests of `BrokerLink`.
 *
 * @example An opener that refuses, as a broker that is down would
 * ```ts
 * import type { OpenSession } from "./broker_session.ts";
 * const down: OpenSession = () => Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:5672"));
 * ```
 */
export type OpenSession = (url: string, options?: SessionOptions) => Promise<BrokerSession>;
