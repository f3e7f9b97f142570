/**
 * Settings from the environment (the seed README's variables) merged with
 * programmatic options, which win. Every invalid value becomes one
 * {@link ConfigError} that names the setting and what to change.
 *
 * @module
 */
import { utf8Length } from "./utf8_length.ts";
import { DEFAULTS as LIMITS } from "./defaults.ts";
import { ConfigError } from "./errors.ts";
import { env } from "./runtime/env.ts";

/**
 * Settings shared by the server, the listener and the command module.
 *
 * @example Read them as the command module would
 * ```ts
 * import { brokerSettings } from "./config.ts";
 * import type { BrokerSettings } from "rabbit-eventstore";
 * const settings: BrokerSettings = brokerSettings({ queueName: "orders" }, { AMQPHOST: "rabbit:5672" });
 * console.log(settings.amqpUrl, settings.queueName); // amqp://guest:guest@rabbit:5672 orders
 * ```
 */
export interface BrokerSettings {
  /**
   * Full broker URL with credentials and vhost. Wins over `amqpHost`.
   * Env `AMQPURL`. @default {"amqp://guest:guest@localhost"} (guest at `amqpHost`)
   */
  amqpUrl: string;
  /**
   * PEM file of the CA certificate(s) to trust for an `amqps://` `amqpUrl`, instead of the built-in ones
   * (read again on every connect). Env `AMQPCAFILE`. @default {undefined} (the runtime's trusted CAs)
   */
  amqpCaFile?: string;
  /**
   * The broker the fanout exchange lives on: the server publishes stored events there and listeners bind
   * to it. Env `FANOUTURL`, else `FANOUTHOST` (as `AMQPHOST`). @default {amqpUrl} (one broker)
   */
  fanoutUrl: string;
  /**
   * PEM file of the CA certificate(s) to trust for an `amqps://` `fanoutUrl`. Env `FANOUTCAFILE`.
   * @default {amqpCaFile} (when `fanoutUrl` is amqps://)
   */
  fanoutCaFile?: string;
  /** Fanout exchange for stored events. Env `EXCHANGENAME`. @default {"events"} */
  exchangeName: string;
  /** Queue the server consumes new events from. Env `QUEUENAME`. @default {"events"} */
  queueName: string;
  /** Print debug messages to stdout. Env `DEBUG`, any value but "", "0", "false", "no", "off". @default {false} */
  debug: boolean;
}

/**
 * Settings of the server, as {@link serverSettings} reads them and
 * `EventStoreServer.settings` reports them.
 *
 * @example Log where a server keeps and serves its events
 * ```ts
 * import { type ServerSettings, startServer } from "rabbit-eventstore/server";
 * function describeServer(settings: ServerSettings): string {
 *   return `${settings.storageFile} on ${settings.hostname}:${settings.port}, queue ${settings.queueName}`;
 * }
 * const server = await startServer({ port: 8080 });
 * console.log(describeServer(server.settings)); // ./storage on 0.0.0.0:8080, queue events
 * await server.close();
 * ```
 */
export interface ServerSettings extends BrokerSettings {
  /** HTTP port for history. Env `PORT`. @default {80} */
  port: number;
  /** HTTP listen address. Env `HTTPHOST`. @default {"0.0.0.0"} */
  hostname: string;
  /** Path of the storage file. Env `STORAGEFILE`. @default {"./storage"} */
  storageFile: string;
  /** Largest accepted event in bytes; larger ones are dead-lettered. Env `MAXEVENTBYTES`. @default {1048576} */
  maxEventBytes: number;
  /** Unacknowledged messages the server takes at once (the batch bound). Env `PREFETCH`. @default {1000} */
  prefetch: number;
  /** Ids remembered for idempotent append. Env `DEDUPWINDOW`. @default {1000000} */
  dedupWindow: number;
  /**
   * Milliseconds an HTTP client may take to send a complete request head (from connect, or from the end of
   * the previous response); then its connection is closed. 1 to 30000. Env `HTTPHEADERTIMEOUT`. @default {30000}
   */
  httpHeaderTimeout: number;
  /**
   * HTTP connections open at once; one more is answered 503 and closed (lowered to fit the open-file limit).
   * Env `HTTPMAXCONNECTIONS`. @default {1000}
   */
  httpMaxConnections: number;
  /**
   * Milliseconds an HTTP response may wait for its client to take any bytes; then the connection is closed.
   * Env `HTTPWRITETIMEOUT`. @default {60000}
   */
  httpWriteTimeout: number;
  /**
   * Records per second at most that the server republishes to the fanout while catching up (after a
   * restart, a reconnect, or a restored store whose watermark is unknown, which republishes its whole
   * history); live events are published at once beside it. 0: as fast as the broker confirms.
   * Env `REPUBLISHRATE`. @default {2000}
   */
  republishRate: number;
}

/**
 * Settings of the listener, as {@link listenerSettings} reads them.
 *
 * @example Settings for a listener of a remote server
 * ```ts
 * import { listenerSettings } from "./config.ts";
 * import type { ListenerSettings } from "rabbit-eventstore/listener";
 * const settings: ListenerSettings = listenerSettings({ historyUrl: "http://eventstore:8080/" }, {});
 * console.log(settings.historyUrl, settings.prefetch); // http://eventstore:8080/ 256
 * ```
 */
export interface ListenerSettings extends BrokerSettings {
  /** URL of the server's HTTP history. Env `HISTORYURL`. @default {"http://localhost/"} */
  historyUrl: string;
  /** Live events buffered by the broker for this listener at once. @default {256} */
  prefetch: number;
  /**
   * Bearer token sent with every history request, for a server with `HTTPTOKEN`. Env `HISTORYTOKEN`.
   * @default {undefined} (none sent)
   */
  historyToken?: string;
}

/**
 * The settings' defaults, in one place; the numeric ones come from `lib/defaults.ts`.
 *
 * @example The port a server binds when neither `port` nor `PORT` is set
 * ```ts
 * import { DEFAULTS } from "./config.ts";
 * console.log(DEFAULTS.port, DEFAULTS.storageFile); // 80 ./storage
 * ```
 */
export const DEFAULTS = {
  amqpHost: "localhost",
  exchangeName: "events",
  queueName: "events",
  port: 80,
  hostname: "0.0.0.0",
  storageFile: "./storage",
  maxEventBytes: LIMITS.server.maxEventBytes,
  prefetch: LIMITS.server.prefetch,
  dedupWindow: LIMITS.server.dedupWindow,
  historyUrl: "http://localhost/",
  listenerPrefetch: LIMITS.listener.prefetch,
  httpHeaderTimeout: LIMITS.http.headerTimeout,
  httpMaxConnections: LIMITS.http.maxConnections,
  httpWriteTimeout: LIMITS.http.writeTimeout,
  republishRate: LIMITS.fanout.republishRate,
} as const;

/**
 * The environment variables read, by setting.
 *
 * @example Settings from a fixed environment instead of the process's
 * ```ts
 * import { type Env, serverSettings } from "./config.ts";
 * const vars: Env = { PORT: "8080", QUEUENAME: "orders" };
 * console.log(serverSettings({}, vars).queueName); // orders
 * ```
 */
export type Env = Record<string, string | undefined>;

/**
 * Read broker settings: options, then env, then defaults.
 *
 * @param options Programmatic settings; they win over the environment.
 * @param vars The environment. @default {the process's environment}
 * @returns The settings, complete.
 * @throws {ConfigError} On an invalid value.
 * @example The broker URL built from a host
 * ```ts
 * import { brokerSettings } from "./config.ts";
 * console.log(brokerSettings({ amqpHost: "10.0.0.5" }, {}).amqpUrl); // amqp://guest:guest@10.0.0.5
 * ```
 */
export function brokerSettings(
  options: Partial<BrokerSettings & { amqpHost: string; fanoutHost: string }> = {},
  vars: Env = env(),
): BrokerSettings {
  const queueUrl = options.amqpUrl ?? brokerUrl(QUEUE_BROKER, options.amqpHost, vars) ??
    `amqp://guest:guest@${DEFAULTS.amqpHost}`;
  const fanoutUrl = options.fanoutUrl ?? brokerUrl(FANOUT_BROKER, options.fanoutHost, vars) ?? queueUrl;
  const amqpCaFile = caFile(QUEUE_BROKER, options.amqpCaFile ?? nonEmpty("AMQPCAFILE", vars.AMQPCAFILE), queueUrl);
  const fanoutCa = options.fanoutCaFile ?? nonEmpty("FANOUTCAFILE", vars.FANOUTCAFILE);
  return {
    amqpUrl: queueUrl,
    amqpCaFile,
    fanoutUrl,
    // The queue broker's CA by default, when the fanout broker is reached over TLS too.
    fanoutCaFile: fanoutCa === undefined
      ? (isTls(fanoutUrl) ? amqpCaFile : undefined)
      : caFile(FANOUT_BROKER, fanoutCa, fanoutUrl),
    exchangeName: name("EXCHANGENAME", options.exchangeName ?? vars.EXCHANGENAME ?? DEFAULTS.exchangeName, 0),
    queueName: name("QUEUENAME", options.queueName ?? vars.QUEUENAME ?? DEFAULTS.queueName, DEAD_SUFFIX_BYTES),
    debug: options.debug ?? truthy(vars.DEBUG),
  };
}

/**
 * Read server settings: options, then env, then defaults.
 *
 * @param options Programmatic settings; they win over the environment.
 * @param vars The environment. @default {the process's environment}
 * @returns The settings, complete.
 * @throws {ConfigError} On an invalid value.
 * @example An option and a variable together
 * ```ts
 * import { serverSettings } from "./config.ts";
 * const settings = serverSettings({ port: 8080 }, { STORAGEFILE: "/var/lib/events" });
 * console.log(settings.port, settings.storageFile); // 8080 /var/lib/events
 * ```
 */
export function serverSettings(
  options: Partial<ServerSettings & { amqpHost: string; fanoutHost: string }> = {},
  vars: Env = env(),
): ServerSettings {
  return {
    ...brokerSettings(options, vars),
    port: options.port ?? integer("PORT", vars.PORT, DEFAULTS.port, 0, 65535),
    hostname: options.hostname ?? nonEmpty("HTTPHOST", vars.HTTPHOST) ?? DEFAULTS.hostname,
    storageFile: options.storageFile ?? nonEmpty("STORAGEFILE", vars.STORAGEFILE) ?? DEFAULTS.storageFile,
    maxEventBytes: options.maxEventBytes ??
      integer("MAXEVENTBYTES", vars.MAXEVENTBYTES, DEFAULTS.maxEventBytes, 1, 128 * 1024 * 1024),
    prefetch: options.prefetch ?? integer("PREFETCH", vars.PREFETCH, DEFAULTS.prefetch, 1, 65535),
    dedupWindow: options.dedupWindow ??
      integer("DEDUPWINDOW", vars.DEDUPWINDOW, DEFAULTS.dedupWindow, 1, 100_000_000),
    httpHeaderTimeout: options.httpHeaderTimeout ??
      integer("HTTPHEADERTIMEOUT", vars.HTTPHEADERTIMEOUT, DEFAULTS.httpHeaderTimeout, 1, 30_000),
    httpMaxConnections: options.httpMaxConnections ??
      integer("HTTPMAXCONNECTIONS", vars.HTTPMAXCONNECTIONS, DEFAULTS.httpMaxConnections, 1, 1_000_000),
    httpWriteTimeout: options.httpWriteTimeout ??
      integer("HTTPWRITETIMEOUT", vars.HTTPWRITETIMEOUT, DEFAULTS.httpWriteTimeout, 1, 86_400_000),
    republishRate: options.republishRate ??
      integer("REPUBLISHRATE", vars.REPUBLISHRATE, DEFAULTS.republishRate, 0, 10_000_000),
  };
}

/**
 * Read listener settings: options, then env, then defaults.
 *
 * @param options Programmatic settings; they win over the environment.
 * @param vars The environment. @default {the process's environment}
 * @returns The settings, complete.
 * @throws {ConfigError} On an invalid value, such as a `HISTORYURL` that is not http(s).
 * @example History from the environment
 * ```ts
 * import { listenerSettings } from "./config.ts";
 * console.log(listenerSettings({}, { HISTORYURL: "https://events.example.com/" }).historyUrl);
 * ```
 */
export function listenerSettings(
  options: Partial<ListenerSettings & { amqpHost: string; fanoutHost: string }> = {},
  vars: Env = env(),
): ListenerSettings {
  return {
    ...brokerSettings(options, vars),
    historyUrl: historyUrlSetting(options.historyUrl, vars),
    prefetch: options.prefetch ?? DEFAULTS.listenerPrefetch,
    historyToken: tokenSetting("HISTORYTOKEN", options.historyToken, vars),
  };
}

/**
 * A bearer token setting: the server's `HTTPTOKEN`, or the token a client
 * sends (`HISTORYTOKEN`). The option wins over the variable; empty means
 * none. The value is never put in an error message.
 *
 * @param setting The variable's name, for the environment and for errors.
 * @param value The programmatic setting, if any.
 * @param vars The environment. @default {the process's environment}
 * @returns The token, or undefined when none is set.
 * @throws {ConfigError} When it holds a space or a character that is not printable ASCII, or is over 4096 characters.
 * @example The server's token from the environment
 * ```ts
 * import { tokenSetting } from "./config.ts";
 * console.log(tokenSetting("HTTPTOKEN", undefined, { HTTPTOKEN: "s3cret" })); // s3cret
 * console.log(tokenSetting("HTTPTOKEN", undefined, {})); // undefined
 * ```
 */
export function tokenSetting(
  setting: "HTTPTOKEN" | "HISTORYTOKEN",
  value: string | undefined,
  vars: Env = env(),
): string | undefined {
  const token = value ?? vars[setting];
  if (token === undefined || token === "") return undefined;
  if (typeof token !== "string" || !/^[\x21-\x7e]{1,4096}$/.test(token)) {
    const given = typeof token === "string" ? `${token.length} characters` : `a ${typeof token}`;
    throw new ConfigError(
      `${setting} must be 1 to 4096 printable ASCII characters without spaces (a bearer token); ` +
        `the value given (${given}) is not one, and is not shown`,
    );
  }
  return token;
}

/**
 * The server's HTTP history URL, as the listener and the command module read it:
 * `historyUrl`, else env `HISTORYURL`, else `http://localhost/`.
 *
 * @param historyUrl The programmatic setting, if any; it wins over the environment.
 * @param vars The environment. @default {the process's environment}
 * @returns The URL, checked to be http(s).
 * @throws {ConfigError} When it is not an http:// or https:// URL.
 * @example The default
 * ```ts
 * import { historyUrlSetting } from "./config.ts";
 * console.log(historyUrlSetting(undefined, {})); // http://localhost/
 * ```
 */
export function historyUrlSetting(historyUrl: string | undefined, vars: Env = env()): string {
  const value = historyUrl ?? nonEmpty("HISTORYURL", vars.HISTORYURL) ?? DEFAULTS.historyUrl;
  try {
    const url = new URL(value);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("not http");
  } catch {
    throw new ConfigError(`HISTORYURL must be an http:// or https:// URL, got "${value}"`);
  }
  return value;
}

/**
 * The environment variables that name one broker, for messages that say
 * which setting to change.
 *
 * @example The fanout broker's settings
 * ```ts
 * import { FANOUT_BROKER } from "./config.ts";
 * console.log(`check ${FANOUT_BROKER.host} or ${FANOUT_BROKER.url}`); // check FANOUTHOST or FANOUTURL
 * ```
 */
export interface BrokerSettingNames {
  /** The full URL's variable, e.g. `AMQPURL`. */
  url: string;
  /** The host's variable, e.g. `AMQPHOST`. */
  host: string;
  /** The CA file's variable, e.g. `AMQPCAFILE`. */
  caFile: string;
}

/**
 * The settings of the broker the server consumes `QUEUENAME` from (and the command publishes to).
 *
 * @example Name them in a message
 * ```ts
 * import { QUEUE_BROKER } from "./config.ts";
 * console.log(QUEUE_BROKER.url); // AMQPURL
 * ```
 */
export const QUEUE_BROKER: BrokerSettingNames = { url: "AMQPURL", host: "AMQPHOST", caFile: "AMQPCAFILE" };

/**
 * The settings of the broker the fanout exchange is on.
 *
 * @example Name them in a message
 * ```ts
 * import { FANOUT_BROKER } from "./config.ts";
 * console.log(FANOUT_BROKER.url); // FANOUTURL
 * ```
 */
export const FANOUT_BROKER: BrokerSettingNames = { url: "FANOUTURL", host: "FANOUTHOST", caFile: "FANOUTCAFILE" };

/** A broker's URL from its host option, else its URL variable, else its host variable; undefined if none is set. */
function brokerUrl(names: BrokerSettingNames, host: string | undefined, vars: Env): string | undefined {
  const full = host === undefined ? nonEmpty(names.url, vars[names.url]) : undefined;
  if (full !== undefined) {
    let url: URL;
    try {
      url = new URL(full);
    } catch {
      throw new ConfigError(`${names.url} must be an amqp:// or amqps:// URL, got "${redact(full)}"`);
    }
    if (url.protocol !== "amqp:" && url.protocol !== "amqps:") {
      throw new ConfigError(`${names.url} must start with amqp:// or amqps://, got "${redact(full)}"`);
    }
    return full;
  }
  const h = host ?? nonEmpty(names.host, vars[names.host]);
  if (h === undefined) return undefined;
  if (/[\s/@]/.test(h)) {
    throw new ConfigError(
      `${names.host} must be a host name or address (optionally host:port), got "${h}"; use ${names.url} for a full URL`,
    );
  }
  return `amqp://guest:guest@${h}`;
}

/** A CA file is for TLS: given for an amqp:// broker it would silently do nothing, so it is refused. */
function caFile(names: BrokerSettingNames, file: string | undefined, url: string): string | undefined {
  if (file === undefined || file === "") return undefined;
  if (!isTls(url)) {
    throw new ConfigError(
      `${names.caFile} is set ("${file}") but the broker is not reached over TLS ("${redact(url)}"); ` +
        `use an amqps:// ${names.url}, or unset ${names.caFile}`,
    );
  }
  return file;
}

/**
 * Whether a broker URL is reached over TLS (`amqps://`, in any case).
 *
 * @example Tell a TLS URL
 * ```ts
 * import { isTls } from "./config.ts";
 * console.log(isTls("AMQPS://rabbit"), isTls("amqp://rabbit")); // true false
 * ```
 */
export function isTls(url: string): boolean {
  return /^amqps:/i.test(url);
}

/** RabbitMQ's limit for queue and exchange names, in UTF-8 bytes (a short string). */
const MAX_NAME_BYTES = 255;
/** The server also declares `<QUEUENAME>.dead`, so QUEUENAME must leave room for ".dead". */
const DEAD_SUFFIX_BYTES = 5;

/**
 * A queue or exchange name RabbitMQ will accept: 1 to 255 bytes in UTF-8
 * (less `reserved`), not starting with the reserved prefix "amq.". Checked
 * here so a bad name stops the program at once, before anything is declared.
 */
function name(setting: string, value: string, reserved: number): string {
  const bytes = utf8Length(value);
  const max = MAX_NAME_BYTES - reserved;
  if (bytes === 0 || bytes > max) {
    const shown = [...value].length > 40 ? `${[...value].slice(0, 40).join("")}…` : value;
    const why = reserved > 0
      ? ` (RabbitMQ allows ${MAX_NAME_BYTES}, and the server adds ".dead" for its dead-letter queue)`
      : "";
    throw new ConfigError(`${setting} must be 1 to ${max} bytes in UTF-8${why}, got ${bytes} bytes: "${shown}"`);
  }
  if (value.startsWith("amq.")) {
    throw new ConfigError(`${setting} must not start with "amq." (RabbitMQ reserves it), got "${value}"`);
  }
  return value;
}

function nonEmpty(_setting: string, value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

function integer(setting: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(`${setting} must be an integer from ${min} to ${max}, got "${value}"`);
  }
  return n;
}

/**
 * Whether an env value such as DEBUG is set to something truthy: anything but
 * unset, "", "0", "false", "no" and "off" (any case, spaces trimmed).
 *
 * @example Read DEBUG
 * ```ts
 * import { truthy } from "./config.ts";
 * console.log(truthy("1"), truthy(" Off "), truthy(undefined)); // true false false
 * ```
 */
export function truthy(value: string | undefined): boolean {
  return value !== undefined && !["", "0", "false", "no", "off"].includes(value.trim().toLowerCase());
}

/**
 * Hide the password in a broker URL for messages.
 *
 * @example Log a broker URL
 * ```ts
 * import { redact } from "./config.ts";
 * console.log(redact("amqp://app:secret@rabbit/prod")); // amqp://app:***@rabbit/prod
 * ```
 */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]*):[^@/]*@/, "//$1:***@");
}
