/**
 * The TTFB figures: time to the first body byte of `?from=N` at the middle
 * and end of the replay file beside `?from=1`, in paired rounds (one request
 * each per round, the order rotating); each ratio is the median of the pairs,
 * with its range.
 *
 * @module
 */
import { recordPaired } from "./_bench_figures.ts";
import type { Sizes } from "./_bench_options.ts";
import type { BenchServer } from "./_bench_server.ts";
import { fmt } from "./_bench_util.ts";

/** Milliseconds to the first body byte of `?from=from`. */
export async function ttfb(historyUrl: string, from: number): Promise<number> {
  const started = performance.now();
  const response = await fetch(`${historyUrl}?from=${from}`);
  const reader = response.body!.getReader();
  const { value } = await reader.read();
  const elapsed = performance.now() - started;
  if (!value || value.length === 0) throw new Error(`?from=${from} returned no bytes`);
  await reader.cancel();
  return elapsed;
}

/** Measure and record TTFB for the middle and the last record of `big`, each beside `?from=1`. */
export async function recordTtfb(big: BenchServer, runtime: string, sizes: Sizes): Promise<void> {
  const froms = [1, Math.floor(sizes.replay / 2), sizes.replay];
  const times: number[][] = froms.map(() => []);
  const rounds = Math.max(sizes.ttfbRepeats, sizes.pairs);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < froms.length; k++) {
      const i = (k + round) % froms.length; // rotate: each position goes first in turn
      times[i].push(await ttfb(big.historyUrl, froms[i]));
    }
  }
  for (let i = 1; i < froms.length; i++) {
    recordPaired({
      figure: `TTFB ?from=${fmt(froms[i])} of ${fmt(sizes.replay)}`,
      runtime,
      rounds: times[i],
      unit: "ms",
      baseline: { name: "TTFB ?from=1", unit: "ms", rounds: times[0] },
      target: "same within noise for every N (≤ 1.5×)",
      meets: (_value, ratio) => ratio <= 1.5,
    });
  }
}
