/**
 * The Jepsen-style tally every fault test prints: published, confirmed,
 * stored, lost, duplicated, out of order and invented, for the storage file
 * and for each listener.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { parseRecord } from "../lib/record.ts";
import type { PumpResult } from "./_pump.ts";
import type { RecordingListener } from "./_recording_listener.ts";

/** How a store's header line begins (a new store's first line; it is not a record). */
export const STORE_HEADER_START = '{"rabbitEventstore":';

/** One row of the table every fault test prints. */
export interface Tally {
  name: string;
  published?: number;
  confirmed?: number;
  /** Records in the file (for a listener: events it delivered). */
  stored: number;
  /** Confirmed ids not stored (for a listener: stored positions in its range not delivered). */
  lost: number;
  /** Ids stored more than once (for a listener: positions delivered more than once). */
  duplicated: number;
  /** Records not at line number = position (for a listener: deliveries not at previous + 1). */
  outOfOrder: number;
  /** Stored ids nobody published (for a listener: deliveries whose id differs from the file's). */
  invented: number;
}

/** A storage file's records, every line parsed. */
export interface Store {
  positions: number[];
  ids: string[];
}

/** Read and parse a whole storage file; throws on the first line that does not parse. */
export async function readStore(path: string): Promise<Store> {
  const text = await readFile(path, "utf8");
  if (text.length > 0 && !text.endsWith("\n")) throw new Error(`Storage file ${path} does not end with a newline`);
  const positions: number[] = [];
  const ids: string[] = [];
  const lines = text.split("\n");
  lines.pop();
  if (lines[0]?.startsWith(STORE_HEADER_START)) lines.shift(); // the store's header line is not a record
  lines.forEach((line, i) => {
    let record;
    try {
      record = parseRecord(line);
    } catch (error) {
      throw new Error(`Storage file ${path} record line ${i + 1} does not parse: ${(error as Error).message}`);
    }
    positions.push(record.position);
    ids.push(record.id);
  });
  return { positions, ids };
}

/** Tally a storage file against what was published and confirmed. */
export function tallyStore(store: Store, pumped: PumpResult, name = "store"): Tally {
  const seen = new Map<string, number>();
  for (const id of store.ids) seen.set(id, (seen.get(id) ?? 0) + 1);
  let duplicated = 0;
  for (const n of seen.values()) duplicated += n - 1;
  let lost = 0;
  for (const id of pumped.confirmed) if (!seen.has(id)) lost++;
  let invented = 0;
  for (const id of seen.keys()) if (!pumped.published.has(id)) invented++;
  return {
    name,
    published: pumped.published.size,
    confirmed: pumped.confirmed.size,
    stored: store.ids.length,
    lost,
    duplicated,
    outOfOrder: store.positions.filter((p, i) => p !== i + 1).length,
    invented,
  };
}

/**
 * Tally what a listener delivered against the file: it must deliver every
 * position from `from` (or its first delivery, for new-only listeners) to the
 * end, once each, in order, with the file's ids.
 */
export function tallyListener(store: Store, recording: RecordingListener, name = "listener"): Tally {
  const { delivered } = recording;
  const first = recording.from === undefined
    ? (delivered[0]?.position ?? store.ids.length + 1)
    : Math.max(1, recording.from);
  const counts = new Map<number, number>();
  let outOfOrder = 0;
  let invented = 0;
  let expected = first;
  for (const { position, id } of delivered) {
    counts.set(position, (counts.get(position) ?? 0) + 1);
    if (position !== expected) outOfOrder++;
    expected = position + 1;
    if (store.ids[position - 1] !== id) invented++;
  }
  let duplicated = 0;
  for (const n of counts.values()) duplicated += n - 1;
  let lost = 0;
  for (let p = first; p <= store.ids.length; p++) if (!counts.has(p)) lost++;
  return { name, stored: delivered.length, lost, duplicated, outOfOrder, invented };
}

/** Format tallies as a table (one line per row). */
export function formatTable(rows: Tally[]): string {
  const head = ["", "published", "confirmed", "stored", "lost", "duplicated", "out of order", "invented"];
  const cells = rows.map((r) => [
    r.name,
    r.published === undefined ? "-" : String(r.published),
    r.confirmed === undefined ? "-" : String(r.confirmed),
    String(r.stored),
    String(r.lost),
    String(r.duplicated),
    String(r.outOfOrder),
    String(r.invented),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join("  ");
  return [line(head), ...cells.map(line)].join("\n");
}

/** The faults a tally counts, for `assert.deepEqual(faults(t), NO_FAULTS)`. */
export function faults(t: Tally): { lost: number; duplicated: number; outOfOrder: number; invented: number } {
  return { lost: t.lost, duplicated: t.duplicated, outOfOrder: t.outOfOrder, invented: t.invented };
}

/** What {@link faults} must be. */
export const NO_FAULTS = { lost: 0, duplicated: 0, outOfOrder: 0, invented: 0 } as const;
