/**
 * The start-up figure: time until the server prints its ready line on the
 * replay file, beside the same on an empty file, in paired rounds (the order
 * flips every round); the ratio is the median of the pairs, with its range.
 *
 * @module
 */
import { recordPaired } from "./_bench_figures.ts";
import type { Sizes } from "./_bench_options.ts";
import { startServerChild } from "./_bench_server.ts";
import { fmt } from "./_bench_util.ts";

/** Milliseconds until a server on `file` is ready (then it is stopped). */
async function startupOf(runtime: string, file: string): Promise<number> {
  const server = await startServerChild(runtime, file);
  await server.child.stop();
  return server.startupMs;
}

/**
 * Start a server `sizes.pairs` times on `replayFile` and as often on a new empty file (`emptyPrefix`
 * and the round), alternating, and record the start-up on the replay file beside the empty one.
 */
export async function measureStartup(
  runtime: string,
  sizes: Sizes,
  replayFile: string,
  emptyPrefix: string,
): Promise<void> {
  const big: number[] = [];
  const empty: number[] = [];
  for (let round = 0; round < sizes.pairs; round++) {
    const onEmpty = async () => void empty.push(await startupOf(runtime, `${emptyPrefix}-${round}`));
    const onBig = async () => void big.push(await startupOf(runtime, replayFile));
    for (const step of round % 2 === 0 ? [onEmpty, onBig] : [onBig, onEmpty]) await step();
    console.log(
      `  start-up round ${round + 1}: ${fmt(big[round])} ms on the replay file, ${fmt(empty[round])} ms empty`,
    );
  }
  recordPaired({
    figure: `start-up on a ${fmt(sizes.replay)}-record file`,
    runtime,
    rounds: big,
    unit: "ms",
    baseline: { name: "start-up on an empty file", unit: "ms", rounds: empty },
    target: "≤ 2 s",
    meets: (value) => value <= 2000,
  });
}
