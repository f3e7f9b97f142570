/**
 * A listener that records every event it delivers, for the harness's tally.
 *
 * @module
 */
import { setTimeout as delay } from "node:timers/promises";
import { listen, type Listener } from "../listener.ts";
import { AMQP_URL } from "./_broker_admin.ts";

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
