/**
 * The command module does not keep a program alive once nothing is pending: a Node script (against the
 * built package in npm/) that publishes, or appends to a stream, and returns exits by itself, without
 * close(); the event is stored. While a publish awaits its confirm, the program does not end early either
 * (it prints the id only once confirmed). Spawns node, so it runs under Deno only (scripts/test_node.mjs).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import type { EventStoreServer } from "../server.ts";
import { AMQP_URL, ensureNpmBuild, history, setup, type TestContext, waitFor } from "./_helpers.ts";

const command = fileURLToPath(new URL("../npm/esm/command.js", import.meta.url));

/** Run `node -e script` with a 20 s limit; resolves with its exit code (null: killed at the limit) and output. */
function node(script: string, env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("node", ["--input-type=module", "-e", script], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 20_000,
      killSignal: "SIGKILL",
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out, err }));
  });
}

describe("command module on Node", () => {
  let ctx: TestContext;
  let server: EventStoreServer;
  let env: Record<string, string>;
  before(async () => {
    await ensureNpmBuild();
    ctx = await setup("idle");
    server = await ctx.startServer();
    env = { AMQPURL: AMQP_URL, QUEUENAME: ctx.queueName, HISTORYURL: `http://127.0.0.1:${server.port}/` };
  });
  after(async () => {
    await ctx.cleanup();
  });

  it("a script that publishes and returns exits without close(), once the event is confirmed", async () => {
    const run = await node(
      `import { publish } from ${JSON.stringify(command)};\n` +
        `console.log("confirmed", await publish({ type: "NoClose" }, { id: "idle-1" }));`,
      env,
    );
    assert.equal(run.code, 0, `exits by itself (null: still alive after 20 s); stderr: ${run.err}`);
    assert.equal(run.out, "confirmed idle-1\n");
    await waitFor(() => server.head === 1, "the event stored");
    assert.equal((await history(server.port))[0].id, "idle-1");
  });

  it("a script that appends to a stream and returns exits without close()", async () => {
    const run = await node(
      `import { appendToStream } from ${JSON.stringify(command)};\n` +
        `const r = await appendToStream("idle-1", { type: "Opened", data: {} });\n` +
        `console.log("appended", r.streamVersion);`,
      env,
    );
    assert.equal(run.code, 0, `exits by itself (null: still alive after 20 s); stderr: ${run.err}`);
    assert.equal(run.out, "appended 1\n");
  });
});
