/**
 * TEST-ONLY crash points: lets the fault tests kill the server at an exact
 * step of storing a batch, as a power cut or `kill -9` would.
 *
 * Set `RABBIT_EVENTSTORE_CRASH_AT=<point>[:<n>]` to make the process kill
 * itself with SIGKILL the n-th time (default 1st) it reaches `<point>`:
 *
 * - `before-header-fsync`: a new store's header line was written but not fsync'd;
 * - `before-fsync`: a batch was written to the storage file but not fsync'd;
 * - `before-publish`: the batch is durable but not handed to the fanout;
 * - `before-ack`: the batch was published to the fanout (and confirmed) but
 *   the input messages were not acknowledged.
 *
 * Unset (always, in production) a crash point costs one comparison.
 *
 * @module
 */
import process from "node:process";

/**
 * The steps at which a crash can be injected.
 *
 * @example Name a point
 * ```ts
 * import type { CrashPointName } from "./crash_point.ts";
 * const point: CrashPointName = "before-fsync";
 * console.log(`RABBIT_EVENTSTORE_CRASH_AT=${point}:3`);
 * ```
 */
export type CrashPointName = "before-header-fsync" | "before-fsync" | "before-publish" | "before-ack";

let armed: { at: string; remaining: number } | undefined;

function arm(): { at: string; remaining: number } {
  let value = "";
  try {
    value = process.env.RABBIT_EVENTSTORE_CRASH_AT ?? "";
  } catch {
    // No permission to read the environment: never armed.
  }
  const [at, count] = value.split(":");
  return { at, remaining: Math.max(1, Number(count ?? 1) || 1) };
}

/**
 * Die abruptly here if `RABBIT_EVENTSTORE_CRASH_AT` names this point and its
 * count is reached. `settle` runs first (e.g. to let fanout publishes be
 * confirmed, so the crash falls exactly after the publish).
 *
 * @param name The step reached.
 * @param settle Awaited before dying, when the crash is due. @default {undefined}
 * @example Mark a step of storing a batch
 * ```ts
 * import { crashPoint } from "./crash_point.ts";
 * await crashPoint("before-publish"); // a no-op unless the env var arms it
 * ```
 */
export async function crashPoint(name: CrashPointName, settle?: () => Promise<unknown>): Promise<void> {
  armed ??= arm();
  if (armed.at !== name || --armed.remaining > 0) return;
  await settle?.();
  process.kill(process.pid, "SIGKILL");
  await new Promise(() => {}); // never continue past a crash point
}
