#!/usr/bin/env -S deno run -A
/**
 * Builds the npm package in `npm/` from the same TypeScript source, with the
 * TypeScript compiler API (our stand-in for dnt, which is not reachable here):
 *
 * - `npm/esm/`   ES modules (`import`), plus the compiled tests in `npm/esm/tests/`
 * - `npm/cjs/`   CommonJS (`require('rabbit-eventstore/listener')`, as in the seed README), with its
 *                own `.d.ts`: under `cjs/package.json` (`"type": "commonjs"`) TypeScript reads them as
 *                CommonJS, so `require` consumers type-check (one ESM `.d.ts` for both would not)
 * - `npm/types/` declarations for `import`
 * - `npm/bin/rabbit-eventstore.cjs` runs the command line (cli.ts) on Node: with no command, the server
 *
 * Run: `deno task build` (or `npx deno run -A scripts/build_npm.ts`).
 *
 * @module
 */
import { chmod, cp, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "npm");
const denoJson = JSON.parse(await readFile(join(root, "deno.json"), "utf8"));
const rootPackage = JSON.parse(await readFile(join(root, "package.json"), "utf8"));
const versionSource = await readFile(join(root, "lib", "version.ts"), "utf8");
for (
  const [file, version] of [["package.json", rootPackage.version], [
    "lib/version.ts",
    /VERSION = "([^"]+)"/.exec(versionSource)?.[1],
  ]]
) {
  if (version !== denoJson.version) {
    throw new Error(`Cannot build: ${file} says version ${version}, deno.json ${denoJson.version}; make them equal`);
  }
}

/** Every .ts file under `dir` (recursively). */
async function sources(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...await sources(path));
    else if (entry.name.endsWith(".ts")) found.push(join(root, path));
  }
  return found;
}

const library = [
  ...["mod.ts", "server.ts", "listener.ts", "command.ts", "emmett.ts", "cli.ts"].map((f) => join(root, f)),
  ...await sources("lib"),
];
const tests = await sources("tests");

const common: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  lib: ["lib.es2022.d.ts"],
  types: ["node"],
  strict: true,
  skipLibCheck: true,
  rootDir: root,
  allowImportingTsExtensions: true,
  rewriteRelativeImportExtensions: true,
  esModuleInterop: true,
  sourceMap: false,
};

function compile(files: string[], options: ts.CompilerOptions, what: string): void {
  const program = ts.createProgram(files, { ...common, ...options });
  const result = program.emit();
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...result.diagnostics];
  if (diagnostics.length > 0) {
    const host: ts.FormatDiagnosticsHost = {
      getCanonicalFileName: (f) => f,
      getCurrentDirectory: () => root,
      getNewLine: () => "\n",
    };
    console.error(ts.formatDiagnosticsWithColorAndContext(diagnostics, host));
    throw new Error(`TypeScript reported ${diagnostics.length} problem(s) building ${what}`);
  }
}

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });

compile([...library, ...tests], {
  module: ts.ModuleKind.ES2022,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  outDir: join(out, "esm"),
  declaration: true,
  declarationDir: join(out, "types"),
}, "ESM");
compile(library, {
  module: ts.ModuleKind.CommonJS,
  moduleResolution: ts.ModuleResolutionKind.Node10,
  // Node10 resolution ignores package.json `exports`, so subpath imports get their types here; at run time
  // Node's require() follows the exports (`@cloudamqp/amqp-client/amqp-view` → lib/cjs/amqp-view.js).
  paths: { "@cloudamqp/amqp-client/*": [join(root, "node_modules", "@cloudamqp", "amqp-client", "types", "*")] },
  outDir: join(out, "cjs"),
  declaration: true,
}, "CommonJS");

// tsc keeps `.ts` in the specifiers of emitted declarations: point them at `.js`.
async function rewriteDeclarations(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await rewriteDeclarations(path);
    else if (entry.name.endsWith(".d.ts")) {
      const text = await readFile(path, "utf8");
      await writeFile(path, text.replace(/(from\s+|import\()(["'])(\.{1,2}\/[^"']+)\.ts\2/g, "$1$2$3.js$2"));
    }
  }
}
// The tests and the fault harness they share with the scripts are compiled (npm/esm) but get no declarations.
for (const dir of ["tests", "scripts"]) await rm(join(out, "types", dir), { recursive: true, force: true });
await rewriteDeclarations(join(out, "types"));
await rewriteDeclarations(join(out, "cjs"));
await writeFile(join(out, "cjs", "package.json"), JSON.stringify({ type: "commonjs" }) + "\n");

await mkdir(join(out, "bin"));
const bin = join(out, "bin", "rabbit-eventstore.cjs");
await writeFile(
  bin,
  `#!/usr/bin/env node\n// The rabbit-eventstore command line on Node; with no command it runs the server, configured by the environment (see README).\n"use strict";\nrequire("../cjs/cli.js").main();\n`,
);
await chmod(bin, 0o755);

// Nested conditions: each format gets declarations TypeScript reads in that format.
const entry = (name: string) => ({
  import: { types: `./types/${name}.d.ts`, default: `./esm/${name}.js` },
  require: { types: `./cjs/${name}.d.ts`, default: `./cjs/${name}.js` },
});
// Emmett, as package.json states it: a devDependency pinned for our tests, a peer (its minor series, as Emmett's
// 0.x minors may change the EventStore interface) that is optional, as only rabbit-eventstore/emmett imports it.
const emmettTested = rootPackage.devDependencies["@event-driven-io/emmett"];
const emmettRange = rootPackage.peerDependencies["@event-driven-io/emmett"];
if (!emmettRange?.endsWith(emmettTested)) {
  throw new Error(
    `Cannot build: package.json's Emmett peer range ${emmettRange} does not name the tested ${emmettTested}`,
  );
}
const pkg = {
  name: "rabbit-eventstore",
  version: denoJson.version,
  description:
    "Event store for event sourcing / CQRS on RabbitMQ: dense positions, durable NDJSON storage, fanout, HTTP history, ordered listener",
  license: denoJson.license,
  type: "module",
  main: "./cjs/mod.js",
  module: "./esm/mod.js",
  types: "./types/mod.d.ts",
  exports: {
    ".": entry("mod"),
    "./server": entry("server"),
    "./listener": entry("listener"),
    "./command": entry("command"),
    "./emmett": entry("emmett"),
    "./package.json": "./package.json",
  },
  bin: { "rabbit-eventstore": "./bin/rabbit-eventstore.cjs" },
  files: ["esm/*.js", "esm/lib/", "cjs/", "types/", "bin/", "README.md", "LICENSE"],
  engines: { node: ">=20" },
  keywords: ["event-sourcing", "cqrs", "event-store", "rabbitmq", "amqp", "deno"],
  dependencies: {
    "@cloudamqp/amqp-client": rootPackage.dependencies["@cloudamqp/amqp-client"],
    koffi: rootPackage.dependencies.koffi,
    "prom-client": rootPackage.dependencies["prom-client"],
  },
  peerDependencies: { "@event-driven-io/emmett": emmettRange },
  peerDependenciesMeta: rootPackage.peerDependenciesMeta,
};
await writeFile(join(out, "package.json"), JSON.stringify(pkg, null, 2) + "\n");
for (const file of ["README.md", "LICENSE"]) await cp(join(root, file), join(out, file)).catch(() => {});

console.log(
  `Built ${relative(root, out)}/ (rabbit-eventstore ${pkg.version}): esm, cjs, types, bin, ${tests.length} test files`,
);
