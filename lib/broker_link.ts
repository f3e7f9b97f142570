/**
 * The reconnect link: keeps one {@link BrokerSession} alive, runs a setup
 * function on every connection, and tells refusals that retrying cannot fix
 * (a wrong password, a missing vhost, a queue another consumer holds for
 * good) from a broker that is merely down.
 *
 * `@cloudamqp/amqp-client`'s `AMQPSession` reconnects but does not re-declare
 * topology, and it recovers consumers on channels we do not control. The
 * server needs the opposite (declare, then republish the unconfirmed tail,
 * then consume), so {@link BrokerLink} runs its own reconnect loop. It opens
 * sessions through an injected {@link OpenSession} (the AMQP one by default),
 * so `tests/broker_link_test.ts` drives it with fakes.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { openSession } from "./amqp_session.ts";
import { Backoff } from "./backoff.ts";
import type { BrokerSession, OpenSession } from "./broker_session.ts";
import { type BrokerSettingNames, isTls, QUEUE_BROKER, redact } from "./config.ts";
import { DEFAULTS } from "./defaults.ts";
import { BrokerRefusedError, ConfigError, describe, QueueInUseError } from "./errors.ts";

/**
 * Options for {@link BrokerLink}.
 *
 * @example Keep a consumer alive across reconnects
 * ```ts
 * import { BrokerLink, type BrokerLinkOptions } from "./broker_link.ts";
 * const options: BrokerLinkOptions = {
 *   name: "my projection",
 *   setup: async (session) => {
 *     await session.declareQueue("work");
 *     await session.consume("work", 10, (d) => void session.ack(d.tag));
 *   },
 *   onDisconnect: () => console.warn("broker lost; reconnecting"),
 *   warn: (message) => console.warn(message),
 * };
 * const link = new BrokerLink("amqp://guest:guest@127.0.0.1", options);
 * await link.start();
 * await link.close();
 * ```
 */
export interface BrokerLinkOptions {
  /** Connection name shown in the management UI. @default {undefined} */
  name?: string;
  /** Run on every new connection: declare topology, start consuming. */
  setup: (session: BrokerSession) => Promise<void>;
  /** Called when a connection is lost (before reconnecting). */
  onDisconnect?: (error?: Error) => void;
  /** Log lines about reconnects. */
  log?: (message: string) => void;
  /** Lines an operator must see: the queue is held by another consumer, the broker refuses the login. */
  warn?: (message: string) => void;
  /**
   * Called when reconnecting stops for good: another consumer still held the
   * queue ({@link QueueInUseError}) after `inUseGrace`. The link is closed
   * then. Without it the link keeps retrying.
   */
  onFatal?: (error: Error) => void;
  /**
   * After a reconnect, how long to wait for a queue another consumer holds
   * before `onFatal`: long enough for RabbitMQ to drop this process's own
   * lost connection (two missed 10 s heartbeats), never taking the queue
   * from a live consumer. @default {60000}
   */
  inUseGrace?: number;
  /** First reconnect delay in ms. @default {100} */
  minDelay?: number;
  /** Largest reconnect delay in ms. @default {5000} */
  maxDelay?: number;
  /** Give up on the very first connection after this many ms. @default {10000} */
  startTimeout?: number;
  /**
   * PEM file of the CA certificates to trust for an `amqps://` URL, read on every connect (so a renewed
   * file is picked up). @default {undefined} (the runtime's built-in CAs)
   */
  caFile?: string;
  /**
   * The settings this broker comes from, named in errors ("check FANOUTHOST or FANOUTURL").
   * @default {QUEUE_BROKER} (`AMQPURL`, `AMQPHOST`, `AMQPCAFILE`)
   */
  settings?: BrokerSettingNames;
  /**
   * Opens each session; a fake in unit tests.
   * @default {openSession} (lib/amqp_session.ts: the real broker)
   */
  open?: OpenSession;
}

/**
 * Keeps one session to the broker alive: connects, runs `setup`, and when the
 * connection drops reconnects with exponential backoff and runs `setup` again.
 *
 * @example Keep a consumer alive across broker restarts
 * ```ts
 * import { BrokerLink } from "./broker_link.ts";
 * const link = new BrokerLink("amqp://guest:guest@127.0.0.1", {
 *   setup: async (session) => {
 *     await session.declareQueue("work");
 *     await session.consume("work", 10, (d) => session.ack(d.tag));
 *   },
 * });
 * await link.start();
 * await link.close();
 * ```
 */
export class BrokerLink {
  readonly #url: string;
  readonly #options: BrokerLinkOptions;
  #session: BrokerSession | undefined;
  #closed = false;
  /** Aborted by close(): ends a reconnect delay at once. */
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;

  /**
   * A link that connects on {@link BrokerLink.start}.
   *
   * @param url Broker URL (amqp:// or amqps://).
   * @param options Setup function and reconnect tuning.
   */
  constructor(url: string, options: BrokerLinkOptions) {
    this.#url = url;
    this.#options = options;
  }

  /** The current session, if connected. */
  get session(): BrokerSession | undefined {
    return this.#session && !this.#session.closed ? this.#session : undefined;
  }

  /**
   * Connect and run setup, retrying until `startTimeout`; afterwards keep
   * reconnecting in the background for as long as the link is open.
   */
  async start(): Promise<void> {
    const deadline = Date.now() + (this.#options.startTimeout ?? DEFAULTS.link.startTimeout);
    const backoff = this.#backoff();
    while (true) {
      try {
        await this.#connectOnce();
        return;
      } catch (error) {
        if (this.#closed || error instanceof ConfigError) throw error;
        const refused = refusal(error, this.#url, this.#names, this.#options.caFile);
        if (refused) throw refused;
        if (Date.now() + backoff.delay > deadline || isFatal(error)) {
          throw new Error(
            `Cannot connect to RabbitMQ at ${redact(this.#url)}: ${describe(error)}; ` +
              `check ${this.#names.host} or ${this.#names.url} and that RabbitMQ is running`,
            { cause: error },
          );
        }
        this.#options.log?.(`Broker not reachable (${describe(error)}); retrying in ${backoff.delay} ms`);
        await backoff.sleep(this.#stop.signal);
      }
    }
  }

  async #connectOnce(): Promise<void> {
    let current = false;
    const open = this.#options.open ?? openSession;
    const caFile = this.#options.caFile;
    const session = await open(this.#url, {
      name: this.#options.name,
      ca: caFile === undefined ? undefined : await readCaFile(caFile, this.#names.caFile),
      onClose: (error) => {
        if (current) this.#lost(error);
      },
    });
    try {
      await this.#options.setup(session);
    } catch (error) {
      await session.close();
      throw error;
    }
    if (this.#closed) {
      await session.close();
      return;
    }
    if (session.closed) throw new Error("connection closed during setup");
    this.#session = session;
    current = true;
  }

  #lost(error?: Error): void {
    if (this.#closed) return;
    this.#session = undefined;
    this.#options.onDisconnect?.(error);
    this.#options.log?.(`Broker connection lost (${error ? describe(error) : "closed"}); reconnecting`);
    if (!this.#loop) this.#loop = this.#reconnect().finally(() => (this.#loop = undefined));
  }

  async #reconnect(): Promise<void> {
    const backoff = this.#backoff();
    let inUseSince: number | undefined;
    const warned = new Set<string>();
    while (!this.#closed) {
      if (!(await backoff.sleep(this.#stop.signal)) || this.#closed) return;
      try {
        await this.#connectOnce();
        this.#options.log?.("Broker connection restored");
        return;
      } catch (caught) {
        const error = refusal(caught, this.#url, this.#names, this.#options.caFile) ?? caught;
        if (error instanceof QueueInUseError) {
          // Never taken from a live consumer; but it may be this process's own lost connection.
          const grace = this.#options.inUseGrace ?? DEFAULTS.link.inUseGrace;
          inUseSince ??= Date.now();
          if (Date.now() - inUseSince >= grace && this.#options.onFatal) {
            this.#options.warn?.(`${error.message}; gave up reconnecting after ${grace} ms`);
            this.#closed = true;
            this.#options.onFatal(error);
            return;
          }
          if (!warned.has(error.message)) {
            this.#options.warn?.(`${error.message}; not consuming, retrying for up to ${grace} ms`);
          }
          warned.add(error.message);
        } else if (error instanceof BrokerRefusedError || error instanceof ConfigError) {
          if (!warned.has(error.message)) this.#options.warn?.(`${error.message}; still retrying`);
          warned.add(error.message);
        } else {
          inUseSince = undefined;
        }
        this.#options.log?.(`Reconnect failed (${describe(error)}); retrying in ${backoff.delay} ms`);
      }
    }
  }

  get #names(): BrokerSettingNames {
    return this.#options.settings ?? QUEUE_BROKER;
  }

  /** The reconnect delays: `minDelay` doubling up to `maxDelay`. */
  #backoff(): Backoff {
    const first = this.#options.minDelay ?? DEFAULTS.link.reconnect.first;
    return new Backoff({ first, max: Math.max(first, this.#options.maxDelay ?? DEFAULTS.link.reconnect.max) });
  }

  /** Stop reconnecting and close the current session. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stop.abort();
    const session = this.#session;
    this.#session = undefined;
    await session?.close();
  }
}

/**
 * The CA certificates in `file`, checked to be PEM certificates.
 *
 * @throws {ConfigError} Naming `setting` when the file cannot be read or holds no certificate.
 */
async function readCaFile(file: string, setting: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    const code = (error as { code?: string })?.code;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : describe(error);
    throw new ConfigError(`Cannot read ${setting} "${file}": ${why}; point ${setting} at the CA certificate (PEM)`);
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----")) {
    throw new ConfigError(
      `${setting} "${file}" holds no PEM certificate (no "-----BEGIN CERTIFICATE-----" line); ` +
        `point ${setting} at the CA certificate that signed the broker's certificate`,
    );
  }
  return text;
}

/** Errors that retrying cannot fix but that are not the broker's refusal (a host name that does not resolve). */
function isFatal(error: unknown): boolean {
  return /ENOTFOUND|EAI_AGAIN|Invalid URL/i.test(describe(error));
}

/**
 * The broker's refusal in `error`, as one line that says what to change, or
 * undefined when the error is something else (the broker is down, the
 * connection dropped). RabbitMQ's texts are stable:
 * `NOT_ALLOWED - vhost v not found`, `NOT_ALLOWED - access to vhost 'v' refused for user 'u'`,
 * `ACCESS_REFUSED - Login was refused …`, `ACCESS_REFUSED - access to queue 'q' in vhost 'v' refused for user 'u'`,
 * `PRECONDITION_FAILED - inequivalent arg …`.
 */
function refusal(error: unknown, url: string, names: BrokerSettingNames, caFile?: string): Error | undefined {
  if (error instanceof QueueInUseError || error instanceof BrokerRefusedError) return error;
  const text = describe(error);
  const at = `RabbitMQ at ${redact(url)}`;
  const user = userOf(url);
  // The TLS handshake's verdict on the broker's certificate (node:tls's texts, on Node and on Deno).
  if (/certificate|altnames|CERT_|UnknownIssuer/i.test(text) && isTls(url)) {
    const what = /altnames|Hostname/i.test(text)
      ? `connect by a name the certificate is for (in ${names.url})`
      : caFile === undefined
      ? `set ${names.caFile} to the PEM file of the CA that signed it`
      : `point ${names.caFile} (now "${caFile}") at the CA that signed it`;
    return new BrokerRefusedError(
      `${at} presented a TLS certificate that is not trusted (${text}); ${what}`,
      "TLS",
      error,
    );
  }
  let m = /NOT_ALLOWED - vhost (.*) not found/.exec(text);
  if (m) {
    return new BrokerRefusedError(
      `${at} has no vhost "${m[1]}"; create it (rabbitmqctl add_vhost ${m[1]}) or correct the vhost in ${names.url}`,
      "NOT_ALLOWED",
      error,
    );
  }
  m = /NOT_ALLOWED - access to vhost '(.*)' refused for user '(.*)'/.exec(text);
  if (m) {
    return new BrokerRefusedError(
      `${at} refused user "${m[2]}" access to vhost "${m[1]}"; grant it ` +
        `(rabbitmqctl set_permissions -p ${m[1]} ${m[2]} ".*" ".*" ".*") or change the user or vhost in ${names.url}`,
      "NOT_ALLOWED",
      error,
    );
  }
  if (/ACCESS_REFUSED - Login was refused/.test(text)) {
    return new BrokerRefusedError(
      `${at} refused the login of user "${user}": wrong user name or password ` +
        `(user guest may log in from localhost only); set ${names.url} with credentials RabbitMQ accepts`,
      "ACCESS_REFUSED",
      error,
    );
  }
  m = /ACCESS_REFUSED - access to (queue|exchange) '(.*)' in vhost '(.*)' refused for user '(.*)'/.exec(text);
  if (m) {
    return new BrokerRefusedError(
      `${at} refused user "${m[4]}" access to ${m[1]} "${m[2]}" in vhost "${m[3]}"; grant the user configure, ` +
        `write and read permissions on it (rabbitmqctl set_permissions) or change ${names.url}`,
      "ACCESS_REFUSED",
      error,
    );
  }
  m = /(ACCESS_REFUSED|NOT_ALLOWED|PRECONDITION_FAILED) - (.*?)(?: \(\d+\))?$/.exec(text);
  if (m) {
    const hint = m[1] === "PRECONDITION_FAILED"
      ? "it exists with other settings: delete it, or choose another QUEUENAME or EXCHANGENAME"
      : `change ${names.url}, QUEUENAME or EXCHANGENAME, or the user's permissions`;
    return new BrokerRefusedError(`${at} refused: ${m[1]} - ${m[2]}; ${hint}`, m[1], error);
  }
  return undefined;
}

function userOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).username) || "guest";
  } catch {
    return "guest";
  }
}
