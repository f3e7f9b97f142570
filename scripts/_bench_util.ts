/**
 * Helpers for `scripts/bench.ts`: paths and the broker URL, child processes,
 * memory, machine facts, statistics, and writing a storage file directly in
 * the record format.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { open, readFile, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import os from "node:os";
import { dirname, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { encodeRecord } from "../lib/record.ts";

/** The repository's root directory. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** The broker the bench talks to (`AMQPURL`). */
export const AMQP_URL = process.env.AMQPURL ?? "amqp://guest:guest@127.0.0.1:5672";

/** Sleep. */
export function settle(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A promise with its resolve function. */
export function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A child process whose stdout/stderr lines are kept and can be waited for. */
export interface Child {
  /** The OS process id of the runtime itself (not a wrapper). */
  readonly pid: number;
  /** Every line printed so far (stdout and stderr). */
  readonly lines: string[];
  /** Resolves with the first line matching `pattern`; rejects if the process exits first or after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code once the process ended. */
  readonly exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it ended. */
  stop(graceMs?: number): Promise<void>;
}

const children = new Set<ChildProcess>();
/** Kill every child still running (on exit or error). */
export function killChildren(): void {
  for (const child of children) child.kill("SIGKILL");
}
process.on("exit", killChildren);

/** Start `command` with `args`, keeping its output lines. */
export function startChild(command: string, args: string[], env: Record<string, string> = {}, cwd?: string): Child {
  const child = spawn(command, args, { env: { ...process.env, ...env }, cwd, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  const lines: string[] = [];
  const watchers: Array<{ pattern: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];
  let ended = false;
  const endWaiters: Array<() => void> = [];
  const exited = new Promise<number | null>((resolve) => {
    child.on("exit", (code) => {
      ended = true;
      children.delete(child);
      for (const wake of endWaiters.splice(0)) wake();
      resolve(code);
    });
  });
  const onLine = (line: string) => {
    lines.push(line);
    if (lines.length > 2000) lines.splice(0, 1000);
    for (let i = watchers.length - 1; i >= 0; i--) {
      const match = line.match(watchers[i].pattern);
      if (match) {
        watchers[i].resolve(match);
        watchers.splice(i, 1);
      }
    }
  };
  for (const stream of [child.stdout!, child.stderr!]) {
    let rest = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const part of parts) onLine(part);
    });
  }
  return {
    pid: child.pid!,
    lines,
    exited,
    waitFor(pattern, timeoutMs = 120_000) {
      for (const line of lines) {
        const match = line.match(pattern);
        if (match) return Promise.resolve(match);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`Timed out waiting for ${pattern} from ${command}: ${lines.slice(-5).join(" | ")}`)),
          timeoutMs,
        );
        watchers.push({ pattern, resolve: (m) => (clearTimeout(timer), resolve(m)) });
        const fail = () => {
          clearTimeout(timer);
          reject(new Error(`${command} exited before printing ${pattern}: ${lines.slice(-10).join(" | ")}`));
        };
        if (ended) fail();
        else endWaiters.push(fail);
      });
    },
    async stop(graceMs = 10_000) {
      if (ended) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Resident set size and its peak of a process, in bytes (Linux /proc). */
export async function memoryOf(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"))?.[1] ?? NaN) * 1024;
  return { rss: kb("VmRSS"), peak: kb("VmHWM") };
}

/** The broker's product version, read from its connection.start frame (no management plugin needed). */
export function brokerVersion(host = "127.0.0.1", port = 5672): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    let data = Buffer.alloc(0);
    const done = (value: string) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(3000, () => done("unknown"));
    socket.on("error", () => done("unknown"));
    socket.on("connect", () => socket.write(Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1])));
    socket.on("data", (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const at = data.indexOf("version");
      if (at === -1 || data.length < at + 12) return;
      // field name, then 'S' and a 32-bit length, then the string
      const length = data.readUInt32BE(at + 8);
      if (data.length < at + 12 + length) return;
      done(data.subarray(at + 12, at + 12 + length).toString("utf8"));
    });
  });
}

/** Facts about the machine the figures were measured on. */
export async function machine(nodeVersion: string | undefined): Promise<Record<string, unknown>> {
  const cpus = os.cpus();
  // deno-lint-ignore no-explicit-any
  const deno = (globalThis as any).Deno;
  return {
    cpu: cpus[0]?.model ?? "unknown",
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()}`,
    loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
    rabbitmq: await brokerVersion(),
    deno: deno?.version?.deno ?? "n/a",
    v8: deno?.version?.v8 ?? process.versions.v8,
    node: nodeVersion ?? "not available",
  };
}

/** Run a command and return its trimmed stdout, or undefined if it failed. */
export function output(command: string, args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "ignore"] });
    let text = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => (text += chunk));
    child.on("error", () => resolve(undefined));
    child.on("exit", (code) => resolve(code === 0 ? text.trim() : undefined));
  });
}

/** The `q`-quantile (0..1) of `values` (sorted here). */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** The median of `values`. */
export function median(values: number[]): number {
  return quantile(values, 0.5);
}

/** The median of `values` with their range, formatted with `digits` decimals: `1.02 (0.91–1.17)`. */
export function spread(values: number[], digits = 0): string {
  return `${fmt(median(values), digits)} (${fmt(Math.min(...values), digits)}–${fmt(Math.max(...values), digits)})`;
}

/** The JSON body of bench event number `i` (about 100 bytes, like a small domain event). */
export function benchEvent(i: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    kind: "BenchEvent",
    i,
    customer: `c-${i % 977}`,
    amount: (i % 1000) / 10,
    note: "xxxxxxxxxxxxxxxx",
    ...extra,
  };
}

/**
 * Write `count` records at positions 1..count straight into a storage file,
 * in the storage format (`encodeRecord`), without the server, and mark them
 * all published (`<path>.published`): otherwise the server republishes the
 * whole file to the fanout at start-up, competing with the figures measured
 * right after it.
 */
export async function writeStorageFile(path: string, count: number): Promise<number> {
  const file = await open(path, "w");
  const time = new Date().toISOString();
  const encoder = new TextEncoder();
  let bytes = 0;
  try {
    const perChunk = 20_000;
    for (let start = 1; start <= count; start += perChunk) {
      let text = "";
      const end = Math.min(count, start + perChunk - 1);
      for (let p = start; p <= end; p++) {
        text += encodeRecord(p, crypto.randomUUID(), time, JSON.stringify(benchEvent(p)), "BenchEvent") + "\n";
      }
      const chunk = encoder.encode(text);
      await file.write(chunk);
      bytes += chunk.length;
    }
    await file.sync();
  } finally {
    await file.close();
  }
  await writeFile(`${path}.published`, `${count}\n`);
  return bytes;
}

/** Read the NDJSON lines of a storage file in order, in batches (for filling the stream baseline). */
export async function* storageLines(path: string, batch = 5000): AsyncGenerator<string[]> {
  const file = await open(path, "r");
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(1 << 20);
  let rest = "";
  let position = 0;
  let lines: string[] = [];
  try {
    while (true) {
      const { bytesRead } = await file.read(buffer, 0, buffer.length, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      const parts = (rest + decoder.decode(buffer.subarray(0, bytesRead), { stream: true })).split("\n");
      rest = parts.pop()!;
      for (const part of parts) {
        lines.push(part);
        if (lines.length >= batch) {
          yield lines;
          lines = [];
        }
      }
    }
    if (lines.length > 0) yield lines;
  } finally {
    await file.close();
  }
}

/** A counter that lets at most `limit` promises run at once (pipelined confirms). */
export class Window {
  readonly #limit: number;
  #inFlight = 0;
  #waiters: Array<() => void> = [];
  #error: unknown;

  /** @param limit Most promises in flight at once. */
  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Start `task` once there is room; resolves when it started (not finished). */
  async run(task: () => Promise<unknown>): Promise<void> {
    while (this.#inFlight >= this.#limit) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    if (this.#error) throw this.#error;
    this.#inFlight++;
    task().catch((error) => (this.#error ??= error)).finally(() => {
      this.#inFlight--;
      this.#waiters.shift()?.();
      if (this.#inFlight === 0) { for (const wake of this.#waiters.splice(0)) wake(); }
    });
  }

  /** Resolves once nothing is in flight; rejects with the first failure. */
  async drain(): Promise<void> {
    while (this.#inFlight > 0) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    if (this.#error) throw this.#error;
  }
}

/** Format a number for the table. */
export function fmt(value: number | undefined, digits = 0): string {
  if (value === undefined || !Number.isFinite(value)) return "—";
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
