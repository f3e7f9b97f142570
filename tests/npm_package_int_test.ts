/**
 * End to end on Node from the npm tarball: pack the built package, install it
 * in a temporary project, run the server with the package's bin under Node,
 * and run the seed README's listener example (`require`) and an ESM publisher.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openSession } from "../lib/amqp_session.ts";
import { AMQP_URL, ensureNpmBuild, freePort, uniqueName, waitFor } from "./_helpers.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, env: { ...process.env, ...env }, maxBuffer: 1 << 24 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${cmd} ${args.join(" ")} failed: ${error.message}\n${stderr}${stdout}`));
      else resolve(stdout);
    });
  });
}

describe("npm package on Node", () => {
  let project: string;
  let server: ChildProcess | undefined;
  const queueName = uniqueName("npm-q");
  const exchangeName = uniqueName("npm-x");

  before(async () => {
    await ensureNpmBuild();
    project = await mkdtemp(join(tmpdir(), "res-npm-"));
    const packed = await run("npm", ["pack", "--silent", "--pack-destination", project], join(root, "npm"));
    const tarball = join(project, packed.trim().split("\n").pop()!);
    await writeFile(join(project, "package.json"), JSON.stringify({ name: "consumer-app", private: true }));
    await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", tarball], project);
  });

  /** Start the installed package's server bin under Node on a free port, storing in `storage`; resolves once /health answers. */
  async function startBin(storage: string) {
    const port = await freePort();
    const env = {
      PORT: String(port),
      STORAGEFILE: join(project, storage),
      AMQPHOST: "127.0.0.1",
      QUEUENAME: queueName,
      EXCHANGENAME: exchangeName,
      HISTORYURL: `http://127.0.0.1:${port}/`,
    };
    const child = spawn("node", [join(project, "node_modules", ".bin", "rabbit-eventstore")], {
      cwd: project,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
    const exited = new Promise<number | string | null>((resolve) =>
      child.on("exit", (code, signal) => resolve(code ?? signal))
    );
    const output = () => out;
    await waitFor(async () => {
      try {
        return (await fetch(`http://127.0.0.1:${port}/health`)).ok;
      } catch {
        return false;
      }
    }, `the server bin to answer /health (output: ${out})`);
    return { env, child, exited, output };
  }

  /** Run the repository's tsc in the consumer project, strict, against the shipped declarations and Node's types. */
  async function typeCheck(args: string[]): Promise<void> {
    const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
    const types = ["--typeRoots", join(root, "node_modules", "@types"), "--types", "node"];
    await run("node", [tsc, "--strict", "--module", "node16", "--target", "es2022", ...types, ...args], project);
  }

  after(async () => {
    server?.kill("SIGKILL");
    const session = await openSession(AMQP_URL);
    await session.deleteQueue(queueName).catch(() => {});
    await session.deleteQueue(`${queueName}.dead`).catch(() => {});
    await session.deleteExchange(exchangeName).catch(() => {});
    await session.close();
    await rm(project, { recursive: true, force: true });
  });

  it("runs the server bin under Node and the seed's listener example end to end", async () => {
    const { env, child, exited, output } = await startBin("storage");
    server = child;

    // Five events before the listener starts, five after: history then live.
    const publisher = join(project, "publish.mjs");
    await writeFile(
      publisher,
      `
      import * as command from "rabbit-eventstore/command";
      import { listen } from "rabbit-eventstore/listener";
      if (typeof listen !== "function") throw new Error("ESM import of rabbit-eventstore/listener failed");
      const [from, to] = process.argv.slice(2).map(Number);
      for (let i = from; i <= to; i++) await command.publish({ n: i });
      await command.close();
    `,
    );
    await run("node", [publisher, "1", "5"], project, env);

    const listenerScript = join(project, "listener.cjs");
    await writeFile(
      listenerScript,
      `
      const listener = require('rabbit-eventstore/listener');
      const seen = [];
      // Start fetching events from the beginning of time:
      const l = listener.listen(0, msg => {
        seen.push(msg.position + ":" + msg.data.n);
        if (seen.length === 10) {
          console.log(JSON.stringify(seen));
          l.close().then(() => process.exit(0));
        }
      });
      l.ready.then(() => console.error("ready"));
    `,
    );
    const listening = spawn("node", [listenerScript], { cwd: project, env: { ...process.env, ...env } });
    let listenerOut = "";
    listening.stdout.on("data", (d) => (listenerOut += d));
    const listenerReady = new Promise<void>((resolve) =>
      listening.stderr.on("data", (d) => String(d).includes("ready") && resolve())
    );
    const listenerDone = new Promise<number | null>((resolve) => listening.on("exit", (code) => resolve(code)));
    await listenerReady;
    await run("node", [publisher, "6", "10"], project, env);
    assert.equal(await listenerDone, 0);
    assert.deepEqual(JSON.parse(listenerOut), Array.from({ length: 10 }, (_, i) => `${i + 1}:${i + 1}`));

    // process.kill, not child.kill: Deno's child_process reports a child it
    // signalled itself as killed by that signal even when it exited 0.
    process.kill(child.pid!, "SIGTERM");
    assert.equal(await exited, 0, `server bin should exit 0 on SIGTERM; output: ${output()}`);
    server = undefined;
  });

  it("the bin prints --help and --version, and refuses an unknown option with exit code 2", async () => {
    const bin = join(project, "node_modules", ".bin", "rabbit-eventstore");
    // PORT is taken: a server started by mistake would exit 1 on it.
    const env = { PORT: "1", HTTPHOST: "127.0.0.1" };
    assert.match(
      await run("node", [bin, "--help"], project, env),
      /^Usage: rabbit-eventstore \[COMMAND\] \[OPTIONS\]\n/,
    );
    assert.match(
      await run("node", [bin, "tail", "--help"], project, env),
      /^Usage: rabbit-eventstore tail \[--from N\] \[--follow\] \[--stream S\]\n/,
    );
    const version = JSON.parse(await readFile(join(root, "deno.json"), "utf8")).version;
    assert.equal(await run("node", [bin, "--version"], project, env), `rabbit-eventstore ${version}\n`);
    await assert.rejects(
      run("node", [bin, "--nope"], project, env),
      (error: Error) =>
        /failed: Command failed/.test(error.message) &&
        error.message.includes(
          'rabbit-eventstore: unknown option "--nope"; run rabbit-eventstore --help for the usage',
        ),
    );
    const code = await new Promise<number | null>((resolve) =>
      spawn("node", [bin, "--nope"], { cwd: project, stdio: "ignore" }).on("exit", (c) => resolve(c))
    );
    assert.equal(code, 2);
  });

  it("installs without Emmett (an optional peer), and rabbit-eventstore/emmett loads once Emmett is installed", async () => {
    assert.equal(existsSync(join(project, "node_modules", "@event-driven-io", "emmett")), false, "no Emmett pulled in");
    const installed = JSON.parse(
      await readFile(join(project, "node_modules", "rabbit-eventstore", "package.json"), "utf8"),
    );
    assert.deepEqual(installed.peerDependenciesMeta, { "@event-driven-io/emmett": { optional: true } });
    const tested =
      JSON.parse(await readFile(join(root, "package.json"), "utf8")).devDependencies["@event-driven-io/emmett"];
    await run(
      "npm",
      ["install", "--prefer-offline", "--no-audit", "--no-fund", `@event-driven-io/emmett@${tested}`],
      project,
    );
    const loads = [
      `const { getRabbitEventStore } = require("rabbit-eventstore/emmett"); console.log(typeof getRabbitEventStore);`,
      `import("rabbit-eventstore/emmett").then((m) => console.log(typeof m.getRabbitEventStore));`,
    ];
    for (const code of loads) assert.equal((await run("node", ["-e", code], project)).trim(), "function");
    // Its declarations hand Emmett's own EventStore type to both kinds of consumer.
    await writeFile(
      join(project, "emmett-consumer.mts"),
      `import type { EventStore } from "@event-driven-io/emmett";
      import { getRabbitEventStore } from "rabbit-eventstore/emmett";
      const store: EventStore = getRabbitEventStore({ historyUrl: "http://localhost:8080/" });
      await store.appendToStream("cart-1", [{ type: "Opened", data: {} }], { expectedStreamVersion: "STREAM_DOES_NOT_EXIST" });`,
    );
    await writeFile(
      join(project, "emmett-consumer.cts"),
      `import emmett = require("rabbit-eventstore/emmett");
      const store = emmett.getRabbitEventStore();
      void store.readStream("cart-1").then((r) => r.currentStreamVersion + 1n).then(() => store.close());`,
    );
    await typeCheck(["--noEmit", "--skipLibCheck", "emmett-consumer.cts", "emmett-consumer.mts"]);
  });

  it("ships declarations that type-check for require (CommonJS) and import (ESM) consumers", async () => {
    await writeFile(
      join(project, "consumer.cts"),
      `
      import listener = require("rabbit-eventstore/listener");
      import command = require("rabbit-eventstore/command");
      const l: listener.Listener = listener.listen(0, (msg) => console.log(msg.position, msg.data));
      void command.publish({ n: 1 }).then((id: string) => l.close().then(() => id));
    `,
    );
    await writeFile(
      join(project, "consumer.mts"),
      `
      import { listen, type EventRecord } from "rabbit-eventstore/listener";
      import { startServer } from "rabbit-eventstore/server";
      import { createCommand } from "rabbit-eventstore";
      const l = listen((msg: EventRecord<{ n: number }>) => console.log(msg.data.n));
      const s = await startServer({ port: 0 });
      await createCommand().close();
      await Promise.all([l.close(), s.close()]);
    `,
    );
    await typeCheck(["--noEmit", "consumer.cts", "consumer.mts"]);
  });

  it("runs the README's bank-account decider under Node (import), and appends and reads by require", async () => {
    const { env, child, exited, output } = await startBin("storage-streams");
    server = child;

    // The README's example exactly as written, compiled (and type-checked) against the shipped declarations.
    const readme = await readFile(join(root, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("### A bank account that never goes below zero"));
    const example = /```ts\n([\s\S]*?)```/.exec(section)![1];
    await writeFile(join(project, "account.mts"), example);
    await typeCheck(["account.mts"]); // and compile it to account.mjs
    assert.equal(await run("node", ["account.mjs"], project, env), "6 withdrawals\n7 { balance: 10 }\n");

    await writeFile(
      join(project, "cart.cjs"),
      `
      const command = require("rabbit-eventstore/command");
      const { WrongExpectedVersionError } = require("rabbit-eventstore");
      (async () => {
        const stream = "cart-" + Date.now();
        const first = await command.appendToStream(stream, [{ type: "A", data: 1 }, { type: "B", data: 2 }], {
          expectedVersion: "no_stream",
          id: stream,
        });
        const again = await command.appendToStream(stream, [{ type: "A", data: 1 }, { type: "B", data: 2 }], {
          expectedVersion: "no_stream",
          id: stream,
        });
        const conflict = await command.appendToStream(stream, { type: "C", data: 3 }, { expectedVersion: 1 }).catch((e) => e);
        const { events, streamVersion } = await command.readStream(stream);
        console.log(JSON.stringify({
          same: JSON.stringify(first) === JSON.stringify(again),
          streamVersion: first.streamVersion,
          conflict: conflict instanceof WrongExpectedVersionError && conflict instanceof command.WrongExpectedVersionError
            ? [conflict.expected, conflict.actual] : String(conflict),
          read: [streamVersion, events.map((e) => e.id)],
        }));
        await command.close();
      })();
    `,
    );
    const out = JSON.parse(await run("node", ["cart.cjs"], project, env));
    assert.equal(out.same, true);
    assert.equal(out.streamVersion, 2);
    assert.deepEqual(out.conflict, [1, 2]);
    assert.equal(out.read[0], 2);
    assert.equal(out.read[1][1], `${out.read[1][0]}:2`);

    process.kill(child.pid!, "SIGTERM");
    assert.equal(await exited, 0, `server bin should exit 0 on SIGTERM; output: ${output()}`);
    server = undefined;
  });
});
