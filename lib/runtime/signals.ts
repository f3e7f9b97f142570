/**
 * Shutdown signals on Deno and Node (both support `node:process` signals).
 *
 * @module
 */
import process from "node:process";

/** Call `handler` once on the first SIGINT or SIGTERM; returns a function that removes it. */
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

/** End the process with `code`. */
export function exit(code: number): never {
  process.exit(code);
}
