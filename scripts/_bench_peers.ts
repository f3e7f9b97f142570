/**
 * The peers figures (`deno task bench --peers`, or `--only=peers`): the same
 * event body (`benchEvent`, about 100 bytes of JSON) written and read back
 * by rabbit-eventstore (write end to end, replay with the listener from 0)
 * and, in the same run, by
 *
 * - a RabbitMQ stream (`_bench_peer_rabbitmq_stream.ts`),
 * - NATS JetStream, file storage (`_bench_peer_jetstream.ts`),
 * - a plain PostgreSQL table (`_bench_peer_postgres.ts`),
 * - Emmett 0.42 on PostgreSQL (`_bench_peer_emmett.ts`).
 *
 * Rounds alternate the systems (the order flips each round); each figure is
 * the median of the rounds with its range, and its ratio to our figure of
 * the same kind (write to our write, read to our replay) is the **median of
 * the per-round ratios**. CPU µs per event from /proc: each system's own
 * processes (our server + `beam.smp`, `beam.smp`, `nats-server`,
 * `postgres`), and the bench process (the clients). Every read is checked
 * to give back exactly the events written, in order (Emmett's consumer,
 * which may deliver again: each at least once, the repeats noted). Each system's
 * durability at ack is printed beside it. A system that cannot be reached
 * is skipped with a note; everything created (streams, NATS streams,
 * tables, the Emmett database) is removed.
 *
 * @module
 */
import { record } from "./_bench_figures.ts";
import type { Sizes } from "./_bench_options.ts";
import type { Peer, PhaseResult } from "./_bench_peer.ts";
import { emmettPeer } from "./_bench_peer_emmett.ts";
import { jetstreamPeer } from "./_bench_peer_jetstream.ts";
import { postgresPeer } from "./_bench_peer_postgres.ts";
import { projectPeer } from "./_bench_peer_project.ts";
import { rabbitmqStreamPeer } from "./_bench_peer_rabbitmq_stream.ts";
import { names } from "./_bench_server.ts";
import { fmt, median, spread } from "./_bench_util.ts";

/** The peers open now, so that an interrupted run can still remove what they created ({@link closePeers}). */
const openPeers = new Set<Peer>();

/**
 * Close every peer still open (dropping Emmett's database, the round's stream, NATS stream or table where a
 * round was cut short): for `bench.ts`'s SIGINT/SIGTERM handler.
 */
export async function closePeers(): Promise<void> {
  for (const peer of [...openPeers]) {
    openPeers.delete(peer);
    await peer.close().catch(() => {});
  }
}

/** Each system's phases, round by round. */
type Rounds = Map<Peer, PhaseResult[][]>;

/**
 * Measure and record the peers figures, with the servers and stores of the
 * run in `dir`.
 */
export async function recordPeers(dir: string, sizes: Sizes, notes: string[]): Promise<void> {
  const ours = projectPeer({
    dir,
    queueName: names.peersQueue,
    exchangeName: names.peersExchange,
    window: sizes.window,
  });
  const others = [
    rabbitmqStreamPeer({ prefix: `${names.peers}-stream`, window: sizes.window }),
    jetstreamPeer({ prefix: `${names.peers}-js`, window: sizes.window }),
    postgresPeer({ prefix: `${names.peers}_table` }),
    emmettPeer({ name: names.peers, events: sizes.peersEmmettEvents, singles: sizes.peersEmmettSingles }),
  ];
  const systems: Peer[] = [ours];
  const rounds: Rounds = new Map([[ours, []]]);
  try {
    for (const peer of others) {
      const skipped = await peer.open();
      if (skipped) {
        console.log(`  peers: ${peer.name} skipped: ${skipped}`);
        notes.push(`peers: ${peer.name} skipped (${skipped})`);
        continue;
      }
      systems.push(peer);
      openPeers.add(peer);
      rounds.set(peer, []);
    }
    for (let round = 0; round < sizes.peersRounds; round++) {
      const order = round % 2 === 0 ? systems : [...systems].reverse();
      for (const peer of order) {
        const phases = await peer.round(sizes.peersEvents, round);
        rounds.get(peer)!.push(phases);
        for (const p of phases) {
          if (p.note) notes.push(`peers: ${peer.name}, ${p.phase}, round ${round + 1}: ${p.note}`);
        }
        console.log(
          `  round ${round + 1} ${peer.name}: ${
            phases.map((p) =>
              `${p.phase} ${fmt(p.rate)}/s (CPU µs/event ${fmt(p.systemCpu)} + client ${fmt(p.clientCpu)}${
                p.note ? `; ${p.note}` : ""
              })`
            ).join(", ")
          }`,
        );
      }
    }
  } finally {
    for (const peer of systems) {
      openPeers.delete(peer);
      await peer.close().catch((error) => console.error(`  peers: ${peer.name}: ${error}`));
    }
  }
  report(ours, systems, rounds);
}

/** Print and record each system's phases: median (range), paired ratio to ours, CPU, durability. */
function report(ours: Peer, systems: Peer[], rounds: Rounds): void {
  const ourRounds = rounds.get(ours)!;
  /** Our figure of `kind` in round `r`. */
  const oursIn = (r: number, kind: "write" | "read") => ourRounds[r].find((p) => p.kind === kind)!;
  console.log(`  peers (median of ${ourRounds.length} rounds, range; ratio = median of per-round ratios to ours):`);
  for (const peer of systems) {
    console.log(`    ${peer.name} — durability at ack: ${peer.durability()}`);
    const byRound = rounds.get(peer)!;
    for (let p = 0; p < byRound[0].length; p++) {
      const phases = byRound.map((phasesOfRound) => phasesOfRound[p]);
      const { phase, kind, events } = phases[0];
      const rates = phases.map((x) => x.rate);
      const ratios = peer === ours ? [] : phases.map((x, r) => x.rate / oursIn(r, kind).rate);
      const system = phases.map((x) => x.systemCpu);
      const client = phases.map((x) => x.clientCpu);
      console.log(
        `      ${phase} (${fmt(events)} events): ${spread(rates)} events/s${
          ratios.length ? `, ${spread(ratios, 2)}× ours` : ""
        }; CPU µs/event: system ${spread(system)}, client ${spread(client)}`,
      );
      const base = peer === ours ? undefined : oursIn(0, kind);
      record({
        figure: `peers: ${peer.name}, ${phase}, ${fmt(events)} events`,
        runtime: "deno",
        value: median(rates),
        unit: "events/s",
        baseline: base && {
          name: `rabbit-eventstore ${base.phase}`,
          value: median(ourRounds.map((phasesOfRound) => phasesOfRound.find((x) => x.kind === kind)!.rate)),
          unit: "events/s",
        },
        ratio: ratios.length ? median(ratios) : undefined,
        target: `printed; CPU µs/event ${fmt(median(system))} system + ${fmt(median(client))} client`,
        detail: {
          rates,
          ratios,
          systemCpu: system,
          clientCpu: client,
          durability: peer.durability(),
          notes: phases.map((x) => x.note),
        },
      });
    }
  }
}
