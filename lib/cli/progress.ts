/**
 * Progress of long work (verify, import, export, publish) on stderr: on a
 * terminal a bar redrawn in place with the rate and the time left (ETA); else
 * one plain line now and then, so a log file gets a line, not a stream of
 * carriage returns. Our own ~100 lines rather than a library such as
 * `cli-progress`: the bar is one line of text, and a library would still need
 * the plain-line mode and a clock we can fake in tests.
 *
 * @module
 */
import { DEFAULTS } from "../defaults.ts";
import type { TextOutput } from "./cli_io.ts";

/**
 * Options for {@link Progress}.
 *
 * @example Progress over the bytes of a file
 * ```ts
 * import { processIo } from "./cli_io.ts";
 * import { Progress, type ProgressOptions } from "./progress.ts";
 * const options: ProgressOptions = { label: "import", unit: "bytes", total: 1024, output: processIo().err };
 * const progress = new Progress(options);
 * progress.update(512, "10 records");
 * await progress.finish("20 records");
 * ```
 */
export interface ProgressOptions {
  /** What is being done, first on the line (`verify`). */
  label: string;
  /** What is counted: `bytes` are shown in KiB/MiB/GiB, anything else as a count (`records`). */
  unit: string;
  /** The amount of work, in `unit`; unknown: no bar and no ETA, only the count and the rate. @default {undefined} */
  total?: number;
  /** Where it is written (stderr). */
  output: TextOutput;
  /** The clock, in ms. @default {Date.now} */
  now?: () => number;
  /** On a terminal, redraw at most this often (ms). @default {100} */
  redraw?: number;
  /** Not on a terminal, one line at most this often (ms). @default {5000} */
  interval?: number;
}

/**
 * Reports progress; see the module's description.
 *
 * @example Report work done in steps
 * ```ts
 * import { processIo } from "./cli_io.ts";
 * import { Progress } from "./progress.ts";
 * const progress = new Progress({ label: "verify", unit: "bytes", total: 3000, output: processIo().err });
 * for (let done = 1000; done <= 3000; done += 1000) progress.update(done);
 * await progress.finish();
 * ```
 */
export class Progress {
  readonly #o: Required<Omit<ProgressOptions, "total">> & { total?: number };
  readonly #started: number;
  #last: number;
  #done = 0;
  #detail = "";
  #finished = false;

  /** Start counting now. */
  constructor(options: ProgressOptions) {
    this.#o = {
      now: Date.now,
      redraw: DEFAULTS.cli.progressRedraw,
      interval: DEFAULTS.cli.progressInterval,
      ...options,
    };
    this.#started = this.#o.now();
    this.#last = this.#started;
  }

  /**
   * `done` of the total is done; `detail` (e.g. `1,200 records`) is shown beside it. Writes only when
   * the last write is `redraw` (terminal) or `interval` (not a terminal) ms ago.
   */
  update(done: number, detail?: string): void {
    this.#done = done;
    if (detail !== undefined) this.#detail = detail;
    const now = this.#o.now();
    const every = this.#o.output.isTTY ? this.#o.redraw : this.#o.interval;
    if (this.#finished || now - this.#last < every) return;
    this.#last = now;
    void this.#o.output.write(this.#o.output.isTTY ? `\r${this.#bar(now)}` : `${this.#line(now)}\n`);
  }

  /** The work is over: on a terminal the bar's last state and a line break, else a last line with the totals. */
  async finish(detail?: string): Promise<void> {
    if (this.#finished) return;
    if (detail !== undefined) this.#detail = detail;
    this.#finished = true;
    const now = this.#o.now();
    if (this.#o.output.isTTY) await this.#o.output.write(`\r${this.#bar(now)}\n`);
    else await this.#o.output.write(`${this.#line(now, true)}\n`);
  }

  /** `label [#####.....]  50%  5.0/10.0 MiB  1,200 records  2.0 MiB/s  ETA 0:03`, fitted to the terminal. */
  #bar(now: number): string {
    const { label, total } = this.#o;
    const parts = [this.#amount(), this.#detail, `${this.#format(this.#rate(now))}/s`, this.#eta(now)]
      .filter(Boolean);
    const tail = parts.join("  ");
    if (total === undefined || total <= 0) return `${label}  ${tail}`.slice(0, this.#o.output.columns - 1);
    const fraction = Math.min(1, this.#done / total);
    const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
    const width = Math.max(10, this.#o.output.columns - label.length - tail.length - percent.length - 9);
    const filled = Math.round(fraction * width);
    const line = `${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${percent}  ${tail}`;
    return line.slice(0, this.#o.output.columns - 1);
  }

  /** `verify: 50% (5.0/10.0 MiB), 1,200 records, 2.0 MiB/s, ETA 0:03` or, at the end, `…: done, …, in 1.2 s`. */
  #line(now: number, done = false): string {
    const { label, total } = this.#o;
    const percent = total ? `${Math.floor(Math.min(1, this.#done / total) * 100)}% (${this.#amount()})` : "";
    const parts = done
      ? ["done", this.#amountDone(), this.#detail, `in ${((now - this.#started) / 1000).toFixed(1)} s`]
      : [percent || this.#amount(), this.#detail, `${this.#format(this.#rate(now))}/s`, this.#eta(now)];
    return `${label}: ${parts.filter(Boolean).join(", ")}`;
  }

  #amount(): string {
    const { total } = this.#o;
    return total === undefined ? this.#format(this.#done) : `${this.#format(this.#done, total)}/${this.#format(total)}`;
  }

  #amountDone(): string {
    return this.#format(this.#done);
  }

  #rate(now: number): number {
    const seconds = (now - this.#started) / 1000;
    return seconds > 0 ? this.#done / seconds : 0;
  }

  /** `ETA m:ss` (or `h:mm:ss`): the time left at the rate so far; `ETA ?` while unknown, "" without a total. */
  #eta(now: number): string {
    const { total } = this.#o;
    if (total === undefined) return "";
    if (this.#done >= total) return "ETA 0:00";
    const rate = this.#rate(now);
    return rate > 0 ? `ETA ${clock((total - this.#done) / rate)}` : "ETA ?";
  }

  /** A count with thousands separators, or bytes in the unit that suits `scale` (default the value). */
  #format(value: number, scale = value): string {
    if (this.#o.unit !== "bytes") {
      const n = Math.round(value);
      return `${n.toLocaleString("en-US")} ${n === 1 ? this.#o.unit.replace(/s$/, "") : this.#o.unit}`;
    }
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (i < units.length - 1 && scale >= 1024 ** (i + 1)) i++;
    return i === 0 ? `${Math.round(value)} B` : `${(value / 1024 ** i).toFixed(1)} ${units[i]}`;
  }
}

/** Seconds as `m:ss`, or `h:mm:ss` from an hour. */
function clock(seconds: number): string {
  const s = Math.ceil(seconds);
  const two = (n: number) => String(n).padStart(2, "0");
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
}
