/**
 * The `rabbit-eventstore` program: `serve` (the default: with no command it
 * runs the server, as the original did), `tail`, `publish`, `verify`,
 * `export`, `import` and `stats`, each with `--help`; `--help` and
 * `--version` for the program. Exit codes: 0 done, 1 failed, 2 usage error.
 *
 * Run it with `deno run -A cli.ts …` (or `deno task cli …`), or on Node with
 * the package's `rabbit-eventstore` bin.
 *
 * @example Run a command from code
 * ```ts
 * import { run } from "./cli.ts";
 * const code = await run(["verify", "./storage"]);
 * console.log(code); // 0 intact, 1 a problem, 2 a usage error
 * ```
 *
 * @module
 */
import process from "node:process";
import { describe, UsageError } from "./lib/errors.ts";
import { type CliIo, processIo } from "./lib/cli/cli_io.ts";
import { type CliCommand, commandHelp, EXIT, EXIT_CODES_HELP, parseCommandLine } from "./lib/cli/command_line.ts";
import { exportCommand } from "./lib/cli/export.ts";
import { importCommand } from "./lib/cli/import.ts";
import { publishCommand } from "./lib/cli/publish.ts";
import { serveCommand } from "./lib/cli/serve.ts";
import { statsCommand } from "./lib/cli/stats.ts";
import { tailCommand } from "./lib/cli/tail.ts";
import { verifyCommand } from "./lib/cli/verify.ts";
import { exit } from "./lib/runtime/signals.ts";
import { VERSION } from "./lib/version.ts";
import { isDenoMainModule } from "./lib/runtime/main_module.ts";

export type { CliIo, TextOutput } from "./lib/cli/cli_io.ts";

const COMMANDS: readonly CliCommand[] = [
  serveCommand,
  tailCommand,
  publishCommand,
  verifyCommand,
  exportCommand,
  importCommand,
  statsCommand,
];

/**
 * The text `rabbit-eventstore --help` prints: the commands and the exit codes.
 *
 * @returns The text, without a final newline.
 * @example Print it
 * ```ts
 * import { programHelp } from "./cli.ts";
 * console.log(programHelp());
 * ```
 */
export function programHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.spec.name.length)) + 2;
  return [
    "Usage: rabbit-eventstore [COMMAND] [OPTIONS]",
    "",
    "An event store on RabbitMQ. With no command, runs the server (configured by environment variables;",
    "see rabbit-eventstore serve --help).",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.spec.name.padEnd(width)}${c.spec.summary}`),
    "",
    "Options:",
    "  -h, --help     print this help (or a command's: rabbit-eventstore COMMAND --help) and exit",
    "  -v, --version  print the version and exit",
    "",
    ...EXIT_CODES_HELP,
  ].join("\n");
}

/**
 * Run the program's command line and resolve with its exit code. `serve` (and
 * no command) runs the server, which ends the process itself when it stops.
 *
 * @param args The arguments after the runtime and script. @default {process.argv.slice(2)}
 * @param io Where to write and read. @default {processIo()}
 * @returns The exit code: 0 done, 1 failed, 2 usage error.
 * @example Check a store and print the verdict
 * ```ts
 * import { run } from "./cli.ts";
 * console.log(await run(["verify", "./storage"]));
 * ```
 */
export async function run(args: readonly string[] = process.argv.slice(2), io: CliIo = processIo()): Promise<number> {
  const [first, ...rest] = args;
  try {
    if (first === undefined) return await serveCommand.run(parseCommandLine(serveCommand.spec, []), io);
    if (first === "--help" || first === "-h" || first === "help") {
      const command = first === "help" ? COMMANDS.find((c) => c.spec.name === rest[0]) : undefined;
      await io.out.write((command ? commandHelp(command.spec) : programHelp()) + "\n");
      return EXIT.ok;
    }
    if (first === "--version" || first === "-v") {
      await io.out.write(`rabbit-eventstore ${VERSION}\n`);
      return EXIT.ok;
    }
    if (first.startsWith("-")) {
      throw new UsageError(`unknown option "${first.split("=")[0]}"; run rabbit-eventstore --help for the usage`);
    }
    const command = COMMANDS.find((c) => c.spec.name === first);
    if (!command) {
      throw new UsageError(
        `unknown command "${first}"; the commands are ${
          COMMANDS.map((c) => c.spec.name).join(", ")
        } (run rabbit-eventstore --help)`,
      );
    }
    const parsed = parseCommandLine(command.spec, rest);
    if (parsed.help) {
      await io.out.write(commandHelp(command.spec) + "\n");
      return EXIT.ok;
    }
    return await command.run(parsed, io);
  } catch (error) {
    await io.err.write(`rabbit-eventstore: ${describe(error)}\n`);
    return error instanceof UsageError ? EXIT.usage : EXIT.failure;
  }
}

/**
 * Run the program and end the process with its exit code (the bin's and
 * `deno run -A cli.ts`'s entry point).
 *
 * @param args The arguments after the runtime and script. @default {process.argv.slice(2)}
 * @example A bin script of your own
 * ```ts
 * import { main } from "./cli.ts";
 * await main(); // exits the process
 * ```
 */
export async function main(args: readonly string[] = process.argv.slice(2)): Promise<void> {
  exit(await run(args));
}

if (isDenoMainModule("cli.ts")) void main();
