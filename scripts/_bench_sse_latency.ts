/**
 * Live latency over HTTP: publish at a steady rate; p50 and p99 from the
 * publish call to an SSE client's event, beside the AMQP listener's in the
 * same run.
 *
 * Both clients take the very same events in each round (one publisher, the
 * SSE client on the server's live feed and the listener on the fanout), so
 * each round is a pair measured under the same load at the same moment; the
 * ratio is the median of the rounds' p99 ratios (at least 3), printed with
 * its range.
 *
 * @module
 */
import { createCommand } from "../command.ts";
import { listen } from "../listener.ts";
import { recordPaired } from "./_bench_figures.ts";
import type { Sizes } from "./_bench_options.ts";
import { type BenchServer, names } from "./_bench_server.ts";
import { AMQP_URL, benchEvent, fmt, quantile, settle } from "./_bench_util.ts";

/** One round's latencies in ms, for each client. */
interface Round {
  sse: number[];
  amqp: number[];
}

/** Events of the bench's rounds carry their round and when they were published. */
interface Tagged {
  sseRound?: number;
  sentAt?: number;
}

/** Paired rounds: each publishes `latencyRate` events/s for a share of `latencySeconds` (at least 1 s). */
async function sseLatencyRounds(server: BenchServer, sizes: Sizes): Promise<Round[]> {
  const count = Math.max(3, sizes.rounds);
  const seconds = Math.max(1, sizes.latencySeconds / count);
  const perRound = Math.round(seconds * sizes.latencyRate);
  const skip = Math.min(100, Math.floor(perRound / 10)); // the first events of a round pay for its start
  const rounds: Round[] = Array.from({ length: count }, () => ({ sse: [], amqp: [] }));
  const seen = { sse: 0, amqp: 0 };
  const take = (which: keyof Round, data: Tagged, at: number) => {
    if (data.sseRound === undefined || data.sentAt === undefined) return;
    seen[which]++;
    const samples = rounds[data.sseRound][which];
    samples.push(at - data.sentAt);
  };

  const listener = listen<Tagged>((event) => {
    take("amqp", event.data, performance.now());
    return Promise.resolve();
  }, { amqpUrl: AMQP_URL, exchangeName: names.exchange, queueName: names.queue, historyUrl: server.historyUrl });
  await listener.ready;
  const head = (await (await fetch(new URL("health", server.historyUrl))).json() as { head: number }).head;
  const abort = new AbortController();
  const response = await fetch(new URL(`?from=${head + 1}`, server.historyUrl), {
    headers: { accept: "text/event-stream" },
    signal: abort.signal,
  });
  if (response.headers.get("content-type")?.startsWith("text/event-stream") !== true) {
    throw new Error(`The server did not answer SSE (${response.status} ${response.headers.get("content-type")})`);
  }
  const reading = (async () => {
    const decoder = new TextDecoder();
    let text = "";
    try {
      for await (const chunk of response.body!) {
        const at = performance.now();
        text += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = text.indexOf("\n\n")) >= 0) {
          const block = text.slice(0, end);
          text = text.slice(end + 2);
          const data = block.split("\n").find((line) => line.startsWith("data: "));
          if (data) take("sse", (JSON.parse(data.slice(6)) as { data: Tagged }).data, at);
        }
      }
    } catch (error) {
      if (!abort.signal.aborted) throw error;
    }
  })();

  const command = createCommand({ amqpUrl: AMQP_URL, queueName: names.queue });
  await command.publish({ warm: true }); // open the connection before the clock starts
  try {
    for (let round = 0; round < count; round++) {
      const started = performance.now();
      const pending: Promise<unknown>[] = [];
      let sent = 0;
      while (sent < perRound) {
        const due = Math.min(perRound, Math.floor(((performance.now() - started) / 1000) * sizes.latencyRate) + 1);
        while (sent < due) {
          const extra: Tagged = { sseRound: round, sentAt: performance.now() };
          pending.push(command.publish(benchEvent(sent++, extra as Record<string, unknown>)));
        }
        await settle(1);
      }
      await Promise.all(pending);
      const expected = (round + 1) * perRound;
      const deadline = performance.now() + 30_000;
      while ((seen.sse < expected || seen.amqp < expected) && performance.now() < deadline) await settle(10);
      for (const which of ["sse", "amqp"] as const) rounds[round][which].splice(0, skip);
      console.log(
        `  SSE latency round ${round + 1}/${count}: p99 SSE ${fmt(quantile(rounds[round].sse, 0.99), 2)} ms, ` +
          `AMQP listener ${fmt(quantile(rounds[round].amqp, 0.99), 2)} ms (${rounds[round].sse.length} / ` +
          `${rounds[round].amqp.length} samples)`,
      );
      await settle(200);
    }
  } finally {
    abort.abort();
    await reading;
    await Promise.all([listener.close(), command.close()]);
  }
  return rounds;
}

/** Measure and record publish → SSE client p50 and p99 beside the AMQP listener's, on `server`. */
export async function recordSseLatency(server: BenchServer, runtime: string, sizes: Sizes): Promise<void> {
  const rounds = await sseLatencyRounds(server, sizes);
  const seconds = Math.max(1, sizes.latencySeconds / rounds.length);
  for (const q of [0.5, 0.99]) {
    recordPaired({
      figure: `publish → SSE client p${q * 100}, ${fmt(sizes.latencyRate)} events/s, ${rounds.length} × ${
        fmt(seconds, 1)
      } s`,
      runtime,
      unit: "ms",
      rounds: rounds.map((r) => quantile(r.sse, q)),
      baseline: { name: "AMQP listener, same events", unit: "ms", rounds: rounds.map((r) => quantile(r.amqp, q)) },
      target: "printed",
      detail: { samples: rounds.map((r) => r.sse.length) },
    });
  }
}
