/**
 * `rabbit-eventstore tail [--from N] [--follow] [--stream S]`: print records
 * from the server's HTTP history as NDJSON; with `--follow`, then every new
 * event as it is stored, through the listener (history over HTTP, then live
 * from the fanout, in order, no gap), until Ctrl-C.
 *
 * @module
 */
import { listen } from "../../listener.ts";
import { historyUrlSetting, tokenSetting } from "../config.ts";
import { describe } from "../errors.ts";
import { readHistoryChunks } from "../history_client.ts";
import { onShutdownSignal } from "../runtime/signals.ts";
import { type CliCommand, EXIT, integerOption, stringOption } from "./command_line.ts";

/**
 * The `tail` command.
 *
 * @example Print the history from position 10
 * ```ts
 * import { processIo } from "./cli_io.ts";
 * import { parseCommandLine } from "./command_line.ts";
 * import { tailCommand } from "./tail.ts";
 * await tailCommand.run(parseCommandLine(tailCommand.spec, ["--from", "10"]), processIo());
 * ```
 */
export const tailCommand: CliCommand = {
  spec: {
    name: "tail",
    synopsis: "tail [--from N] [--follow] [--stream S]",
    summary: "print records from the server's history as NDJSON; --follow keeps printing new ones",
    description: [
      "Prints the records from position N (default 1: all) to the server's head, one JSON object a line,",
      "read from HISTORYURL. With --follow it then prints every new event as it is stored, in order and",
      "with no gap, until Ctrl-C (it binds a queue to the fanout exchange, as the listener does).",
      "Records are printed as JavaScript parses them (use export for the stored bytes).",
    ],
    options: {
      from: { type: "string", value: "N", description: "start at global position N (default 1)" },
      follow: { type: "boolean", short: "f", description: "after the history, print new events until Ctrl-C" },
      stream: { type: "string", value: "S", description: "only the records of stream S (N stays a global position)" },
    },
    environment: [
      "HISTORYURL    the server's HTTP interface (default http://localhost/)",
      "HISTORYTOKEN  bearer token for a server with HTTPTOKEN",
      "FANOUTURL, FANOUTHOST   the fanout's broker, for --follow (default: AMQPURL, AMQPHOST's)",
      "EXCHANGENAME  the fanout exchange, for --follow",
    ],
  },
  async run(parsed, io) {
    const from = integerOption(parsed, "from", 1);
    const stream = stringOption(parsed, "stream");
    const historyUrl = historyUrlSetting(undefined);
    if (!parsed.values.follow) {
      try {
        const token = tokenSetting("HISTORYTOKEN", undefined);
        for await (const records of readHistoryChunks(historyUrl, from, { stream, token })) {
          let text = "";
          for (const record of records) text += JSON.stringify(record) + "\n";
          await io.out.write(text);
        }
      } catch (error) {
        await io.err.write(`rabbit-eventstore tail: ${describe(error)}\n`);
        return EXIT.failure;
      }
      return EXIT.ok;
    }
    const listener = listen(from, (record) => io.out.write(JSON.stringify(record) + "\n"), { stream, historyUrl });
    const remove = onShutdownSignal(() => void listener.close());
    try {
      await listener.closed;
      return EXIT.ok;
    } catch (error) {
      await io.err.write(`rabbit-eventstore tail: ${describe(error)}\n`);
      return EXIT.failure;
    } finally {
      remove();
    }
  },
};
