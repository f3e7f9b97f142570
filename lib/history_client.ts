/**
 * Reads records from the server's HTTP history.
 *
 * @module
 */
import { LineStream } from "./line_stream.ts";
import { parseRecord, type EventRecord } from "./record.ts";

/**
 * Stream records from `from` (inclusive), at most `limit` of them, as the
 * server had them when the request arrived.
 *
 * @example
 * ```ts ignore
 * for await (const record of readHistory("http://localhost:8080/", 1, { limit: 10 })) {
 *   console.log(record.position, record.data);
 * }
 * ```
 */
export async function* readHistory(
  historyUrl: string,
  from: number,
  options: { limit?: number; signal?: AbortSignal } = {},
): AsyncGenerator<EventRecord> {
  const url = new URL(historyUrl);
  url.searchParams.set("from", String(from));
  if (options.limit !== undefined && Number.isFinite(options.limit)) url.searchParams.set("limit", String(options.limit));
  const response = await fetch(url, { signal: options.signal });
  if (!response.ok || !response.body) {
    const text = await response.text().catch(() => "");
    throw new Error(`History request ${url} failed: HTTP ${response.status} ${text.trim()}`);
  }
  const lines = response.body.pipeThrough(new TextDecoderStream()).pipeThrough(new LineStream({ allowPartial: false }));
  for await (const line of lines) yield parseRecord(line);
}
