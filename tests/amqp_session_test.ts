/**
 * lib/amqp_session.ts without a broker: the private fields of amqp-client
 * its patches rely on are still there with the shapes they expect (this test
 * is the guard that fails when an upgrade moves them), the dependency is
 * pinned to one exact version, and the whole-frame reader hands the client
 * whole frames however the socket splits them.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ClientInternalsLike, clientInternalsProblems, readWholeFrames } from "../lib/amqp_session.ts";

/** The JSON of the nearest `relative` above this file (tests run from tests/ on Deno, npm/esm/tests/ on Node). */
async function nearest(relative: string): Promise<Record<string, unknown>> {
  for (let dir = dirname(fileURLToPath(import.meta.url));; dir = dirname(dir)) {
    try {
      return JSON.parse(await readFile(join(dir, relative), "utf8"));
    } catch (error) {
      if (dirname(dir) === dir) throw error;
    }
  }
}

/** An AMQP frame: type, channel, size, payload, frame-end. */
function frame(payload: number, size: number, type = 1): Buffer {
  const bytes = Buffer.alloc(size + 8, payload);
  bytes.writeUInt8(type, 0);
  bytes.writeUInt16BE(1, 1);
  bytes.writeUInt32BE(size, 3);
  bytes.writeUInt8(0xce, size + 7);
  return bytes;
}

/** A client whose reader records what it is given, with a frame buffer of `frameMax`. */
function fakeClient(frameMax = 64) {
  const reads: Buffer[] = [];
  const destroyed: Error[] = [];
  const client: ClientInternalsLike = {
    onRead: (bytes) => {
      reads.push(Buffer.from(bytes)); // copied: a collected frame's buffer is reused
      return true;
    },
    frameBuffer: Buffer.alloc(frameMax),
    socket: { destroy: (error) => destroyed.push(error ?? new Error("destroyed")) },
  };
  readWholeFrames(client);
  return { client, reads, destroyed, read: (bytes: Buffer) => client.onRead!(bytes) };
}

describe("amqp-client's private fields (the patches' guard)", () => {
  it("are all there with the expected shapes", async () => {
    assert.deepEqual(await clientInternalsProblems(), []);
  });

  it("the dependency is pinned to an exact version, which is the one installed", async () => {
    // On Node this reads the built package's package.json: the published pin is checked too.
    const dependencies = (await nearest("package.json")).dependencies as Record<string, string>;
    const wanted = dependencies["@cloudamqp/amqp-client"];
    assert.match(wanted, /^\d+\.\d+\.\d+$/, `@cloudamqp/amqp-client must be pinned exactly, not "${wanted}"`);
    const installed = await nearest("node_modules/@cloudamqp/amqp-client/package.json");
    assert.equal(installed.version, wanted);
  });
});

describe("readWholeFrames", () => {
  it("passes whole frames through in one call", () => {
    const { reads, read } = fakeClient();
    const two = Buffer.concat([frame(7, 10), frame(8, 20)]);
    assert.equal(read(two), true);
    assert.deepEqual(reads, [two]);
  });

  it("collects a frame split over reads, down to single bytes, and then the frames that follow", () => {
    const { reads, read } = fakeClient();
    const bytes = Buffer.concat([frame(1, 30), frame(2, 5), frame(3, 40)]);
    for (let i = 0; i < bytes.length; i++) read(bytes.subarray(i, i + 1));
    assert.deepEqual(Buffer.concat(reads), bytes);
    assert.equal(reads.length, 3);
  });

  it("reads a frame bigger than the client's frame buffer (a 120 KB header frame on an 8 KiB connection)", () => {
    const { reads, read, destroyed } = fakeClient(64);
    const big = frame(9, 120_000, 2);
    read(big.subarray(0, 3)); // a split frame header
    read(big.subarray(3, 70_000));
    read(Buffer.concat([big.subarray(70_000), frame(4, 10)]));
    assert.deepEqual(destroyed, []);
    assert.equal(reads.length, 2);
    assert.deepEqual(reads[0], big);
    assert.deepEqual(reads[1], frame(4, 10));
  });

  it("drops the connection for a frame larger than RabbitMQ allows, and when the client's reader throws", () => {
    const huge = fakeClient();
    const header = Buffer.from([1, 0, 1, 0x40, 0, 0, 0]); // 1 GiB
    assert.equal(huge.read(header), false);
    assert.match(huge.destroyed[0]?.message ?? "", /AMQP frame of 1073741832 bytes is larger than 536870912/);

    const client: ClientInternalsLike = {
      onRead: () => {
        throw new Error("Copied 0 bytes");
      },
      socket: { destroy: (error) => destroyed.push(error!) },
    };
    const destroyed: Error[] = [];
    readWholeFrames(client);
    assert.equal(client.onRead!(frame(1, 4)), false);
    assert.equal(destroyed[0]?.message, "Copied 0 bytes");
  });

  it("refuses a client without onRead", () => {
    assert.throws(() => readWholeFrames({}), /amqp-client has no onRead: cannot read oversized frames/);
  });
});
