import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { brokerSettings, listenerSettings, serverSettings, tokenSetting } from "../lib/config.ts";
import { ConfigError } from "../lib/errors.ts";

describe("config", () => {
  it("uses the seed's defaults", () => {
    const s = serverSettings({}, {});
    assert.equal(s.amqpUrl, "amqp://guest:guest@localhost");
    assert.equal(s.exchangeName, "events");
    assert.equal(s.queueName, "events");
    assert.equal(s.port, 80);
    assert.equal(s.storageFile, "./storage");
    assert.equal(s.debug, false);
    assert.equal(listenerSettings({}, {}).historyUrl, "http://localhost/");
  });

  it("reads the seed's environment variables", () => {
    const s = serverSettings({}, {
      AMQPHOST: "rabbit:5673",
      EXCHANGENAME: "x",
      QUEUENAME: "q",
      PORT: "8080",
      STORAGEFILE: "/data/s",
      DEBUG: "yes",
    });
    assert.equal(s.amqpUrl, "amqp://guest:guest@rabbit:5673");
    assert.deepEqual([s.exchangeName, s.queueName, s.port, s.storageFile, s.debug], ["x", "q", 8080, "/data/s", true]);
  });

  it("lets AMQPURL win over AMQPHOST and options win over env", () => {
    const vars = { AMQPURL: "amqps://u:p@h/vh", AMQPHOST: "other", PORT: "1" };
    assert.equal(brokerSettings({}, vars).amqpUrl, "amqps://u:p@h/vh");
    assert.equal(serverSettings({ port: 2 }, vars).port, 2);
    assert.equal(serverSettings({ amqpHost: "opt" }, vars).amqpUrl, "amqp://guest:guest@opt");
  });

  it("explains invalid values with the setting and value", () => {
    assert.throws(
      () => serverSettings({}, { PORT: "abc" }),
      (e: Error) => e instanceof ConfigError && /PORT must be an integer from 0 to 65535, got "abc"/.test(e.message),
    );
    assert.throws(() => serverSettings({}, { PORT: "70000" }), ConfigError);
    assert.throws(() => serverSettings({}, { AMQPURL: "http://x" }), /AMQPURL must start with amqp/);
    assert.throws(
      () => serverSettings({}, { AMQPURL: "amqp://u:secret@" + "h:notaport" }),
      (e: Error) => !e.message.includes("secret"),
    );
    assert.throws(() => listenerSettings({}, { HISTORYURL: "nope" }), /HISTORYURL must be an http/);
    assert.throws(() => serverSettings({}, { MAXEVENTBYTES: "-1" }), /MAXEVENTBYTES/);
  });

  it("measures QUEUENAME and EXCHANGENAME in UTF-8 bytes, leaving room for <QUEUENAME>.dead", () => {
    const e = "\u00e9"; // "é": one UTF-16 unit, two UTF-8 bytes
    assert.throws(
      () => brokerSettings({}, { QUEUENAME: e.repeat(200) }),
      (error: Error) =>
        error instanceof ConfigError &&
        error.message.startsWith("QUEUENAME must be 1 to 250 bytes in UTF-8") &&
        error.message.includes("got 400 bytes"),
    );
    assert.throws(
      () => brokerSettings({}, { EXCHANGENAME: e.repeat(128) }),
      /EXCHANGENAME must be 1 to 255 bytes in UTF-8, got 256 bytes: "é{40}…"$/,
    );
    assert.equal(brokerSettings({}, { QUEUENAME: "q".repeat(250) }).queueName.length, 250);
    assert.throws(() => brokerSettings({}, { QUEUENAME: "q".repeat(251) }), /QUEUENAME must be 1 to 250 bytes/);
    assert.equal(brokerSettings({}, { EXCHANGENAME: "x".repeat(255) }).exchangeName.length, 255);
    assert.throws(() => brokerSettings({ queueName: "" }), /QUEUENAME must be 1 to 250 bytes/);
    assert.throws(
      () => brokerSettings({}, { EXCHANGENAME: "amq.fanout" }),
      /EXCHANGENAME must not start with "amq\." \(RabbitMQ reserves it\), got "amq\.fanout"$/,
    );
    assert.throws(() => brokerSettings({ queueName: "amq.q" }), /QUEUENAME must not start with "amq\."/);
  });

  it("puts the fanout on the queue's broker unless FANOUTURL or FANOUTHOST names another", () => {
    assert.equal(brokerSettings({}, { AMQPHOST: "q" }).fanoutUrl, "amqp://guest:guest@q");
    assert.equal(brokerSettings({ amqpUrl: "amqp://a@q" }, {}).fanoutUrl, "amqp://a@q");
    assert.equal(brokerSettings({}, { AMQPHOST: "q", FANOUTHOST: "f:5673" }).fanoutUrl, "amqp://guest:guest@f:5673");
    const both = { FANOUTURL: "amqps://u:p@f/vh", FANOUTHOST: "other" };
    assert.equal(listenerSettings({}, both).fanoutUrl, "amqps://u:p@f/vh");
    assert.equal(serverSettings({ fanoutHost: "opt" }, both).fanoutUrl, "amqp://guest:guest@opt");
    assert.equal(serverSettings({ fanoutUrl: "amqp://o" }, both).fanoutUrl, "amqp://o");
    assert.equal(brokerSettings({}, { AMQPHOST: "q", FANOUTHOST: "f" }).amqpUrl, "amqp://guest:guest@q");
  });

  it("refuses a bad FANOUTURL or FANOUTHOST by name", () => {
    assert.throws(
      () => brokerSettings({}, { FANOUTURL: "http://u:secret@f/" }),
      new ConfigError('FANOUTURL must start with amqp:// or amqps://, got "http://u:***@f/"'),
    );
    assert.throws(() => brokerSettings({}, { FANOUTURL: "not a url" }), /^ConfigError: FANOUTURL must be an amqp/);
    assert.throws(
      () => brokerSettings({}, { FANOUTHOST: "amqp://f" }),
      new ConfigError(
        'FANOUTHOST must be a host name or address (optionally host:port), got "amqp://f"; use FANOUTURL for a full URL',
      ),
    );
  });

  it("takes a CA file for amqps:// only, the fanout's defaulting to the queue broker's", () => {
    const tls = { AMQPURL: "amqps://q", AMQPCAFILE: "/etc/ca.pem" };
    assert.equal(brokerSettings({}, tls).amqpCaFile, "/etc/ca.pem");
    assert.equal(brokerSettings({}, tls).fanoutCaFile, "/etc/ca.pem"); // the same broker
    assert.equal(brokerSettings({}, { ...tls, FANOUTURL: "amqps://f" }).fanoutCaFile, "/etc/ca.pem");
    assert.equal(brokerSettings({}, { ...tls, FANOUTURL: "amqps://f", FANOUTCAFILE: "/f.pem" }).fanoutCaFile, "/f.pem");
    assert.equal(brokerSettings({}, { ...tls, FANOUTURL: "amqp://f" }).fanoutCaFile, undefined);
    assert.equal(brokerSettings({}, { AMQPURL: "amqps://q", FANOUTCAFILE: "/f.pem" }).fanoutCaFile, "/f.pem");
    assert.equal(brokerSettings({}, { AMQPURL: "amqps://q", AMQPCAFILE: "" }).amqpCaFile, undefined);
    assert.throws(
      () => brokerSettings({}, { AMQPHOST: "q", AMQPCAFILE: "/etc/ca.pem" }),
      new ConfigError(
        'AMQPCAFILE is set ("/etc/ca.pem") but the broker is not reached over TLS ("amqp://guest:***@q"); ' +
          "use an amqps:// AMQPURL, or unset AMQPCAFILE",
      ),
    );
    assert.throws(
      () => brokerSettings({}, { FANOUTHOST: "f", FANOUTCAFILE: "/f.pem" }),
      /^ConfigError: FANOUTCAFILE is set \("\/f.pem"\) but the broker is not reached over TLS/,
    );
  });

  it("treats DEBUG=0/false/empty as off", () => {
    for (const v of ["", "0", "false", "no"]) assert.equal(serverSettings({}, { DEBUG: v }).debug, false, v);
  });

  it("reads bearer tokens (HTTPTOKEN, HISTORYTOKEN) and never shows a bad one", () => {
    assert.equal(tokenSetting("HTTPTOKEN", undefined, {}), undefined);
    assert.equal(tokenSetting("HTTPTOKEN", undefined, { HTTPTOKEN: "" }), undefined);
    assert.equal(tokenSetting("HTTPTOKEN", undefined, { HTTPTOKEN: "a.b-c_d~e+f/g=" }), "a.b-c_d~e+f/g=");
    assert.equal(tokenSetting("HTTPTOKEN", "option", { HTTPTOKEN: "env" }), "option");
    assert.equal(listenerSettings({}, { HISTORYTOKEN: "t0ken" }).historyToken, "t0ken");
    assert.equal(listenerSettings({ historyToken: "mine" }, { HISTORYTOKEN: "t0ken" }).historyToken, "mine");
    assert.equal(listenerSettings({}, {}).historyToken, undefined);
    for (const bad of ["has space-secret", "tab\tsecret", "é-secret", "x".repeat(4097)]) {
      assert.throws(() => tokenSetting("HISTORYTOKEN", undefined, { HISTORYTOKEN: bad }), (error: Error) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /^HISTORYTOKEN must be 1 to 4096 printable ASCII characters/);
        assert.ok(!error.message.includes("secret") && !error.message.includes("xxxx"), error.message);
        return true;
      });
    }
  });
});
