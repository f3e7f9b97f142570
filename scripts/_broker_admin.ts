/**
 * Broker control for the fault harness: `rabbitmqctl` (queue depths, dropping
 * connections, stopping the broker, publishing from inside it) and waiting
 * for the broker's port. Shared by the fault tests and `deno task torture`.
 *
 * @module
 */
import { execFile } from "node:child_process";
import { connect } from "node:net";
import process from "node:process";
import { setTimeout as delay } from "node:timers/promises";

/** The broker the harness and the tests talk to (`TEST_AMQPURL`). */
export const AMQP_URL = process.env.TEST_AMQPURL ?? "amqp://guest:guest@127.0.0.1:5672";

/**
 * Run rabbitmqctl and return its stdout. While the RabbitMQ application is
 * stopped (by this run or by another test on the shared broker), commands
 * that need it are retried for up to two minutes.
 */
export async function rabbitmqctl(...args: string[]): Promise<string> {
  const deadline = Date.now() + 120_000;
  while (true) {
    try {
      return await rabbitmqctlOnce(args);
    } catch (error) {
      const appDown = /'rabbit' app to be running|nodedown|unable to perform an operation/i.test(
        (error as Error).message,
      );
      if (!appDown || args[0] === "stop_app" || args[0] === "start_app" || Date.now() > deadline) throw error;
      await delay(1000);
    }
  }
}

function rabbitmqctlOnce(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("rabbitmqctl", args, { timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`rabbitmqctl ${args.join(" ")} failed: ${stderr || error.message}`));
      else resolve(stdout);
    });
  });
}

/** Messages in a queue, ready plus unacknowledged; undefined if the queue does not exist. */
export async function queueDepth(name: string): Promise<number | undefined> {
  const out = await rabbitmqctl("list_queues", "-q", "--no-table-headers", "name", "messages");
  for (const line of out.split("\n")) {
    const [queue, messages] = line.trim().split(/\s+/);
    if (queue === name) return Number(messages);
  }
  return undefined;
}

/**
 * Publish to `queue` (vhost "/") from inside RabbitMQ with `rabbitmqctl eval`, where no AMQP frame
 * limits the headers (as the management UI, shovels and plugins publish): each header is a string of
 * the given length. An AMQP client could not send a header frame over the broker's 128 KiB frame_max.
 */
export async function publishInsideBroker(
  queue: string,
  body: string,
  headers: Record<string, number>,
  messageId: string,
): Promise<void> {
  const bin = (s: string) => `<<${new TextEncoder().encode(s).join(",")}>>`; // bytes: no quoting to get wrong
  const table = Object.entries(headers).map(([k, n]) => `{${bin(k)}, longstr, binary:copy(<<"x">>, ${n})}`);
  const out = await rabbitmqctl(
    "eval",
    `rabbit_basic:publish(rabbit_misc:r(<<"/">>, exchange, <<>>), ${bin(queue)}, ` +
      `[{headers, [${table.join(", ")}]}, {message_id, ${bin(messageId)}}], ${bin(body)}).`,
  );
  if (!/^ok\b/.test(out.trim())) throw new Error(`rabbitmqctl eval did not publish: ${out}`);
}

/** Drop every client connection (every engineer's on this broker: they all must reconnect). */
export async function closeAllConnections(): Promise<void> {
  await rabbitmqctl("close_all_connections", "test");
}

/** Wait until something accepts TCP connections on the broker's port. */
export async function waitForBrokerPort(timeoutMs = 60_000, port = 5672): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`RabbitMQ did not open port ${port} within ${timeoutMs} ms`);
    await delay(200);
  }
}

/** Stop the RabbitMQ application for `downMs`, then start it again; always leaves it running. */
export async function bounceBroker(downMs: number): Promise<void> {
  try {
    await rabbitmqctl("stop_app");
    await delay(downMs);
  } finally {
    await rabbitmqctl("start_app");
    await waitForBrokerPort();
  }
}
