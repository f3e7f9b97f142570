import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LineStream } from "../lib/line_stream.ts";

async function split(chunks: string[], allowPartial = true): Promise<string[]> {
  const stream = new ReadableStream<string>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  }).pipeThrough(new LineStream({ allowPartial }));
  const out: string[] = [];
  for await (const line of stream) out.push(line);
  return out;
}

describe("LineStream", () => {
  it("splits lines across chunk boundaries", async () => {
    assert.deepEqual(await split(["a\nb", "c\n", "d", "e\nf\n"]), ["a", "bc", "de", "f"]);
  });
  it("drops empty lines and emits a final partial line", async () => {
    assert.deepEqual(await split(["\n\na\n", "\nb"]), ["a", "b"]);
  });
  it("errors on a partial last line when partial lines are not allowed", async () => {
    await assert.rejects(split(["a\nb"], false), /last line has no newline/);
  });
});
