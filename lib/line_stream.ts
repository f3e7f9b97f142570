/**
 * A small stand-in for `@std/streams`' `TextLineStream`, which is on JSR and
 * unreachable here.
 *
 * @module
 */

/**
 * Splits a stream of text into lines on `\n`. Empty lines are dropped; a last
 * line without a newline is emitted when the stream ends, unless
 * `allowPartial` is false, in which case it is an error.
 *
 * @example Split NDJSON from fetch
 * ```ts
 * import { LineStream } from "./line_stream.ts";
 * const body = new Response("a\nb\n").body!;
 * const lines = body.pipeThrough(new TextDecoderStream()).pipeThrough(new LineStream());
 * for await (const line of lines) console.log(line);
 * ```
 */
export class LineStream extends TransformStream<string, string> {
  /**
   * @param options.allowPartial Emit a final line that has no newline.
   * @default {true}
   */
  constructor(options: { allowPartial?: boolean } = {}) {
    const allowPartial = options.allowPartial ?? true;
    let rest = "";
    super({
      transform(chunk, controller) {
        let start = 0;
        let end = chunk.indexOf("\n");
        if (end === -1) {
          rest += chunk;
          return;
        }
        let first = rest + chunk.slice(0, end);
        rest = "";
        if (first.length > 0) controller.enqueue(first);
        start = end + 1;
        while ((end = chunk.indexOf("\n", start)) !== -1) {
          if (end > start) controller.enqueue(chunk.slice(start, end));
          start = end + 1;
        }
        rest = chunk.slice(start);
        first = "";
      },
      flush(controller) {
        if (rest.length === 0) return;
        if (!allowPartial) {
          controller.error(new SyntaxError(`Cannot parse stream: last line has no newline: ${rest.slice(0, 80)}`));
          return;
        }
        controller.enqueue(rest);
      },
    });
  }
}
