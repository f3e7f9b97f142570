#!/usr/bin/env -S deno run --allow-read
/**
 * Check a storage file without changing it.
 *
 * ```sh
 * deno task verify ./storage
 * ```
 *
 * Prints `ok: <file>: <n> records` and exits 0 when every line is a complete
 * record at the next position and every stream's versions are dense. Otherwise prints the first problem — a torn
 * last record, which the server truncates at start-up, or damage before it,
 * which the server refuses — with its line and byte offset, and exits 1.
 * Exits 2 on a usage error.
 *
 * @module
 */
import process from "node:process";
import { describe } from "../lib/errors.ts";
import { verifyStorageFile } from "../lib/verify.ts";
import { verdictLine } from "../lib/cli/verify.ts";

/**
 * Verify the file named in `args`; returns the exit code (0 intact, 1 a problem, 2 a usage error).
 *
 * @param args The command line after the script: one storage file.
 * @param out Where the verdict goes. @default {console.log}
 * @param err Where usage errors go. @default {console.error}
 * @example Verify from another script, collecting the output
 * ```ts
 * import { run } from "./verify.ts";
 * const lines: string[] = [];
 * const code = await run(["./storage"], (line) => lines.push(line));
 * console.log(code, lines);
 * ```
 */
export async function run(args: readonly string[], out = console.log, err = console.error): Promise<number> {
  if (args.length !== 1 || args[0] === "" || args[0].startsWith("-")) {
    err("Usage: deno task verify <storage file>");
    return 2;
  }
  const [path] = args;
  try {
    const report = await verifyStorageFile(path);
    out(verdictLine(path, report));
    return report.ok ? 0 : 1;
  } catch (error) {
    err(`problem: Cannot verify storage file ${path}: ${describe(error)}`);
    return 1;
  }
}

if (import.meta.main) process.exit(await run(process.argv.slice(2)));
