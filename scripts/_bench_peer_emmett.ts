/**
 * Peer: Emmett 0.42's own PostgreSQL event store
 * (`@event-driven-io/emmett-postgresql`), in a fresh database of its own
 * (dropped at close), emptied after every round. Its phases:
 *
 * - `appendToStream, one event per call`: `writers` concurrent writers, each
 *   on its own stream, one event per call (one transaction each);
 * - `appendToStream, batch of 1000`: the round's events in calls of 1000
 *   events, one stream per call, one call at a time;
 * - `read all`: `readStream` of each of those streams, in order;
 * - `consumer`: Emmett's consumer with a reactor from `BEGINNING`
 *   (its defaults: batches of 100, polling every 50 ms) until every event of
 *   the round came at least once; events it delivers again are counted and
 *   noted beside the figure.
 *
 * Durability at ack: PostgreSQL's commit, as for the plain table.
 *
 * @module
 */
import type { Event } from "@event-driven-io/emmett";
import { getPostgreSQLEventStore, type PostgresEventStore } from "@event-driven-io/emmett-postgresql";
import pg from "pg";
import { AtLeastOnceCheck, measurePhase, type Peer, type PhaseResult, SequenceCheck } from "./_bench_peer.ts";
import { commitDurability, freshDatabase } from "./_bench_peer_postgres.ts";
import { benchEvent, deferred, fmt } from "./_bench_util.ts";

/** Most time the consumer may deliver nothing new before the phase ends with what came. */
const STALL_MS = 10_000;

/** Events per `appendToStream` call in the batch phase. */
const BATCH = 1000;

type BenchEvent = Event<"BenchEvent", Record<string, unknown>>;

/** What {@link emmettPeer} needs. */
export interface EmmettPeerOptions {
  /** Names its database (`emmett_<name>`) and streams. */
  name: string;
  /** Events of the batch phase, read all and consumer (instead of the round's count: Emmett is slower). */
  events: number;
  /** Events appended one per call. */
  singles: number;
  /** Concurrent writers of the one-per-call phase (and pool connections). @default {16} */
  writers?: number;
}

/**
 * The Emmett-on-PostgreSQL peer.
 *
 * @example One round
 * ```ts
 * import { emmettPeer } from "./_bench_peer_emmett.ts";
 * const peer = emmettPeer({ name: "example", events: 1000, singles: 100 });
 * if (!(await peer.open())) console.log(await peer.round(1000, 0));
 * await peer.close();
 * ```
 */
export function emmettPeer(options: EmmettPeerOptions): Peer {
  const writers = options.writers ?? 16;
  let drop: (() => Promise<void>) | undefined;
  let pool: pg.Pool | undefined;
  let store: PostgresEventStore | undefined;
  let durability = "?";
  const system = { postgres: { comm: ["postgres"] } };
  return {
    name: "Emmett 0.42 on PostgreSQL",
    durability: () => durability,
    async open() {
      const database = await freshDatabase(`peers_${options.name}`);
      if ("skipped" in database) return database.skipped;
      drop = database.drop;
      pool = new pg.Pool({ connectionString: database.url, max: writers });
      pool.on("error", () => {}); // an idle connection ended by the DROP DATABASE at the end
      store = getPostgreSQLEventStore(database.url, { connectionOptions: { pool } });
      durability = await commitDurability(pool);
      await store.appendToStream<BenchEvent>("warm-up", [{ type: "BenchEvent", data: benchEvent(-1) }]); // the schema
      await store.schema.dangerous.truncate({ resetSequences: true });
      return undefined;
    },
    async round(_events, round): Promise<PhaseResult[]> {
      const es = store!;
      const { events, singles } = options;
      const prefix = `r${round}`;
      const batchStreams = Math.ceil(events / BATCH);
      try {
        const single = await measurePhase(
          { phase: "appendToStream, one event per call", kind: "write", events: singles, system },
          async () => {
            let claimed = 0;
            await Promise.all(Array.from({ length: writers }, async (_, w) => {
              while (claimed < singles) {
                const i = claimed++;
                await es.appendToStream<BenchEvent>(`${prefix}-single-${w}`, [{
                  type: "BenchEvent",
                  data: benchEvent(i),
                }]);
              }
            }));
          },
        );
        const batch = await measurePhase(
          { phase: `appendToStream, batch of ${BATCH}`, kind: "write", events, system },
          async () => {
            for (let k = 0; k < batchStreams; k++) {
              const batchEvents: BenchEvent[] = [];
              for (let i = k * BATCH; i < Math.min(events, (k + 1) * BATCH); i++) {
                batchEvents.push({ type: "BenchEvent", data: benchEvent(i) });
              }
              await es.appendToStream<BenchEvent>(`${prefix}-batch-${k}`, batchEvents);
            }
          },
        );
        const readAll = await measurePhase(
          { phase: "read all (readStream)", kind: "read", events, system },
          async () => {
            const check = new SequenceCheck(`Emmett read all, round ${round}`, events);
            for (let k = 0; k < batchStreams; k++) {
              const { events: read } = await es.readStream<BenchEvent>(`${prefix}-batch-${k}`);
              for (const event of read) check.next(event.data);
            }
            check.done();
          },
        );
        const total = singles + events;
        // At least once: Emmett's consumer may deliver an event again (seen here: a few, in some rounds), so
        // each written event must come, and the repeats are counted.
        const check = new AtLeastOnceCheck(`Emmett consumer, round ${round}`, total);
        let missing: string | undefined;
        const consumed = await measurePhase({ phase: "consumer", kind: "read", events: total, system }, async () => {
          const done = deferred<unknown>();
          const consumer = es.consumer<BenchEvent>();
          consumer.reactor<BenchEvent>({
            processorId: `bench-peers-${round}`,
            startFrom: "BEGINNING",
            eachMessage: (message) => {
              try {
                const stream = message.metadata.streamName;
                const i = message.data.i as number;
                const kind = stream.startsWith(`${prefix}-batch-`) ? "batch" : "single";
                const limit = kind === "batch" ? events : singles;
                if (!stream.startsWith(`${prefix}-`) || !Number.isInteger(i) || i < 0 || i >= limit) {
                  throw new Error(`Emmett consumer: an event not written in round ${round}: ${stream} i=${i}`);
                }
                check.next(`${kind}:${i}`);
                if (check.complete) done.resolve(undefined);
              } catch (error) {
                done.resolve(error);
              }
              return Promise.resolve();
            },
          });
          consumer.start().catch(done.resolve);
          // Emmett's consumer can also skip an event for good (seen here: one appended by a concurrent writer,
          // never delivered): when nothing new came for STALL_MS the phase ends at the last new event, and what
          // never came is noted beside the figure instead of hanging the bench.
          let last = -1;
          let lastNewAt = performance.now();
          let stalled = false;
          const stall = setInterval(() => {
            if (check.seen !== last) [last, lastNewAt] = [check.seen, performance.now()];
            else if (performance.now() - lastNewAt > STALL_MS) {
              stalled = true;
              done.resolve(undefined);
            }
          }, 500);
          const failure = await done.promise;
          const endedAt = stalled ? lastNewAt : performance.now();
          clearInterval(stall);
          await consumer.stop();
          await consumer.close();
          if (failure) throw failure;
          if (!check.complete) {
            const lost: string[] = [];
            for (let i = 0; i < singles; i++) if (!check.has(`single:${i}`)) lost.push(`single:${i}`);
            for (let i = 0; i < events; i++) if (!check.has(`batch:${i}`)) lost.push(`batch:${i}`);
            missing = `${lost.length} of ${total} events never delivered within ${STALL_MS / 1000} s (${
              lost.slice(0, 5).join(", ")
            }${lost.length > 5 ? ", …" : ""}); rate and CPU over the ${fmt(check.seen)} delivered`;
          }
          return { endedAt };
        });
        if (missing) {
          // Per event delivered, not per event written.
          consumed.rate *= check.seen / total;
          consumed.systemCpu *= total / check.seen;
          consumed.clientCpu *= total / check.seen;
        }
        const notes = [
          check.repeated > 0 ? `${check.repeated} events delivered again (at least once)` : undefined,
          missing,
        ].filter(Boolean);
        if (notes.length > 0) consumed.note = notes.join("; ");
        return [single, batch, readAll, consumed];
      } finally {
        await es.schema.dangerous.truncate({ resetSequences: true });
      }
    },
    async close() {
      await store?.close().catch(() => {});
      await pool?.end().catch(() => {});
      await drop?.();
      store = undefined;
      pool = undefined;
      drop = undefined;
    },
  };
}
