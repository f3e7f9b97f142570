/**
 * The bench's PostgreSQL: its URL, a fresh database for Emmett's stores, and
 * the peer: a plain PostgreSQL table (`position bigserial primary key, data
 * jsonb`), through `pg` on one connection (`BENCH_PG_URL`, default
 * `postgres://postgres@127.0.0.1:5432/test`). Write: batched inserts, 1000
 * rows per `INSERT … SELECT unnest($1::jsonb[])`, each its own transaction.
 * Read: a server-side cursor in one transaction, `FETCH 1000` at a time.
 *
 * Durability at ack: what the server says, read with `SHOW` when it opens
 * (with `fsync` and `synchronous_commit` on, each commit returns after its
 * WAL is flushed with `wal_sync_method`).
 *
 * @module
 */
import process from "node:process";
import pg from "pg";
import { measurePhase, type Peer, peerBody, type PhaseResult, SequenceCheck } from "./_bench_peer.ts";

/** The PostgreSQL the peers bench and streams-vs-emmett use (`BENCH_PG_URL`). */
export const PG_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** Rows per INSERT and per FETCH. */
const BATCH = 1000;

/** What {@link postgresPeer} needs. */
export interface PostgresPeerOptions {
  /** Prefix of the tables it creates (one per round, dropped after it); letters, digits and `_`. */
  prefix: string;
  /** Server URL. @default {PG_URL} */
  url?: string;
}

/** How durable a commit is on `client`'s server, from its settings. */
export async function commitDurability(client: pg.Client | pg.Pool): Promise<string> {
  const show = async (name: string) => (await client.query(`SHOW ${name}`)).rows[0][name] as string;
  const [fsync, synchronousCommit, walSync] = [
    await show("fsync"),
    await show("synchronous_commit"),
    await show("wal_sync_method"),
  ];
  const flushed = fsync === "on" && synchronousCommit !== "off";
  return `${
    flushed ? `commit after the WAL flush (${walSync})` : "commit before the WAL flush"
  }: fsync=${fsync}, synchronous_commit=${synchronousCommit}`;
}

/**
 * A fresh database `emmett_<name>` on PostgreSQL at {@link PG_URL}, or why
 * there is none (it cannot be reached); `drop` removes it and ends the admin
 * connection. For Emmett's stores (streams-vs-emmett, the peers bench).
 *
 * @example
 * ```ts
 * import { freshDatabase } from "./_bench_peer_postgres.ts";
 * const database = await freshDatabase("example");
 * if ("skipped" in database) console.log(database.skipped);
 * else await database.drop();
 * ```
 */
export async function freshDatabase(
  name: string,
): Promise<{ url: string; drop: () => Promise<void> } | { skipped: string }> {
  const admin = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch (error) {
    await admin.end().catch(() => {});
    return { skipped: `PostgreSQL at ${PG_URL} cannot be reached (${(error as Error).message || String(error)})` };
  }
  const database = `emmett_${name.replace(/[^a-z0-9]/gi, "_").toLowerCase()}`;
  await admin.query(`CREATE DATABASE ${database}`);
  const url = new URL(PG_URL);
  url.pathname = `/${database}`;
  return {
    url: url.toString(),
    drop: async () => {
      try {
        await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      } finally {
        await admin.end();
      }
    },
  };
}

/**
 * The PostgreSQL table peer.
 *
 * @example One round of 100 events
 * ```ts
 * import { postgresPeer } from "./_bench_peer_postgres.ts";
 * const peer = postgresPeer({ prefix: "example_table" });
 * if (!(await peer.open())) console.log(await peer.round(100, 0));
 * await peer.close();
 * ```
 */
export function postgresPeer(options: PostgresPeerOptions): Peer {
  const url = options.url ?? PG_URL;
  let client: pg.Client | undefined;
  let durability = "?";
  /** The table of a round under way (dropped by close if the round was cut short). */
  let current: string | undefined;
  const system = { postgres: { comm: ["postgres"] } };
  return {
    name: "PostgreSQL table",
    durability: () => durability,
    async open() {
      const candidate = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
      try {
        await candidate.connect();
      } catch (error) {
        await candidate.end().catch(() => {});
        return `PostgreSQL at ${url} cannot be reached (${(error as Error).message || String(error)})`;
      }
      client = candidate;
      durability = await commitDurability(client);
      return undefined;
    },
    async round(events, round): Promise<PhaseResult[]> {
      const table = `${options.prefix}_${round}`.replace(/[^A-Za-z0-9_]/g, "_").toLowerCase();
      const db = client!;
      current = table;
      await db.query(`CREATE TABLE ${table} (position bigserial PRIMARY KEY, data jsonb NOT NULL)`);
      try {
        const write = await measurePhase({ phase: "write", kind: "write", events, system }, async () => {
          for (let start = 0; start < events; start += BATCH) {
            const rows: string[] = [];
            for (let i = start; i < Math.min(events, start + BATCH); i++) rows.push(peerBody(i));
            await db.query(`INSERT INTO ${table} (data) SELECT unnest($1::jsonb[])`, [rows]);
          }
        });
        const read = await measurePhase({ phase: "replay", kind: "read", events, system }, async () => {
          const check = new SequenceCheck(`PostgreSQL ${table}`, events);
          await db.query("BEGIN");
          try {
            await db.query(`DECLARE replay NO SCROLL CURSOR FOR SELECT position, data FROM ${table} ORDER BY position`);
            while (true) {
              const { rows } = await db.query(`FETCH ${BATCH} FROM replay`);
              for (const row of rows) check.next(row.data); // pg parses jsonb
              if (rows.length < BATCH) break;
            }
            await db.query("CLOSE replay");
          } finally {
            await db.query("COMMIT");
          }
          check.done();
        });
        return [write, read];
      } finally {
        await db.query(`DROP TABLE IF EXISTS ${table}`);
        current = undefined;
      }
    },
    async close() {
      if (current) {
        await client?.query("ROLLBACK").then(() => client?.query(`DROP TABLE IF EXISTS ${current}`)).catch(() => {});
      }
      await client?.end().catch(() => {});
      client = undefined;
    },
  };
}
