#!/usr/bin/env -S deno run -A
/**
 * The socket syscalls of a server during an ingest: runs the server of a
 * source tree (this one by default) under `strace -f -c -e
 * trace=sendto,writev,write`, publishes `--events` bench events through the
 * command module with 2,000 in flight, waits until a consumer on the fanout
 * has them all, stops the server and prints strace's counts. Run it on the
 * code before a change and after (`--tree=<dir>`), back to back; needs
 * `strace` (Debian package `strace`). The fanout consumer uses
 * `@cloudamqp/amqp-client` directly, not `lib/amqp_session.ts`: the tree
 * measured may be an older one, and the consumer must be the same for both.
 *
 * ```sh
 * npx deno run -A scripts/_bench_syscalls.ts --events=20000
 * npx deno run -A scripts/_bench_syscalls.ts --tree=/tmp/before --events=20000
 * ```
 *
 * @module
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { AMQPClient } from "@cloudamqp/amqp-client";
import { AMQP_URL, deferred, ROOT } from "./_bench_util.ts";

const flags = new Map(
  process.argv.slice(2).map((arg) => {
    const [name, value] = arg.replace(/^--/, "").split("=");
    return [name, value ?? "true"] as const;
  }),
);
const tree = flags.get("tree") ?? ROOT;
const count = Number(flags.get("events") ?? 20_000);
if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`Cannot use --events=${flags.get("events")}`);

// The tree's own command module and bench event, so "before" publishes what its server expects.
const { createCommand } = await import(join(tree, "command.ts"));
const { benchEvent, Window } = await import(join(tree, "scripts", "_bench_util.ts"));
const id = `bench-syscalls-${Date.now().toString(36)}`;
const dir = await mkdtemp(join(tmpdir(), "bench-syscalls-"));
const counts = join(dir, "strace.txt");
// deno-lint-ignore no-explicit-any
const deno = (globalThis as any).Deno.execPath();
const child = spawn("strace", [
  "-f",
  "-c",
  "-e",
  "trace=sendto,writev,write",
  "-o",
  counts,
  deno,
  "run",
  "-A",
  join(tree, "server.ts"),
], {
  env: {
    ...process.env,
    AMQPURL: AMQP_URL,
    QUEUENAME: `${id}-in`,
    EXCHANGENAME: `${id}-x`,
    STORAGEFILE: join(dir, "store"),
    PORT: "0",
    HTTPHOST: "127.0.0.1",
  },
  stdio: ["ignore", "pipe", "pipe"],
});
const ready = deferred();
let output = "";
const onOutput = (bytes: Uint8Array) => {
  output += new TextDecoder().decode(bytes);
  if (/history on port/.test(output)) ready.resolve();
};
child.stdout!.on("data", onOutput);
child.stderr!.on("data", onOutput);
await ready.promise;

const client = new AMQPClient(AMQP_URL);
await client.connect();
const channel = await client.channel();
try {
  const { name: tap } = await channel.queueDeclare("", { exclusive: true, autoDelete: true, durable: false });
  await channel.exchangeDeclare(`${id}-x`, "fanout", { durable: true });
  await channel.queueBind(tap, `${id}-x`, "");
  let received = 0;
  const all = deferred();
  await channel.basicConsume(tap, { noAck: true }, () => {
    if (++received === count) all.resolve();
  });
  const command = createCommand({ amqpUrl: AMQP_URL, queueName: `${id}-in` });
  const limiter = new Window(2000);
  const started = performance.now();
  for (let i = 0; i < count; i++) await limiter.run(() => command.publish(benchEvent(i), { type: "BenchEvent" }));
  await limiter.drain();
  await all.promise;
  const ms = performance.now() - started;
  void command.close();
  // SIGTERM to the server (strace's child): strace then writes its counts and exits.
  const exited = new Promise((resolve) => child.on("exit", resolve));
  spawn("pkill", ["-TERM", "-P", String(child.pid)]);
  await exited;
  console.log(`${tree}: ${count} events in ${ms.toFixed(0)} ms (the machine may be shared: compare runs back to back)`);
  console.log(await readFile(counts, "utf8"));
} finally {
  for (const queue of [`${id}-in`, `${id}-in.dead`]) await channel.queueDelete(queue).catch(() => {});
  await channel.exchangeDelete(`${id}-x`).catch(() => {});
  await client.close();
  await rm(dir, { recursive: true, force: true });
}
