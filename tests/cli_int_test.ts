/**
 * The `rabbit-eventstore` program (cli.ts) end to end, as `deno run -A cli.ts …`, against a real server
 * and RabbitMQ: each command's output and exit code, --help never starting a server, publish's bad line
 * (what is stored, what is not, and a rerun storing each line once), tail --follow's live event and its
 * exit on Ctrl-C, export → import → verify → stats byte for byte, import's refusals, and the progress bar
 * in a real terminal (tmux) beside the plain lines without one. Spawns Deno child processes, so it runs
 * under Deno only (scripts/test_node.mjs).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { closeSync, existsSync, openSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { createCommand } from "../command.ts";
import type { EventStoreServer } from "../server.ts";
import { VERSION } from "../lib/version.ts";
import { AMQP_URL, freePort, history, recordLines, setup, type TestContext, uniqueName, waitFor } from "./_helpers.ts";

const cliScript = fileURLToPath(new URL("../cli.ts", import.meta.url));

interface Run {
  code: number | null;
  out: string;
  err: string;
}

/** Run `deno run -A cli.ts ...args` to its end; stdin from `input` (text), or from the file `inputFile`. */
function cli(args: string[], env: Record<string, string>, input: { text?: string; file?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const fd = input.file === undefined ? undefined : openSync(input.file, "r");
    const child = spawn(process.execPath, ["run", "-A", cliScript, ...args], {
      env: { ...process.env, ...env },
      stdio: [fd ?? "pipe", "pipe", "pipe"],
    });
    if (fd !== undefined) closeSync(fd);
    let out = "";
    let err = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out, err }));
    if (fd === undefined) child.stdin!.end(input.text ?? "");
  });
}

const lines = (text: string) => text.split("\n").filter(Boolean);

async function storeIdOf(server: EventStoreServer): Promise<string> {
  const health = await (await fetch(`http://127.0.0.1:${server.port}/health`)).json() as { storeId: string };
  return health.storeId;
}

describe("rabbit-eventstore program", () => {
  let ctx: TestContext;
  let server: EventStoreServer;
  let env: Record<string, string>;
  let busy: Server;

  before(async () => {
    ctx = await setup("cli-prog");
    server = await ctx.startServer();
    // A taken port: a server started by mistake (by --help) fails on it and exits 1, never 0.
    busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    env = {
      AMQPURL: AMQP_URL,
      QUEUENAME: ctx.queueName,
      EXCHANGENAME: ctx.exchangeName,
      HISTORYURL: `http://127.0.0.1:${server.port}/`,
      STORAGEFILE: join(ctx.dir, "never-created"),
      PORT: String((busy.address() as { port: number }).port),
      HTTPHOST: "127.0.0.1",
    };
  });
  after(async () => {
    await new Promise((resolve) => busy.close(resolve));
    await ctx.cleanup();
  });

  it("--help (the program's and each command's) and --version print and exit 0 without starting a server", async () => {
    const [top, tail, serve, version, unknown, badValue, extra] = await Promise.all([
      cli(["--help"], env),
      cli(["tail", "--help"], env),
      cli(["serve", "-h"], env),
      cli(["--version"], env),
      cli(["nope"], env),
      cli(["tail", "--from", "abc"], env),
      cli(["verify"], env),
    ]);
    assert.equal(top.code, 0, top.err);
    assert.match(top.out, /^Usage: rabbit-eventstore \[COMMAND\] \[OPTIONS\]\n/);
    for (const name of ["serve", "tail", "publish", "verify", "export", "import", "stats"]) {
      assert.match(top.out, new RegExp(`\\n  ${name}\\b`), name);
    }
    assert.match(top.out, /\nExit codes:\n {2}0 {2}done\n {2}1 {2}failed.*\n {2}2 {2}usage error/);
    assert.equal(tail.code, 0);
    assert.match(tail.out, /^Usage: rabbit-eventstore tail \[--from N\] \[--follow\] \[--stream S\]\n/);
    assert.match(tail.out, /\nExit codes:\n/);
    assert.equal(serve.code, 0, serve.err);
    assert.match(serve.out, /^Usage: rabbit-eventstore serve\n\nRuns the rabbit-eventstore server/);
    assert.match(serve.out, /\n {2}QUEUENAME {5}events/);
    assert.equal(existsSync(env.STORAGEFILE), false, "no server was started");
    assert.deepEqual([version.code, version.out], [0, `rabbit-eventstore ${VERSION}\n`]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /^rabbit-eventstore: unknown command "nope"; the commands are serve, tail, /);
    assert.equal(badValue.code, 2);
    assert.equal(badValue.err, 'rabbit-eventstore: option --from expects a non-negative integer, got "abc"\n');
    assert.equal(extra.code, 2);
    assert.match(extra.err, /^rabbit-eventstore: verify needs FILE; run rabbit-eventstore verify --help/);
  });

  it("publish: a summary and exit 0; a bad line stops it with its number, what came before is stored, a rerun stores each line once", async () => {
    const prefix = uniqueName("pub");
    const file = join(ctx.dir, "events.ndjson");
    await writeFile(file, '{"type":"A","n":1}\n\n{"type":"B","n":2}\n');
    const ok = await cli(["publish", "--id-prefix", prefix], env, { file });
    assert.equal(ok.code, 0, ok.err);
    assert.equal(ok.out, `published 2 events (lines 1-3, ids ${prefix}:<line>)\n`);
    await waitFor(() => server.head === 2, "2 stored");

    const bad = '{"n":3}\n{"n":4}\nnot json\n{"n":6}\n';
    const failed = await cli(["publish", "--id-prefix", `${prefix}-2`], env, { text: bad });
    assert.equal(failed.code, 1);
    assert.match(
      failed.err,
      new RegExp(
        `rabbit-eventstore publish: line 3: not JSON \\(.*\\); 2 events before it published and confirmed \\(lines 1-2\\), ` +
          `nothing from line 3 on was sent; fix it and run the same command again with --id-prefix ${prefix}-2 `,
      ),
    );
    await waitFor(() => server.head === 4, "lines 1-2 stored");
    const fixed = await cli(["publish", "--id-prefix", `${prefix}-2`], env, {
      text: bad.replace("not json", '{"n":5}'),
    });
    assert.equal(fixed.code, 0, fixed.err);
    await waitFor(() => server.head === 6, "lines 3-4 stored");
    const records = await history(server.port);
    assert.deepEqual(records.map((r) => r.id), [
      `${prefix}:1`,
      `${prefix}:3`,
      `${prefix}-2:1`,
      `${prefix}-2:2`,
      `${prefix}-2:3`,
      `${prefix}-2:4`,
    ], "each line once, the rerun's lines 1-2 not again");
    assert.deepEqual(records.map((r) => (r.data as { n: number }).n), [1, 2, 3, 4, 5, 6]);

    const stream = uniqueName("order");
    const streamBad = await cli(["publish", "--stream", stream], env, {
      text: '{"type":"Placed","data":{}}\n{"data":{}}\n',
    });
    assert.equal(streamBad.code, 1);
    assert.match(
      streamBad.err,
      /line 2: the event needs a non-empty string type, got undefined; 0 events before appended, nothing from line 1 on was sent/,
    );
    const appended = await cli(["publish", "--stream", stream], env, {
      text: '{"type":"Placed","data":{"n":7}}\n{"type":"Paid","data":{"n":8},"metadata":{"by":"ada"}}\n',
    });
    assert.equal(appended.code, 0, appended.err);
    assert.equal(
      appended.out,
      `appended 2 events to stream "${stream}" (lines 1-2, now at version 2, last position 8)\n`,
    );

    // tail prints the history as NDJSON; --stream only that stream's records.
    const [tail, streamTail, stats, unreachable] = await Promise.all([
      cli(["tail", "--from", "2"], env),
      cli(["tail", "--stream", stream], env),
      cli(["stats", "--json"], env),
      freePort().then((port) => cli(["stats"], { ...env, HISTORYURL: `http://127.0.0.1:${port}/` })),
    ]);
    assert.equal(tail.code, 0, tail.err);
    assert.deepEqual(lines(tail.out).map((l) => JSON.parse(l)), (await history(server.port)).slice(1));
    assert.deepEqual(lines(streamTail.out).map((l) => JSON.parse(l).streamVersion), [1, 2]);
    assert.equal(stats.code, 0, stats.err);
    assert.deepEqual(
      (({ head, streams, storeId }) => ({ head, streams, storeId }))(JSON.parse(stats.out)),
      { head: 8, streams: 1, storeId: await storeIdOf(server) },
    );
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.err, /^rabbit-eventstore stats: /);
  });

  it("tail --follow prints the history, then live events, and exits 0 on SIGINT", async () => {
    const child = spawn(process.execPath, ["run", "-A", cliScript, "tail", "--follow", "--from", String(server.head)], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    try {
      const last = server.head;
      await waitFor(() => lines(out).length === 1, `the history's last record (stderr: ${err})`);
      const command = createCommand({ amqpUrl: AMQP_URL, queueName: ctx.queueName });
      await command.publish({ live: true });
      await command.close();
      await waitFor(() => lines(out).length === 2, `the live event (stderr: ${err})`);
      assert.deepEqual(lines(out).map((l) => JSON.parse(l).position), [last, last + 1], out);
      assert.deepEqual(JSON.parse(lines(out)[1]).data, { live: true });
      process.kill(child.pid!, "SIGINT"); // not child.kill: Deno reports the signal it sent, not the exit code
      assert.equal(await exited, 0, err);
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("export (server or --file) → import → verify → stats keep every record byte for byte; import refuses what it must", async () => {
    const stored = await recordLines(ctx.storageFile);
    const online = await cli(["export"], env);
    assert.equal(online.code, 0, online.err);
    assert.equal(online.out, stored.map((l) => l + "\n").join(""));
    assert.match(online.err, new RegExp(`exported ${stored.length} records\\n$`));
    const offline = await cli(["export", "--file", ctx.storageFile, "--from", "3"], {});
    assert.equal(offline.code, 0, offline.err);
    assert.equal(offline.out, stored.slice(2).map((l) => l + "\n").join(""));

    const dump = join(ctx.dir, "dump.ndjson");
    await writeFile(dump, online.out);
    const target = join(ctx.dir, "imported");
    const imported = await cli(["import", "--file", target], {}, { file: dump });
    assert.equal(imported.code, 0, imported.err);
    assert.match(
      imported.out,
      new RegExp(`^imported ${stored.length} records \\(1 stream\\) into ${target}, store id .*; verified\\n$`),
    );
    assert.deepEqual(await recordLines(target), stored);
    const verified = await cli(["verify", target], {});
    assert.deepEqual([verified.code, verified.out], [0, `ok: ${target}: ${stored.length} records\n`]);
    const stats = JSON.parse((await cli(["stats", "--file", target, "--json"], {})).out);
    assert.deepEqual([stats.head, stats.published, stats.streams], [stored.length, stored.length, 1]);
    assert.notEqual(stats.storeId, await storeIdOf(server), "a new store");

    const again = await cli(["import", "--file", target], {}, { file: dump });
    assert.equal(again.code, 1);
    assert.match(
      again.err,
      /it is not empty \(head \d+\); import into a new or empty store file; nothing was imported/,
    );
    const locked = await cli(["import"], { STORAGEFILE: ctx.storageFile }, { file: dump });
    assert.equal(locked.code, 1);
    assert.match(locked.err, /Cannot import into .*: it is in use by a running server \(pid \d+\); stop it/);
    const gap = stored.filter((_, i) => i !== 3).map((l) => l + "\n").join("");
    const fresh = join(ctx.dir, "gap-store");
    const refused = await cli(["import", "--file", fresh], {}, { text: gap });
    assert.equal(refused.code, 1);
    assert.match(refused.err, /line 4: position 5, expected 4 \(positions must be dense\); nothing was imported/);
    assert.equal(existsSync(fresh), false, "no store left behind");
    const damaged = join(ctx.dir, "damaged");
    await writeFile(damaged, (await readFile(target, "utf8")).replace('"position":4,', '"position":4 '));
    const problem = await cli(["verify", damaged], {});
    assert.equal(problem.code, 1);
    assert.match(problem.out, /^problem: .*line 5.*; 3 good records before it\n$/);
  });

  it("tail and export send HISTORYTOKEN to a server with HTTPTOKEN", async () => {
    const token = "cli-test-token";
    const queueName = `${ctx.queueName}-guarded`;
    const exchangeName = `${ctx.exchangeName}-guarded`;
    const guarded = await ctx.startServer({
      httpToken: token,
      storageFile: join(ctx.dir, "guarded"),
      queueName,
      exchangeName,
    });
    const at = { ...env, HISTORYURL: `http://127.0.0.1:${guarded.port}/` };
    const [refused, exported, tailed] = await Promise.all([
      cli(["export"], at),
      cli(["export"], { ...at, HISTORYTOKEN: token }),
      cli(["tail"], { ...at, HISTORYTOKEN: token }),
    ]);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /HTTP 401/);
    assert.deepEqual([exported.code, tailed.code], [0, 0], exported.err + tailed.err);
    await guarded.close();
    for (const queue of [queueName, `${queueName}.dead`]) await ctx.broker.deleteQueue(queue);
    await ctx.broker.deleteExchange(exchangeName);
  });

  it("progress: a bar with rate and ETA on a terminal (tmux), plain lines when stderr is not one", async () => {
    const socket = uniqueName("res-cli");
    const screen = join(ctx.dir, "screen.txt");
    const command = `${process.execPath} run -A ${cliScript} verify ${ctx.storageFile}; echo exit=$?; sleep 30`;
    try {
      execFileSync("tmux", ["-L", socket, "new-session", "-d", "-x", "120", "-y", "30", command]);
      let captured = "";
      await waitFor(() => {
        captured = execFileSync("tmux", ["-L", socket, "capture-pane", "-p"], { encoding: "utf8" });
        return captured.includes("exit=");
      }, "verify to finish in tmux");
      await writeFile(screen, captured);
      assert.match(
        captured,
        /verify \[#{10,}\] 100% {2}[\d.]+ (B|KiB)\/[\d.]+ (B|KiB) {2}\d+ records {2}[\d.]+ (B|KiB|MiB)\/s {2}ETA 0:00\n/,
      );
      assert.match(captured, /ok: .* \d+ records\nexit=0/);
    } finally {
      try {
        execFileSync("tmux", ["-L", socket, "kill-server"]);
      } catch { /* already gone */ }
    }
    const plain = await cli(["verify", ctx.storageFile], {});
    assert.ok(!plain.err.includes("\r") && !plain.err.includes("\u001b"), "no carriage return, no escape code");
    assert.match(plain.err, /^verify: done, [\d.]+ (B|KiB), \d+ records, in \d+\.\d s\n$/);
  });
});
