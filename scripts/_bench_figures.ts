/**
 * The bench's figures: each is recorded (and printed as it is measured) with
 * its baseline from the same run, its ratio and its target, then printed as
 * one table at the end.
 *
 * @module
 */
import { fmt } from "./_bench_util.ts";

/** One measured figure. */
export interface Figure {
  figure: string;
  runtime: string;
  value: number;
  unit: string;
  baseline?: { name: string; value: number; unit: string };
  /** value / baseline.value; with `range`, the median of the paired rounds' ratios. */
  ratio?: number;
  /** The lowest and highest ratio of the paired rounds behind `ratio`. */
  range?: [number, number];
  /** How many paired rounds `ratio` is the median of. */
  pairs?: number;
  target: string;
  /** Whether the target is met at this run's sizes; undefined where there is no target. */
  met?: boolean;
  detail?: Record<string, unknown>;
}

/** Every figure recorded so far, in order. */
export const figures: Figure[] = [];

/** Record a figure and print it. */
export function record(figure: Figure): void {
  if (figure.baseline && figure.ratio === undefined) figure.ratio = figure.value / figure.baseline.value;
  figures.push(figure);
  const base = figure.baseline
    ? ` (baseline ${fmt(figure.baseline.value, digits(figure.baseline.value))} ${figure.baseline.unit}, ratio ${
      fmt(figure.ratio, 2)
    }${figure.range ? `, median of ${figure.pairs} paired rounds, range ${rangeText(figure.range)}` : ""})`
    : "";
  const health = figure.detail?.health ? ` /health memory ${JSON.stringify(figure.detail.health)}` : "";
  console.log(
    `  ${figure.figure} [${figure.runtime}]: ${fmt(figure.value, digits(figure.value))} ${figure.unit}${base}${health}`,
  );
}
/** A ratio's range as `0.91–1.17`. */
function rangeText(range: [number, number]): string {
  return `${fmt(range[0], 2)}–${fmt(range[1], 2)}`;
}

/** The median of `values` (the mean of the middle two for an even count); NaN for none. */
export function medianOf(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * The ratio of paired rounds: round i's product over round i's baseline (measured next to each
 * other, the order alternating), as the median of the pairs with their range; never the best round.
 */
export function pairedRatio(
  products: number[],
  baselines: number[],
): { ratio: number; range: [number, number]; pairs: number; each: number[] } {
  if (products.length !== baselines.length) {
    throw new RangeError(`Cannot pair ${products.length} rounds with ${baselines.length}`);
  }
  const each = products.map((value, i) => value / baselines[i]);
  return { ratio: medianOf(each), range: [Math.min(...each), Math.max(...each)], pairs: each.length, each };
}

/**
 * Record a figure measured in paired rounds: its value and its baseline's are the medians of their
 * rounds, its ratio the median of the pairs' ratios with their range.
 */
export function recordPaired(
  figure: Omit<Figure, "value" | "baseline" | "ratio" | "range" | "pairs"> & {
    rounds: number[];
    baseline: { name: string; unit: string; rounds: number[] };
    /** Whether the target is met, given the median value and the paired ratio. */
    meets?: (value: number, ratio: number) => boolean;
  },
): void {
  const { rounds, baseline, meets, ...rest } = figure;
  const paired = pairedRatio(rounds, baseline.rounds);
  const value = medianOf(rounds);
  record({
    ...rest,
    value,
    baseline: { name: baseline.name, value: medianOf(baseline.rounds), unit: baseline.unit },
    ratio: paired.ratio,
    range: paired.range,
    pairs: paired.pairs,
    met: meets ? meets(value, paired.ratio) : rest.met,
    detail: { ...rest.detail, rounds, baselineRounds: baseline.rounds, ratios: paired.each },
  });
}

export function digits(value: number): number {
  return Math.abs(value) < 10 ? 2 : Math.abs(value) < 100 ? 1 : 0;
}

/** The figures as a Markdown table. */
export function table(rows: Figure[]): string {
  const header = ["figure", "runtime", "value", "baseline (same run)", "ratio", "target", "met"];
  const body = rows.map((f) => [
    f.figure,
    f.runtime,
    `${fmt(f.value, digits(f.value))} ${f.unit}`,
    f.baseline ? `${fmt(f.baseline.value, digits(f.baseline.value))} ${f.baseline.unit} (${f.baseline.name})` : "—",
    f.ratio === undefined ? "—" : `${fmt(f.ratio, 2)}×${f.range ? ` (${rangeText(f.range)}, ${f.pairs} pairs)` : ""}`,
    f.target,
    f.met === undefined ? "—" : f.met ? "yes" : "no",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...body.map(line)].join("\n");
}
