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
  /** value / baseline.value */
  ratio?: number;
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
    })`
    : "";
  const health = figure.detail?.health ? ` /health memory ${JSON.stringify(figure.detail.health)}` : "";
  console.log(
    `  ${figure.figure} [${figure.runtime}]: ${fmt(figure.value, digits(figure.value))} ${figure.unit}${base}${health}`,
  );
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
    f.ratio === undefined ? "—" : `${fmt(f.ratio, 2)}×`,
    f.target,
    f.met === undefined ? "—" : f.met ? "yes" : "no",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...body.map(line)].join("\n");
}
