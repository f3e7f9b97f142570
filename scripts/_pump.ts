/**
 * The fault harness's publisher: the command module with pipelined confirms,
 * recording every id it published and every id the broker confirmed.
 *
 * @module
 */
import { setTimeout as delay } from "node:timers/promises";
import type { Command } from "../command.ts";

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
