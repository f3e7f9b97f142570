/**
 * `rabbit-eventstore serve` (and `rabbit-eventstore` with no command, as the
 * original did): run the server, configured by the environment variables.
 *
 * @module
 */
import { main } from "../../server.ts";
import { serverHelp } from "../server_cli.ts";
import type { CliCommand } from "./command_line.ts";

/**
 * The `serve` command: the server's own program (`main` of server.ts), which
 * runs until SIGINT/SIGTERM and then ends the process (0, or 1 after a failure).
 *
 * @example Start the server from a program of your own
 * ```ts
 * import { processIo } from "./cli_io.ts";
 * import { parseCommandLine } from "./command_line.ts";
 * import { serveCommand } from "./serve.ts";
 * await serveCommand.run(parseCommandLine(serveCommand.spec, []), processIo()); // ends the process when it stops
 * ```
 */
export const serveCommand: CliCommand = {
  spec: {
    name: "serve",
    synopsis: "serve",
    summary: "run the server (what rabbit-eventstore with no command does)",
    // The server's own help without its usage and options lines: what it does, and its environment variables.
    description: serverHelp().split("\n").slice(2, serverHelp().split("\n").indexOf("Options:") - 1),
    options: {},
  },
  async run() {
    await main([]);
    return 0; // not reached: main ends the process
  },
};
