/**
 * `rabbit-eventstore verify FILE`: check a storage file without changing it
 * ({@link verifyStorageFile}), with progress on stderr.
 *
 * @module
 */
import { stat } from "node:fs/promises";
import { describe } from "../errors.ts";
import { type VerifyReport, verifyStorageFile } from "../verify.ts";
import { type CliCommand, EXIT } from "./command_line.ts";
import { Progress } from "./progress.ts";

/**
 * The verdict line `verify` prints: `ok: FILE: n records`, or
 * `problem: … ; n good records before it`.
 *
 * @param path The file checked.
 * @param report What the check found.
 * @returns The line, without a newline.
 * @example Print a verdict
 * ```ts
 * import { verdictLine } from "./verify.ts";
 * console.log(verdictLine("./storage", { ok: true, records: 3 })); // ok: ./storage: 3 records
 * ```
 */
export function verdictLine(path: string, report: VerifyReport): string {
  return report.ok
    ? `ok: ${path}: ${records(report.records)}`
    : `problem: ${report.problem}; ${records(report.records, "good ")}before it`;
}

function records(n: number, adjective = ""): string {
  return `${n} ${adjective}record${n === 1 ? "" : "s"}${adjective ? " " : ""}`;
}

/**
 * The `verify` command.
 *
 * @example Verify a file from code
 * ```ts
 * import { processIo } from "./cli_io.ts";
 * import { parseCommandLine } from "./command_line.ts";
 * import { verifyCommand } from "./verify.ts";
 * const code = await verifyCommand.run(parseCommandLine(verifyCommand.spec, ["./storage"]), processIo());
 * console.log(code); // 0 intact, 1 a problem
 * ```
 */
export const verifyCommand: CliCommand = {
  spec: {
    name: "verify",
    synopsis: "verify FILE",
    summary: "check a storage file without changing it",
    description: [
      "Checks FILE read-only (no lock, so a running server's store can be checked): every line a complete",
      "record at the next position, every stream's versions dense, every batch whole. Prints",
      '"ok: FILE: n records" and exits 0, or the first problem with its line and byte offset and exits 1.',
      "Progress on stderr: a bar with rate and ETA on a terminal, else a line every 5 s.",
    ],
    options: {},
    positionals: ["FILE"],
  },
  async run(parsed, io) {
    const [path] = parsed.positionals;
    let report: VerifyReport;
    try {
      const { size } = await stat(path);
      const progress = new Progress({ label: "verify", unit: "bytes", total: size, output: io.err });
      report = await verifyStorageFile(path, { onProgress: (bytes) => progress.update(bytes) });
      progress.update(size);
      await progress.finish(records(report.records));
    } catch (error) {
      await io.err.write(`problem: Cannot verify storage file ${path}: ${describe(error)}\n`);
      return EXIT.failure;
    }
    await io.out.write(`${verdictLine(path, report)}\n`);
    return report.ok ? EXIT.ok : EXIT.failure;
  },
};
