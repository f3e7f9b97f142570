/**
 * CPU time from /proc, for the bench's "CPU per event" figures: on a 2-core
 * box CPU per event decides throughput, so every throughput figure can print
 * what its process and RabbitMQ (`beam.smp`) spent on it.
 *
 * @module
 */
import process from "node:process";
import { readdir, readFile } from "node:fs/promises";

/** Clock ticks per second of /proc/<pid>/stat (`getconf CLK_TCK`; 100 on Linux x86). */
const CLK_TCK = 100;

/**
 * CPU time (µs) of each process whose `comm` is one of `comm`, or of the given pids.
 *
 * @example RabbitMQ's CPU so far
 * ```ts
 * import { cpuOf } from "./_bench_cpu.ts";
 * const broker = await cpuOf({ comm: ["beam.smp"] });
 * console.log([...broker.values()].reduce((a, b) => a + b, 0));
 * ```
 */
export async function cpuOf(select: { comm?: string[]; pids?: number[] }): Promise<Map<number, number>> {
  const found = new Map<number, number>();
  let pids = select.pids ?? [];
  if (select.comm) {
    pids = [];
    for (const entry of await readdir("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      const comm = await readFile(`/proc/${entry}/comm`, "utf8").catch(() => "");
      if (select.comm.includes(comm.trim())) pids.push(Number(entry));
    }
  }
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
    if (!stat) continue;
    // Fields after the command (which may hold spaces) start at ") "; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    found.set(pid, ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLK_TCK);
  }
  return found;
}

/**
 * CPU µs of each named group of processes, now: pass the same groups to
 * {@link cpuSpent} with a later snapshot. `bench` is this process.
 *
 * @example The server's and the broker's CPU over a phase
 * ```ts
 * import { cpuSnapshot, cpuSpent } from "./_bench_cpu.ts";
 * const groups = { server: { pids: [1234] }, rabbitmq: { comm: ["beam.smp"] } };
 * const before = await cpuSnapshot(groups);
 * // … the phase …
 * console.log(cpuSpent(before, await cpuSnapshot(groups)));
 * ```
 */
export async function cpuSnapshot<G extends string>(
  groups: Record<G, { comm?: string[]; pids?: number[] }>,
): Promise<Record<G | "bench", Map<number, number>>> {
  const out = {} as Record<G | "bench", Map<number, number>>;
  for (const group of Object.keys(groups) as G[]) out[group] = await cpuOf(groups[group]);
  const usage = process.cpuUsage();
  out.bench = new Map([[process.pid, usage.user + usage.system]]);
  return out;
}

/**
 * µs spent by each group between two snapshots (processes that started in between count from 0).
 *
 * @example See {@link cpuSnapshot}
 * ```ts
 * import { cpuSpent } from "./_bench_cpu.ts";
 * console.log(cpuSpent({ a: new Map([[1, 10]]) }, { a: new Map([[1, 25]]) })); // { a: 15 }
 * ```
 */
export function cpuSpent<G extends string>(
  before: Record<G, Map<number, number>>,
  after: Record<G, Map<number, number>>,
): Record<G, number> {
  const spent = {} as Record<G, number>;
  for (const group of Object.keys(after) as G[]) {
    let sum = 0;
    for (const [pid, us] of after[group]) sum += us - (before[group]?.get(pid) ?? 0);
    spent[group] = sum;
  }
  return spent;
}
