/**
 * A RabbitMQ node of a test's own, on this machine: its own node name
 * (`rt-<random>@localhost`), AMQP port, distribution port, data, log and
 * config in a temporary directory, no plugins (so no management or
 * prometheus ports), and optionally a TLS listener with certificates made
 * here with `openssl` (a CA, a server certificate for localhost and
 * 127.0.0.1 signed by it, and a second CA that signed nothing).
 *
 * It never touches the shared broker on 5672: the test may stop, start and
 * break this node as it likes. Starting one takes about 7 s on a loaded
 * 2-core machine, so a test file starts the nodes it needs once and shares
 * them. Runs on Deno and on Node (it spawns RabbitMQ and `rabbitmqctl`,
 * not `deno`).
 *
 * @example Two brokers for one test file
 * ```ts
 * import { after, before } from "node:test";
 * import { type RabbitNode, startRabbitNode } from "./_rabbit_node.ts";
 * let a: RabbitNode, b: RabbitNode;
 * before(async () => ([a, b] = await Promise.all([startRabbitNode(), startRabbitNode({ tls: true })])));
 * after(async () => await Promise.all([a?.stop(), b?.stop()]));
 * ```
 *
 * @module
 */
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { setTimeout as delay } from "node:timers/promises";
import { freePort } from "../scripts/_server_child.ts";

/** Options for {@link startRabbitNode}. */
export interface RabbitNodeOptions {
  /** Also listen for `amqps://` on a port of its own, with certificates made by `openssl`. @default {false} */
  tls?: boolean;
  /** Give up waiting for the node after this many ms. @default {90000} */
  startTimeout?: number;
}

/** The certificates of a node's TLS listener, all PEM files in the node's directory. */
export interface TestCertificates {
  /** The CA that signed the server's certificate: what a client must trust. */
  caFile: string;
  /** Another CA, which signed nothing the node presents: trusting only it must fail. */
  otherCaFile: string;
  /** The server's certificate (for localhost and 127.0.0.1) and its key. */
  certFile: string;
  /** The server's private key. */
  keyFile: string;
}

/** A running node; {@link RabbitNode.stop} it in `after`. */
export interface RabbitNode {
  /** The Erlang node name, for `rabbitmqctl -n`. */
  readonly name: string;
  /** `amqp://guest:guest@127.0.0.1:<port>`. */
  readonly url: string;
  /** The AMQP port. */
  readonly port: number;
  /** `amqps://guest:guest@localhost:<tls port>` when started with `tls`. */
  readonly tlsUrl?: string;
  /** The TLS listener's certificates when started with `tls`. */
  readonly certificates?: TestCertificates;
  /** The node's directory (data, logs, config, certificates). */
  readonly dir: string;
  /** Run `rabbitmqctl -n <node> <args>` and return its stdout. */
  ctl(...args: string[]): Promise<string>;
  /** Stop the RabbitMQ application (`stop_app`): every connection is closed, the node stays up. */
  stopApp(): Promise<void>;
  /** Start it again (`start_app`, which returns once it accepts connections). */
  startApp(): Promise<void>;
  /** Stop the node (`rabbitmqctl stop`) and remove its directory. */
  stop(): Promise<void>;
}

/**
 * Start a RabbitMQ node of the test's own and wait until it accepts AMQP
 * connections (and TLS ones, with `tls`).
 *
 * @throws {Error} With the end of the node's log, when it exits or does not come up in time.
 */
export async function startRabbitNode(options: RabbitNodeOptions = {}): Promise<RabbitNode> {
  const dir = await mkdtemp(join(tmpdir(), "rabbit-node-"));
  const name = `rt-${Math.random().toString(36).slice(2, 10)}@localhost`;
  const port = await freePort();
  const tlsPort = options.tls ? await freePort() : undefined;
  const distPort = await freeDistPort();
  const certificates = options.tls ? await makeCertificates(join(dir, "certs")) : undefined;
  const conf = [
    "listeners.tcp.1 = 127.0.0.1:" + port,
    "log.console = false",
    "log.file.level = warning",
  ];
  if (certificates && tlsPort) {
    conf.push(
      "listeners.ssl.1 = 127.0.0.1:" + tlsPort,
      `ssl_options.cacertfile = ${certificates.caFile}`,
      `ssl_options.certfile = ${certificates.certFile}`,
      `ssl_options.keyfile = ${certificates.keyFile}`,
      "ssl_options.verify = verify_none",
      "ssl_options.fail_if_no_peer_cert = false",
    );
  }
  await writeFile(join(dir, "rabbitmq.conf"), conf.join("\n") + "\n");
  await writeFile(join(dir, "enabled_plugins"), "[].\n"); // no management, no prometheus: no ports of theirs
  await writeFile(join(dir, "rabbitmq-env.conf"), ""); // not the system's (its NODENAME, its listener)
  const env: Record<string, string> = {
    ...process.env as Record<string, string>,
    HOME: dir, // the node's and its rabbitmqctl's Erlang cookie: our own
    RABBITMQ_NODENAME: name,
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    // rabbitmqctl's own distribution ports, away from the shared broker's CLI range (35672-35682)
    RABBITMQ_CTL_DIST_PORT_MIN: String(distPort + 1),
    RABBITMQ_CTL_DIST_PORT_MAX: String(distPort + 20),
    RABBITMQ_CONF_ENV_FILE: join(dir, "rabbitmq-env.conf"),
    RABBITMQ_CONFIG_FILE: join(dir, "rabbitmq.conf"),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, "advanced.config"),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, "enabled_plugins"),
    RABBITMQ_MNESIA_BASE: join(dir, "mnesia"),
    RABBITMQ_LOG_BASE: join(dir, "log"),
  };
  const server = spawn(bin("rabbitmq-server"), [], { env, stdio: ["ignore", "ignore", "pipe"], cwd: dir });
  let stderr = "";
  server.stderr?.on("data", (chunk) => (stderr = (stderr + chunk).slice(-4000)));
  let exited = false;
  const exit = new Promise<void>((resolve) => server.once("exit", () => resolve((exited = true, undefined))));
  const ctl = (...args: string[]) => run(bin("rabbitmqctl"), ["-n", name, ...args], env);
  const logTail = async () => {
    const log = await readFile(join(dir, "log", `${name}.log`), "utf8").catch(() => "");
    return `${stderr}\n${log}`.trim().split("\n").slice(-15).join("\n");
  };
  const ready = async () => {
    const deadline = Date.now() + (options.startTimeout ?? 90_000);
    for (const p of [port, tlsPort]) {
      if (p === undefined) continue;
      while (!(await portOpen(p))) {
        if (exited) throw new Error(`RabbitMQ node ${name} exited while starting:\n${await logTail()}`);
        if (Date.now() > deadline) throw new Error(`RabbitMQ node ${name} did not open port ${p}:\n${await logTail()}`);
        await delay(200);
      }
    }
    // The listeners open at the end of the boot (no plugins start after them): the node takes connections.
  };
  // A test process that ends without stop() (a crash, Ctrl-C) takes its node with it: SIGTERM makes the
  // start script stop the Erlang VM properly (SIGKILL would leave the VM running without it).
  const orphaned = () => void (exited || server.kill("SIGTERM"));
  process.once("exit", orphaned);
  const stop = async () => {
    process.off("exit", orphaned);
    if (!exited) {
      await ctl("stop").catch(() => {});
      await Promise.race([exit, delay(15_000)]);
      if (!exited) server.kill("SIGTERM");
      await Promise.race([exit, delay(15_000)]);
      if (!exited) server.kill("SIGKILL");
      await exit;
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await ready();
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    name,
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    port,
    tlsUrl: tlsPort ? `amqps://guest:guest@localhost:${tlsPort}` : undefined,
    certificates,
    dir,
    ctl,
    async stopApp() {
      await ctl("stop_app");
    },
    async startApp() {
      await ctl("start_app"); // returns once the application (its listeners included) has started
    },
    stop,
  };
}

/** The RabbitMQ scripts themselves, not Debian's wrappers in /usr/sbin (they switch to the rabbitmq user). */
function bin(name: string): string {
  const direct = `/usr/lib/rabbitmq/bin/${name}`;
  return existsSync(direct) ? direct : name;
}

function run(file: string, args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env, timeout: 90_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(" ")} failed: ${stderr || stdout || error.message}`));
      else resolve(stdout);
    });
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => (socket.destroy(), resolve(false)));
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/** A distribution port with the 20 ports after it (for rabbitmqctl) free, below the ephemeral range. */
async function freeDistPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 10_000);
    if (base >= 25_600 && base <= 25_700) continue; // the shared broker's distribution port
    let free = true;
    for (const p of [base, base + 1, base + 10, base + 20]) free &&= await portFree(p);
    if (free) return base;
  }
  throw new Error("No free distribution port found for a RabbitMQ node");
}

/** A CA, a server certificate for localhost and 127.0.0.1 that it signs, and a second CA, made with openssl. */
async function makeCertificates(dir: string): Promise<TestCertificates> {
  await mkdir(dir, { recursive: true });
  const f = (file: string) => join(dir, file);
  const openssl = (...args: string[]) => run("openssl", args, process.env as Record<string, string>);
  const ca = async (base: string, cn: string) => {
    await openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f(`${base}.key`));
    await openssl(
      "req",
      "-x509",
      "-new",
      "-key",
      f(`${base}.key`),
      "-subj",
      `/CN=${cn}`,
      "-days",
      "2",
      "-sha256",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
      "-out",
      f(`${base}.pem`),
    );
  };
  await ca("ca", "rabbit-eventstore test CA");
  await ca("other-ca", "rabbit-eventstore other test CA");
  await openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f("server.key"));
  await openssl("req", "-new", "-key", f("server.key"), "-subj", "/CN=localhost", "-out", f("server.csr"));
  await writeFile(
    f("server.ext"),
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n" +
      "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
  );
  await openssl(
    "x509",
    "-req",
    "-in",
    f("server.csr"),
    "-CA",
    f("ca.pem"),
    "-CAkey",
    f("ca.key"),
    "-CAcreateserial",
    "-days",
    "2",
    "-sha256",
    "-extfile",
    f("server.ext"),
    "-out",
    f("server.pem"),
  );
  return { caFile: f("ca.pem"), otherCaFile: f("other-ca.pem"), certFile: f("server.pem"), keyFile: f("server.key") };
}
