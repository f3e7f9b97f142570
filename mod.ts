/**
 * rabbit-eventstore: an event store on RabbitMQ for event sourcing and CQRS,
 * on Deno and Node.
 *
 * - `./server`: consumes events from a queue, numbers them 1, 2, 3 …, stores
 *   them durably, republishes them to a fanout exchange and serves history
 *   over HTTP.
 * - `./listener`: history from any position, then live events, in order.
 * - `./command`: publishes new events with publisher confirms.
 *
 * @example Publish and listen
 * ```ts
 * import { createCommand, listen } from "rabbit-eventstore";
 * const listener = listen(0, (event) => console.log(event.position, event.data), { historyUrl: "http://localhost:8080/" });
 * const cmd = createCommand();
 * await cmd.publish({ type: "Hello" });
 * await cmd.close();
 * await listener.close();
 * ```
 *
 * @module
 */
export { deadLetterQueueName, startServer } from "./server.ts";
export type { EventStoreServer, ServerOptions } from "./server.ts";
export { listen, listenInBatches, subscribe } from "./listener.ts";
export type { BatchHandler, BatchListenOptions, Handler, Listener, ListenOptions, Subscription } from "./listener.ts";
export {
  aggregateStream,
  appendToStream,
  close,
  createCommand,
  handleCommand,
  publish,
  readStream,
  serializeEvent,
} from "./command.ts";
export type {
  AggregateStreamOptions,
  AggregateStreamResult,
  AppendToStreamOptions,
  AppendToStreamResult,
  Command,
  CommandOptions,
  Decide,
  ExpectedVersion,
  HandleCommandOptions,
  HandleCommandResult,
  PublishOptions,
  ReadStreamOptions,
  ReadStreamResult,
  StreamEvent,
} from "./command.ts";
export type { EventRecord } from "./lib/record.ts";
export {
  BrokerRefusedError,
  ConfigError,
  CorruptLogError,
  HandlerError,
  HistoryTimeoutError,
  InvalidEventError,
  NotAStoreError,
  OutOfOrderError,
  PublishNackedError,
  QueueInUseError,
  StorageFailedError,
  StoreChangedError,
  StoreLockedError,
  StreamVersionError,
  WrongExpectedVersionError,
} from "./lib/errors.ts";
export type { AppendConflict, AppendInvalid, AppendResult, AppendStored } from "./lib/append_result.ts";
export { categoryOf } from "./lib/stream_name.ts";
export type {
  AppendRecord,
  EventStorage,
  IdVisitor,
  PublishedMark,
  ReadOptions,
  StorageOpenOptions,
  StoredLine,
  StoredRecord,
  StreamBatch,
} from "./lib/storage.ts";
export { FileStorage } from "./lib/file_storage.ts";
export type { FileStorageOptions } from "./lib/file_storage.ts";
export { MemoryStorage } from "./lib/memory_storage.ts";
export type { MemoryStorageOptions } from "./lib/memory_storage.ts";
export { verifyStorageFile } from "./lib/verify.ts";
export type { VerifyOptions, VerifyReport } from "./lib/verify.ts";
export type { BrokerSettings, ListenerSettings, ServerSettings } from "./lib/config.ts";
