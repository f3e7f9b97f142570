#!/usr/bin/env node
// Runs the compiled test files (npm/esm/tests, built by scripts/build_npm.ts) under Node's test runner,
// against the compiled package and the real broker. Test files that start Deno child processes
// directly (`deno run server.ts`, `deno task verify`) run under Deno only; they are listed here. The fault
// tests built on the fault harness (scripts/_scenario.ts) run here too, with the server started from the npm package's bin.
import { readdirSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { basename, join } from "node:path";
import process from "node:process";

// Arguments (all optional): `--concurrency=N` test files at once (default 1), then the test files to run, by
// their source names (`tests/x_test.ts` or `x_test.ts`); without names, every compiled test file.
const dir = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..", "npm", "esm", "tests");
const args = process.argv.slice(2);
const concurrency = args.find((arg) => arg.startsWith("--concurrency="))?.slice("--concurrency=".length) ?? "1";
const wanted = new Set(
  args.filter((arg) => !arg.startsWith("--")).map((arg) => basename(arg).replace(/\.ts$/, ".js")),
);
const denoOnly = [];
const files = [];
for (const name of readdirSync(dir).sort()) {
  if (!name.endsWith("_test.js")) continue;
  if (wanted.size > 0 && !wanted.has(name)) continue;
  const text = readFileSync(join(dir, name), "utf8");
  // A test that spawns `deno` (process.execPath under Deno) cannot run unchanged under Node.
  if (/\bspawn\(|\bexecFile\(/.test(text)) denoOnly.push(name);
  else files.push(join(dir, name));
}
if (files.length === 0) {
  console.log("node --test: no test file to run here");
  process.exit(0);
}
console.log(
  `node --test: ${files.length} files; Deno-only (they spawn deno child processes): ${denoOnly.join(", ") || "none"}`,
);
const result = spawnSync(process.execPath, [
  "--test",
  `--test-concurrency=${concurrency}`,
  "--test-timeout=300000",
  ...files,
], {
  stdio: "inherit",
});
process.exit(result.status ?? 1);
