/**
 * Split NDJSON input into numbered lines, a chunk's worth at a time, for the
 * commands that read stdin (`publish`, `import`).
 *
 * @module
 */

/**
 * One line of input.
 *
 * @example A line as {@link inputLines} yields it
 * ```ts
 * import type { InputLine } from "./input_lines.ts";
 * const line: InputLine = { text: '{"type":"Hello"}', number: 1, end: 17 };
 * console.log(line.number);
 * ```
 */
export interface InputLine {
  /** The line without its line break (`\n`, or `\r\n`). */
  text: string;
  /** Its number, from 1, counting blank lines too. */
  number: number;
  /** Bytes of input up to and including this line's line break (for progress). */
  end: number;
}

const NEWLINE = 0x0a;

/**
 * The lines of `chunks`, one array per chunk (never empty); a last line
 * without a line break counts too. Blank lines are yielded (callers skip them).
 *
 * @param chunks The input's bytes.
 * @returns The lines, in order.
 * @throws {SyntaxError} When a line is not valid UTF-8 (with its number); lines before it are yielded first.
 * @example Count non-blank lines
 * ```ts
 * import { inputLines } from "./input_lines.ts";
 * async function* input() {
 *   yield new TextEncoder().encode("a\n\nb");
 * }
 * let n = 0;
 * for await (const lines of inputLines(input())) n += lines.filter((l) => l.text !== "").length;
 * console.log(n); // 2
 * ```
 */
export async function* inputLines(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<InputLine[]> {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let carry: Uint8Array = new Uint8Array(0);
  let number = 0;
  let consumed = 0; // bytes before `carry`
  const decode = (bytes: Uint8Array, at: number): string => {
    try {
      const text = decoder.decode(bytes);
      return text.endsWith("\r") ? text.slice(0, -1) : text;
    } catch {
      throw new SyntaxError(`Cannot read line ${at}: it is not valid UTF-8`);
    }
  };
  for await (const chunk of chunks) {
    const bytes = carry.length === 0 ? chunk : concat(carry, chunk);
    const lines: InputLine[] = [];
    let start = 0;
    let nl: number;
    try {
      while ((nl = bytes.indexOf(NEWLINE, start)) !== -1) {
        number++;
        lines.push({ text: decode(bytes.subarray(start, nl), number), number, end: consumed + nl + 1 });
        start = nl + 1;
      }
    } catch (error) {
      if (lines.length > 0) yield lines;
      throw error;
    }
    consumed += start;
    carry = bytes.slice(start);
    if (lines.length > 0) yield lines;
  }
  if (carry.length > 0) {
    number++;
    yield [{ text: decode(carry, number), number, end: consumed + carry.length }];
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}
