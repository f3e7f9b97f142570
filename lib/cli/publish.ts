/**
 * `rabbit-eventstore publish [--stream S] [--id-prefix P] < events.ndjson`:
 * publish the events on stdin, one JSON value a line, with the command module
 * (publisher confirms), and print a summary.
 *
 * Every event's message id is `P:<line number>`, so running the same command
 * again with the same `--id-prefix` stores each line once (the server's dedup
 * window, `DEDUPWINDOW` ids): after a failure, fix the input and run it again.
 * A bad line stops the publish before anything from it on is sent; what was
 * sent before it is confirmed first, and the error says which lines were
 * stored and which were not.
 *
 * @module
 */
import { createCommand } from "../../command.ts";
import { DEFAULTS } from "../defaults.ts";
import { describe } from "../errors.ts";
import { encodeStreamEvents, type StreamEvent } from "../stream_event.ts";
import type { CliIo } from "./cli_io.ts";
import { type CliCommand, EXIT, stringOption } from "./command_line.ts";
import { type InputLine, inputLines } from "./input_lines.ts";
import { Progress } from "./progress.ts";

/**
 * The `publish` command.
 *
 * @example Publish stdin's events to a stream
 * ```ts
 * import { processIo } from "./cli_io.ts";
 * import { parseCommandLine } from "./command_line.ts";
 * import { publishCommand } from "./publish.ts";
 * const code = await publishCommand.run(parseCommandLine(publishCommand.spec, ["--stream", "order-1"]), processIo());
 * console.log(code);
 * ```
 */
export const publishCommand: CliCommand = {
  spec: {
    name: "publish",
    synopsis: "publish [--stream S] [--id-prefix P] < events.ndjson",
    summary: "publish the events on stdin (one JSON value a line) with publisher confirms",
    description: [
      "Reads stdin, one event a line (blank lines are skipped), and publishes each to QUEUENAME with",
      "publisher confirms, in file order (256 awaiting their confirm at once; one the broker loses and that",
      "is published again may land later). Without --stream a line is any JSON value: the event as published",
      '(the record\'s data). With --stream S a line is {"type": T, "data": D, "metadata"?: {…}} and the',
      "events are appended to stream S in file order, consecutive lines (up to 100) as one message, stored",
      "whole, one message after the other.",
      "",
      "Each event's message id is P:<line number>: run the same command again with the same --id-prefix",
      "and every line is stored once (within DEDUPWINDOW ids). A line that is not valid stops the",
      "publish: the lines before it are published and confirmed first, nothing from it on is sent, and",
      "the error names the line; fix it and run the same command again with the printed --id-prefix.",
      "Prints a summary on stdout; progress on stderr.",
    ],
    options: {
      stream: { type: "string", value: "S", description: "append to stream S (lines are {type, data, metadata?})" },
      "id-prefix": {
        type: "string",
        value: "P",
        description: "message ids P:<line number> (default: a new UUID, printed)",
      },
    },
    environment: [
      "AMQPHOST, AMQPURL   the broker (default localhost, guest/guest)",
      "QUEUENAME           the server's input queue (default events)",
    ],
  },
  run(parsed, io) {
    const stream = stringOption(parsed, "stream");
    const prefix = stringOption(parsed, "id-prefix") ?? crypto.randomUUID();
    return stream === undefined ? publishEvents(io, prefix) : appendEvents(io, prefix, stream);
  },
};

/** An input line that cannot be published, with its number; nothing from it on is sent. */
class BadLine extends Error {
  readonly line: number;
  constructor(line: number, reason: string) {
    super(`line ${line}: ${reason}`);
    this.name = "BadLine";
    this.line = line;
  }
}

function parseLine(line: InputLine): unknown {
  try {
    return JSON.parse(line.text);
  } catch (error) {
    throw new BadLine(line.number, `not JSON (${describe(error)})`);
  }
}

/** Progress over stdin's bytes when it is a file (with an ETA), else over the events (no total). */
function progressFor(io: CliIo, label: string): {
  count: (done: number, bytes: number) => void;
  finish: (done: number, bytes: number) => Promise<void>;
} {
  const size = io.inputSize();
  const progress = new Progress({ label, unit: size === undefined ? "events" : "bytes", total: size, output: io.err });
  const count = (done: number, bytes: number) =>
    size === undefined ? progress.update(done) : progress.update(bytes, `${done.toLocaleString("en-US")} events`);
  return {
    count,
    finish: (done, bytes) => {
      count(done, bytes);
      return progress.finish();
    },
  };
}

const rerun = (prefix: string) =>
  `run the same command again with --id-prefix ${prefix} (lines already stored are stored once)`;

/** Without a stream: one publish per line, `publishWindow` awaiting their confirm at once. */
async function publishEvents(io: CliIo, prefix: string): Promise<number> {
  const command = createCommand();
  const { count, finish } = progressFor(io, "publish");
  const inFlight = new Map<number, Promise<void>>();
  const failed: Array<{ line: number; error: unknown }> = [];
  let confirmed = 0;
  let firstLine = 0;
  let lastLine = 0;
  let bytes = 0;
  let bad: unknown;
  const send = (line: number, event: unknown) => {
    const sent = command.publish(event, { id: `${prefix}:${line}` }).then(
      () => {
        confirmed++;
        count(confirmed, bytes);
      },
      (error) => void failed.push({ line, error }),
    ).finally(() => inFlight.delete(line));
    inFlight.set(line, sent);
  };
  try {
    reading: for await (const lines of inputLines(io.input())) {
      for (const line of lines) {
        bytes = line.end;
        if (line.text.trim() === "") continue;
        const event = parseLine(line);
        if (failed.length > 0) break reading;
        while (inFlight.size >= DEFAULTS.cli.publishWindow) await Promise.race(inFlight.values());
        firstLine ||= line.number;
        lastLine = line.number;
        send(line.number, event);
      }
    }
  } catch (error) {
    bad = error;
  }
  await Promise.all(inFlight.values());
  await command.close();
  await finish(confirmed, bytes);
  const what = `${confirmed} event${confirmed === 1 ? "" : "s"}`;
  if (failed.length > 0) {
    failed.sort((a, b) => a.line - b.line);
    const lines = failed.map((f) => f.line);
    await io.err.write(
      `rabbit-eventstore publish: line ${lines[0]} was not confirmed: ${describe(failed[0].error)}; ` +
        `${what} confirmed; ${lines.length} line(s) unconfirmed (${lines.slice(0, 10).join(", ")}${
          lines.length > 10 ? ", …" : ""
        }) may or may not be stored, and nothing after line ${lastLine} was sent; ${rerun(prefix)}\n`,
    );
    return EXIT.failure;
  }
  if (bad !== undefined) {
    await io.err.write(
      `rabbit-eventstore publish: ${describe(bad)}; ` +
        `${what} before it published and confirmed${confirmed ? ` (lines ${firstLine}-${lastLine})` : ""}, ` +
        `nothing from ${bad instanceof BadLine ? `line ${bad.line}` : "there"} on was sent; fix it and ${
          rerun(prefix)
        }\n`,
    );
    return EXIT.failure;
  }
  await io.out.write(
    `published ${what}${confirmed ? ` (lines ${firstLine}-${lastLine}, ids ${prefix}:<line>)` : ""}\n`,
  );
  return EXIT.ok;
}

/** With a stream: consecutive lines as one append (by blocks of line numbers, so a rerun cuts them alike). */
async function appendEvents(io: CliIo, prefix: string, stream: string): Promise<number> {
  const command = createCommand();
  const { count, finish } = progressFor(io, "publish");
  const block = DEFAULTS.cli.streamBatch;
  let batch: { first: number; last: number; events: StreamEvent[]; bytes: number } | undefined;
  let appended = 0;
  let firstLine = 0;
  let lastLine = 0;
  let version = 0;
  let position = 0;
  let bytes = 0;
  const flush = async () => {
    if (!batch) return;
    const sending = batch;
    batch = undefined;
    try {
      const result = await command.appendToStream(stream, sending.events, { id: `${prefix}:${sending.first}` });
      appended += sending.events.length;
      firstLine ||= sending.first;
      lastLine = sending.last;
      version = result.streamVersion;
      position = result.position;
      count(appended, bytes);
    } catch (error) {
      throw Object.assign(new Error(`lines ${sending.first}-${sending.last} were not appended: ${describe(error)}`), {
        notSent: sending.first,
      });
    }
  };
  let failure: unknown;
  try {
    for await (const lines of inputLines(io.input())) {
      for (const line of lines) {
        bytes = line.end;
        if (line.text.trim() === "") continue;
        const event = parseLine(line) as StreamEvent;
        let size: number;
        try {
          size = encodeStreamEvents(stream, event).body.length;
        } catch (error) {
          throw new BadLine(
            line.number,
            describe(error).replace(/^Cannot append to stream .*?: the event /, "the event "),
          );
        }
        const sameBlock = batch && Math.floor((batch.first - 1) / block) === Math.floor((line.number - 1) / block);
        if (batch && (!sameBlock || batch.bytes + size > DEFAULTS.cli.streamBatchBytes)) await flush();
        batch ??= { first: line.number, last: line.number, events: [], bytes: 0 };
        batch.events.push(event);
        batch.last = line.number;
        batch.bytes += size;
      }
    }
    await flush();
  } catch (error) {
    failure = error;
  }
  await command.close();
  await finish(appended, bytes);
  const what = `${appended} event${appended === 1 ? "" : "s"}`;
  const stored = appended ? ` (lines ${firstLine}-${lastLine}, stream "${stream}" at version ${version})` : "";
  if (failure !== undefined) {
    const notSent = failure instanceof BadLine
      ? `nothing from line ${batch?.first ?? failure.line} on was sent`
      : "nothing after them was sent";
    await io.err.write(
      `rabbit-eventstore publish: ${describe(failure)}; ${what} before appended${stored}, ${notSent}; ` +
        `fix it and ${rerun(prefix)}\n`,
    );
    return EXIT.failure;
  }
  await io.out.write(
    `appended ${what} to stream "${stream}"${
      appended ? ` (lines ${firstLine}-${lastLine}, now at version ${version}, last position ${position})` : ""
    }\n`,
  );
  return EXIT.ok;
}
