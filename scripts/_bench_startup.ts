/**
 * The start-up figure: time until the server prints its ready line on the
 * replay file, beside the same on an empty file.
 *
 * @module
 */
import { record } from "./_bench_figures.ts";
import type { Sizes } from "./_bench_options.ts";
import type { BenchServer } from "./_bench_server.ts";
import { fmt } from "./_bench_util.ts";

/** Record the start-up of `big` (on the replay file) beside `emptyStartupMs`. */
export function recordStartup(big: BenchServer, runtime: string, sizes: Sizes, emptyStartupMs: number): void {
  record({
    figure: `start-up on a ${fmt(sizes.replay)}-record file`,
    runtime,
    value: big.startupMs,
    unit: "ms",
    baseline: { name: "start-up on an empty file", value: emptyStartupMs, unit: "ms" },
    target: "≤ 2 s",
    met: big.startupMs <= 2000,
  });
}
