/**
 * verifyStorageFile (lib/verify.ts) and its command line, scripts/verify.ts
 * (`deno task verify <file>`): read-only, reports the first problem with its
 * line and byte offset, exit code 0 when the file is sound and 1 otherwise.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { encodeRecord, encodeRecordLine } from "../lib/record.ts";
import { verifyStorageFile } from "../lib/verify.ts";

const TIME = "2026-11-27T00:00:00.000Z";
const lines = [1, 2, 3, 4].map((p) => encodeRecord(p, `id-${p}`, TIME, `{"n":${p},"s":"ünïcödé"}`) + "\n");
const bytes = (text: string) => new TextEncoder().encode(text).length;
/** A record of `stream` at `streamVersion`, optionally the first of a group of `batchSize`. */
const inStream = (position: number, stream: string, streamVersion: number, batchSize?: number) =>
  encodeRecordLine({ position, id: `s-${position}`, time: TIME, data: "{}", stream, streamVersion, batchSize }) + "\n";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "res-verify-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Run scripts/verify.ts in a child process, as `deno task verify` does. */
function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = new URL("../scripts/verify.ts", import.meta.url).pathname;
  return new Promise((resolve) => {
    execFile(process.execPath, ["run", "--allow-read", script, ...args], (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

interface Case {
  name: string;
  content: string | Uint8Array;
  ok: boolean;
  records: number;
  problem?: RegExp;
}

const cases: Case[] = [
  { name: "an empty file", content: "", ok: true, records: 0 },
  { name: "a sound file", content: lines.join(""), ok: true, records: 4 },
  {
    name: "a torn last record",
    content: lines.slice(0, 3).join("") + lines[3].slice(0, 25),
    ok: false,
    records: 3,
    problem: new RegExp(
      `would truncate 25 bytes of a torn last record at byte offset ${
        bytes(lines.slice(0, 3).join(""))
      } \\(line 4 has no newline\\)`,
    ),
  },
  {
    name: "zeros after the last record",
    content: new Uint8Array([...new TextEncoder().encode(lines.join("")), ...new Uint8Array(4096)]),
    ok: false,
    records: 4,
    problem: new RegExp(`would truncate 4096 bytes of a torn last record at byte offset ${bytes(lines.join(""))}`),
  },
  {
    name: "damage in the middle",
    content: lines[0] + "{oops\n" + lines.slice(2).join(""),
    ok: false,
    records: 1,
    problem: new RegExp(`is damaged at line 2 \\(byte offset ${bytes(lines[0])}\\): .*JSON`),
  },
  {
    name: "a missing record",
    content: lines[0] + lines[2],
    ok: false,
    records: 1,
    problem: new RegExp(
      `is damaged at line 2 \\(byte offset ${bytes(lines[0])}\\): record has position 3 where 2 was expected`,
    ),
  },
  {
    name: "dense stream versions",
    content: inStream(1, "a-1", 1) + inStream(2, "b-1", 1) + inStream(3, "a-1", 2),
    ok: true,
    records: 3,
  },
  {
    name: "a stream version that skips one",
    content: inStream(1, "a-1", 1) + inStream(2, "a-1", 3),
    ok: false,
    records: 1,
    problem: /position 2: stream a-1 expected version 2, got 3/,
  },
  {
    name: "a batch cut short by a crash",
    content: inStream(1, "a-1", 1) + inStream(2, "a-1", 2, 3) + inStream(3, "a-1", 3),
    ok: false,
    records: 3,
    problem: /the server would drop positions 2\.\.3, the first 2 of a group of 3/,
  },
];

describe("verifyStorageFile", () => {
  for (const c of cases) {
    it(`reports ${c.name} without changing the file`, async () => {
      const file = join(dir, `lib-${c.name.replaceAll(" ", "-")}`);
      await writeFile(file, c.content);
      const before = await readFile(file);
      const report = await verifyStorageFile(file);
      assert.equal(report.ok, c.ok, report.problem);
      assert.equal(report.records, c.records);
      if (c.problem) assert.match(report.problem ?? "", c.problem);
      else assert.equal(report.problem, undefined);
      assert.doesNotMatch(report.problem ?? "", /: truncating /, "a read-only check must not claim to truncate");
      assert.deepEqual(await readFile(file), before, "verify never changes the file");
    });
  }

  it("does not create a missing file", async () => {
    const file = join(dir, "missing");
    await assert.rejects(verifyStorageFile(file), (e: { code?: string }) => e.code === "ENOENT");
    await assert.rejects(stat(file), (e: { code?: string }) => e.code === "ENOENT");
  });
});

describe("deno task verify <file>", () => {
  for (const c of cases) {
    it(`exits ${c.ok ? 0 : 1} on ${c.name}`, async () => {
      const file = join(dir, `cli-${c.name.replaceAll(" ", "-")}`);
      await writeFile(file, c.content);
      const before = await readFile(file);
      const { code, stdout, stderr } = await cli(file);
      assert.equal(code, c.ok ? 0 : 1, stdout + stderr);
      if (c.ok) assert.equal(stdout, `ok: ${file}: ${c.records} record${c.records === 1 ? "" : "s"}\n`);
      else {
        assert.ok(stdout.startsWith(`problem: Storage file ${file}`), stdout);
        assert.ok(stdout.endsWith(`; ${c.records} good record${c.records === 1 ? "" : "s"} before it\n`), stdout);
        assert.match(stdout, c.problem!);
      }
      assert.deepEqual(await readFile(file), before);
    });
  }

  it("runs as `deno task verify <file>`", async () => {
    const file = join(dir, "task");
    await writeFile(file, lines.slice(0, 2).join("") + "{torn");
    const root = new URL("..", import.meta.url).pathname;
    const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, ["task", "verify", file], { cwd: root }, (error, stdout, stderr) => {
        resolve({
          code: error ? (typeof error.code === "number" ? error.code : -1) : 0,
          stdout: String(stdout),
          stderr: String(stderr),
        });
      });
    });
    assert.equal(run.code, 1, run.stderr);
    assert.match(
      run.stdout,
      /^problem: Storage file .* the server would truncate 5 bytes .*; 2 good records before it\n$/,
    );
  });

  it("exits 1 with a message on a file it cannot read, and 2 on a usage error", async () => {
    const missing = join(dir, "nope");
    const gone = await cli(missing);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, new RegExp(`Cannot verify storage file ${missing}: .*no such file`, "i"));
    await assert.rejects(stat(missing));
    for (const args of [[], ["a", "b"], ["--help"]]) {
      const usage = await cli(...args);
      assert.equal(usage.code, 2, `args ${JSON.stringify(args)}`);
      assert.match(usage.stderr, /^Usage: deno task verify <storage file>/);
    }
  });
});
