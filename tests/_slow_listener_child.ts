/**
 * A listener in its own process for tests/slow_listeners_int_test.ts, so its
 * memory can be measured alone. Run with `--v8-flags=--expose-gc`.
 *
 * Environment: AMQPURL, EXCHANGENAME, HISTORYURL, HANDLER_MS (delay per
 * event while slow). Before listening, then every 100 ms, it prints a line
 * `{"t":"mem","heap":…,"external":…,"rss":…,"delivered":…,"last":…}`
 * measured right after a full GC. On stdin, `fast` drops the handler delay
 * and `stop` closes the listener and prints
 * `{"t":"done","delivered":…,"duplicated":…,"outOfOrder":…,"first":…,"last":…}`.
 *
 * @module
 */
import process from "node:process";
import { createInterface } from "node:readline";
import { listen } from "../listener.ts";

const handlerMs = Number(process.env.HANDLER_MS ?? 20);
let slow = true;
let delivered = 0;
let duplicated = 0;
let outOfOrder = 0;
let first: number | undefined;
let last: number | undefined;
const seen = new Set<number>();

// deno-lint-ignore no-explicit-any
const gc = (globalThis as any).gc as (() => void) | undefined;
const sample = () => {
  gc?.();
  const m = process.memoryUsage();
  console.log(JSON.stringify({
    t: "mem",
    heap: m.heapUsed,
    external: m.external,
    rss: m.rss,
    delivered,
    last,
  }));
};
sample(); // the baseline, before the listener exists

const listener = listen(0, async (event) => {
  if (seen.has(event.position)) duplicated++;
  seen.add(event.position);
  if (last !== undefined && event.position !== last + 1) outOfOrder++;
  first ??= event.position;
  last = event.position;
  delivered++;
  if (slow) await new Promise((resolve) => setTimeout(resolve, handlerMs));
}, {
  amqpUrl: process.env.AMQPURL,
  exchangeName: process.env.EXCHANGENAME,
  historyUrl: process.env.HISTORYURL,
});
listener.closed.catch((error) => console.log(JSON.stringify({ t: "error", message: String(error) })));
await listener.ready;
const timer = setInterval(sample, 100);

for await (const line of createInterface({ input: process.stdin })) {
  if (line === "fast") slow = false;
  if (line === "stop") break;
}
clearInterval(timer);
await listener.close();
console.log(JSON.stringify({ t: "done", delivered, duplicated, outOfOrder, first, last }));
process.exit(0);
