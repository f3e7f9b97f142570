/**
 * The restored-store figure: a listener's replay from 0 over a store while
 * the server republishes that store's whole history to the fanout (it was
 * restored without its watermark), beside the same replay on the same store
 * with its watermark (nothing to republish), in paired rounds that alternate
 * which goes first. Each round starts a fresh server child. The catch-up is
 * run at the default `REPUBLISHRATE` and, as the old behaviour's stand-in,
 * unpaced (`REPUBLISHRATE=0`).
 *
 * ```sh
 * npx deno run -A scripts/_bench_restore.ts                  # 300,000 records, 5 pairs
 * npx deno run -A scripts/_bench_restore.ts --records=50000 --pairs=3
 * ```
 *
 * Prints the median of the paired ratios with their range; asserts nothing.
 *
 * @module
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { DEFAULTS } from "../lib/defaults.ts";
import { replayProduct } from "./_bench_replay.ts";
import { cleanup, startServerChild } from "./_bench_server.ts";
import { fmt, killChildren, median, writeStorageFile } from "./_bench_util.ts";

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, "").split("=") as [string, string]));
const records = Number(args.get("records") ?? 300_000);
const pairs = Number(args.get("pairs") ?? 5);
const rate = Number(args.get("rate") ?? DEFAULTS.fanout.republishRate);

type Variant = "known" | "paced" | "unpaced";
/** One round: a fresh server on the store, with or without its watermark, and a replay from 0. */
async function round(file: string, variant: Variant): Promise<number> {
  if (variant === "known") await writeFile(`${file}.published`, `${records}\n`);
  else await rm(`${file}.published`, { force: true });
  process.env.REPUBLISHRATE = variant === "unpaced" ? "0" : String(rate);
  const server = await startServerChild("deno", file);
  try {
    return (await replayProduct(server, records)).rate;
  } finally {
    await server.child.stop();
  }
}

const dir = await mkdtemp(join(tmpdir(), "res-bench-restore-"));
try {
  const file = join(dir, "storage");
  await writeStorageFile(file, records);
  console.log(`restored-store replay: ${fmt(records)} records, ${pairs} pairs, server and listener on Deno`);
  const rates: Record<Variant, number[]> = { known: [], paced: [], unpaced: [] };
  const ratios: Record<"paced" | "unpaced", number[]> = { paced: [], unpaced: [] };
  for (let i = 0; i < pairs; i++) {
    for (const variant of ["paced", "unpaced"] as const) {
      // Alternate which side goes first.
      const order: Variant[] = i % 2 === 0 ? ["known", variant] : [variant, "known"];
      const got: Partial<Record<Variant, number>> = {};
      for (const v of order) got[v] = await round(file, v);
      rates.known.push(got.known!);
      rates[variant].push(got[variant]!);
      ratios[variant].push(got[variant]! / got.known!);
      console.log(
        `  pair ${i + 1} ${variant}: ${fmt(got[variant]!)} /s during the catch-up vs ${fmt(got.known!)} /s without, ` +
          `${fmt(got[variant]! / got.known!, 2)}x`,
      );
    }
  }
  const show = (values: number[], digits = 2) =>
    `${fmt(median(values), digits)} (${fmt(Math.min(...values), digits)}-${fmt(Math.max(...values), digits)})`;
  console.log(`replay without a catch-up: ${show(rates.known, 0)} events/s`);
  console.log(
    `replay during a paced catch-up (REPUBLISHRATE=${rate}): ${show(rates.paced, 0)} /s, ` +
      `ratio ${show(ratios.paced)}x`,
  );
  console.log(
    `replay during an unpaced catch-up (REPUBLISHRATE=0): ${show(rates.unpaced, 0)} /s, ratio ${show(ratios.unpaced)}x`,
  );
} finally {
  killChildren();
  await cleanup(dir);
}
