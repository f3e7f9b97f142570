/**
 * The server as a program (`deno run -A server.ts`): --help, --version, bad
 * arguments, and the one line and exit code 1 when the broker refuses it.
 * Spawns Deno child processes, so it runs under Deno only (see scripts/test_node.mjs);
 * tests/npm_package_int_test.ts checks the npm bin on Node.
 */
import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { VERSION } from "../lib/version.ts";
import { AMQP_URL, freePort, setup, type TestContext } from "./_helpers.ts";

const serverScript = fileURLToPath(new URL("../server.ts", import.meta.url));

/** Run `deno run -A server.ts ...args` to its end. */
function runServer(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["run", "-A", serverScript, ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out, err }));
  });
}

describe("server program", () => {
  let ctx: TestContext;
  let busy: Server;
  let env: Record<string, string>;
  beforeEach(async () => {
    ctx = await setup("cli");
    // A port that is taken: a server started by mistake would fail on it and exit 1, not 0.
    busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    env = {
      AMQPURL: AMQP_URL,
      QUEUENAME: ctx.queueName,
      EXCHANGENAME: ctx.exchangeName,
      STORAGEFILE: join(ctx.dir, "cli-storage"),
      HTTPHOST: "127.0.0.1",
      PORT: String((busy.address() as { port: number }).port),
    };
  });
  afterEach(async () => {
    await new Promise((resolve) => busy.close(resolve));
    await ctx.cleanup();
  });

  it("--help prints the usage and the environment variables, and exits 0 without starting a server", async () => {
    for (const flag of ["--help", "-h"]) {
      const { code, out, err } = await runServer([flag], env);
      assert.equal(code, 0, err);
      assert.match(out, /^Usage: rabbit-eventstore \[--help\] \[--version\]\n/);
      assert.match(out, /\n {2}QUEUENAME {5}events {6}queue the server consumes/);
      assert.equal(err, "");
    }
  });

  it("--version prints the version and exits 0", async () => {
    const { code, out } = await runServer(["--version"], env);
    assert.equal(code, 0);
    assert.equal(out, `rabbit-eventstore ${VERSION}\n`);
  });

  it("an unknown option or an argument prints one line and exits 2", async () => {
    const unknown = await runServer(["--port=8080"], env);
    assert.equal(unknown.code, 2);
    assert.equal(
      unknown.err,
      'rabbit-eventstore: unknown option "--port"; run rabbit-eventstore --help for the usage\n',
    );
    const argument = await runServer(["start"], env);
    assert.equal(argument.code, 2);
    assert.match(argument.err, /^rabbit-eventstore: unexpected argument "start"; the server takes none/);
  });

  it("a second server on the same QUEUENAME prints one line naming the queue and exits 1", async () => {
    await ctx.startServer();
    const { code, err } = await runServer([], { ...env, PORT: String(await freePort()) });
    assert.equal(code, 1);
    assert.equal(
      err,
      `rabbit-eventstore: QUEUENAME "${ctx.queueName}" is already consumed by another server; ` +
        `stop that server, or give this one its own QUEUENAME (and STORAGEFILE)\n`,
    );
  });

  it("an unknown vhost prints one line naming it and exits 1", async () => {
    const url = new URL(AMQP_URL);
    url.pathname = "/res-no-such-vhost";
    const { code, err } = await runServer([], { ...env, AMQPURL: url.toString(), PORT: String(await freePort()) });
    assert.equal(code, 1);
    assert.match(
      err,
      /^rabbit-eventstore: RabbitMQ at amqp:\/\/guest:\*\*\*@[^ ]+\/res-no-such-vhost has no vhost "res-no-such-vhost"; create it \(rabbitmqctl add_vhost res-no-such-vhost\) or correct the vhost in AMQPURL\n$/,
    );
  });
});
