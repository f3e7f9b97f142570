#!/usr/bin/env node
// `npm test` after the build: every test file under Deno and, compiled, under Node (see test_node.mjs for
// which files run on Deno only), in two phases:
//
// 1. Shared: the Deno suite and the Node suite run at the same time, each a few files at once. Every test
//    uses its own queues, exchanges, files and ports, and most of a test's time is spent waiting on the
//    broker, the disk or a timer, so this takes about half the wall time of one file after another.
// 2. Exclusive: files that say `// test-runner: exclusive` (they stop the shared RabbitMQ or close all
//    its connections, or time a crash loop) run alone, Deno then Node, after everything else.
//
// Output is streamed with a `[deno]` / `[node]` prefix; the exit code is non-zero if any run failed.
// `TEST_JOBS` sets the files at once per runtime (default 2); `TEST_EXCLUSIVE=skip` leaves phase 2 out (for a
// broker other people use at the same time; CI never sets it). `npm run test:deno` and `npm run test:node`
// run one runtime's suite, one file after another.
import { readdirSync, readFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { join } from "node:path";
import process from "node:process";

const root = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..");
const jobs = String(Math.max(1, Number(process.env.TEST_JOBS ?? 2) || 2));
const EXCLUSIVE = /^\/\/ test-runner: exclusive\b/m;

const testFiles = readdirSync(join(root, "tests")).filter((name) => name.endsWith("_test.ts")).sort();
const exclusive = testFiles.filter((name) => EXCLUSIVE.test(readFileSync(join(root, "tests", name), "utf8")));
const shared = testFiles.filter((name) => !exclusive.includes(name));
const inTests = (names) => names.map((name) => join("tests", name));

/** Run one command, its output streamed line by line behind `prefix`; resolves to its exit code. */
function run(prefix, command, args, env = {}) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(command, args, {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const forward = (stream, out) => {
      let rest = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk) => {
        const lines = (rest + chunk).split("\n");
        rest = lines.pop();
        for (const line of lines) out.write(`${prefix} ${line}\n`);
      });
      stream.on("end", () => rest && out.write(`${prefix} ${rest}\n`));
    };
    forward(child.stdout, process.stdout);
    forward(child.stderr, process.stderr);
    child.on("error", (error) => {
      process.stderr.write(`${prefix} could not start ${command}: ${error.message}\n`);
      resolve(1);
    });
    child.on("close", (code, signal) => {
      const seconds = ((Date.now() - started) / 1000).toFixed(0);
      process.stdout.write(`${prefix} exited with ${signal ?? code} after ${seconds} s\n`);
      resolve(code ?? 1);
    });
  });
}

const deno = (names, parallel) =>
  run("[deno]", "npx", ["deno", "test", "-A", ...(parallel ? ["--parallel"] : []), ...inTests(names)], {
    DENO_JOBS: jobs,
  });
const node = (names, concurrency) =>
  run("[node]", process.execPath, [join(root, "scripts", "test_node.mjs"), `--concurrency=${concurrency}`, ...names]);

console.log(
  `run_tests: ${shared.length} files on Deno and Node at once (${jobs} files at once each), then alone: ${
    exclusive.join(", ") || "none"
  }`,
);
const results = await Promise.all([deno(shared, true), node(shared, jobs)]);
const skipExclusive = process.env.TEST_EXCLUSIVE === "skip";
if (exclusive.length > 0 && skipExclusive) {
  console.log(`run_tests: TEST_EXCLUSIVE=skip: not running ${exclusive.join(", ")}`);
}
if (exclusive.length > 0 && !skipExclusive) {
  results.push(await deno(exclusive, false));
  results.push(await node(exclusive, 1));
}
const failed = results.filter((code) => code !== 0).length;
console.log(failed === 0 ? "run_tests: every run passed" : `run_tests: ${failed} of ${results.length} runs failed`);
process.exit(failed === 0 ? 0 : 1);
