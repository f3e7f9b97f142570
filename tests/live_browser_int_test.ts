/**
 * A real browser follows the store: a page in headless Chromium opens an
 * `EventSource` on the server, and keeps every event, once and in order,
 * across a server restart (the browser reconnects with `Last-Event-ID`).
 *
 * Chromium is driven over the Chrome DevTools protocol on a WebSocket (the
 * runtime's own `WebSocket`, about 40 lines here) rather than with
 * `playwright-core`: no dependency, and no pin between a Playwright release
 * and the Chromium version Debian ships. Needs Debian's `chromium` package
 * (`apt-get install -y chromium`); without it the test is skipped and says so.
 * It spawns the browser, so it runs under Deno only (scripts/test_node.mjs).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, setup, type TestContext, waitFor } from "./_helpers.ts";
import type { EventStoreServer } from "../server.ts";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((path) => existsSync(path));
const skip = CHROMIUM ? false : "chromium is not installed (apt-get install -y chromium); the browser test is skipped";
// Deno's reporter shows a skipped test as "ignored" without its reason: say it once on stderr too.
if (skip) console.warn(`live_browser_int_test: ${skip}`);

/** The test page's script: follow the store with EventSource, keep what arrives on `window`. */
const PAGE = `
  window.received = [];
  window.opens = 0;
  const source = new EventSource("/?from=1");
  source.onopen = () => window.opens++;
  source.onmessage = (event) => {
    const record = JSON.parse(event.data);
    window.received.push([Number(event.lastEventId), record.position, record.data.n]);
  };
  "following";
`;

/** A Chrome DevTools protocol connection to one page. */
class DevTools {
  readonly #socket: WebSocket;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #next = 1;
  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.onmessage = (message) => {
      const reply = JSON.parse(String(message.data)) as { id?: number; result?: unknown; error?: { message: string } };
      const waiter = reply.id === undefined ? undefined : this.#pending.get(reply.id);
      if (!waiter) return;
      this.#pending.delete(reply.id!);
      if (reply.error) waiter.reject(new Error(reply.error.message));
      else waiter.resolve(reply.result);
    };
  }
  static connect(url: string): Promise<DevTools> {
    const socket = new WebSocket(url);
    return new Promise((resolve, reject) => {
      socket.onopen = () => resolve(new DevTools(socket));
      socket.onerror = () => reject(new Error(`Cannot connect to the browser at ${url}`));
    });
  }
  send(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.#next++;
    this.#socket.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject }));
  }
  /** Evaluate `expression` in the page and return its value. */
  async evaluate<T>(expression: string): Promise<T> {
    const result = await this.send("Runtime.evaluate", { expression, returnByValue: true }) as {
      result: { value: T };
      exceptionDetails?: { text: string; exception?: { description?: string } };
    };
    const thrown = result.exceptionDetails;
    if (thrown) throw new Error(`The page threw: ${thrown.exception?.description ?? thrown.text}`);
    return result.result.value;
  }
  close(): void {
    this.#socket.close();
  }
}

describe("a browser follows live events", { skip }, () => {
  let ctx: TestContext;
  let profile: string;
  let browser: ReturnType<typeof spawn> | undefined;
  let page: DevTools | undefined;
  let sent = 0;

  before(async () => {
    ctx = await setup("browser");
    profile = await mkdtemp(join(tmpdir(), "res-chromium-"));
  });
  after(async () => {
    page?.close();
    if (browser?.pid !== undefined && browser.exitCode === null) {
      const exited = new Promise((resolve) => browser!.once("exit", resolve));
      browser.kill();
      await exited;
    }
    await ctx.cleanup();
    await rm(profile, { recursive: true, force: true });
  });

  const publish = async (count: number) => {
    for (let i = 0; i < count; i++) {
      const n = ++sent;
      await ctx.broker.publish("", ctx.queueName, JSON.stringify({ n }), { messageId: `b${n}` });
    }
  };

  /** Start Chromium on `url` and connect to its page. */
  async function openBrowser(url: string): Promise<DevTools> {
    browser = spawn(CHROMIUM!, [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-proxy-server",
      `--user-data-dir=${profile}`,
      "--remote-debugging-port=0",
      url,
    ], { stdio: ["ignore", "ignore", "pipe"] });
    const endpoint = await new Promise<string>((resolve, reject) => {
      let text = "";
      const timer = setTimeout(() => reject(new Error(`Chromium did not start in 20 s: ${text.slice(-500)}`)), 20_000);
      browser!.stderr!.on("data", (chunk: Uint8Array) => {
        text += new TextDecoder().decode(chunk);
        const match = /DevTools listening on (ws:\/\/\S+)/.exec(text);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
      browser!.once("exit", (code) => reject(new Error(`Chromium exited with ${code}: ${text.slice(-500)}`)));
    });
    const { host } = new URL(endpoint);
    let target: { webSocketDebuggerUrl: string } | undefined;
    await waitFor(
      async () => {
        const targets = await (await fetch(`http://${host}/json/list`)).json() as Array<
          { type: string; url: string; webSocketDebuggerUrl: string }
        >;
        target = targets.find((t) => t.type === "page" && t.url.startsWith(url));
        return target !== undefined;
      },
      "the page in Chromium",
      20_000,
    );
    return DevTools.connect(target!.webSocketDebuggerUrl);
  }

  it("keeps every event once and in order across a server restart (EventSource resumes with Last-Event-ID)", async () => {
    const port = await freePort();
    let server: EventStoreServer = await ctx.startServer({ port });
    await publish(5);
    await waitFor(() => server.head === 5, "5 stored events");
    // The page is on the store's own origin (its /health), so its EventSource needs no CORS.
    const origin = `http://127.0.0.1:${port}`;
    page = await openBrowser(`${origin}/health`);
    await waitFor(
      async () =>
        await page!.evaluate<string>("location.href + ' ' + document.readyState") === `${origin}/health complete`,
      "the page loaded",
    );
    assert.equal(await page.evaluate<string>(PAGE), "following");
    const received = () => page!.evaluate<Array<[number, number, number]>>("window.received");
    await waitFor(async () => (await received()).length === 5, "the history in the browser");
    await publish(5);
    await waitFor(async () => (await received()).length === 10, "live events in the browser");

    await server.close(); // the page's response ends; the browser reconnects while the server is down
    await publish(5); // they wait in the queue
    server = await ctx.startServer({ port });
    await publish(5);
    await waitFor(async () => (await received()).length >= 20, "the events after the restart in the browser");
    await new Promise((resolve) => setTimeout(resolve, 300)); // a duplicate would arrive now

    const events = await received();
    const expected = Array.from({ length: 20 }, (_, i) => [i + 1, i + 1, i + 1]);
    assert.deepEqual(events, expected, "positions 1..20, each once, id = position, in publish order");
    assert.ok(await page.evaluate<number>("window.opens") >= 2, "the browser reconnected");
  });
});
