/**
 * The one argument and usage helper of the `rabbit-eventstore` commands: each
 * command describes its options in a {@link CommandSpec}; {@link parseCommandLine}
 * reads the arguments with `node:util` `parseArgs` (the runtime's own parser:
 * a handful of flags per command need no parser library) and names what is
 * wrong in a {@link UsageError}; {@link commandHelp} writes the `--help` text
 * from the same spec, with the exit codes.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { UsageError } from "../errors.ts";
import type { CliIo } from "./cli_io.ts";

/**
 * The exit codes of every command.
 *
 * @example Exit after a usage error
 * ```ts
 * import { EXIT } from "./command_line.ts";
 * console.log(EXIT.usage); // 2
 * ```
 */
export const EXIT = {
  /** Done: everything asked for was done. */
  ok: 0,
  /** Failed: a problem found (verify), bad input, the server or the broker unreachable or refusing. */
  failure: 1,
  /** Usage: an unknown command or option, a missing argument, a bad option value; nothing was done. */
  usage: 2,
} as const;

/**
 * The exit codes, as `--help` and the README print them.
 *
 * @example End a command's help with them
 * ```ts
 * import { EXIT_CODES_HELP } from "./command_line.ts";
 * console.log(["Usage: rabbit-eventstore stats [--json]", "", ...EXIT_CODES_HELP].join("\n"));
 * ```
 */
export const EXIT_CODES_HELP: readonly string[] = [
  "Exit codes:",
  "  0  done",
  "  1  failed: a problem found, bad input, the server or the broker unreachable or refusing",
  "  2  usage error (unknown command or option, missing argument, bad value); nothing was done",
];

/**
 * One option of a command.
 *
 * @example A numeric option
 * ```ts
 * import type { OptionSpec } from "./command_line.ts";
 * const from: OptionSpec = { type: "string", value: "N", description: "start at position N" };
 * console.log(from.value);
 * ```
 */
export interface OptionSpec {
  /** A flag (`boolean`) or an option that takes a value (`string`). */
  type: "boolean" | "string";
  /** A one-letter alias. @default {undefined} */
  short?: string;
  /** The value's placeholder in the usage (`N`, `S`, `FILE`). @default {"VALUE"} */
  value?: string;
  /** What it does, one line. */
  description: string;
}

/**
 * What a command takes and says about itself in `--help`.
 *
 * @example A command with one argument
 * ```ts
 * import { commandHelp, type CommandSpec } from "./command_line.ts";
 * const spec: CommandSpec = {
 *   name: "verify",
 *   synopsis: "verify FILE",
 *   summary: "check a storage file without changing it",
 *   description: ["Checks every record of FILE."],
 *   options: {},
 *   positionals: ["FILE"],
 * };
 * console.log(commandHelp(spec));
 * ```
 */
export interface CommandSpec {
  /** The command's name (`tail`). */
  name: string;
  /** Its usage line after `rabbit-eventstore ` (`tail [--from N] [--follow]`). */
  synopsis: string;
  /** One line for the list of commands. */
  summary: string;
  /** The help's body, line by line. */
  description: readonly string[];
  /** Its options by long name (`--help` is added to every command). */
  options: Record<string, OptionSpec>;
  /** The names of the arguments it requires, in order. @default {[]} */
  positionals?: readonly string[];
  /** Environment variables it reads, one line each (`HISTORYURL  the server's HTTP interface`). @default {[]} */
  environment?: readonly string[];
}

/**
 * A command of the `rabbit-eventstore` program: its spec and what it does.
 *
 * @example Run one with the process's streams
 * ```ts
 * import { processIo } from "./cli_io.ts";
 * import { type CliCommand, parseCommandLine } from "./command_line.ts";
 * const hello: CliCommand = {
 *   spec: { name: "hello", synopsis: "hello", summary: "greet", description: [], options: {} },
 *   run: async (_parsed, io) => {
 *     await io.out.write("hello\n");
 *     return 0;
 *   },
 * };
 * const code = await hello.run(parseCommandLine(hello.spec, []), processIo());
 * console.log(code);
 * ```
 */
export interface CliCommand {
  /** What it takes and says in `--help`. */
  spec: CommandSpec;
  /**
   * Do it (never called for `--help`); resolves with the exit code ({@link EXIT}).
   * @throws {UsageError} For a bad option value (exit code 2).
   */
  run(parsed: ParsedCommandLine, io: CliIo): Promise<number>;
}

/**
 * A command line read by {@link parseCommandLine}.
 *
 * @example Read a flag and a value
 * ```ts
 * import { type ParsedCommandLine, parseCommandLine } from "./command_line.ts";
 * const spec = { name: "x", synopsis: "x", summary: "", description: [], options: {} };
 * const parsed: ParsedCommandLine = parseCommandLine(spec, []);
 * console.log(parsed.help, parsed.positionals);
 * ```
 */
export interface ParsedCommandLine {
  /** `--help` (or `-h`) was given: print {@link commandHelp} and do nothing else. */
  help: boolean;
  /** Each option given, by long name: `true` for a flag, the text for a value. */
  values: Record<string, string | boolean | undefined>;
  /** The arguments, as many as the spec's `positionals`. */
  positionals: string[];
}

const HELP: OptionSpec = { type: "boolean", short: "h", description: "print this help and exit" };

/**
 * Read a command's arguments (those after its name).
 *
 * @param spec The command.
 * @param args The arguments after the command's name.
 * @returns The options and arguments; `help` when `--help` was given (then nothing else is checked).
 * @throws {UsageError} For an unknown option, a flag with a value, an option without one, or the wrong
 *   number of arguments.
 * @example Read `tail --from 5 --follow`
 * ```ts
 * import { parseCommandLine } from "./command_line.ts";
 * const spec = {
 *   name: "tail",
 *   synopsis: "tail [--from N] [--follow]",
 *   summary: "print records",
 *   description: [],
 *   options: {
 *     from: { type: "string" as const, value: "N", description: "start at N" },
 *     follow: { type: "boolean" as const, description: "keep going" },
 *   },
 * };
 * console.log(parseCommandLine(spec, ["--from", "5", "--follow"]).values); // { from: "5", follow: true }
 * ```
 */
export function parseCommandLine(spec: CommandSpec, args: readonly string[]): ParsedCommandLine {
  const options: Record<string, OptionSpec> = { ...spec.options, help: HELP };
  const config: Record<string, { type: "boolean" | "string"; short?: string }> = {};
  for (const [name, option] of Object.entries(options)) {
    config[name] = option.short ? { type: option.type, short: option.short } : { type: option.type };
  }
  const { tokens } = parseArgs({
    args: [...args],
    options: config,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const usage = `run rabbit-eventstore ${spec.name} --help for the usage`;
  const values: Record<string, string | boolean | undefined> = {};
  const positionals: string[] = [];
  let help = false;
  for (const token of tokens) {
    if (token.kind === "option-terminator") continue;
    if (token.kind === "positional") {
      positionals.push(token.value);
      continue;
    }
    const option = Object.hasOwn(options, token.name) ? options[token.name] : undefined;
    if (!option) throw new UsageError(`unknown option "${token.rawName}" for ${spec.name}; ${usage}`);
    if (token.name === "help") {
      help = true;
      continue;
    }
    if (option.type === "boolean") {
      if (token.value !== undefined) {
        throw new UsageError(`option ${token.rawName} takes no value, got "${token.value}"`);
      }
      values[token.name] = true;
    } else {
      if (token.value === undefined || token.value === "") {
        throw new UsageError(`option ${token.rawName} needs a value (${option.value ?? "VALUE"}); ${usage}`);
      }
      values[token.name] = token.value;
    }
  }
  if (help) return { help, values, positionals };
  const wanted = spec.positionals ?? [];
  if (positionals.length < wanted.length) {
    throw new UsageError(`${spec.name} needs ${wanted.slice(positionals.length).join(" ")}; ${usage}`);
  }
  if (positionals.length > wanted.length) {
    throw new UsageError(
      `unexpected argument "${positionals[wanted.length]}" for ${spec.name}; ${usage}`,
    );
  }
  return { help, values, positionals };
}

/**
 * The value of a numeric option: a non-negative integer.
 *
 * @param parsed The command line.
 * @param name The option's long name.
 * @param fallback The value when the option was not given.
 * @returns The number.
 * @throws {UsageError} When the value is not a non-negative integer.
 * @example `--from 5`
 * ```ts
 * import { integerOption } from "./command_line.ts";
 * console.log(integerOption({ help: false, values: { from: "5" }, positionals: [] }, "from", 1)); // 5
 * ```
 */
export function integerOption(parsed: ParsedCommandLine, name: string, fallback: number): number {
  const raw = parsed.values[name];
  if (raw === undefined) return fallback;
  if (typeof raw !== "string" || !/^\d{1,15}$/.test(raw)) {
    throw new UsageError(`option --${name} expects a non-negative integer, got "${String(raw)}"`);
  }
  return Number(raw);
}

/**
 * The value of a text option, if given.
 *
 * @param parsed The command line.
 * @param name The option's long name.
 * @returns The text, or undefined.
 * @example `--stream order-1`
 * ```ts
 * import { stringOption } from "./command_line.ts";
 * console.log(stringOption({ help: false, values: { stream: "order-1" }, positionals: [] }, "stream")); // order-1
 * ```
 */
export function stringOption(parsed: ParsedCommandLine, name: string): string | undefined {
  const raw = parsed.values[name];
  return typeof raw === "string" ? raw : undefined;
}

/**
 * The `--help` text of a command: usage, description, options, environment, exit codes.
 *
 * @param spec The command.
 * @returns The text, without a final newline.
 * @example Print it
 * ```ts
 * import { commandHelp } from "./command_line.ts";
 * console.log(commandHelp({ name: "stats", synopsis: "stats", summary: "", description: ["Prints figures."], options: {} }));
 * ```
 */
export function commandHelp(spec: CommandSpec): string {
  const options: Record<string, OptionSpec> = { ...spec.options, help: HELP };
  const rows = Object.entries(options).map(([name, option]) => {
    const flag = `${option.short ? `-${option.short}, ` : "    "}--${name}${
      option.type === "string" ? ` ${option.value ?? "VALUE"}` : ""
    }`;
    return [flag, option.description];
  });
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  return [
    `Usage: rabbit-eventstore ${spec.synopsis}`,
    "",
    ...spec.description,
    "",
    "Options:",
    ...rows.map(([flag, description]) => `  ${flag.padEnd(width)}${description}`),
    ...(spec.environment?.length ? ["", "Environment variables:", ...spec.environment.map((l) => `  ${l}`)] : []),
    "",
    ...EXIT_CODES_HELP,
  ].join("\n");
}
