/**
 * A/B of the HTTP history download alone: the same store file served by
 * several source trees' `serve.ts` + `FileStorage` + `historyHandler` (each a
 * child process on the chosen runtime), downloaded whole with `fetch` in
 * paired, alternating rounds. Prints per tree the median MiB/s of the rounds
 * with their range, the median ratio to the first tree over paired rounds
 * with its range, and the server's and the client's CPU per MiB
 * (`process.cpuUsage`). Never the best round.
 *
 * ```sh
 * npx deno run -A scripts/_bench_http.ts --trees=old=/work/wt/base,new=/tmp/ab/new,mine=. --runtime=deno
 * npx deno run -A scripts/_bench_http.ts --trees=old=/work/wt/base,mine=. --runtime=node --rounds=15
 * ```
 *
 * On Node each tree must be built (`npm run build` in it). `--records` (default
 * 1,000,000), `--rounds` (default 11), `--warmup` (default 2).
 *
 * @module
 */
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { readHistoryChunks } from "../lib/history_client.ts";
import { type Child, fmt, median, startChild, writeStorageFile } from "./_bench_util.ts";

const flags = new Map(
  process.argv.slice(2).map((arg) => /^--([^=]+)=(.*)$/.exec(arg)).filter((m) => m !== null).map((m) => [m[1], m[2]]),
);
const trees = (flags.get("trees") ?? "old=/work/wt/base,mine=.").split(",").map((spec) => {
  // name=root or name=root@VAR:value;VAR:value (environment of that tree's child, for experiments)
  const [name, rest] = [spec.slice(0, spec.indexOf("=")), spec.slice(spec.indexOf("=") + 1)];
  const [root, envSpec = ""] = rest.split("@");
  const env = Object.fromEntries(envSpec.split(";").filter(Boolean).map((pair) => pair.split(":")));
  return { name, root: resolve(root), env: env as Record<string, string> };
});
const runtime = flags.get("runtime") ?? "deno";
const records = Number(flags.get("records") ?? 1_000_000);
const rounds = Number(flags.get("rounds") ?? 11);
const warmup = Number(flags.get("warmup") ?? 2);
/** `bytes`: count the body's bytes; `records`: parse it as the listener does (readHistoryChunks). */
const mode = flags.get("client") ?? "bytes";
const MiB = 1 << 20;

/** The child: serve `file` with the tree's modules; `/_cpu` answers the child's process.cpuUsage(). */
function childSource(root: string, file: string): string {
  const lib = runtime === "deno" ? join(root, "lib") : join(root, "npm", "esm", "lib");
  const ext = runtime === "deno" ? ".ts" : ".js";
  const url = (name: string) => JSON.stringify(pathToFileURL(join(lib, name + ext)).href);
  return `
    import process from "node:process";
    const { serve } = await import(${url("runtime/serve")});
    const { FileStorage } = await import(${url("file_storage")});
    const { historyHandler } = await import(${url("history_handler")});
    const storage = await FileStorage.open(${JSON.stringify(file)}, { warn: () => {} });
    const handle = historyHandler(storage, () => ({}));
    const server = await serve((request) =>
      new URL(request.url).pathname === "/_cpu" ? Promise.resolve(Response.json(process.cpuUsage())) : handle(request),
      { port: 0, hostname: "127.0.0.1" });
    console.log("serving on port " + server.port);
  `;
}

interface Tree {
  name: string;
  root: string;
  env: Record<string, string>;
  child?: Child;
  port?: number;
  rates: number[];
  serverCpu: number[];
  clientCpu: number[];
  chunks: number[];
}

async function cpuOf(port: number): Promise<number> {
  const { user, system } = await (await fetch(`http://127.0.0.1:${port}/_cpu`)).json();
  return (user + system) / 1000;
}

/** Download the whole history once; MiB/s and the server's and client's CPU ms per MiB. */
async function download(
  port: number,
): Promise<{ rate: number; serverCpu: number; clientCpu: number; bytes: number; chunks: number }> {
  const serverBefore = await cpuOf(port);
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  let bytes = 0;
  let chunks = 0;
  if (mode === "records") {
    for await (const batch of readHistoryChunks(`http://127.0.0.1:${port}/`, 1)) {
      bytes += batch.length;
      chunks++;
    }
  } else {
    const response = await fetch(`http://127.0.0.1:${port}/?from=1`);
    const reader = response.body!.getReader();
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.length;
      chunks++;
    }
  }
  const ms = performance.now() - started;
  const client = process.cpuUsage(clientBefore);
  const serverCpu = await cpuOf(port) - serverBefore;
  const mib = (mode === "records" ? size : bytes) / MiB;
  return {
    rate: mib / (ms / 1000),
    serverCpu: serverCpu / mib,
    clientCpu: (client.user + client.system) / 1000 / mib,
    bytes,
    chunks,
  };
}

let size = 0;
const dir = await mkdtemp(join(tmpdir(), "res-bench-http-"));
const all: Tree[] = trees.map((tree) => ({ ...tree, rates: [], serverCpu: [], clientCpu: [], chunks: [] }));
try {
  const master = join(dir, "store");
  size = await writeStorageFile(master, records);
  console.log(
    `${fmt(records)} records, ${fmt(size / MiB, 1)} MiB, runtime ${runtime}, client ${mode}, ${rounds} paired rounds`,
  );
  for (const tree of all) {
    // One copy per tree: a store is locked by the process that opens it.
    const file = join(dir, `store-${tree.name}`);
    await copyFile(master, file);
    const command = runtime === "deno" ? process.execPath : "node";
    const args = runtime === "deno"
      ? ["eval", "--quiet", childSource(tree.root, file)]
      : ["--input-type=module", "-e", childSource(tree.root, file)];
    tree.child = startChild(command, args, tree.env, tree.root);
    tree.port = Number((await tree.child.waitFor(/serving on port (\d+)/, 60_000))[1]);
  }
  for (let i = 0; i < warmup; i++) for (const tree of all) await download(tree.port!);
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? all : [...all].reverse();
    for (const tree of order) {
      const { rate, serverCpu, clientCpu, bytes, chunks } = await download(tree.port!);
      tree.chunks.push(chunks);
      if (bytes !== (mode === "records" ? records : size)) {
        throw new Error(`Cannot compare: ${tree.name} sent ${bytes} of ${size} bytes`);
      }
      tree.rates.push(rate);
      tree.serverCpu.push(serverCpu);
      tree.clientCpu.push(clientCpu);
    }
  }
  const base = all[0];
  for (const tree of all) {
    const ratios = tree.rates.map((rate, i) => rate / base.rates[i]);
    console.log(
      `${tree.name.padEnd(6)} ${fmt(median(tree.rates))} MiB/s (${fmt(Math.min(...tree.rates))}–${
        fmt(Math.max(...tree.rates))
      }), ratio to ${base.name} ${fmt(median(ratios), 2)} (${fmt(Math.min(...ratios), 2)}–${
        fmt(Math.max(...ratios), 2)
      }), server CPU ${fmt(median(tree.serverCpu), 2)} ms/MiB, client CPU ${fmt(median(tree.clientCpu), 2)} ms/MiB, ${
        fmt(median(tree.chunks))
      } body chunks`,
    );
  }
} finally {
  await Promise.all(all.map((tree) => tree.child?.stop()));
  await rm(dir, { recursive: true, force: true });
}
