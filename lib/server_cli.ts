/**
 * The server's command line: `--help` and `--version`; everything else is
 * configured by environment variables (the seed README's contract).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { DEFAULTS } from "./config.ts";

/**
 * What the command line asks for.
 *
 * @example Act on it
 * ```ts
 * import { parseServerArgs, type ServerCommand, serverHelp } from "./server_cli.ts";
 * const command: ServerCommand = parseServerArgs(["--help"]);
 * if (command.kind === "help") console.log(serverHelp());
 * else if (command.kind === "error") console.error(command.message);
 * ```
 */
export type ServerCommand =
  | { kind: "run" }
  | { kind: "help" }
  | { kind: "version" }
  | { kind: "error"; message: string };

const OPTIONS = {
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "v" },
} as const;

/**
 * Read the server's arguments (without the runtime and script, i.e.
 * `process.argv.slice(2)`). An unknown option, a value given to a flag or an
 * argument becomes `{ kind: "error" }` with one line to print (exit code 2).
 *
 * @param args The arguments after the script.
 * @example Decide what to do
 * ```ts
 * import { parseServerArgs } from "./server_cli.ts";
 * console.log(parseServerArgs(["--version"]).kind); // "version"
 * console.log(parseServerArgs([]).kind); // "run"
 * ```
 */
export function parseServerArgs(args: string[]): ServerCommand {
  const { tokens } = parseArgs({ args, options: OPTIONS, strict: false, allowPositionals: true, tokens: true });
  let wanted: ServerCommand = { kind: "run" };
  for (const token of tokens) {
    if (token.kind === "option-terminator") continue;
    const usage = "run rabbit-eventstore --help for the usage";
    if (token.kind === "positional") {
      return { kind: "error", message: `unexpected argument "${token.value}"; the server takes none (${usage})` };
    }
    if (!Object.hasOwn(OPTIONS, token.name)) {
      return { kind: "error", message: `unknown option "${token.rawName}"; ${usage}` };
    }
    if (token.value !== undefined) {
      return { kind: "error", message: `option ${token.rawName} takes no value, got "${token.value}"` };
    }
    if (wanted.kind === "run" || token.name === "help") wanted = { kind: token.name as "help" | "version" };
  }
  return wanted;
}

/**
 * The text `rabbit-eventstore --help` prints: usage, the environment
 * variables with their defaults, and the options.
 *
 * @example Print it
 * ```ts
 * import { serverHelp } from "./server_cli.ts";
 * console.log(serverHelp());
 * ```
 */
export function serverHelp(): string {
  const rows: Array<[string, string | number, string]> = [
    ["AMQPHOST", DEFAULTS.amqpHost, "RabbitMQ host (optionally host:port), user guest/guest"],
    ["AMQPURL", "", "full amqp:// or amqps:// URL with user, password and vhost; wins over AMQPHOST"],
    ["AMQPCAFILE", "", "PEM file of the CA(s) to trust for an amqps:// AMQPURL"],
    ["FANOUTHOST", "", "host of the fanout's own RabbitMQ (default: the AMQPURL broker)"],
    ["FANOUTURL", "", "full URL of the fanout's own RabbitMQ; wins over FANOUTHOST"],
    ["FANOUTCAFILE", "", "PEM file of the CA(s) to trust for an amqps:// FANOUTURL (default: AMQPCAFILE)"],
    ["QUEUENAME", DEFAULTS.queueName, "queue the server consumes, exclusively (one server per queue)"],
    ["EXCHANGENAME", DEFAULTS.exchangeName, "fanout exchange stored events are published to"],
    ["PORT", DEFAULTS.port, "HTTP port of the history"],
    ["HTTPHOST", DEFAULTS.hostname, "address the HTTP server binds"],
    ["STORAGEFILE", DEFAULTS.storageFile, "storage file (it holds the published watermark too)"],
    ["MAXEVENTBYTES", DEFAULTS.maxEventBytes, "largest accepted event; larger ones go to <QUEUENAME>.dead"],
    ["PREFETCH", DEFAULTS.prefetch, "unacknowledged messages taken at once (the batch bound)"],
    ["DEDUPWINDOW", DEFAULTS.dedupWindow, "message ids remembered for idempotent append"],
    ["REPUBLISHRATE", DEFAULTS.republishRate, "records/s at most republished to the fanout while catching up"],
    ["HTTPTOKEN", "", "bearer token for the history and /metrics (the /health probes stay open)"],
    ["DEBUG", "off", 'any value but "", 0, false, no, off prints debug messages'],
  ];
  return [
    "Usage: rabbit-eventstore [--help] [--version]",
    "",
    "Runs the rabbit-eventstore server: consumes JSON events from a RabbitMQ queue, stores each at the",
    "next position in STORAGEFILE, publishes it to a fanout exchange and serves the history over HTTP.",
    "",
    "Environment variables (default):",
    ...rows.map(([name, value, meaning]) => `  ${name.padEnd(14)}${String(value).padEnd(12)}${meaning}`),
    "",
    "Options:",
    "  -h, --help     print this help and exit",
    "  -v, --version  print the version and exit",
  ].join("\n");
}
