/**
 * lib/broker_link.ts with a fake opener instead of RabbitMQ: it reconnects
 * after a loss and runs setup again on the new session, gives up on the first
 * connection after `startTimeout`, never retries what retrying cannot fix,
 * waits `inUseGrace` for a queue another consumer holds, and stops at once
 * when closed. tests/broker_int_test.ts proves the same against the real broker.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { BrokerLink, type BrokerLinkOptions } from "../lib/broker_link.ts";
import type {
  BrokerSession,
  Consumer,
  Delivery,
  OpenSession,
  PublishProperties,
  SessionOptions,
} from "../lib/broker_session.ts";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FANOUT_BROKER } from "../lib/config.ts";
import { BrokerRefusedError, ConfigError, QueueInUseError } from "../lib/errors.ts";
import { delay, waitFor } from "./_helpers.ts";

const URL = "amqp://guest:secret@broker.test";

/** A session that does nothing; `drop()` plays the broker closing the connection. */
class FakeSession implements BrokerSession {
  closed = false;
  constructor(readonly options: SessionOptions = {}) {}
  /** Like openSession, tells the owner once. */
  drop(error = new Error("Socket closed")): void {
    if (this.closed) return;
    this.closed = true;
    this.options.onClose?.(error);
  }
  declareQueue(name: string): Promise<string> {
    return Promise.resolve(name);
  }
  declareFanout(): Promise<void> {
    return Promise.resolve();
  }
  bind(): Promise<void> {
    return Promise.resolve();
  }
  consume(_queue: string, _prefetch: number, _onDelivery: (delivery: Delivery) => void): Promise<Consumer> {
    return Promise.resolve({ cancel: () => Promise.resolve() });
  }
  ack(): Promise<void> {
    return Promise.resolve();
  }
  reject(): Promise<void> {
    return Promise.resolve();
  }
  publish(_exchange: string, _key: string, _body: string | Uint8Array, _properties?: PublishProperties) {
    return Promise.resolve();
  }
  deleteQueue(): Promise<void> {
    return Promise.resolve();
  }
  openReplyChannel(): Promise<never> {
    return Promise.reject(new Error("not used here"));
  }
  deleteExchange(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

/**
 * An opener whose n-th call (from 1) is answered by `answer(n)`: an error to
 * throw, or nothing for a new session. Records every session and call.
 */
function fakeBroker(answer: (call: number) => Error | undefined = () => undefined) {
  const sessions: FakeSession[] = [];
  const urls: string[] = [];
  const open: OpenSession = (url, options) => {
    urls.push(url);
    const error = answer(urls.length);
    if (error) return Promise.reject(error);
    const session = new FakeSession(options);
    sessions.push(session);
    return Promise.resolve(session);
  };
  return { open, sessions, urls };
}

/** A link on `open` with fast delays, recording its setups and log lines. */
function linkOn(open: OpenSession, options: Partial<BrokerLinkOptions> = {}) {
  const setups: BrokerSession[] = [];
  const logs: string[] = [];
  const warnings: string[] = [];
  const fatal: Error[] = [];
  const link = new BrokerLink(URL, {
    minDelay: 5,
    maxDelay: 20,
    open,
    setup: (session) => {
      setups.push(session);
      return Promise.resolve();
    },
    log: (message) => logs.push(message),
    warn: (message) => warnings.push(message),
    onFatal: (error) => fatal.push(error),
    ...options,
  });
  return { link, setups, logs, warnings, fatal };
}

describe("BrokerLink", () => {
  it("reconnects after a loss and runs setup again on the new session", async () => {
    const broker = fakeBroker();
    const disconnects: (Error | undefined)[] = [];
    const { link, setups, logs } = linkOn(broker.open, { onDisconnect: (error) => disconnects.push(error) });
    await link.start();
    assert.equal(setups.length, 1);
    assert.equal(link.session, broker.sessions[0]);

    broker.sessions[0].drop(new Error("CONNECTION_FORCED - broker forced connection closure"));
    assert.equal(link.session, undefined);
    assert.match(String(disconnects[0]?.message), /CONNECTION_FORCED/);
    await waitFor(() => link.session !== undefined, "the new session");
    assert.equal(link.session, broker.sessions[1]);
    assert.deepEqual(setups, [broker.sessions[0], broker.sessions[1]]);
    assert.ok(logs.includes("Broker connection restored"), logs.join("\n"));

    assert.equal(disconnects.length, 1);
    await link.close();
    assert.equal(broker.sessions[1].closed, true);
  });

  it("retries a setup that fails (closing its session) and a connection refused, with growing delays", async () => {
    let failSetup = 2;
    const broker = fakeBroker((call) => (call === 3 ? new Error("connect ECONNREFUSED 10.0.0.1:5672") : undefined));
    const { link, logs } = linkOn(broker.open, {
      setup: () => (failSetup-- > 0 ? Promise.reject(new Error("queue declare timed out")) : Promise.resolve()),
    });
    await link.start();
    assert.equal(broker.urls.length, 4);
    assert.deepEqual(broker.sessions.map((s) => s.closed), [true, true, false]);
    assert.deepEqual(logs.map((line) => /retrying in (\d+) ms/.exec(line)?.[1]), ["5", "10", "20"]);
    await link.close();
  });

  it("gives up on the first connection after startTimeout, naming the broker without its password", async () => {
    const broker = fakeBroker(() => new Error("connect ECONNREFUSED 10.0.0.1:5672"));
    const { link } = linkOn(broker.open, { startTimeout: 60 });
    await assert.rejects(link.start(), {
      message: "Cannot connect to RabbitMQ at amqp://guest:***@broker.test: connect ECONNREFUSED 10.0.0.1:5672; " +
        "check AMQPHOST or AMQPURL and that RabbitMQ is running",
    });
    // It retried before giving up (how often fits in 60 ms depends on the machine's load: at least once).
    assert.ok(broker.urls.length >= 2, `${broker.urls.length} attempts`);
  });

  it("does not retry what retrying cannot fix: a host that does not resolve, a refused login", async () => {
    const unknown = fakeBroker(() => new Error("getaddrinfo ENOTFOUND broker.test"));
    await assert.rejects(linkOn(unknown.open).link.start(), /Cannot connect to RabbitMQ at .*ENOTFOUND/);
    assert.equal(unknown.urls.length, 1);

    const refused = fakeBroker(() =>
      new Error("ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN")
    );
    await assert.rejects(
      linkOn(refused.open).link.start(),
      (error: Error) =>
        error instanceof BrokerRefusedError && error.code === "ACCESS_REFUSED" &&
        error.message.includes('refused the login of user "guest"') && !error.message.includes("secret"),
    );
    assert.equal(refused.urls.length, 1);
  });

  it("waits inUseGrace for a queue another consumer holds, then gives up with onFatal and closes", async () => {
    let inUse = false;
    const broker = fakeBroker(() => (inUse ? new QueueInUseError("events") : undefined));
    const { link, warnings, fatal } = linkOn(broker.open, { inUseGrace: 80 });
    await link.start();
    inUse = true;
    broker.sessions[0].drop();
    await waitFor(() => fatal.length === 1, "onFatal");
    assert.ok(fatal[0] instanceof QueueInUseError);
    assert.equal(
      warnings.filter((w) => /not consuming, retrying for up to 80 ms/.test(w)).length,
      1,
      warnings.join("\n"),
    );
    assert.match(warnings.at(-1)!, /gave up reconnecting after 80 ms/);
    const attempts = broker.urls.length;
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(broker.urls.length, attempts, "no attempt after giving up");
    assert.equal(link.session, undefined);
  });

  it("takes the queue once its other consumer is gone within the grace (this process's own lost connection)", async () => {
    const broker = fakeBroker((call) => (call === 2 || call === 3 ? new QueueInUseError("events") : undefined));
    const { link, fatal, logs } = linkOn(broker.open, { inUseGrace: 10_000 });
    await link.start();
    broker.sessions[0].drop();
    await waitFor(() => link.session !== undefined, "the new session");
    assert.deepEqual(fatal, []);
    assert.ok(logs.includes("Broker connection restored"));
    await link.close();
  });

  it("keeps retrying a queue in use without onFatal, and a refusal after a loss, warning once each", async () => {
    let error: Error | undefined;
    const broker = fakeBroker(() => error);
    const { link, warnings } = linkOn(broker.open, { inUseGrace: 0, onFatal: undefined });
    await link.start();
    error = new QueueInUseError("events");
    broker.sessions[0].drop();
    await waitFor(() => broker.urls.length >= 5, "retries");
    error = new Error("NOT_ALLOWED - vhost v not found");
    await waitFor(() => broker.urls.length >= 9, "more retries");
    assert.equal(warnings.length, 2, warnings.join("\n"));
    assert.match(warnings[1], /has no vhost "v".*still retrying/);
    error = undefined;
    await waitFor(() => link.session !== undefined, "the new session");
    await link.close();
  });

  it("stops at once when closed while waiting to reconnect", async () => {
    const broker = fakeBroker((call) => (call > 1 ? new Error("connect ECONNREFUSED") : undefined));
    const { link } = linkOn(broker.open, { minDelay: 60_000, maxDelay: 60_000 });
    await link.start();
    broker.sessions[0].drop();
    // The 60 s reconnect wait must end on close: close() settles long before this 5 s guard.
    const closed = await Promise.race([link.close().then(() => "closed"), delay(5_000).then(() => "still waiting")]);
    assert.equal(closed, "closed");
    await delay(20);
    assert.equal(broker.urls.length, 1, "no reconnect attempt after close");
  });

  it("reads the CA file on every connect for the opener; a missing or non-PEM file stops at once, named", async () => {
    const dir = await mkdtemp(join(tmpdir(), "res-ca-"));
    try {
      const caFile = join(dir, "ca.pem");
      const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
      await writeFile(caFile, pem);
      const given: Array<string | undefined> = [];
      const broker = fakeBroker();
      const open: OpenSession = (url, options) => (given.push(options?.ca), broker.open(url, options));
      const tls = "amqps://guest:secret@broker.test";
      const link = new BrokerLink(tls, { open, caFile, settings: FANOUT_BROKER, minDelay: 5, setup: async () => {} });
      await link.start();
      await writeFile(caFile, pem.replace("MIIB", "MIIC")); // renewed
      broker.sessions[0].drop();
      await waitFor(() => link.session !== undefined, "the new session");
      assert.deepEqual(given, [pem, pem.replace("MIIB", "MIIC")]);
      await link.close();

      const missing = fakeBroker();
      const absent = join(dir, "absent.pem");
      await assert.rejects(
        new BrokerLink(tls, { open: missing.open, caFile: absent, settings: FANOUT_BROKER, setup: async () => {} })
          .start(),
        new ConfigError(
          `Cannot read FANOUTCAFILE "${absent}": no such file; point FANOUTCAFILE at the CA certificate (PEM)`,
        ),
      );
      await writeFile(join(dir, "key.pem"), "-----BEGIN PRIVATE KEY-----\nMIIE\n");
      await assert.rejects(
        new BrokerLink(tls, { open: missing.open, caFile: join(dir, "key.pem"), setup: async () => {} }).start(),
        (error: Error) =>
          error instanceof ConfigError && error.message.startsWith(`AMQPCAFILE "${join(dir, "key.pem")}" holds no PEM`),
      );
      assert.equal(missing.urls.length, 0, "no connection without a CA to trust");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses an untrusted broker certificate at once, naming the CA setting to change", async () => {
    const untrusted = fakeBroker(() => new Error("self-signed certificate in certificate chain"));
    const link = new BrokerLink("amqps://guest:secret@broker.test", {
      open: untrusted.open,
      settings: FANOUT_BROKER,
      setup: async () => {},
    });
    await assert.rejects(link.start(), {
      name: "BrokerRefusedError",
      code: "TLS",
      message: "RabbitMQ at amqps://guest:***@broker.test presented a TLS certificate that is not trusted " +
        "(self-signed certificate in certificate chain); set FANOUTCAFILE to the PEM file of the CA that signed it",
    });
    assert.equal(untrusted.urls.length, 1);

    const misnamed = fakeBroker(() =>
      new Error("Hostname/IP does not match certificate's altnames: Host: 10.0.0.5. is not in the cert's altnames")
    );
    await assert.rejects(
      new BrokerLink("amqps://10.0.0.5", { open: misnamed.open, setup: async () => {} }).start(),
      (error: Error) =>
        error instanceof BrokerRefusedError && error.code === "TLS" &&
        error.message.endsWith("; connect by a name the certificate is for (in AMQPURL)"),
    );
  });
});
