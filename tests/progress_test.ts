/**
 * lib/cli/progress.ts with a fake clock and a fake stderr: on a terminal a bar redrawn in place with
 * the rate and the ETA, at most every `redraw` ms; not on a terminal, plain lines every `interval` ms
 * and a last line with the totals. (tests/cli_int_test.ts shows the bar in a real terminal, in tmux.)
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { TextOutput } from "../lib/cli/cli_io.ts";
import { Progress } from "../lib/cli/progress.ts";

function fakeOutput(isTTY: boolean): TextOutput & { text: string } {
  const output = {
    text: "",
    isTTY,
    columns: 100,
    write(chunk: string | Uint8Array) {
      output.text += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
      return Promise.resolve();
    },
  };
  return output;
}

describe("Progress", () => {
  it("on a terminal redraws one bar in place with percent, rate and ETA, at most every redraw ms", async () => {
    let now = 0;
    const output = fakeOutput(true);
    const progress = new Progress({ label: "verify", unit: "bytes", total: 10 * 2 ** 20, output, now: () => now });
    now = 50;
    progress.update(2 ** 20); // too soon: nothing drawn
    assert.equal(output.text, "");
    now = 1_000;
    progress.update(5 * 2 ** 20, "1,000 records");
    assert.match(
      output.text,
      /^\rverify \[#+\.+\] {2}50% {2}5\.0 MiB\/10\.0 MiB {2}1,000 records {2}5\.0 MiB\/s {2}ETA 0:01$/,
    );
    assert.ok(output.text.length <= 100, "fits the terminal");
    now = 1_050;
    progress.update(6 * 2 ** 20);
    assert.equal(output.text.split("\r").length, 2, "not redrawn within redraw ms");
    now = 2_000;
    await progress.finish();
    assert.equal(output.text.split("\r").length, 3);
    assert.match(
      output.text,
      /\rverify \[#+\.+\] {2}60%.* 3\.0 MiB\/s {2}ETA 0:02\n$/,
      "the last state, then a line break",
    );
    assert.doesNotMatch(output.text, /\n.*\n/, "no line per update on a terminal");
  });

  it("not on a terminal writes a plain line every interval ms and a last line with the totals", async () => {
    let now = 0;
    const output = fakeOutput(false);
    const progress = new Progress({ label: "import", unit: "records", total: 4_000, output, now: () => now });
    for (let done = 1; done <= 4_000; done++) {
      now = done * 5; // 20 s in all: lines at 5, 10, 15 and 20 s
      progress.update(done);
    }
    await progress.finish();
    const lines = output.text.split("\n").filter(Boolean);
    assert.doesNotMatch(output.text, /\r/);
    assert.deepEqual(lines.slice(0, 4).map((l) => l.replace(/, ETA .*/, "")), [
      "import: 25% (1,000 records/4,000 records), 200 records/s",
      "import: 50% (2,000 records/4,000 records), 200 records/s",
      "import: 75% (3,000 records/4,000 records), 200 records/s",
      "import: 100% (4,000 records/4,000 records), 200 records/s",
    ]);
    assert.match(lines[0], /ETA 0:15$/);
    assert.equal(lines[4], "import: done, 4,000 records, in 20.0 s");
    assert.equal(lines.length, 5);
  });

  it("without a total shows the count and the rate, no bar and no ETA", async () => {
    let now = 0;
    const output = fakeOutput(true);
    const progress = new Progress({ label: "publish", unit: "events", output, now: () => now });
    now = 2_000;
    progress.update(300);
    await progress.finish();
    assert.match(output.text, /^\rpublish {2}300 events {2}150 events\/s\rpublish {2}300 events {2}150 events\/s\n$/);
  });
});
