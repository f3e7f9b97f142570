import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseServerArgs, serverHelp } from "../lib/server_cli.ts";
import { VERSION } from "../lib/version.ts";

/** The repository root: the nearest directory up from this file with a deno.json (also from npm/esm/tests). */
function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "deno.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("deno.json not found above the tests");
    dir = up;
  }
  return dir;
}

describe("server command line", () => {
  it("runs the server without arguments and after a lone --", () => {
    assert.deepEqual(parseServerArgs([]), { kind: "run" });
    assert.deepEqual(parseServerArgs(["--"]), { kind: "run" });
  });

  it("reads --help, -h, --version and -v (help wins)", () => {
    assert.deepEqual(parseServerArgs(["--help"]), { kind: "help" });
    assert.deepEqual(parseServerArgs(["-h"]), { kind: "help" });
    assert.deepEqual(parseServerArgs(["--version"]), { kind: "version" });
    assert.deepEqual(parseServerArgs(["-v"]), { kind: "version" });
    assert.deepEqual(parseServerArgs(["--version", "--help"]), { kind: "help" });
    assert.deepEqual(parseServerArgs(["-vh"]), { kind: "help" });
  });

  it("refuses unknown options, values and arguments with one line", () => {
    assert.deepEqual(parseServerArgs(["--port=8080"]), {
      kind: "error",
      message: 'unknown option "--port"; run rabbit-eventstore --help for the usage',
    });
    assert.deepEqual(parseServerArgs(["-x"]), {
      kind: "error",
      message: 'unknown option "-x"; run rabbit-eventstore --help for the usage',
    });
    assert.deepEqual(parseServerArgs(["--help=yes"]), {
      kind: "error",
      message: 'option --help takes no value, got "yes"',
    });
    assert.deepEqual(parseServerArgs(["start"]), {
      kind: "error",
      message: 'unexpected argument "start"; the server takes none (run rabbit-eventstore --help for the usage)',
    });
  });

  it("lists every environment variable of the server in the help, with its default", () => {
    const help = serverHelp();
    assert.match(help, /^Usage: rabbit-eventstore \[--help\] \[--version\]\n/);
    const names = ["AMQPHOST", "AMQPURL", "AMQPCAFILE", "FANOUTHOST", "FANOUTURL", "FANOUTCAFILE"];
    for (const name of [...names, "QUEUENAME", "EXCHANGENAME", "PORT", "HTTPHOST", "STORAGEFILE"]) {
      assert.match(help, new RegExp(`\\n  ${name} `), name);
    }
    for (const name of ["MAXEVENTBYTES", "PREFETCH", "DEDUPWINDOW", "HTTPTOKEN", "DEBUG"]) {
      assert.match(help, new RegExp(name));
    }
    assert.match(help, /\n {2}PORT {10}80 /);
    assert.match(help, /\n {2}STORAGEFILE {3}\.\/storage /);
  });

  it("has the version of deno.json and package.json", () => {
    const root = repositoryRoot();
    assert.equal(VERSION, JSON.parse(readFileSync(join(root, "deno.json"), "utf8")).version);
    assert.equal(VERSION, JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version);
  });
});
