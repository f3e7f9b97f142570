/**
 * The streams-vs-emmett figures (`--only=streams-vs-emmett`): appends with
 * expected versions through Emmett's `EventStore` interface, on
 * rabbit-eventstore (`rabbit-eventstore/emmett`, the real server as a child
 * process) beside Emmett's own PostgreSQL store (`@event-driven-io/emmett-postgresql`)
 * in the same run, driven by the very same code:
 *
 * - distinct streams: `writers` concurrent writers, each on its own stream:
 *   read its version, append one event with that expected version, repeat;
 * - one contended stream: the same writers on ONE stream, retrying at once
 *   on a conflict (re-read, append again), until `contended` appends are stored;
 * - latency at a fixed rate (`latencyRate`/s, open loop, from the scheduled
 *   time): one append per stream visit with the expected version kept from
 *   the previous append, over 1,000 streams; beside it, in the same
 *   conditions, a plain publish with confirm to the same broker at that rate:
 *   the broker round trip, the floor under our append latency.
 *
 * Rounds alternate between the systems (ABBA: the order flips each round) and
 * the median of the rounds is reported with its range. CPU per append is read
 * from /proc/<pid>/stat for our server, RabbitMQ (`beam.smp`) and PostgreSQL
 * (every `postgres` process), and for the bench process (both clients run in
 * it). RabbitMQ and PostgreSQL are shared with other users of the machine, so
 * each phase also reports the CPU of the system not under test: that is the
 * background the figures carry.
 *
 * PostgreSQL (`BENCH_PG_URL`, default `postgres://postgres@127.0.0.1:5432/test`)
 * gets a fresh database per run, dropped afterwards; when it cannot be
 * reached the Emmett side is skipped and says so.
 *
 * @module
 */
import {
  type EventStore,
  isExpectedVersionConflictError,
  type ReadEventMetadataWithGlobalPosition,
  STREAM_DOES_NOT_EXIST,
} from "@event-driven-io/emmett";
import { getPostgreSQLEventStore } from "@event-driven-io/emmett-postgresql";
import pg from "pg";
import { createCommand } from "../command.ts";
import { getRabbitEventStore } from "../emmett.ts";
import { cpuSnapshot, cpuSpent } from "./_bench_cpu.ts";
import { record } from "./_bench_figures.ts";
import type { Sizes } from "./_bench_options.ts";
import { freshDatabase } from "./_bench_peer_postgres.ts";
import { type BenchServer, names } from "./_bench_server.ts";
import { AMQP_URL, benchEvent, fmt, median, quantile, settle, spread } from "./_bench_util.ts";

type Store = EventStore<ReadEventMetadataWithGlobalPosition>;

/** What one measured phase gives. */
interface Phase {
  appends: number;
  /** Appends per second over the phase. */
  rate: number;
  /** Latency of one writer step (read + append, with retries), ms. */
  p50: number;
  p99: number;
  /** Conflicts (refused appends, retried). */
  conflicts: number;
  /** CPU µs per stored append, by process group. */
  cpu: Record<CpuGroup, number>;
}

type CpuGroup = "server" | "rabbitmq" | "postgres" | "bench";
type Workload = "distinct" | "contended" | "readDistinct" | "readContended";
type System = "rabbit" | "emmett";

/** CPU µs of each group, now. */
function cpuGroups(serverPid: number): Promise<Record<CpuGroup, Map<number, number>>> {
  return cpuSnapshot({
    server: { pids: [serverPid] },
    rabbitmq: { comm: ["beam.smp"] },
    postgres: { comm: ["postgres"] },
  });
}

/**
 * One writer step: append one event expecting the version the writer knows;
 * on a conflict read the stream again and retry at once. With `readFirst`
 * the writer reads before every append (read + append, as a command handler
 * that keeps no state does); without it, it expects the version its last
 * append returned (as a writer that holds its aggregate does), and after a
 * conflict the version the conflict reported (ours reports it; Emmett's
 * PostgreSQL store reports -1, so it reads). Returns the new version and the
 * conflicts met.
 */
async function step(
  store: Store,
  stream: string,
  known: bigint,
  n: number,
  readFirst: boolean,
): Promise<[bigint, number]> {
  let conflicts = 0;
  let read = readFirst;
  while (true) {
    // From the last version seen: Emmett's PostgreSQL store reports the version of the last event it
    // read (0 for none), so the read must include the stream's last event; both stores read the same.
    const version = read
      ? (await store.readStream(stream, { from: known > 0n ? known : 1n })).currentStreamVersion
      : known;
    try {
      const result = await store.appendToStream(stream, [{ type: "BenchEvent", data: benchEvent(n) }], {
        expectedStreamVersion: version === 0n ? STREAM_DOES_NOT_EXIST : version,
      });
      return [result.nextExpectedStreamVersion, conflicts];
    } catch (error) {
      if (!isExpectedVersionConflictError(error)) throw error;
      conflicts++;
      // The version the conflict reports, when it reports one (ours does; Emmett's PostgreSQL store says -1):
      // then the next attempt needs no read. Else read again.
      const current = readFirst ? -1n : BigInt(String(error.current ?? -1));
      known = current >= 0n ? current : version;
      read = current < 0n;
    }
  }
}

/** Run `writers` concurrent writers on `streamOf(writer)` until `total` appends are stored. */
async function writersPhase(
  store: Store,
  serverPid: number,
  writers: number,
  total: number,
  streamOf: (writer: number) => string,
  readFirst: boolean,
): Promise<Phase> {
  const latencies: number[] = [];
  let claimed = 0;
  let conflicts = 0;
  const before = await cpuGroups(serverPid);
  const started = performance.now();
  await Promise.all(Array.from({ length: writers }, async (_, w) => {
    let known = 0n;
    while (claimed < total) {
      const n = claimed++;
      const t = performance.now();
      const [version, met] = await step(store, streamOf(w), known, n, readFirst);
      latencies.push(performance.now() - t);
      known = version;
      conflicts += met;
    }
  }));
  const elapsed = performance.now() - started;
  const spent = cpuSpent(before, await cpuGroups(serverPid));
  const cpu = {} as Record<CpuGroup, number>;
  for (const group of Object.keys(spent) as CpuGroup[]) cpu[group] = spent[group] / total;
  return {
    appends: total,
    rate: total / (elapsed / 1000),
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    conflicts,
    cpu,
  };
}

/** Run `op(n)` at a fixed rate (open loop); latency from each call's scheduled time to its end. */
async function atRate(rate: number, total: number, op: (n: number) => Promise<unknown>) {
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  const started = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate) + 1);
    for (; sent < due; sent++) {
      const scheduled = started + (sent / rate) * 1000;
      pending.push(op(sent).then(() => void latencies.push(performance.now() - scheduled)));
    }
    await settle(1);
  }
  await Promise.all(pending);
  return { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: quantile(latencies, 1) };
}

/** Appends at a fixed rate over 1,000 streams, each expecting the version its previous append left. */
async function fixedRate(store: Store, prefix: string, rate: number, total: number) {
  const streams = 1000;
  const versions = new Array<bigint>(streams).fill(0n);
  let conflicts = 0;
  const figures = await atRate(rate, total, async (n) => {
    const s = n % streams;
    const expected = versions[s];
    try {
      const result = await store.appendToStream(`${prefix}-${s}`, [{ type: "BenchEvent", data: benchEvent(n) }], {
        expectedStreamVersion: expected === 0n ? STREAM_DOES_NOT_EXIST : expected,
      });
      versions[s] = result.nextExpectedStreamVersion;
    } catch (error) {
      if (!isExpectedVersionConflictError(error)) throw error;
      conflicts++; // only if an append on a stream was still in flight 1,000 appends later
    }
  });
  return { ...figures, conflicts };
}

/**
 * Measure and record the streams-vs-emmett figures on `server` (a Deno server
 * child on a fresh store, consuming `names.streamsQueue`).
 */
export async function recordStreamsVsEmmett(server: BenchServer, sizes: Sizes, notes: string[]): Promise<void> {
  const { streamsWriters: writers, streamsAppends: perWriter, streamsContended: contended } = sizes;
  const rabbit = getRabbitEventStore({
    amqpUrl: AMQP_URL,
    queueName: names.streamsQueue,
    historyUrl: server.historyUrl,
  });
  const database = await freshDatabase(names.queue);
  const stores: Partial<Record<System, Store & { close(): Promise<void> }>> = { rabbit };
  let pool: pg.Pool | undefined;
  if ("skipped" in database) {
    console.log(`  streams-vs-emmett: Emmett on PostgreSQL skipped: ${database.skipped}`);
    notes.push(`streams-vs-emmett: Emmett on PostgreSQL skipped (${database.skipped}); only our figures were taken`);
  } else {
    // One connection per writer, as our client multiplexes all writers on one: no writer waits for the pool.
    pool = new pg.Pool({ connectionString: database.url, max: writers });
    pool.on("error", () => {}); // an idle connection ended by the DROP DATABASE at the end
    stores.emmett = getPostgreSQLEventStore(database.url, { connectionOptions: { pool } });
  }
  const systems = Object.keys(stores) as System[];
  const results: Record<System, Record<Workload, Phase[]>> = {
    rabbit: { distinct: [], contended: [], readDistinct: [], readContended: [] },
    emmett: { distinct: [], contended: [], readDistinct: [], readContended: [] },
  };
  const latency: Partial<Record<System, Awaited<ReturnType<typeof fixedRate>>>> = {};
  let floor: { p50: number; p99: number } | undefined;
  try {
    // Warm-up: connections, Emmett's schema, the server's first batches.
    for (const system of systems) {
      const store = stores[system]!;
      await Promise.all(Array.from({ length: writers }, (_, w) => step(store, `warm-${system}-${w}`, 0n, w, true)));
    }
    for (let round = 0; round < sizes.streamsRounds; round++) {
      const order = round % 2 === 0 ? systems : [...systems].reverse();
      for (const system of order) {
        const store = stores[system]!;
        const prefix = `r${round}-${system}-${Date.now().toString(36)}`;
        const phase = (workload: Workload, total: number, streamOf: (w: number) => string, readFirst: boolean) =>
          writersPhase(store, server.child.pid, writers, total, streamOf, readFirst).then((p) => {
            results[system][workload].push(p);
            return p;
          });
        const distinct = await phase("distinct", writers * perWriter, (w) => `${prefix}-${w}`, false);
        const one = await phase("contended", contended, () => `${prefix}-contended`, false);
        await phase("readDistinct", writers * perWriter, (w) => `${prefix}-r-${w}`, true);
        await phase("readContended", contended, () => `${prefix}-r-contended`, true);
        console.log(
          `  round ${round + 1} ${system === "rabbit" ? "rabbit-eventstore" : "Emmett/PostgreSQL"}: distinct ${
            fmt(distinct.rate)
          }/s (p50 ${fmt(distinct.p50, 1)} ms, p99 ${fmt(distinct.p99, 1)} ms), contended ${fmt(one.rate)}/s (p99 ${
            fmt(one.p99, 1)
          } ms, ${fmt(one.conflicts / one.appends, 2)} conflicts/append)`,
        );
      }
    }
    const total = Math.round(sizes.latencyRate * sizes.streamsRateSeconds);
    // The floor under our append latency, in the same conditions: a publish with confirm to the same broker.
    const command = createCommand({ amqpUrl: AMQP_URL, queueName: names.streamsQueue });
    await command.publish(benchEvent(-1));
    floor = await atRate(sizes.latencyRate, total, (n) => command.publish(benchEvent(n)));
    await command.close();
    console.log(
      `  publish with confirm at ${fmt(sizes.latencyRate)}/s (the broker round trip): p50 ${
        fmt(floor.p50, 2)
      } ms, p99 ${fmt(floor.p99, 2)} ms`,
    );
    for (const system of systems) {
      latency[system] = await fixedRate(
        stores[system]!,
        `rate-${system}-${Date.now().toString(36)}`,
        sizes.latencyRate,
        total,
      );
      console.log(
        `  ${system === "rabbit" ? "rabbit-eventstore" : "Emmett/PostgreSQL"} at ${
          fmt(sizes.latencyRate)
        } appends/s: p50 ${fmt(latency[system]!.p50, 2)} ms, p99 ${fmt(latency[system]!.p99, 2)} ms, max ${
          fmt(latency[system]!.max, 1)
        } ms`,
      );
    }
  } finally {
    await rabbit.close();
    await stores.emmett?.close();
    await pool?.end().catch(() => {});
    if (!("skipped" in database)) await database.drop();
  }
  recordFigures(results, latency, sizes, stores.emmett !== undefined, floor);
}

/** Record the figures: ours beside Emmett's on PostgreSQL (when it ran). */
function recordFigures(
  results: Record<System, Record<Workload, Phase[]>>,
  latency: Partial<Record<System, { p50: number; p99: number; max: number; conflicts: number }>>,
  sizes: Sizes,
  emmett: boolean,
  floor: { p50: number; p99: number } | undefined,
): void {
  const runtime = "deno";
  const pgBaseline = (value: number, unit: string) =>
    emmett ? { name: "Emmett 0.42 on PostgreSQL 15", value, unit } : undefined;
  const rates = (s: System, w: Workload) => results[s][w].map((p) => p.rate);
  const medianOf = (s: System, w: Workload, f: (p: Phase) => number) => median(results[s][w].map(f));
  const sumCpu = (p: Phase) => p.cpu.server + p.cpu.rabbitmq;
  for (const workload of ["distinct", "contended", "readDistinct", "readContended"] as const) {
    const reads = workload.startsWith("read");
    const what = `${sizes.streamsWriters} writers on ${
      workload === "distinct" || workload === "readDistinct" ? "distinct streams" : "one stream"
    }${reads ? ", each reading before it appends" : ""}`;
    const ours = median(rates("rabbit", workload));
    const theirs = emmett ? median(rates("emmett", workload)) : NaN;
    // Round i of ours against round i of theirs (they ran back to back, order alternating): the ratio is
    // the median of these pairs, with their range, not the ratio of the two medians.
    const pairs = emmett ? rates("rabbit", workload).map((r, i) => r / rates("emmett", workload)[i]) : [];
    const paired = emmett ? median(pairs) : undefined;
    const detail: Record<string, unknown> = {
      rounds: results.rabbit[workload].length,
      pairedRatios: pairs,
      rabbitRates: rates("rabbit", workload),
      rabbitP50: medianOf("rabbit", workload, (p) => p.p50),
      rabbitP99: medianOf("rabbit", workload, (p) => p.p99),
      rabbitConflictsPerAppend: medianOf("rabbit", workload, (p) => p.conflicts / p.appends),
      rabbitCpuUs: median(results.rabbit[workload].map(sumCpu)),
    };
    if (emmett) {
      Object.assign(detail, {
        emmettRates: rates("emmett", workload),
        emmettP50: medianOf("emmett", workload, (p) => p.p50),
        emmettP99: medianOf("emmett", workload, (p) => p.p99),
        emmettConflictsPerAppend: medianOf("emmett", workload, (p) => p.conflicts / p.appends),
        emmettCpuUs: medianOf("emmett", workload, (p) => p.cpu.postgres),
      });
    }
    record({
      figure: reads
        ? `appendToStream, ${what}`
        : `appendToStream with expected versions, ${what} (version from the last append or the conflict)`,
      runtime,
      value: ours,
      unit: "appends/s",
      baseline: pgBaseline(theirs, "appends/s"),
      ratio: paired,
      target: reads ? "printed" : "≥ 2× Emmett on PostgreSQL",
      met: emmett && !reads ? paired! >= 2 : undefined,
      detail,
    });
    const line = (system: System) => {
      const phases = results[system][workload];
      const cpu = (g: CpuGroup) => spread(phases.map((p) => p.cpu[g]));
      return `    ${system === "rabbit" ? "rabbit-eventstore" : "Emmett/PostgreSQL"}: ${
        spread(phases.map((p) => p.rate))
      } appends/s; p50 ${spread(phases.map((p) => p.p50), 1)} ms, p99 ${spread(phases.map((p) => p.p99), 1)} ms; ${
        spread(phases.map((p) => p.conflicts / p.appends), 2)
      } conflicts/append; CPU µs/append: server ${cpu("server")}, RabbitMQ ${cpu("rabbitmq")}, PostgreSQL ${
        cpu("postgres")
      }, bench process ${cpu("bench")}`;
    };
    console.log(`  ${what} (median of ${results.rabbit[workload].length} rounds, range):`);
    for (const system of emmett ? ["rabbit", "emmett"] as const : ["rabbit"] as const) console.log(line(system));
    if (emmett) console.log(`    paired ratio (ours / Emmett, round by round): ${spread(pairs, 2)}`);
    record({
      figure: `CPU per append, ${what}: our server + RabbitMQ vs PostgreSQL`,
      runtime,
      value: median(results.rabbit[workload].map(sumCpu)),
      unit: "µs",
      baseline: pgBaseline(medianOf("emmett", workload, (p) => p.cpu.postgres), "µs"),
      target: "printed (2 shared cores: CPU decides)",
      detail: {
        server: medianOf("rabbit", workload, (p) => p.cpu.server),
        rabbitmq: medianOf("rabbit", workload, (p) => p.cpu.rabbitmq),
        postgresWhileOurs: medianOf("rabbit", workload, (p) => p.cpu.postgres),
        rabbitmqWhileEmmett: emmett ? medianOf("emmett", workload, (p) => p.cpu.rabbitmq) : undefined,
      },
    });
  }
  const ours = latency.rabbit!;
  const theirs = latency.emmett;
  for (const q of ["p50", "p99"] as const) {
    record({
      figure: `appendToStream latency ${q}, ${fmt(sizes.latencyRate)} appends/s for ${sizes.streamsRateSeconds} s`,
      runtime,
      value: ours[q],
      unit: "ms",
      baseline: theirs ? pgBaseline(theirs[q], "ms") : undefined,
      target: q === "p99" ? "< 10 ms" : "printed",
      met: q === "p99" ? ours.p99 < 10 : undefined,
      detail: { max: ours.max, conflicts: ours.conflicts, emmettMax: theirs?.max, publishConfirm: floor?.[q] },
    });
  }
}
