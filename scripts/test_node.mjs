#!/usr/bin/env node
// Runs the compiled test files (npm/esm/tests, built by scripts/build_npm.ts) under Node's test runner,
// against the compiled package and the real broker. Test files that start Deno child processes
// directly (`deno run server.ts`, `deno task verify`) run under Deno only; they are listed here. The fault
// tests built on the fault harness (scripts/_scenario.ts) run here too, with the server started from the npm package's bin.
import { readdirSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const dir = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..", "npm", "esm", "tests");
const denoOnly = [];
const files = [];
for (const name of readdirSync(dir).sort()) {
  if (!name.endsWith("_test.js")) continue;
  const text = readFileSync(join(dir, name), "utf8");
  // A test that spawns `deno` (process.execPath under Deno) cannot run unchanged under Node.
  if (/\bspawn\(|\bexecFile\(/.test(text)) denoOnly.push(name);
  else files.push(join(dir, name));
}
console.log(
  `node --test: ${files.length} files; Deno-only (they spawn deno child processes): ${denoOnly.join(", ") || "none"}`,
);
const result = spawnSync(process.execPath, ["--test", "--test-concurrency=1", "--test-timeout=300000", ...files], {
  stdio: "inherit",
});
process.exit(result.status ?? 1);
