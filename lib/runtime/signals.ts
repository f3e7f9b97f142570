/**
 * Shutdown signals on Deno and Node (both support `node:process` signals).
 *
 * @module
 */
import process from "node:process";

/**
 * Call `handler` once on the first SIGINT or SIGTERM; returns a function that removes it.
 *
 * @param handler Called with the signal's name (`"SIGINT"` or `"SIGTERM"`).
 * @returns A function that removes the handler.
 * @example Close on Ctrl-C
 * ```ts
 * import { onShutdownSignal } from "./signals.ts";
 * const remove = onShutdownSignal((signal) => console.log(`${signal}: closing`));
 * remove(); // e.g. once closed for another reason
 * ```
 */
export function onShutdownSignal(handler: (signal: string) => void): () => void {
  let fired = false;
  const listener = (signal: string) => {
    if (fired) return;
    fired = true;
    handler(signal);
  };
  process.on("SIGINT", listener);
  process.on("SIGTERM", listener);
  return () => {
    process.off("SIGINT", listener);
    process.off("SIGTERM", listener);
  };
}

/**
 * End the process with `code`.
 *
 * @param code The exit code.
 * @example Exit after printing the usage
 * ```ts
 * import { exit } from "./signals.ts";
 * if (Number.isNaN(1)) exit(2);
 * ```
 */
export function exit(code: number): never {
  process.exit(code);
}
