/**
 * The real server as a child process that can be SIGKILLed and restarted, as
 * the fault tests (`tests/*_int_test.ts`) and `deno task torture` start it.
 * Part of the fault harness in scripts/ (scripts must not import from tests/).
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { AMQP_URL } from "./_broker_admin.ts";

const SERVER = fileURLToPath(new URL("../server.ts", import.meta.url));

/** How to start a server child. */
export interface ServerChildOptions {
  storageFile: string;
  queueName: string;
  exchangeName: string;
  port: number;
  /** `RABBIT_EVENTSTORE_CRASH_AT` for this process (test-only crash point). */
  crashAt?: string;
  /** More environment variables. */
  env?: Record<string, string>;
  /**
   * Which runtime runs the server: `deno run -A server.ts`, or `node` on the
   * npm package's bin (built into npm/ by `npm run build`). @default {the runtime running the tests}
   */
  runtime?: "deno" | "node";
}

/** How a child process ended. */
export interface Exit {
  code: number | null;
  signal: string | null;
}

/** The server (`deno run -A server.ts`, or the npm bin on Node) with the settings in its environment, as in production. */
export class ServerChild {
  /** Resolves when the server printed its start-up line (storage open, consuming). */
  readonly ready: Promise<void>;
  /** Resolves when the process ended. */
  readonly exited: Promise<Exit>;
  readonly #child: ChildProcess;
  readonly #port: number;
  #output = "";

  /** Spawn the server. */
  constructor(options: ServerChildOptions) {
    this.#port = options.port;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
    delete env.RABBIT_EVENTSTORE_CRASH_AT;
    Object.assign(env, {
      PORT: String(options.port),
      HTTPHOST: "127.0.0.1",
      STORAGEFILE: options.storageFile,
      QUEUENAME: options.queueName,
      EXCHANGENAME: options.exchangeName,
      AMQPURL: AMQP_URL,
      DEBUG: "",
      ...options.env,
    });
    if (options.crashAt) env.RABBIT_EVENTSTORE_CRASH_AT = options.crashAt;
    const [command, args] = serverCommand(options.runtime);
    this.#child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    this.exited = new Promise((resolve) => this.#child.once("exit", (code, signal) => resolve({ code, signal })));
    this.ready = new Promise((resolve, reject) => {
      const keep = (chunk: Buffer) => {
        this.#output = (this.#output + chunk.toString()).slice(-4000);
        if (this.#output.includes("rabbit-eventstore: storing")) resolve();
      };
      this.#child.stdout!.on("data", keep);
      this.#child.stderr!.on("data", keep);
      this.exited.then((exit) =>
        reject(new Error(`server exited before it was ready (${describeExit(exit)}): ${this.#output}`))
      );
    });
    this.ready.catch(() => {});
  }

  /** The HTTP port it was told to use. */
  get port(): number {
    return this.#port;
  }

  /** The process id. */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** The last few KB of stdout and stderr. */
  get output(): string {
    return this.#output;
  }

  /** Whether the process is still running. */
  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** SIGKILL: no shutdown code runs, like a power cut for everything not fsync'd. */
  async kill(): Promise<Exit> {
    if (this.running) this.#child.kill("SIGKILL");
    return await this.exited;
  }

  /** SIGTERM: graceful stop; SIGKILL if it takes longer than `graceMs`. */
  async stop(graceMs = 10_000): Promise<Exit> {
    if (this.running) this.#child.kill("SIGTERM");
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

function describeExit(exit: Exit): string {
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}

/**
 * How to start the server on the runtime running the tests: `deno run -A
 * server.ts` on Deno; on Node (the compiled tests in npm/esm/tests) the npm
 * package's bin, so the fault tests also prove the Node build.
 */
function serverCommand(runtime?: "deno" | "node"): [string, string[]] {
  // deno-lint-ignore no-explicit-any
  const onDeno = Boolean((globalThis as any).Deno);
  if (onDeno && runtime !== "node") return [process.execPath, ["run", "-A", SERVER]];
  if (onDeno) return ["node", [NODE_BIN_FROM_SOURCE]];
  if (runtime === "deno") throw new Error("a Deno server child is started from the Deno test pass only");
  return [process.execPath, [fileURLToPath(new URL("../../bin/rabbit-eventstore.cjs", import.meta.url))]];
}

/** The npm package's bin as built by `npm run build`, seen from the source tests. */
export const NODE_BIN_FROM_SOURCE = fileURLToPath(new URL("../npm/bin/rabbit-eventstore.cjs", import.meta.url));

/** The server's head position from /health, or undefined while it is down. */
export async function serverHead(port: number): Promise<number | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) });
    const body = (await response.json()) as { head?: unknown };
    return typeof body.head === "number" ? body.head : undefined;
  } catch {
    return undefined;
  }
}

/** A TCP port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
