/**
 * Test helper: read a live response body (SSE or NDJSON follow) frame by
 * frame, as a client would, across whatever chunks it arrives in.
 *
 * @module
 */

/** One SSE block (`id`/`data`/`retry` fields and `:` comments), or one NDJSON line. */
export interface LiveFrame {
  /** The SSE `id:` field. */
  id?: string;
  /** The SSE `data:` field, or the NDJSON line. */
  data?: string;
  /** The SSE `retry:` field. */
  retry?: string;
  /** SSE comment lines (without the `: `). */
  comments: string[];
}

/** Reads frames from a body; `next()` resolves undefined at its end. */
export interface LiveReader {
  next(): Promise<LiveFrame | undefined>;
  /** The next frame that carries a record (`data`), skipping heartbeats and the `retry:` block. */
  nextRecord(): Promise<LiveFrame | undefined>;
  cancel(): Promise<void>;
}

/** Read `body` as SSE (`sse`) or as NDJSON lines. */
export function liveReader(body: ReadableStream<Uint8Array>, sse: boolean): LiveReader {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const separator = sse ? "\n\n" : "\n";
  const next = async (): Promise<LiveFrame | undefined> => {
    while (!text.includes(separator)) {
      const { done, value } = await reader.read();
      if (done) return undefined;
      text += decoder.decode(value, { stream: true });
    }
    const end = text.indexOf(separator);
    const block = text.slice(0, end);
    text = text.slice(end + separator.length);
    if (!sse) return { data: block, comments: [] };
    const frame: LiveFrame = { comments: [] };
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) frame.comments.push(line.slice(1).trim());
      else if (line.startsWith("id: ")) frame.id = line.slice(4);
      else if (line.startsWith("data: ")) frame.data = line.slice(6);
      else if (line.startsWith("retry: ")) frame.retry = line.slice(7);
      else throw new Error(`Unexpected SSE line ${JSON.stringify(line)}`);
    }
    return frame;
  };
  return {
    next,
    async nextRecord() {
      for (;;) {
        const frame = await next();
        if (frame === undefined || (frame.data !== undefined && frame.data !== "")) return frame;
        if (frame.comments.some((c) => c.startsWith("closed"))) return frame;
      }
    },
    cancel: () => reader.cancel(),
  };
}

/** The position of a record line. */
export function positionOf(line: string): number {
  return (JSON.parse(line) as { position: number }).position;
}
