/**
 * The bench's command line: sizes (the issue's, or CI's), runtimes, figure
 * groups (`--only`) and where the results go.
 *
 * @module
 */
import { join } from "node:path";
import process from "node:process";
import { ROOT } from "./_bench_util.ts";
import { STREAM_SIZES } from "./_bench_streams_startup.ts";

/** How much each figure measures. */
export interface Sizes {
  /** Events published for the ingest figure (per round). */
  ingest: number;
  /** Records in the replay / TTFB / start-up file. */
  replay: number;
  /** Seconds of steady publishing for the latency figure. */
  latencySeconds: number;
  /** Events per second for the latency figure. */
  latencyRate: number;
  /** Requests per `from` for the TTFB figure (median reported). */
  ttfbRepeats: number;
  /** Ingest rounds (baseline and product alternate; best of each kept). */
  rounds: number;
  /**
   * Paired rounds of the replay, start-up, TTFB and latency figures (at least 3: each ratio is the
   * median of the pairs, printed with its range).
   */
  pairs: number;
  /** Publishes in flight at once (pipelined confirms). */
  window: number;
  /** streams-vs-emmett: concurrent writers. */
  streamsWriters: number;
  /** streams-vs-emmett: appends per writer on distinct streams (per round and system). */
  streamsAppends: number;
  /** streams-vs-emmett: appends stored on the one contended stream (per round and system). */
  streamsContended: number;
  /** streams-vs-emmett: paired rounds (the order of the systems flips each round; median reported). */
  streamsRounds: number;
  /** streams-vs-emmett: seconds of appends at `latencyRate` for the latency figure. */
  streamsRateSeconds: number;
}

/** The sizes, and the CI sizes. */
export const SIZES: Record<"full" | "ci", Sizes> = {
  full: {
    ingest: 100_000,
    replay: 1_000_000,
    latencySeconds: 10,
    latencyRate: 1000,
    ttfbRepeats: 9,
    // At least 3 pairs: every ratio is the median of paired rounds.
    rounds: 3,
    pairs: 3,
    window: 2000,
    streamsWriters: 50,
    streamsAppends: 40,
    streamsContended: 1000,
    // 5 pairs: the machine is shared, and single rounds of either system vary by 2x.
    streamsRounds: 5,
    streamsRateSeconds: 10,
  },
  ci: {
    ingest: 5_000,
    replay: 20_000,
    latencySeconds: 2,
    latencyRate: 1000,
    ttfbRepeats: 5,
    rounds: 1,
    pairs: 3,
    window: 2000,
    // A few hundred appends per system: 3 rounds of 100 + 50, then 300 at the fixed rate.
    streamsWriters: 50,
    streamsAppends: 2,
    streamsContended: 50,
    streamsRounds: 3,
    streamsRateSeconds: 0.3,
  },
};

/** The commit whose listener the start-to-first-event figure is measured against (main before issue 10). */
export const LISTENER_BASELINE = "0b334422ebbb19e8190cbb18f218bda85f7c6213";

/** Figure groups that `--only` can select. */
export const GROUPS = [
  "ingest",
  "latency",
  "memory",
  "startup",
  "ttfb",
  "replay",
  "streams",
  "streams-vs-emmett",
] as const;
export type Group = typeof GROUPS[number];

/** The parsed command line. */
export function parseOptions(argv: string[]) {
  const flags = new Map<string, string>();
  for (const arg of argv) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new TypeError(`Cannot parse argument "${arg}": expected --name or --name=value`);
    flags.set(match[1], match[2] ?? "true");
  }
  const size = flags.has("ci") || process.env.BENCH_SIZE === "ci" ? "ci" : "full";
  const sizes: Sizes = { ...SIZES[size] };
  const number = (flag: string, key: keyof Sizes) => {
    const raw = flags.get(flag);
    if (raw === undefined) return;
    const value = Number(raw.replace(/_/g, ""));
    if (!Number.isFinite(value) || value <= 0) {
      throw new RangeError(`Cannot use --${flag}=${raw}: expected a positive number`);
    }
    sizes[key] = value;
  };
  number("ingest", "ingest");
  number("replay", "replay");
  number("latency-seconds", "latencySeconds");
  number("latency-rate", "latencyRate");
  number("ttfb-repeats", "ttfbRepeats");
  number("rounds", "rounds");
  number("pairs", "pairs");
  number("window", "window");
  number("streams-writers", "streamsWriters");
  number("streams-appends", "streamsAppends");
  number("streams-contended", "streamsContended");
  number("streams-rounds", "streamsRounds");
  number("streams-rate-seconds", "streamsRateSeconds");
  const runtimes = (flags.get("runtimes") ?? "deno,node").split(",").filter((r) => r === "deno" || r === "node");
  const out = flags.get("out") ?? join(ROOT, ".bench", size === "ci" ? "results-ci.json" : "results.json");
  const only = new Set((flags.get("only") ?? GROUPS.join(",")).split(",").filter(Boolean));
  for (const group of only) {
    if (!(GROUPS as readonly string[]).includes(group)) {
      throw new RangeError(
        `Cannot use --only=${flags.get("only")}: unknown group "${group}", expected some of ${GROUPS.join(",")}`,
      );
    }
  }
  // Streams: the 10M events in 1M streams only when asked for (it writes ~3 GB and takes minutes).
  const streamSizes = flags.has("streams-full") ? STREAM_SIZES.full : STREAM_SIZES[size === "ci" ? "ci" : "default"];
  // The listener that start-to-first-event is compared with: the commit before issue 10's listener work.
  const listenerBaseline = flags.get("listener-baseline") ?? LISTENER_BASELINE;
  return { size, sizes, runtimes, out, only: only as Set<Group>, streamSizes, listenerBaseline };
}
