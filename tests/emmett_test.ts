/**
 * The Emmett store (emmett.ts) passes the Emmett contract
 * (tests/_emmett_contract.ts) on a fake client that keeps streams in memory
 * and checks expected versions as the server does: the mapping of versions,
 * constants, errors and metadata, without a broker. tests/emmett_int_test.ts
 * runs the same contract on the real server.
 */
import { getRabbitEventStore, type StreamClientLike } from "../emmett.ts";
import { WrongExpectedVersionError } from "../lib/errors.ts";
import { satisfies } from "../lib/expected_version.ts";
import type { EventRecord } from "../lib/record.ts";
import { emmettContract } from "./_emmett_contract.ts";

/** Streams in memory; each call yields to the event loop first, so concurrent callers interleave. */
function fakeClient(): StreamClientLike {
  const streams = new Map<string, EventRecord[]>();
  let position = 0;
  let n = 0;
  const turn = () => new Promise((resolve) => setTimeout(resolve, 0));
  return {
    async appendToStream(stream, events, options = {}) {
      await turn();
      const records = streams.get(stream) ?? [];
      const expected = options.expectedVersion ?? "any";
      if (!satisfies(expected, records.length)) throw new WrongExpectedVersionError(stream, expected, records.length);
      const id = options.id ?? `m${++n}`;
      events.forEach((event, i) => {
        records.push({
          position: ++position,
          id: i === 0 ? id : `${id}:${i + 1}`,
          time: new Date().toISOString(),
          stream,
          streamVersion: records.length + 1,
          type: event.type,
          metadata: event.metadata,
          data: JSON.parse(JSON.stringify(event.data)),
        });
      });
      streams.set(stream, records);
      return { position, streamVersion: records.length };
    },
    async readStream(stream, options = {}) {
      await turn();
      const records = streams.get(stream) ?? [];
      const from = options.from ?? 1;
      const to = Math.min(options.to ?? Infinity, from - 1 + (options.limit ?? Infinity));
      return {
        events: records.filter((r) => r.streamVersion! >= from && r.streamVersion! <= to),
        streamVersion: records.length,
      };
    },
    close: () => Promise.resolve(),
  };
}

let n = 0;
emmettContract(
  "fake client",
  () =>
    Promise.resolve({ store: getRabbitEventStore({ client: fakeClient() }), unique: (prefix) => `${prefix}-${++n}` }),
);
