/**
 * Where a command writes and reads: the process's stdout, stderr and stdin
 * ({@link processIo}), or fakes in tests. Writes wait for a slow reader
 * (backpressure), so an export to a pipe never buffers the store in memory.
 *
 * @module
 */
import { fstatSync } from "node:fs";
import process from "node:process";

/**
 * A text stream a command writes to.
 *
 * @example Write a line
 * ```ts
 * import { processIo, type TextOutput } from "./cli_io.ts";
 * const out: TextOutput = processIo().out;
 * await out.write("hello\n");
 * ```
 */
export interface TextOutput {
  /** Write `text` (or bytes); resolves once the stream can take more. */
  write(text: string | Uint8Array): Promise<void>;
  /** Whether it is a terminal (then progress is a bar redrawn in place). */
  readonly isTTY: boolean;
  /** The terminal's width in columns (80 when unknown). */
  readonly columns: number;
}

/**
 * A command's streams.
 *
 * @example Count the bytes on stdin
 * ```ts
 * import { type CliIo, processIo } from "./cli_io.ts";
 * const io: CliIo = processIo();
 * let bytes = 0;
 * for await (const chunk of io.input()) bytes += chunk.length;
 * await io.out.write(`${bytes}\n`);
 * ```
 */
export interface CliIo {
  /** Standard output: the command's results (records, a summary). */
  out: TextOutput;
  /** Standard error: progress, warnings and errors. */
  err: TextOutput;
  /** Standard input, as byte chunks. */
  input(): AsyncIterable<Uint8Array>;
  /** The size of standard input when it is a regular file (`< file`), for progress with an ETA. */
  inputSize(): number | undefined;
}

interface WritableLike {
  write(chunk: string | Uint8Array): boolean;
  once(event: "drain" | "error", listener: (...args: unknown[]) => void): unknown;
  on(event: "error", listener: (error: Error & { code?: string }) => void): unknown;
  isTTY?: boolean;
  columns?: number;
}

function output(stream: WritableLike): TextOutput {
  // A reader that went away (`rabbit-eventstore tail | head -3`) ends the program quietly, as Unix tools do.
  stream.on("error", (error) => {
    if (error.code === "EPIPE") process.exit(0);
    throw error;
  });
  return {
    write: (text) =>
      stream.write(text) ? Promise.resolve() : new Promise((resolve) => stream.once("drain", () => resolve())),
    get isTTY() {
      return stream.isTTY === true;
    },
    get columns() {
      return stream.columns || 80;
    },
  };
}

/**
 * The process's own streams.
 *
 * @returns stdout, stderr and stdin as a {@link CliIo}.
 * @example Write to stderr only on a terminal
 * ```ts
 * import { processIo } from "./cli_io.ts";
 * const io = processIo();
 * if (io.err.isTTY) await io.err.write("working…\n");
 * ```
 */
export function processIo(): CliIo {
  return {
    out: output(process.stdout as unknown as WritableLike),
    err: output(process.stderr as unknown as WritableLike),
    input: () => process.stdin as unknown as AsyncIterable<Uint8Array>,
    inputSize() {
      try {
        const stat = fstatSync(0);
        return stat.isFile() ? stat.size : undefined;
      } catch {
        return undefined;
      }
    },
  };
}
