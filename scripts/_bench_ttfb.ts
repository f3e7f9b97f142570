/**
 * The TTFB figures: time to the first body byte of `?from=N` at the start,
 * middle and end of the replay file.
 *
 * @module
 */
import { record } from "./_bench_figures.ts";
import type { Sizes } from "./_bench_options.ts";
import type { BenchServer } from "./_bench_server.ts";
import { fmt, median } from "./_bench_util.ts";

/** Time to the first body byte of `?from=N` (median of `repeats`). */
export async function ttfb(
  historyUrl: string,
  from: number,
  repeats: number,
): Promise<{ median: number; all: number[] }> {
  const all: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const started = performance.now();
    const response = await fetch(`${historyUrl}?from=${from}`);
    const reader = response.body!.getReader();
    const { value } = await reader.read();
    const elapsed = performance.now() - started;
    if (!value || value.length === 0) throw new Error(`?from=${from} returned no bytes`);
    await reader.cancel();
    all.push(elapsed);
  }
  return { median: median(all), all: all.map((v) => Math.round(v * 100) / 100) };
}

/** Measure and record TTFB for `?from=1`, the middle and the last record of `big`. */
export async function recordTtfb(big: BenchServer, runtime: string, sizes: Sizes): Promise<void> {
  const froms = [1, Math.floor(sizes.replay / 2), sizes.replay];
  const ttfbs = [];
  for (const from of froms) ttfbs.push(await ttfb(big.historyUrl, from, sizes.ttfbRepeats));
  const first = ttfbs[0].median;
  for (let i = 0; i < froms.length; i++) {
    record({
      figure: `TTFB ?from=${fmt(froms[i])} of ${fmt(sizes.replay)}`,
      runtime,
      value: ttfbs[i].median,
      unit: "ms",
      baseline: i === 0 ? undefined : { name: "TTFB ?from=1", value: first, unit: "ms" },
      target: "same within noise for every N",
      met: i === 0 ? undefined : ttfbs[i].median <= first * 1.5 + 1,
      detail: { all: ttfbs[i].all },
    });
  }
}
